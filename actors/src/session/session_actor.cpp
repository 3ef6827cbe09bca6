#include "session/session_actor.hpp"

#include <deque>
#include <functional>
#include <optional>

#include <caf/all.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/no_answer.hpp"
#include "pool/job_runner.hpp"
#include "repository/repository_actor.hpp"
#include "troupe/sql.hpp"

namespace troupe::detail {

namespace {

using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

enum class phase {
  /// No transaction: statements are refused, or run in autocommit through
  /// the pool when the session was opened with `autocommit`.
  idle,
  /// `begin` waits for a connection.
  leasing,
  /// A transaction is open on the leased connection.
  active,
  /// The transaction was lost; only rollback, close or begin help.
  aborted,
};

enum class op_kind {
  begin,
  statement,
  savepoint,
  rollback_to,
  release,
  commit,
  rollback,
  close,
  /// A repository's plan: its statements in order, one answer.
  plan,
};

struct op {
  op_kind kind;
  reply_handle reply;
  statement stmt;
  transaction_options options;
  std::string name;
  repository_sql::plan plan;
};

using continuation = std::function<void(caf::expected<result>, bool in_tx)>;

struct session_state {
  session_params params;
  phase ph = phase::idle;
  caf::error abort_cause;
  transaction_options tx_options;
  caf::optional<lease_grant> lease;
  std::deque<op> ops;
  bool running = false;
  op current{op_kind::rollback, {}, {}, {}, {}, {}};
  uint64_t seq = 0;
  continuation cont;
  uint64_t activity = 0;
  bool quit_after = false;
  // Nested transactions (begin inside a transaction): one savepoint per
  // level, innermost last; `failed` once a statement failed in the level.
  struct level {
    uint64_t id;
    bool failed = false;
  };
  std::vector<level> nested;
  uint64_t next_level = 0;
};

using self_ptr = session_impl_actor::stateful_pointer<session_state>;

void process(self_ptr self);

void schedule_idle_check(self_ptr self);

void finish_op(self_ptr self, caf::message msg) {
  auto& st = self->state;
  st.current.reply.deliver(std::move(msg));
  st.running = false;
  if (st.quit_after) {
    self->quit();
    return;
  }
  process(self);
  if (!st.running)
    schedule_idle_check(self); // the owner's turn: its silence counts now
}

void finish_ok(self_ptr self, result r = result{}) {
  finish_op(self, caf::make_message(std::move(r)));
}

void finish_err(self_ptr self, caf::error err) {
  finish_op(self, caf::make_message(std::move(err)));
}

caf::error aborted_error(self_ptr self) {
  auto x = info(self->state.abort_cause);
  return make_error(errc::transaction_aborted,
                    fmt::format("the transaction was aborted ({}); roll it "
                                "back or begin a new one",
                                render(self->state.abort_cause)),
                    x.server_code, x.sqlstate, false);
}

// Returns the leased connection to the pool, which rolls back and resets it
// before anyone else gets it.
void give_back(self_ptr self, bool busy) {
  auto& st = self->state;
  if (!st.lease)
    return;
  self->demonitor(st.lease->connection.address());
  self->send(st.params.supervisor, give_back_atom::value, st.lease->id, busy);
  st.lease = caf::none;
}

// Marks the transaction lost. Nothing runs on the connection when this is
// called: it goes back without a KILL QUERY (or is dropped when dead).
void abort_tx(self_ptr self, caf::error cause, bool give_back_lease) {
  auto& st = self->state;
  st.ph = phase::aborted;
  st.abort_cause = std::move(cause);
  if (give_back_lease)
    give_back(self, false);
  else
    st.lease = caf::none;
}

// The caller's own statement on the lease, with its execution limit (0: the
// pool's statement_timeout); the session's BEGIN, COMMIT and the like run
// without one.
struct user_statement {
  uint32_t execution_timeout_ms = 0;
  /// Parameter sets in the statement's values (statement::sets).
  uint32_t sets = 1;
};

// Runs SQL on the leased connection; `k` gets the outcome and whether the
// server still reports an open transaction.
void run_on_lease(self_ptr self, std::string sql, std::vector<value> params,
                  continuation k,
                  std::optional<user_statement> user = std::nullopt) {
  auto& st = self->state;
  if (!st.lease) {
    // The connection went away between two statements of one operation
    // (reclaimed, shut down, died): the transaction went with it.
    k(make_error(errc::connection_lost,
                 "the session's connection is gone; nothing more was sent",
                 true),
      false);
    return;
  }
  auto seq = ++st.seq;
  st.cont = std::move(k);
  auto me = caf::actor_cast<caf::actor>(self);
  auto j = std::make_shared<job>();
  j->stmt = statement{std::move(sql), std::move(params)};
  j->enqueued = clock::now();
  if (user) {
    set_execution_limit(*j, user->execution_timeout_ms,
                        st.params.statement_timeout);
    j->stmt.sets = user->sets;
  }
  auto conn = st.lease->conn;
  j->notify = [me, seq, conn](caf::expected<result> r) {
    // On the loop thread, where reading the connection is safe.
    bool in_tx = conn->raw().connected() && conn->raw().in_transaction();
    if (r)
      caf::send_as(me, me, stmt_done_atom::value, seq, std::move(*r), in_tx);
    else
      caf::send_as(me, me, stmt_failed_atom::value, seq, std::move(r.error()),
                   in_tx);
  };
  st.lease->loop->post([conn, j, ctx = st.lease->context]() mutable {
    run_job(conn, std::move(j), std::move(ctx));
  });
}

std::string start_sql(const transaction_options& o) {
  std::string out = "START TRANSACTION";
  std::string sep = " ";
  if (o.consistent_snapshot) {
    out += sep + "WITH CONSISTENT SNAPSHOT";
    sep = ", ";
  }
  if (o.read_only)
    out += sep + "READ ONLY";
  return out;
}

const char* isolation_sql(isolation_level x) {
  switch (x) {
    case isolation_level::read_uncommitted:
      return "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED";
    case isolation_level::read_committed:
      return "SET TRANSACTION ISOLATION LEVEL READ COMMITTED";
    case isolation_level::repeatable_read:
      return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    case isolation_level::serializable:
      return "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE";
    default:
      return nullptr;
  }
}

void rolled_back_by_server(self_ptr self, caf::error err);

// A statement inside the open transaction failed: decide what is left of it.
// The client library's transaction flag is not updated by error packets, so
// after an error the server is asked (@@in_transaction) whether the
// transaction survived; a deadlock (1213) always ends it.
void on_statement_error(self_ptr self, caf::error err, bool) {
  if (is_fatal(err)) {
    // The connection is gone and with it the transaction (the server rolls
    // it back). Never replayed: the caller decides.
    abort_tx(self, err, false);
    finish_err(self, aborted_error(self));
    return;
  }
  if (info(err).server_code == 1213 || !self->state.lease) {
    rolled_back_by_server(self, std::move(err));
    return;
  }
  run_on_lease(self, "SELECT @@in_transaction", {},
               [self, err](caf::expected<result> r, bool) mutable {
                 auto open = r ? r->scalar<int64_t>() : caf::expected<int64_t>{
                   make_error(errc::internal, "no answer")};
                 if (open && *open == 1) {
                   // The transaction goes on; a nested level it failed in
                   // must be rolled back (see commit_nested).
                   if (!self->state.nested.empty())
                     self->state.nested.back().failed = true;
                   finish_err(self, std::move(err));
                   return;
                 }
                 // Rolled back, or unknown (then roll back to be sure).
                 rolled_back_by_server(self, std::move(err));
               });
}

void rolled_back_by_server(self_ptr self, caf::error err) {
  // The server rolled the whole transaction back (deadlock 1213, ...):
  // statements sent now would run outside any transaction.
  auto x = info(err);
  abort_tx(self, err, true);
  finish_err(self, make_error(errc::transaction_aborted,
                              fmt::format("the server rolled the transaction "
                                          "back: {}",
                                          x.message),
                              x.server_code, x.sqlstate, false));
}

void run_begin(self_ptr self, int attempt = 1);

// Starting the transaction failed. When the connection was lost, nothing
// happened yet on the server (SET TRANSACTION and START TRANSACTION change
// no data), so another connection is tried, twice at most.
void begin_failed(self_ptr self, caf::error err, int attempt) {
  auto& st = self->state;
  if (is_fatal(err) && attempt < 3) {
    st.lease = caf::none;
    run_begin(self, attempt + 1);
    return;
  }
  st.ph = phase::idle;
  give_back(self, false);
  finish_err(self, std::move(err));
}

void run_begin(self_ptr self, int attempt) {
  auto& st = self->state;
  st.ph = phase::leasing;
  auto timeout = st.params.options.checkout_timeout_ms > 0
                   ? ms{st.params.options.checkout_timeout_ms}
                   : st.params.checkout_timeout;
  // No request timeout: the supervisor answers every lease request (grant,
  // checkout_timeout at the deadline, or shutting_down from its reply
  // handle), and the session dies with it. A timed-out request would drop a
  // late grant and strand the connection.
  self
    ->request(st.params.supervisor, caf::infinite, lease_atom::value,
              static_cast<uint32_t>(timeout.count()))
    .then(
      [self, attempt](lease_grant& g) {
        auto& st = self->state;
        st.lease = std::move(g);
        self->monitor(st.lease->connection);
        auto start = [self, attempt] {
          run_on_lease(self, start_sql(self->state.tx_options), {},
                       [self, attempt](caf::expected<result> r, bool) {
                         if (!r) {
                           begin_failed(self, std::move(r.error()), attempt);
                           return;
                         }
                         self->state.ph = phase::active;
                         finish_ok(self, std::move(*r));
                       });
        };
        if (auto iso = isolation_sql(st.tx_options.isolation)) {
          run_on_lease(self, iso, {},
                       [self, start, attempt](caf::expected<result> r, bool) {
                         if (!r) {
                           begin_failed(self, std::move(r.error()), attempt);
                           return;
                         }
                         start();
                       });
        } else {
          start();
        }
      },
      [self](caf::error& err) {
        self->state.ph = phase::idle;
        finish_err(self, std::move(err));
      });
}

// Why `sql` may not run inside the open transaction, if it may not:
// transaction control (use the messages), or an implicit commit unless
// `allow_implicit` (then `implicit` says it is one).
caf::error refused_in_transaction(self_ptr, const std::string& sql,
                                  bool allow_implicit, bool& implicit) {
  auto traits = sql::classify(sql);
  if (traits.transaction_control)
    return make_error(errc::invalid_argument,
                      fmt::format("'{}' controls transactions: use the "
                                  "session's begin, commit, rollback and "
                                  "savepoint messages",
                                  traits.keyword));
  implicit = traits.implicit_commit || traits.opaque;
  if (implicit && !allow_implicit)
    return make_error(errc::invalid_argument,
                      fmt::format("'{}' would commit the open transaction "
                                  "implicitly, so a rollback could not undo "
                                  "it; run it outside a transaction or open "
                                  "the session with allow_implicit_commit",
                                  traits.opaque ? "/*!...*/" : traits.keyword));
  return {};
}

// A statement of the session's own savepoints (ROLLBACK TO or RELEASE of a
// plan's or a nested level's) failed: what it was to undo, or to keep
// apart, cannot be trusted any more, so the whole transaction is aborted
// (the connection goes back and is rolled back). `cause`: why the session
// was undoing, when it was.
void abort_on_own_failure(self_ptr self, caf::error err, const char* what,
                          const caf::error& cause = {}) {
  auto x = info(err);
  auto message = fmt::format("{} failed, so the whole transaction was rolled "
                             "back: {}",
                             what, x.message);
  if (cause)
    message += fmt::format(" (it was undoing a failure: {})",
                           info(cause).message);
  auto out = make_error(errc::transaction_aborted, std::move(message),
                        x.server_code, x.sqlstate, false);
  abort_tx(self, out, !is_fatal(err));
  self->state.nested.clear();
  finish_err(self, std::move(out));
}

// The savepoint around an atomic plan's steps. Quoted with a space, which
// no savepoint name the owner may give has (is_savepoint_name), so it never
// replaces one of theirs.
constexpr const char* plan_savepoint = "`troupe plan`";

// Whether the current plan runs under plan_savepoint.
bool plan_guarded(const session_state& st) {
  const auto& p = st.current.plan;
  // One step of several parameter sets may run one set after another
  // (values of mixed types), which is not one statement.
  return p.atomic
         && (p.steps.size() > 1
             || (p.steps.size() == 1 && p.steps.front().sets > 1));
}

// A step of a guarded plan failed with `err`: undo the plan's steps (the
// transaction goes on), then report `err`. When the transaction itself was
// lost, there is nothing to undo to.
void undo_plan(self_ptr self, caf::error err, bool in_tx) {
  if (is_fatal(err) || info(err).server_code == 1213
      || !self->state.lease) {
    on_statement_error(self, std::move(err), in_tx);
    return;
  }
  run_on_lease(self, fmt::format("ROLLBACK TO SAVEPOINT {}", plan_savepoint),
               {}, [self, err](caf::expected<result> r, bool in_tx) mutable {
                 if (!r) {
                   abort_on_own_failure(self, std::move(r.error()),
                                        "undoing the repository operation",
                                        err);
                   return;
                 }
                 // Undone: what is left is decided as for any failed
                 // statement (the server is asked whether the transaction
                 // survived).
                 on_statement_error(self, std::move(err), in_tx);
               });
}

// Runs step `i` of the current plan and the ones after it; the results so
// far are in `done`.
void run_plan_step(self_ptr self, size_t i,
                   std::shared_ptr<std::vector<result>> done) {
  auto& st = self->state;
  auto& p = st.current.plan;
  if (i == p.steps.size()) {
    // The answer the plan's shape asks for (repository_result,
    // field_stats, keyset_page).
    auto out = plan_answer(p, *done);
    if (!out) {
      finish_err(self, std::move(out.error()));
      return;
    }
    if (!plan_guarded(st)) {
      finish_op(self, std::move(*out));
      return;
    }
    run_on_lease(self, fmt::format("RELEASE SAVEPOINT {}", plan_savepoint), {},
                 [self, out = std::move(*out)](caf::expected<result> r,
                                               bool) mutable {
                   if (!r)
                     abort_on_own_failure(self, std::move(r.error()),
                                          "ending the repository operation");
                   else
                     finish_op(self, std::move(out));
                 });
    return;
  }
  bool implicit = false;
  if (auto err = refused_in_transaction(self, p.steps[i].sql, false,
                                        implicit)) {
    if (plan_guarded(st))
      undo_plan(self, std::move(err), true);
    else
      finish_err(self, std::move(err));
    return;
  }
  // The step's statement moves out (create_many's are large); the plan
  // keeps its shape for read_outcome.
  auto sets = p.steps[i].sets;
  run_on_lease(self, std::move(p.steps[i].sql), std::move(p.steps[i].params),
               [self, i, done](caf::expected<result> r, bool in_tx) {
                 if (!r) {
                   if (plan_guarded(self->state))
                     undo_plan(self, std::move(r.error()), in_tx);
                   else
                     on_statement_error(self, std::move(r.error()), in_tx);
                   return;
                 }
                 done->push_back(std::move(*r));
                 run_plan_step(self, i + 1, done);
               },
               user_statement{0, sets});
}

// A repository's operation inside the open transaction.
void run_plan(self_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::aborted) {
    finish_err(self, aborted_error(self));
    return;
  }
  if (st.ph != phase::active || st.current.plan.steps.empty()) {
    finish_err(self, make_error(errc::invalid_argument,
                                st.current.plan.steps.empty()
                                  ? "an empty repository plan"
                                  : "no open transaction: a repository "
                                    "operation with a session runs inside "
                                    "its transaction; send begin first"));
    return;
  }
  auto done = std::make_shared<std::vector<result>>();
  if (!plan_guarded(st)) {
    run_plan_step(self, 0, std::move(done));
    return;
  }
  run_on_lease(self, fmt::format("SAVEPOINT {}", plan_savepoint), {},
               [self, done](caf::expected<result> r, bool in_tx) {
                 if (!r)
                   on_statement_error(self, std::move(r.error()), in_tx);
                 else
                   run_plan_step(self, 0, done);
               });
}

void run_statement(self_ptr self) {
  auto& st = self->state;
  auto& stmt = st.current.stmt;
  if (st.ph == phase::idle) {
    if (!st.params.options.autocommit) {
      // A forgotten begin must not make changes permanent unnoticed.
      finish_err(self, make_error(errc::invalid_argument,
                                  "no open transaction: this session runs "
                                  "statements only between begin and "
                                  "commit/rollback; send begin, or open the "
                                  "session with autocommit"));
      return;
    }
    // No transaction, and the owner asked for autocommit: through the pool.
    // If the bound passes first, the statement still runs there: its
    // outcome is unknown, not a failure.
    auto waited = st.params.request_timeout;
    self->request(st.params.supervisor, waited, query_atom::value, std::move(stmt))
      .then([self](result& r) { finish_ok(self, std::move(r)); },
            [self, waited](caf::error& e) {
              finish_err(self, when_no_answer(std::move(e),
                                              if_no_answer::may_be_applied,
                                              "the statement", waited));
            });
    return;
  }
  if (st.ph == phase::aborted) {
    finish_err(self, aborted_error(self));
    return;
  }
  bool implicit = false;
  if (auto err = refused_in_transaction(self, stmt.sql,
                                        st.params.options
                                          .allow_implicit_commit,
                                        implicit)) {
    finish_err(self, std::move(err));
    return;
  }
  user_statement user{stmt.execution_timeout_ms, stmt.sets};
  run_on_lease(self, std::move(stmt.sql), std::move(stmt.params),
               [self, implicit](caf::expected<result> r, bool in_tx) {
                 if (!r) {
                   on_statement_error(self, std::move(r.error()), in_tx);
                   return;
                 }
                 if (implicit && !in_tx) {
                   // MariaDB committed what came before; go on in a new
                   // transaction so the conversation keeps its shape.
                   auto res = std::move(*r);
                   run_on_lease(self, start_sql(self->state.tx_options), {},
                                [self, res](caf::expected<result> s, bool) {
                                  if (!s) {
                                    on_statement_error(self, std::move(s.error()),
                                                       false);
                                    return;
                                  }
                                  finish_ok(self, res);
                                });
                   return;
                 }
                 finish_ok(self, std::move(*r));
               },
               user);
}

void run_savepoint_op(self_ptr self, const char* verb) {
  auto& st = self->state;
  if (st.ph == phase::aborted) {
    finish_err(self, aborted_error(self));
    return;
  }
  if (st.ph != phase::active) {
    finish_err(self, make_error(errc::invalid_argument,
                                "no open transaction (send begin first)"));
    return;
  }
  if (auto err = sql::validate_identifier(st.current.name, "savepoint")) {
    finish_err(self, std::move(err));
    return;
  }
  // Valid names quote (checked above).
  run_on_lease(self,
               fmt::format("{} {}", verb, *sql::quote_identifier(st.current.name)),
               {}, [self](caf::expected<result> r, bool in_tx) {
                 if (!r) {
                   on_statement_error(self, std::move(r.error()), in_tx);
                   return;
                 }
                 finish_ok(self, std::move(*r));
               });
}

void run_commit(self_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::aborted) {
    auto err = aborted_error(self);
    give_back(self, false);
    st.ph = phase::idle;
    finish_err(self, make_error(errc::transaction_aborted,
                                "nothing was committed: " + info(err).message));
    return;
  }
  if (st.ph != phase::active) {
    finish_err(self, make_error(errc::invalid_argument,
                                "no open transaction (send begin first)"));
    return;
  }
  run_on_lease(self, "COMMIT", {}, [self](caf::expected<result> r, bool) {
    auto& st = self->state;
    if (r) {
      give_back(self, false);
      st.ph = phase::idle;
      finish_ok(self, std::move(*r));
      return;
    }
    auto err = std::move(r.error());
    auto x = info(err);
    if (x.fatal) {
      // COMMIT was sent; whether the server applied it before the
      // connection went away cannot be known from here.
      st.lease = caf::none;
      st.ph = phase::idle;
      finish_err(self, make_error(errc::commit_outcome_unknown,
                                  fmt::format("the connection was lost while "
                                              "COMMIT was in flight: the "
                                              "transaction may or may not "
                                              "have been committed ({})",
                                              render(err)),
                                  x.server_code, x.sqlstate, true));
      return;
    }
    // A COMMIT the server refused leaves nothing committed; end the
    // transaction for sure (the pool rolls the connection back).
    give_back(self, false);
    st.ph = phase::idle;
    finish_err(self, make_error(errc::transaction_aborted,
                                fmt::format("COMMIT failed and the transaction "
                                            "was rolled back: {}",
                                            x.message),
                                x.server_code, x.sqlstate, false));
  });
}

void end_without_commit(self_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::active && st.lease) {
    run_on_lease(self, "ROLLBACK", {}, [self](caf::expected<result>, bool) {
      // Whatever the outcome, the transaction is over: a lost connection
      // rolls back on the server too.
      give_back(self, false);
      self->state.ph = phase::idle;
      finish_ok(self);
    });
    return;
  }
  give_back(self, false);
  st.ph = phase::idle;
  finish_ok(self);
}

// -- nested transactions ------------------------------------------------------
//
// `begin` inside a transaction opens a nested level: a savepoint named by
// the session (quoted with spaces, which no name an owner may give has, so
// it never replaces one of theirs). `commit` of a level releases its
// savepoint, `rollback` rolls back to it: only the level's work is undone.
// A level in which a statement failed must be rolled back: committing it
// instead (the failure went unhandled) aborts the whole transaction, so the
// outer commit fails and nothing is committed.

std::string level_name(uint64_t id) {
  return fmt::format("`troupe nested {}`", id);
}

void begin_nested(self_ptr self) {
  auto& st = self->state;
  const auto& o = st.current.options;
  if (o.isolation != isolation_level::server_default || o.read_only
      || o.consistent_snapshot) {
    finish_err(self, make_error(errc::invalid_argument,
                                "a nested begin runs in the open "
                                "transaction and takes no options of its "
                                "own"));
    return;
  }
  auto id = ++st.next_level;
  run_on_lease(self, "SAVEPOINT " + level_name(id), {},
               [self, id](caf::expected<result> r, bool in_tx) {
                 if (!r) {
                   on_statement_error(self, std::move(r.error()), in_tx);
                   return;
                 }
                 self->state.nested.push_back({id, false});
                 finish_ok(self, std::move(*r));
               });
}

void commit_nested(self_ptr self) {
  auto& st = self->state;
  auto level = st.nested.back();
  st.nested.pop_back();
  if (level.failed) {
    auto depth = st.nested.size() + 1;
    auto err = make_error(errc::transaction_aborted,
                          fmt::format("the nested transaction (level {}) "
                                      "was committed after one of its "
                                      "statements failed; a failure inside "
                                      "a nested transaction must be handled "
                                      "by rolling that level back",
                                      depth));
    // Nothing of it may be committed now: the connection goes back (the
    // pool rolls it back) and the outer commit will fail.
    abort_tx(self, err, true);
    st.nested.clear();
    finish_err(self, std::move(err));
    return;
  }
  run_on_lease(self, "RELEASE SAVEPOINT " + level_name(level.id), {},
               [self](caf::expected<result> r, bool) {
                 if (!r)
                   abort_on_own_failure(self, std::move(r.error()),
                                        "committing the nested transaction");
                 else
                   finish_ok(self, std::move(*r));
               });
}

void rollback_nested(self_ptr self) {
  auto& st = self->state;
  auto level = st.nested.back();
  st.nested.pop_back();
  auto name = level_name(level.id);
  // If the level's savepoint is gone (the owner released or rolled back to
  // one of theirs set before it), its work cannot be undone alone: the
  // whole transaction is, rather than letting it be committed.
  auto failed = [self](caf::expected<result>& r) {
    abort_on_own_failure(self, std::move(r.error()),
                         "rolling back the nested transaction");
  };
  run_on_lease(self, "ROLLBACK TO SAVEPOINT " + name, {},
               [self, name, failed](caf::expected<result> r, bool) {
                 if (!r) {
                   failed(r);
                   return;
                 }
                 run_on_lease(self, "RELEASE SAVEPOINT " + name, {},
                              [self, failed](caf::expected<result> r, bool) {
                                if (!r)
                                  failed(r);
                                else
                                  finish_ok(self, std::move(*r));
                              });
               });
}

void schedule_idle_check(self_ptr self) {
  auto& st = self->state;
  if (st.ph != phase::active)
    return;
  auto timeout = st.params.options.idle_timeout_ms > 0
                   ? ms{st.params.options.idle_timeout_ms}
                   : st.params.idle_timeout;
  self->delayed_send(self, timeout, idle_check_atom::value, st.activity);
}

void process(self_ptr self) {
  auto& st = self->state;
  if (st.running || st.ops.empty())
    return;
  st.current = std::move(st.ops.front());
  st.ops.pop_front();
  st.running = true;
  switch (st.current.kind) {
    case op_kind::begin:
      if (st.ph == phase::aborted) {
        // A begin may have been meant as a nested one: starting a new
        // transaction instead would let its inner commit be a real COMMIT.
        // The owner rolls the lost one back first.
        finish_err(self, aborted_error(self));
        return;
      }
      if (st.ph == phase::active) {
        begin_nested(self);
        return;
      }
      if (st.ph != phase::idle) {
        finish_err(self, make_error(errc::invalid_argument,
                                    "a transaction is being opened (wait "
                                    "for its begin to answer)"));
        return;
      }
      st.tx_options = st.current.options;
      st.nested.clear();
      run_begin(self);
      return;
    case op_kind::statement:
      run_statement(self);
      return;
    case op_kind::savepoint:
      run_savepoint_op(self, "SAVEPOINT");
      return;
    case op_kind::rollback_to:
      run_savepoint_op(self, "ROLLBACK TO SAVEPOINT");
      return;
    case op_kind::release:
      run_savepoint_op(self, "RELEASE SAVEPOINT");
      return;
    case op_kind::commit:
      if (st.ph == phase::active && !st.nested.empty())
        commit_nested(self);
      else
        run_commit(self);
      return;
    case op_kind::rollback:
      if (st.ph == phase::active && !st.nested.empty())
        rollback_nested(self);
      else
        end_without_commit(self);
      return;
    case op_kind::close:
      st.quit_after = true;
      end_without_commit(self);
      return;
    case op_kind::plan:
      run_plan(self);
      return;
  }
}

// Every message from the owner: queue it, note the activity.
void submit(self_ptr self, op x) {
  auto& st = self->state;
  ++st.activity;
  st.ops.push_back(std::move(x));
  process(self);
  schedule_idle_check(self);
}

// Only the owner may use the session; everyone else is told so, and nothing
// changes (not even the idle clock).
bool from_owner(self_ptr self) {
  auto sender = self->current_sender();
  return sender != nullptr && sender == self->state.params.owner;
}

caf::error not_owner(self_ptr self) {
  return make_error(errc::not_owner,
                    fmt::format("this session of engine '{}' belongs to "
                                "another actor; only its owner (the actor "
                                "that opened it, or the one it was handed "
                                "to) may use it",
                                self->state.params.engine_name));
}

// Takes over the owner's request and queues it.
caf::delegated<result> take(self_ptr self, op_kind kind, statement stmt = {},
                            transaction_options options = {},
                            std::string name = {}) {
  // Before take(): it moves the sender out of the current message.
  bool owner = from_owner(self);
  auto reply = reply_handle::take(self);
  if (!owner) {
    reply.deliver_error(not_owner(self));
    return {};
  }
  submit(self, op{kind, std::move(reply), std::move(stmt), options,
                  std::move(name), {}});
  return {};
}

// Takes over the owner's repository plan (sent by a repository on the
// owner's behalf: delegated, so the owner is the sender) and queues it.
template <class Reply = repository_result>
caf::delegated<Reply> take_plan(self_ptr self, repository_sql::plan p) {
  bool owner = from_owner(self);
  auto reply = reply_handle::take(self);
  if (!owner) {
    reply.deliver_error(not_owner(self));
    return {};
  }
  submit(self, op{op_kind::plan, std::move(reply), {}, {}, {}, std::move(p)});
  return {};
}

// The owner hands the session to `next`: monitored from now on, and its
// death ends the session like the owner's.
caf::result<result> hand_over(self_ptr self, const caf::actor& next) {
  auto& st = self->state;
  if (!from_owner(self))
    return not_owner(self);
  if (!next)
    return make_error(errc::invalid_argument,
                      "hand_over needs an actor to hand the session to");
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(next);
  if (ptr == st.params.owner)
    return result{};
  self->demonitor(caf::actor_cast<caf::actor_addr>(st.params.owner));
  st.params.owner = std::move(ptr);
  self->monitor(st.params.owner);
  ++st.activity; // the new owner's silence counts from now
  schedule_idle_check(self);
  return result{};
}

void on_outcome(self_ptr self, uint64_t seq, caf::expected<result> r,
                bool in_tx) {
  auto& st = self->state;
  if (self->current_sender() != self->ctrl() || seq != st.seq || !st.cont)
    return; // stale (revoked, or not ours)
  auto k = std::move(st.cont);
  st.cont = nullptr;
  k(std::move(r), in_tx);
}

session_impl_actor::behavior_type session_impl(self_ptr self,
                                               session_params params) {
  auto& st = self->state;
  st.params = std::move(params);
  self->monitor(st.params.owner);
  self->monitor(st.params.supervisor);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.params.owner) {
      // The owner is gone (or its node unreachable): roll back, return the
      // connection, exit.
      if (st.lease)
        spdlog::info("{}: session owner gone ({}); rolling back",
                     st.params.engine_name, caf::to_string(dm.reason));
      give_back(self, st.running);
      self->quit();
    } else if (dm.source == st.params.supervisor) {
      st.lease = caf::none;
      self->quit(dm.reason);
    } else if (st.lease && dm.source == st.lease->connection) {
      // The connection died; a statement in flight learns it from the loop.
      st.lease = caf::none;
      if (st.ph == phase::active && !st.running) {
        st.ph = phase::aborted;
        st.abort_cause = dm.reason ? dm.reason
                                   : make_error(errc::connection_lost,
                                                "the connection closed", true);
      }
    }
  });
  return {
    [self](begin_atom, transaction_options& o) {
      return take(self, op_kind::begin, {}, o);
    },
    [self](query_atom, statement& x) {
      return take(self, op_kind::statement, std::move(x));
    },
    [self](execute_atom, statement& x) {
      return take(self, op_kind::statement, std::move(x));
    },
    [self](savepoint_atom, std::string& name) {
      return take(self, op_kind::savepoint, {}, {}, std::move(name));
    },
    [self](rollback_to_atom, std::string& name) {
      return take(self, op_kind::rollback_to, {}, {}, std::move(name));
    },
    [self](release_atom, std::string& name) {
      return take(self, op_kind::release, {}, {}, std::move(name));
    },
    [self](commit_atom) { return take(self, op_kind::commit); },
    [self](rollback_atom) { return take(self, op_kind::rollback); },
    [self](close_atom) { return take(self, op_kind::close); },
    [self](hand_over_atom, caf::actor& next) { return hand_over(self, next); },
    [self](plan_atom, repository_sql::plan& p) {
      return take_plan(self, std::move(p));
    },
    [self](plan_atom, stats_atom, repository_sql::plan& p) {
      return take_plan<field_stats>(self, std::move(p));
    },
    [self](plan_atom, page_after_atom, repository_sql::plan& p) {
      return take_plan<keyset_page>(self, std::move(p));
    },
    [self](stmt_done_atom, uint64_t seq, result& r, bool in_tx) {
      on_outcome(self, seq, std::move(r), in_tx);
    },
    [self](stmt_failed_atom, uint64_t seq, caf::error& e, bool in_tx) {
      on_outcome(self, seq, std::move(e), in_tx);
    },
    [self](idle_check_atom, uint64_t activity) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl() || activity != st.activity
          || st.ph != phase::active)
        return;
      if (st.running) {
        // The owner waits for us, it is not silent: look again later.
        schedule_idle_check(self);
        return;
      }
      spdlog::warn("{}: rolling back a transaction idle for longer than its "
                   "idle timeout",
                   st.params.engine_name);
      abort_tx(self,
               make_error(errc::transaction_aborted,
                          "rolled back: the owner sent nothing within the "
                          "idle-in-transaction timeout"),
               true);
    },
    [self](revoke_atom, uint32_t id, std::string& why) {
      auto& st = self->state;
      if (self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.params.supervisor)
          || !st.lease || st.lease->id != id)
        return; // not ours, or a lease we already gave back
      // The pool took the connection back; it kills what runs and rolls
      // back. A statement in flight still reports its real outcome (a
      // COMMIT may have made it), after which nothing more is sent.
      self->demonitor(st.lease->connection.address());
      st.lease = caf::none;
      st.ph = phase::aborted;
      st.abort_cause = make_error(errc::transaction_aborted, why);
    },
  };
}

} // namespace

session_impl_actor spawn_session(caf::local_actor* parent,
                                 session_params params) {
  return parent->spawn<caf::monitored>(session_impl, std::move(params));
}

} // namespace troupe::detail
