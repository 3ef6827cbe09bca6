// The runner of a transaction script (`transaction_atom`): opens a session,
// runs the script's statements in one transaction, commits, and retries the
// whole script on deadlocks and lock waits with a jittered backoff. It holds
// no session logic of its own (session_actor.cpp) and answers once.

#include "session/session_actor.hpp"

#include <random>

#include <caf/all.hpp>

#include <fmt/format.h>

#include "engine/no_answer.hpp"

namespace troupe::detail {

namespace {

using ms = std::chrono::milliseconds;

struct script_state {
  engine_actor engine;
  transaction_script script;
  reply_handle reply;
  ms request_timeout{60000};
  session_actor session;
  uint32_t attempt = 0;
  std::vector<result> results;
  std::minstd_rand rng{std::random_device{}()};
};

using script_ptr = caf::stateful_actor<script_state>*;

void script_attempt(script_ptr self);

void script_finish(script_ptr self, caf::message msg) {
  auto& st = self->state;
  st.reply.deliver(std::move(msg));
  if (st.session)
    self->send(st.session, close_atom::value);
  self->quit();
}

bool retryable(const script_state& st, const caf::error& err) {
  auto x = info(err);
  return x.server_code == 1213
         || (st.script.retry_lock_wait_timeout && x.server_code == 1205);
}

void script_fail(script_ptr self, caf::error err) {
  auto& st = self->state;
  self->request(st.session, st.request_timeout, rollback_atom::value)
    .then(
      [self, err](const result&) {
        auto& st = self->state;
        if (retryable(st, err) && st.attempt < st.script.max_attempts) {
          // Jittered exponential backoff: 10, 20, 40 ... ms, at most 1 s.
          auto base = std::min<int64_t>(1000, int64_t{10} << (st.attempt - 1));
          auto delay = ms{base / 2
                          + static_cast<int64_t>(st.rng() % (base / 2 + 1))};
          self->delayed_send(self, delay, caf::atom("retry"));
          return;
        }
        auto x = info(err);
        script_finish(self,
                      caf::make_message(make_error(
                        x.code,
                        fmt::format("{} (after {} attempt(s))", x.message,
                                    st.attempt),
                        x.server_code, x.sqlstate, x.fatal)));
      },
      [self, err](caf::error&) { script_finish(self, caf::make_message(err)); });
}

void script_step(script_ptr self, size_t i) {
  auto& st = self->state;
  // A request that gets no answer in time still runs in the session. Before
  // COMMIT that is harmless: this runner quits when it answers, and the
  // session rolls back for its dead owner. COMMIT itself may have happened.
  if (i == st.script.statements.size()) {
    self->request(st.session, st.request_timeout, commit_atom::value)
      .then(
        [self](const result&) {
          auto& st = self->state;
          script_finish(self, caf::make_message(transaction_outcome{
                                std::move(st.results), st.attempt}));
        },
        [self](caf::error& e) {
          script_fail(self, when_no_answer(std::move(e),
                                           if_no_answer::may_be_committed,
                                           "COMMIT",
                                           self->state.request_timeout));
        });
    return;
  }
  self
    ->request(st.session, st.request_timeout, query_atom::value,
              st.script.statements[i])
    .then(
      [self, i](result& r) {
        self->state.results.push_back(std::move(r));
        script_step(self, i + 1);
      },
      [self, i](caf::error& e) {
        script_fail(self, when_no_answer(std::move(e),
                                         if_no_answer::rolled_back,
                                         fmt::format("statement {} of the "
                                                     "script",
                                                     i + 1),
                                         self->state.request_timeout));
      });
}

void script_attempt(script_ptr self) {
  auto& st = self->state;
  ++st.attempt;
  st.results.clear();
  self->request(st.session, st.request_timeout, begin_atom::value,
                st.script.options)
    .then([self](const result&) { script_step(self, 0); },
          [self](caf::error& e) {
            // Not even begun: nothing to roll back, nothing to retry.
            script_finish(self, caf::make_message(when_no_answer(
                                  std::move(e), if_no_answer::rolled_back,
                                  "begin", self->state.request_timeout)));
          });
}

caf::behavior script_impl(script_ptr self, engine_actor engine,
                          transaction_script script,
                          std::shared_ptr<reply_handle> reply,
                          ms request_timeout) {
  auto& st = self->state;
  st.engine = std::move(engine);
  st.script = std::move(script);
  st.reply = std::move(*reply);
  st.request_timeout = request_timeout;
  if (st.script.max_attempts < 1)
    st.script.max_attempts = 1;
  self->request(st.engine, st.request_timeout, session_atom::value,
                session_options{})
    .then(
      [self](session_actor& s) {
        self->state.session = std::move(s);
        script_attempt(self);
      },
      [self](caf::error& e) {
        script_finish(self, caf::make_message(when_no_answer(
                              std::move(e), if_no_answer::changes_nothing,
                              "opening a session",
                              self->state.request_timeout)));
      });
  return {
    [self](caf::atom_value a) {
      if (a == caf::atom("retry") && self->current_sender() == self->ctrl())
        script_attempt(self);
    },
  };
}

} // namespace

caf::actor spawn_script_runner(caf::local_actor* parent, engine_actor engine,
                               transaction_script script, reply_handle reply,
                               std::chrono::milliseconds request_timeout) {
  // CAF copies spawn arguments: the move-only reply travels in a shared_ptr.
  return parent->spawn(script_impl, std::move(engine), std::move(script),
                       std::make_shared<reply_handle>(std::move(reply)),
                       request_timeout);
}

} // namespace troupe::detail
