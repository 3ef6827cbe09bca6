// Local guards for an engine on another node and for the sessions and
// repositories obtained through it (remote.hpp). CAF 0.17 leaves a request
// to a lost node pending until its own timeout; a guard keeps the table of
// what it forwarded and answers all of it itself when the node is reported
// lost.

#include "troupe/remote.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <caf/all.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/no_answer.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;
using detail::if_no_answer;
using sweep_atom = caf::atom_constant<caf::atom("rg_sweep")>;
// A repository guard passes an in-session repository operation to the
// session guard (on behalf of the requester, who must own the session):
// the session guard sends it to the remote repository itself, naming the
// remote session, so that the remote session sees its owner.
using repo_via_atom = caf::atom_constant<caf::atom("rg_repo")>;

// Requests forwarded to the remote node and not answered yet.
struct forwarder {
  struct entry {
    caf::response_promise reply;
    clock_type::time_point deadline;
    if_no_answer meaning;
    std::string_view what; // a literal: "the statement", ...
  };

  remote_options opts;
  std::unordered_map<uint64_t, entry> pending;
  uint64_t next_id = 0;
  bool sweep_scheduled = false;

  uint64_t add(caf::response_promise rp, if_no_answer meaning,
               std::string_view what) {
    auto id = ++next_id;
    pending.emplace(id, entry{std::move(rp), clock_type::now()
                                               + opts.request_bound,
                              meaning, what});
    return id;
  }

  // The promise of request `id`, unless it was answered already (failed
  // by a node loss or by the sweep).
  caf::optional<caf::response_promise> take(uint64_t id) {
    auto i = pending.find(id);
    if (i == pending.end())
      return caf::none;
    auto rp = std::move(i->second.reply);
    pending.erase(i);
    return rp;
  }

  // The remote side is gone: every pending request gets `err`.
  void fail_all(const caf::error& err) {
    auto all = std::move(pending);
    pending.clear();
    for (auto& kvp : all)
      kvp.second.reply.deliver(err);
  }

  // Answers the requests pending past `request_bound` as a request timeout
  // would; returns whether any are left.
  bool sweep() {
    auto now = clock_type::now();
    for (auto i = pending.begin(); i != pending.end();) {
      if (i->second.deadline <= now) {
        auto& e = i->second;
        e.reply.deliver(detail::when_no_answer(
          caf::make_error(caf::sec::request_timeout), e.meaning, e.what,
          opts.request_bound));
        i = pending.erase(i);
      } else {
        ++i;
      }
    }
    return !pending.empty();
  }
};

bool node_lost(const caf::error& reason) {
  return reason == caf::exit_reason::remote_link_unreachable;
}

caf::error node_down(const caf::node_id& node) {
  return make_error(errc::node_down,
                    fmt::format("the engine's node {} is lost (its process "
                                "died, the connection broke or it stopped "
                                "answering heartbeats); the request was in "
                                "flight: it may have been applied",
                                caf::to_string(node)));
}

// Keeps the forwarder's sweep running while requests are pending.
template <class Self>
void schedule_sweep(Self* self) {
  auto& fw = self->state.fw;
  if (fw.sweep_scheduled || fw.pending.empty())
    return;
  fw.sweep_scheduled = true;
  auto every = std::min<std::chrono::milliseconds>(fw.opts.request_bound,
                                                   std::chrono::seconds{1});
  self->delayed_send(self, every, sweep_atom::value);
}

template <class Self>
void on_sweep(Self* self) {
  if (self->current_sender() != self->ctrl())
    return;
  self->state.fw.sweep_scheduled = false;
  if (self->state.fw.sweep())
    schedule_sweep(self);
}

// Forwards the current request to `dest`; its answer (or the node's loss)
// goes back to the requester.
template <class Reply, class Self, class Dest, class... Ts>
caf::result<Reply> forward(Self* self, const Dest& dest, if_no_answer meaning,
                           std::string_view what, Ts&&... xs) {
  auto& fw = self->state.fw;
  auto rp = self->make_response_promise();
  auto id = fw.add(rp, meaning, what);
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [self, id](Reply& x) {
        if (auto out = self->state.fw.take(id))
          out->deliver(std::move(x));
      },
      [self, id](caf::error& err) {
        if (auto out = self->state.fw.take(id))
          out->deliver(std::move(err));
      });
  schedule_sweep(self);
  return rp;
}

constexpr std::string_view the_statement = "the statement";

// -- the session guard ------------------------------------------------------

// repo_via_atom with stats_atom or page_after_atom after it: operations
// whose answer is a field_stats or a keyset_page.
using session_guard_actor = session_actor::extend<
  caf::reacts_to<sweep_atom>,
  caf::replies_to<repo_via_atom, repository_actor, caf::message>::with<
    repository_result>,
  caf::replies_to<repo_via_atom, stats_atom, repository_actor,
                  caf::message>::with<field_stats>,
  caf::replies_to<repo_via_atom, page_after_atom, repository_actor,
                  caf::message>::with<keyset_page>>;

struct session_guard_state {
  forwarder fw;
  engine_actor engine;
  session_actor remote; // invalid until the remote session is open
  caf::strong_actor_ptr owner;
  static inline const char* name = "troupe.session_guard";
};

using session_guard_ptr
  = session_guard_actor::stateful_pointer<session_guard_state>;

caf::error not_owner() {
  return make_error(errc::not_owner,
                    "this session belongs to another actor; only its owner "
                    "(the actor that opened it, or the one it was handed "
                    "to) may use it");
}

template <class Reply = result, class Self, class... Ts>
caf::result<Reply> to_session(Self* self, if_no_answer meaning,
                              std::string_view what, Ts&&... xs) {
  auto& st = self->state;
  if (self->current_sender() != st.owner)
    return not_owner();
  return forward<Reply>(self, st.remote, meaning, what,
                        std::forward<Ts>(xs)...);
}

// `op` is (atom, this guard, arguments...): the remote session takes the
// guard's place, and the remote repository hands its plan to the remote
// session with this guard, its owner, as the sender.
template <class Reply>
caf::result<Reply> via_repository(session_guard_ptr self,
                                  const repository_actor& repo,
                                  caf::message op) {
  auto& st = self->state;
  if (self->current_sender() != st.owner)
    return not_owner();
  if (!st.remote)
    return make_error(errc::invalid_argument, "the session is not open yet");
  if (op.size() < 2)
    return make_error(errc::internal, "a malformed repository operation");
  auto msg = op.take(1) + caf::make_message(st.remote) + op.drop(2);
  return forward<Reply>(self, caf::actor_cast<caf::actor>(repo),
                        if_no_answer::rolled_back, "the repository operation",
                        std::move(msg));
}

session_guard_actor::behavior_type
session_guard(session_guard_ptr self, engine_actor engine,
              caf::strong_actor_ptr owner, session_options opts,
              caf::response_promise opened, remote_options ropts) {
  auto& st = self->state;
  st.fw.opts = ropts;
  st.engine = std::move(engine);
  st.owner = std::move(owner);
  self->monitor(st.owner);
  self->monitor(st.engine);
  // The remote session is owned by this guard: it rolls back when the
  // guard exits (the owner died) or when this node is lost to it.
  auto id = st.fw.add(opened, if_no_answer::changes_nothing,
                      "opening the session");
  self->request(st.engine, caf::infinite, session_atom::value, opts)
    .then(
      [self, id](session_actor& s) {
        auto& st = self->state;
        auto out = st.fw.take(id);
        if (!out) {
          // Answered already (node lost, bound passed): nobody will use
          // the remote session; it ends when its owner, this guard, exits.
          self->quit();
          return;
        }
        st.remote = std::move(s);
        self->monitor(st.remote);
        out->deliver(caf::actor_cast<session_actor>(self));
      },
      [self, id](caf::error& err) {
        if (auto out = self->state.fw.take(id))
          out->deliver(std::move(err));
        self->quit();
      });
  schedule_sweep(self);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.owner) {
      // Its owner is gone: so is the guard, and the remote session rolls
      // back when it sees its owner (this guard) exit.
      self->quit();
      return;
    }
    bool from_session = st.remote && dm.source == st.remote.address();
    bool from_engine = dm.source == st.engine.address();
    if (!from_session && !from_engine)
      return;
    if (node_lost(dm.reason)) {
      auto node = dm.source.node();
      if (!st.fw.pending.empty())
        spdlog::warn("session guard: node {} lost; failing {} pending "
                     "requests with node_down",
                     caf::to_string(node), st.fw.pending.size());
      auto err = node_down(node);
      st.fw.fail_all(err);
      self->quit(err);
      return;
    }
    if (from_engine && st.remote)
      return; // the session itself tells when it ends
    // The remote session ended (closed, idle timeout, engine disposed):
    // end like it, as a local session would.
    st.fw.fail_all(caf::make_error(caf::sec::request_receiver_down));
    self->quit(dm.reason);
  });
  return {
    [self](begin_atom a, transaction_options& o) {
      return to_session(self, if_no_answer::changes_nothing,
                        "the begin request", a, std::move(o));
    },
    [self](query_atom a, statement& x) {
      return to_session(self, if_no_answer::rolled_back, the_statement, a,
                        std::move(x));
    },
    [self](execute_atom a, statement& x) {
      return to_session(self, if_no_answer::rolled_back, the_statement, a,
                        std::move(x));
    },
    [self](savepoint_atom a, std::string& name) {
      return to_session(self, if_no_answer::rolled_back, "the savepoint", a,
                        std::move(name));
    },
    [self](rollback_to_atom a, std::string& name) {
      return to_session(self, if_no_answer::rolled_back, "the rollback", a,
                        std::move(name));
    },
    [self](release_atom a, std::string& name) {
      return to_session(self, if_no_answer::rolled_back, "the release", a,
                        std::move(name));
    },
    [self](commit_atom a) {
      return to_session(self, if_no_answer::may_be_committed, "the commit",
                        a);
    },
    [self](rollback_atom a) {
      return to_session(self, if_no_answer::changes_nothing, "the rollback",
                        a);
    },
    [self](close_atom a) {
      return to_session(self, if_no_answer::changes_nothing, "the close", a);
    },
    [self](hand_over_atom, caf::actor& next) -> caf::result<result> {
      auto& st = self->state;
      if (self->current_sender() != st.owner)
        return not_owner();
      if (!next)
        return make_error(errc::invalid_argument,
                          "hand_over needs an actor to hand the session to");
      // The remote session stays owned by this guard; the guard now
      // answers to `next`.
      auto ptr = caf::actor_cast<caf::strong_actor_ptr>(next);
      if (ptr != st.owner) {
        self->demonitor(caf::actor_cast<caf::actor_addr>(st.owner));
        st.owner = std::move(ptr);
        self->monitor(st.owner);
      }
      return result{};
    },
    [self](plan_atom a, repository_sql::plan& p) {
      return to_session<repository_result>(self, if_no_answer::rolled_back,
                                           "the repository operation", a,
                                           std::move(p));
    },
    [self](plan_atom a, stats_atom b, repository_sql::plan& p) {
      return to_session<field_stats>(self, if_no_answer::changes_nothing,
                                     "the statistics", a, b, std::move(p));
    },
    [self](plan_atom a, page_after_atom b, repository_sql::plan& p) {
      return to_session<keyset_page>(self, if_no_answer::changes_nothing,
                                     "the page", a, b, std::move(p));
    },
    [self](repo_via_atom, repository_actor& repo, caf::message& op) {
      return via_repository<repository_result>(self, repo, std::move(op));
    },
    [self](repo_via_atom, stats_atom, repository_actor& repo,
           caf::message& op) {
      return via_repository<field_stats>(self, repo, std::move(op));
    },
    [self](repo_via_atom, page_after_atom, repository_actor& repo,
           caf::message& op) {
      return via_repository<keyset_page>(self, repo, std::move(op));
    },
    [self](sweep_atom) { on_sweep(self); },
  };
}

// -- the repository guard -----------------------------------------------------

using repository_guard_actor
  = repository_actor::extend<caf::reacts_to<sweep_atom>>;

struct repository_guard_state {
  forwarder fw;
  repository_actor remote;
  caf::actor_addr parent; // the engine guard
  static inline const char* name = "troupe.repository_guard";
};

using repository_guard_ptr
  = repository_guard_actor::stateful_pointer<repository_guard_state>;

constexpr std::string_view the_operation = "the repository operation";

// An operation without a session: to the remote repository.
template <class Reply = repository_result, class... Ts>
caf::result<Reply> to_repository(repository_guard_ptr self,
                                 if_no_answer meaning, Ts&&... xs) {
  return forward<Reply>(self, self->state.remote, meaning, the_operation,
                        std::forward<Ts>(xs)...);
}

// An operation inside session `s`: a session of a guarded engine is a
// local session guard, which sends it on (repo_via_atom, then `tag...`:
// which answer it has) for the requester.
template <class Reply = repository_result, class... Tag>
caf::result<Reply> in_session(repository_guard_ptr self,
                              const session_actor& s, caf::message op,
                              Tag... tag) {
  auto& st = self->state;
  if (!s)
    return make_error(errc::invalid_argument,
                      "the repository operation names no session");
  auto rp = self->make_response_promise();
  if (s->node() != self->node()) {
    // Not a session of a guarded engine: as without guards.
    rp.delegate(caf::actor_cast<caf::actor>(st.remote), std::move(op));
    return rp;
  }
  rp.delegate(caf::actor_cast<caf::actor>(s), repo_via_atom::value, tag...,
              st.remote, std::move(op));
  return rp;
}

repository_guard_actor::behavior_type
repository_guard(repository_guard_ptr self, repository_actor remote,
                 caf::actor parent, remote_options opts) {
  auto& st = self->state;
  st.fw.opts = opts;
  st.remote = std::move(remote);
  st.parent = parent.address();
  self->monitor(st.remote);
  self->monitor(parent);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    caf::error err;
    if (node_lost(dm.reason))
      err = node_down(dm.source.node());
    else if (dm.source == st.remote.address())
      err = make_error(errc::shutting_down,
                       fmt::format("the remote repository exited ({})",
                                   caf::to_string(dm.reason)));
    else if (dm.source == st.parent)
      err = make_error(errc::shutting_down, "the engine's guard ended");
    else
      return;
    st.fw.fail_all(err);
    self->quit(dm.reason);
  });
  using m = if_no_answer;
  return {
    [self](get_atom a, record& key) {
      return to_repository(self, m::changes_nothing, a, std::move(key));
    },
    [self](exists_atom a, record& key) {
      return to_repository(self, m::changes_nothing, a, std::move(key));
    },
    [self](count_atom a) { return to_repository(self, m::changes_nothing, a); },
    [self](page_atom a, page_request& p) {
      return to_repository(self, m::changes_nothing, a, std::move(p));
    },
    [self](find_atom a, record& where, uint32_t limit) {
      return to_repository(self, m::changes_nothing, a, std::move(where),
                           limit);
    },
    [self](create_atom a, record& row) {
      return to_repository(self, m::may_be_applied, a, std::move(row));
    },
    [self](create_many_atom a, std::vector<record>& rows) {
      return to_repository(self, m::may_be_applied, a, std::move(rows));
    },
    [self](update_atom a, record& key, record& changes) {
      return to_repository(self, m::may_be_applied, a, std::move(key),
                           std::move(changes));
    },
    [self](delete_atom a, record& key) {
      return to_repository(self, m::may_be_applied, a, std::move(key));
    },
    [self](get_atom a, session_actor& s, record& key) {
      return in_session(self, s, caf::make_message(a, s, std::move(key)));
    },
    [self](exists_atom a, session_actor& s, record& key) {
      return in_session(self, s, caf::make_message(a, s, std::move(key)));
    },
    [self](count_atom a, session_actor& s) {
      return in_session(self, s, caf::make_message(a, s));
    },
    [self](page_atom a, session_actor& s, page_request& p) {
      return in_session(self, s, caf::make_message(a, s, std::move(p)));
    },
    [self](find_atom a, session_actor& s, record& where, uint32_t limit) {
      return in_session(self, s,
                        caf::make_message(a, s, std::move(where), limit));
    },
    [self](create_atom a, session_actor& s, record& row) {
      return in_session(self, s, caf::make_message(a, s, std::move(row)));
    },
    [self](create_many_atom a, session_actor& s, std::vector<record>& rows) {
      return in_session(self, s, caf::make_message(a, s, std::move(rows)));
    },
    [self](update_atom a, session_actor& s, record& key, record& changes) {
      return in_session(self, s,
                        caf::make_message(a, s, std::move(key),
                                          std::move(changes)));
    },
    [self](delete_atom a, session_actor& s, record& key) {
      return in_session(self, s, caf::make_message(a, s, std::move(key)));
    },
    [self](update_where_atom a, record& where, record& changes) {
      return to_repository(self, m::may_be_applied, a, std::move(where),
                           std::move(changes));
    },
    [self](delete_where_atom a, record& where) {
      return to_repository(self, m::may_be_applied, a, std::move(where));
    },
    [self](update_keys_atom a, std::vector<record>& keys, record& changes) {
      return to_repository(self, m::may_be_applied, a, std::move(keys),
                           std::move(changes));
    },
    [self](delete_keys_atom a, std::vector<record>& keys) {
      return to_repository(self, m::may_be_applied, a, std::move(keys));
    },
    [self](stats_atom a, std::vector<std::string>& columns) {
      return to_repository<field_stats>(self, m::changes_nothing, a,
                                        std::move(columns));
    },
    [self](page_after_atom a, page_token& from, uint32_t limit) {
      return to_repository<keyset_page>(self, m::changes_nothing, a,
                                        std::move(from), limit);
    },
    [self](update_where_atom a, session_actor& s, record& where,
           record& changes) {
      return in_session(self, s,
                        caf::make_message(a, s, std::move(where),
                                          std::move(changes)));
    },
    [self](delete_where_atom a, session_actor& s, record& where) {
      return in_session(self, s, caf::make_message(a, s, std::move(where)));
    },
    [self](update_keys_atom a, session_actor& s, std::vector<record>& keys,
           record& changes) {
      return in_session(self, s,
                        caf::make_message(a, s, std::move(keys),
                                          std::move(changes)));
    },
    [self](delete_keys_atom a, session_actor& s, std::vector<record>& keys) {
      return in_session(self, s, caf::make_message(a, s, std::move(keys)));
    },
    [self](stats_atom a, session_actor& s, std::vector<std::string>& columns) {
      return in_session<field_stats>(self, s,
                                     caf::make_message(a, s,
                                                       std::move(columns)),
                                     a);
    },
    [self](page_after_atom a, session_actor& s, page_token& from,
           uint32_t limit) {
      return in_session<keyset_page>(self, s,
                                     caf::make_message(a, s, std::move(from),
                                                       limit),
                                     a);
    },
    [self](schema_atom a) {
      return forward<table_schema>(self, self->state.remote,
                                   m::changes_nothing, "the schema request",
                                   a);
    },
    [self](refresh_atom a) {
      return forward<table_schema>(self, self->state.remote,
                                   m::changes_nothing, "the refresh", a);
    },
    [self](sweep_atom) { on_sweep(self); },
  };
}

// -- the engine guard -------------------------------------------------------

using engine_guard_actor = engine_actor::extend<caf::reacts_to<sweep_atom>>;

struct engine_guard_state {
  forwarder fw;
  engine_actor remote;
  // The guard of each remote repository handed out (one per repository).
  std::map<caf::actor_addr, repository_actor> repositories;
  static inline const char* name = "troupe.engine_guard";
};

using engine_guard_ptr
  = engine_guard_actor::stateful_pointer<engine_guard_state>;

engine_guard_actor::behavior_type
engine_guard(engine_guard_ptr self, engine_actor remote, remote_options opts) {
  auto& st = self->state;
  st.fw.opts = opts;
  st.remote = std::move(remote);
  self->monitor(st.remote);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source != st.remote.address()) {
      // A repository guard ended (its remote repository went away).
      auto& repos = st.repositories;
      for (auto i = repos.begin(); i != repos.end(); ++i)
        if (i->second.address() == dm.source) {
          repos.erase(i);
          break;
        }
      return;
    }
    auto node = dm.source.node();
    if (node_lost(dm.reason)) {
      spdlog::warn("engine guard: node {} lost; failing {} pending requests "
                   "with node_down",
                   caf::to_string(node), st.fw.pending.size());
      auto err = node_down(node);
      st.fw.fail_all(err);
      self->quit(err);
      return;
    }
    // The remote engine exited (disposed) while its node lives on.
    st.fw.fail_all(make_error(errc::shutting_down,
                              fmt::format("the remote engine exited ({})",
                                          caf::to_string(dm.reason))));
    self->quit(dm.reason);
  });
  return {
    [self](query_atom a, statement& x) {
      return forward<result>(self, self->state.remote,
                             if_no_answer::may_be_applied, the_statement, a,
                             std::move(x));
    },
    [self](execute_atom a, statement& x) {
      return forward<result>(self, self->state.remote,
                             if_no_answer::may_be_applied, the_statement, a,
                             std::move(x));
    },
    [self](ping_atom a) {
      return forward<ping_info>(self, self->state.remote,
                                if_no_answer::changes_nothing, "the ping", a);
    },
    [self](status_atom a) {
      return forward<pool_status>(self, self->state.remote,
                                  if_no_answer::changes_nothing,
                                  "the status request", a);
    },
    [self](dispose_atom a) {
      return forward<dispose_report>(self, self->state.remote,
                                     if_no_answer::changes_nothing,
                                     "the dispose request", a);
    },
    [self](transaction_atom a, transaction_script& x) {
      return forward<transaction_outcome>(self, self->state.remote,
                                          if_no_answer::may_be_committed,
                                          "the transaction", a, std::move(x));
    },
    [self](repository_atom a,
           std::string& table) -> caf::result<repository_actor> {
      // The remote repository, behind a guard of its own.
      auto& st = self->state;
      auto rp = self->make_response_promise();
      auto id = st.fw.add(rp, if_no_answer::changes_nothing,
                          "the repository request");
      self->request(st.remote, caf::infinite, a, std::move(table))
        .then(
          [self, id](repository_actor& remote) {
            auto out = self->state.fw.take(id);
            if (!out)
              return;
            auto& repos = self->state.repositories;
            auto i = repos.find(remote.address());
            if (i == repos.end()) {
              auto addr = remote.address();
              auto guard = self->spawn(repository_guard, std::move(remote),
                                       caf::actor_cast<caf::actor>(self),
                                       self->state.fw.opts);
              self->monitor(guard);
              i = repos.emplace(addr, repository_actor{guard}).first;
            }
            out->deliver(i->second);
          },
          [self, id](caf::error& err) {
            if (auto out = self->state.fw.take(id))
              out->deliver(std::move(err));
          });
      schedule_sweep(self);
      return rp;
    },
    [self](session_atom,
           session_options& o) -> caf::result<session_actor> {
      auto& st = self->state;
      auto owner = self->current_sender();
      if (!owner)
        return make_error(errc::invalid_argument,
                          "a session needs an owner: request it, do not "
                          "send it anonymously");
      auto rp = self->make_response_promise();
      self->spawn(session_guard, st.remote, std::move(owner), std::move(o), rp,
                  st.fw.opts);
      return rp;
    },
    [self](sweep_atom) { on_sweep(self); },
  };
}

} // namespace

caf::expected<engine_actor> guard_remote(caf::actor_system& sys,
                                         engine_actor remote,
                                         remote_options opts) {
  if (opts.request_bound <= std::chrono::milliseconds::zero())
    return make_error(errc::invalid_argument,
                      "remote_options: request_bound must be positive");
  if (!remote || remote->node() == sys.node())
    return remote;
  return engine_actor{sys.spawn(engine_guard, std::move(remote), opts)};
}

caf::error use_heartbeat(caf::actor_system_config& cfg,
                         std::chrono::milliseconds interval,
                         std::chrono::milliseconds timeout) {
  if (interval <= std::chrono::milliseconds::zero() || timeout <= interval)
    return make_error(errc::invalid_argument,
                      fmt::format("heartbeat: need 0 < interval < timeout "
                                  "(got {} ms and {} ms)",
                                  interval.count(), timeout.count()));
  cfg.set("middleman.heartbeat-interval", caf::timespan{interval});
  cfg.set("middleman.connection-timeout", caf::timespan{timeout});
  return caf::none;
}

} // namespace troupe
