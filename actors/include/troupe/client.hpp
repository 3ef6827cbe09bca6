#pragma once

// A blocking facade over an engine, for code that is not an actor (scripts,
// tools, tests), with the seed SDKs' shape:
//
//   auto db = troupe::client::connect(sys, "mariadb://u:p@127.0.0.1/app");
//   auto n = db->query("SELECT COUNT(*) FROM t WHERE k = ?", {42});
//   if (n) std::cout << *n->scalar<int64_t>();
//   db->disconnect();
//
// Every call waits for the engine's answer, at most for the request's bound
// (`request_bound` in engine_config.hpp, or the `timeout` of `attach`); it
// never hangs. When the wait ends first, the request still runs in the
// engine, so the error says what is known about its outcome:
// `outcome_unknown` for a statement (it may have been applied: do not
// simply run it again), `commit_outcome_unknown` for the COMMIT of
// `transaction`, `transaction_aborted` for a statement inside `transaction`
// (the transaction is then rolled back, never committed), and
// `query_timeout` for requests that change no data (ping, status, begin).
// Do not call it from inside an actor (use messages there). Not
// thread-safe: one client per thread.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "troupe/engine.hpp"

namespace troupe {

class client;
class transaction;
class unit_of_work;

/// A table's repository through the blocking facade: the operations of
/// `repository_actor` as calls. From `client::repository` (each call in
/// autocommit, lookups coalesced with other callers') or
/// `transaction::repository` (each call inside that transaction). Errors
/// are the repository's (docs/messages.md, "A repository"); no answer in
/// time: `outcome_unknown` for a write, `query_timeout` for a read, and
/// inside a transaction `transaction_aborted` (it is then abandoned).
class repository {
public:
  /// The row with this primary key, or none.
  caf::expected<std::optional<record>> get(record key);
  caf::expected<bool> exists(record key);
  caf::expected<uint64_t> count();
  caf::expected<std::vector<record>> page(page_request page = {});
  /// Rows whose columns equal `where`; `limit` 0: 100.
  caf::expected<std::vector<record>> find(record where, uint32_t limit = 0);
  /// The row as stored (generated id, defaults).
  caf::expected<record> create(record row);
  /// Inserts all rows or none (see repository_actor, create_many_atom):
  /// `count` rows written, `first_id` the AUTO_INCREMENT value of the first.
  caf::expected<repository_result> create_many(std::vector<record> rows);
  /// The row as updated, or none when no row has this key.
  caf::expected<std::optional<record>> update(record key, record changes);
  /// Whether a row was deleted.
  caf::expected<bool> remove(record key);
  /// Batch writes (see repository_actor): the rows changed or deleted. An
  /// empty `where` is refused; keys go in chunks, all or nothing.
  caf::expected<uint64_t> update_where(record where, record changes);
  caf::expected<uint64_t> remove_where(record where);
  caf::expected<uint64_t> update_keys(std::vector<record> keys,
                                      record changes);
  caf::expected<uint64_t> remove_keys(std::vector<record> keys);
  /// Count, distinct, nulls, min, max, avg of each column, by the server.
  caf::expected<field_stats> stats(std::vector<std::string> columns);
  /// A page in primary key order after `from` (`page_token{}`: the first
  /// page); its `next` is the token of the page after it (none: the last).
  caf::expected<keyset_page> page_after(page_token from, uint32_t limit = 0);
  caf::expected<table_schema> schema();

  const repository_actor& handle() const { return handle_; }

private:
  friend class client;
  friend class transaction;
  friend class unit_of_work;
  repository(client& owner, repository_actor handle, transaction* tx,
             std::string table = {});
  template <class R = repository_result, class... Ts>
  caf::expected<R> call(bool writes, std::string_view what, Ts&&... xs);
  // The atom, then the session when in a transaction, then the arguments.
  template <class R = repository_result, class Atom, class... Ts>
  caf::expected<R> call_op(bool writes, std::string_view what, Atom atom,
                           Ts&&... xs);
  // The count of a batch write.
  template <class Atom, class... Ts>
  caf::expected<uint64_t> count_of(std::string_view what, Atom atom,
                                   Ts&&... xs);
  client& owner_;
  repository_actor handle_;
  transaction* tx_;
  std::string table_;
  /// Set when the repository belongs to a unit of work: its calls are the
  /// unit's operations.
  unit_of_work* unit_ = nullptr;
};

/// The handle a unit of work gets inside `client::transaction`: statements
/// run in the transaction, in order, on one connection. Once a call fails
/// with `transaction_aborted` (the session lost the transaction, or no
/// answer came in time) the transaction can no longer commit: later calls
/// fail at once with `transaction_aborted` and nothing more is sent.
class transaction {
public:
  caf::expected<result> query(std::string sql, std::vector<value> params = {});
  caf::expected<result> execute(std::string sql,
                                std::vector<value> params = {});
  caf::expected<result> savepoint(std::string name);
  caf::expected<result> rollback_to(std::string name);
  caf::expected<result> release(std::string name);

  /// The repository of `table`, its calls inside this transaction.
  caf::expected<troupe::repository> repository(std::string table);

  /// Runs `inner` in a nested transaction (a savepoint the session names):
  /// its work stays in the transaction when it returns no error; it is
  /// undone when `inner` returns an error or throws (the exception is
  /// rethrown after the rollback). The outer transaction goes on either
  /// way. Returns `inner`'s error, or the begin's or release's.
  caf::error nested(const std::function<caf::error(troupe::transaction&)>&
                      inner);

private:
  friend class client;
  friend class troupe::repository;
  friend class troupe::unit_of_work;
  transaction(client& owner, session_actor session);
  template <class... Ts>
  caf::expected<result> ask(std::string_view what, Ts&&... xs);
  // Sends to `dest` for this transaction (abandoned rules as `ask`).
  template <class R, class Handle, class... Ts>
  caf::expected<R> call(const Handle& dest, std::string_view what,
                        Ts&&... xs);
  client& owner_;
  session_actor session_;
  /// Why the transaction can no longer commit (it was aborted, or a request
  /// got no answer in time); nothing more is sent while set.
  caf::error abandoned_;
};

/// One transaction, several repositories, one commit (client::unit_of_work).
/// The calls of the repositories it hands out are its operations, in order:
/// the first one that fails fails the unit (later calls fail at once and
/// send nothing), the transaction is rolled back, and the error names the
/// operation: "operation 3 of the unit of work (create on 'orders')
/// failed: ...", with the failure's code and server code (a deadlock stays
/// retryable).
class unit_of_work {
public:
  /// The repository of `table` inside the unit's transaction (one object
  /// per table). An impossible table name fails the unit.
  troupe::repository& repo(const std::string& table);

  /// The transaction itself, for statements beside the repositories (their
  /// failures are the caller's to handle).
  troupe::transaction& transaction() { return tx_; }

  /// The operations so far: "create on 'users'", ...
  const std::vector<std::string>& operations() const { return ops_; }

  /// Why the unit fails, or none.
  const caf::error& failure() const { return failure_; }

private:
  friend class client;
  friend class troupe::repository;
  explicit unit_of_work(troupe::transaction& tx) : tx_(tx) {
  }
  void record(std::string_view what, const std::string& table,
              const caf::error* err);
  troupe::transaction& tx_;
  std::map<std::string, std::unique_ptr<troupe::repository>> repos_;
  std::vector<std::string> ops_;
  caf::error failure_;
};

/// When `client::transaction` runs the unit of work again.
struct retry_policy {
  /// Attempts in all (1: no retry).
  uint32_t max_attempts = 3;
  /// Also retry on lock wait timeouts (1205), not only on deadlocks (1213).
  bool lock_wait_timeout = false;
  /// The first backoff; doubles per retry, with jitter, at most 1 s.
  std::chrono::milliseconds backoff{20};
};

class client {
public:
  /// Spawns an engine from `cfg`, waits until the database answers a ping
  /// through it, and attaches to it; the client owns the engine (disconnect
  /// or the destructor dispose it). Fails, leaving nothing running, with the
  /// ping's error: `auth_failed` (wrong credentials), `database_unreachable`
  /// (no connection could be opened: refused, unknown database, ...),
  /// `checkout_timeout`, or `invalid_argument` for a bad configuration.
  static caf::expected<client> connect(caf::actor_system& sys,
                                       engine_config cfg);

  /// As above, from a DSN.
  static caf::expected<client> connect(caf::actor_system& sys,
                                       const std::string& dsn);

  /// Attaches to an engine someone else owns (e.g. a remote one); the
  /// client never disposes it. `timeout` bounds every call. A remote
  /// engine is guarded (`guard_remote`, remote.hpp): when its node is lost,
  /// calls in flight and later ones fail with `node_down`.
  static client attach(caf::actor_system& sys, engine_actor engine,
                       std::chrono::milliseconds timeout);

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// Runs a statement (parameters are bound, never spliced) in autocommit.
  /// Errors: the engine's (docs/errors.md), and `outcome_unknown` when no
  /// answer came in time: the statement may still run or have run, so it
  /// may have been applied; it is not known to have failed.
  caf::expected<result> query(std::string sql, std::vector<value> params = {});

  /// Same as `query` (the seeds' name for statements without rows).
  caf::expected<result> execute(std::string sql,
                                std::vector<value> params = {});

  /// Checks the database end to end. No answer in time: `query_timeout`.
  caf::expected<ping_info> ping();

  /// The pool's status. No answer in time: `query_timeout`.
  caf::expected<pool_status> status();

  /// The repository of `table` (of the DSN's database), each call in
  /// autocommit. Errors: `invalid_argument` for an impossible table name
  /// (a missing table shows at the first call: `not_found`).
  caf::expected<troupe::repository> repository(std::string table);

  /// Runs `unit` in a transaction, with the seeds' scoped semantics: it
  /// commits when `unit` returns no error, rolls back when it returns an
  /// error or throws (the exception is rethrown after the rollback). On a
  /// deadlock (1213) — and, if enabled, a lock wait timeout (1205) — it
  /// rolls back and runs `unit` again, up to `retry.max_attempts` times.
  /// Returns the number of attempts it took, or the last error. If `unit`
  /// returns no error although a call of its `troupe::transaction` failed
  /// with `transaction_aborted`, that error is the outcome (nothing is
  /// committed). No answer to COMMIT in time: `commit_outcome_unknown`,
  /// never retried.
  caf::expected<uint32_t>
  transaction(const std::function<caf::error(troupe::transaction&)>& unit,
              transaction_options options = {}, retry_policy retry = {});

  /// Runs `unit` as a unit of work (troupe::unit_of_work): in one
  /// transaction, with repositories bound to it, committed when `unit`
  /// returns and no operation failed, rolled back otherwise (also when it
  /// throws: the exception is rethrown), deadlocks retried as
  /// `transaction` does. Returns the number of attempts, or the failure
  /// naming the operation.
  caf::expected<uint32_t>
  unit_of_work(const std::function<void(troupe::unit_of_work&)>& unit,
               transaction_options options = {}, retry_policy retry = {});

  /// Disposes an owned engine (waits for it); detaches from a borrowed one.
  caf::error disconnect();

  const engine_actor& engine() const;

private:
  friend class troupe::transaction;
  friend class troupe::repository;
  friend class troupe::unit_of_work;
  struct impl;
  explicit client(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace troupe
