#pragma once

// The one header a CAF application includes to use the engine: message
// types, the typed handle of the engine, and the functions that register the
// types and spawn the engine.
//
//   struct config : caf::actor_system_config {
//     config() {
//       troupe::register_types(*this);
//       troupe::add_engine_options(custom_options_);
//     }
//   };
//   void caf_main(caf::actor_system& sys, const config& cfg) {
//     auto engine = troupe::spawn_engine(sys, *troupe::engine_config_from(cfg));
//     caf::scoped_actor self{sys};
//     self->request(*engine, 10s, troupe::query_atom::value,
//                   troupe::statement{"SELECT ?", {42}})
//       .receive([](const troupe::result& r) { ... },
//                [](caf::error& e) { ... troupe::render(e) ... });
//   }
//
// (docs/messages.md lists every message, its reply and its errors.)
//
// Every message type is serializable and registered under a stable name
// ("troupe::..."), so the same messages work with a remote engine (publish
// the handle with CAF's middleman). Errors are `caf::error`s of category
// `troupe` (see troupe/error.hpp and docs/errors.md).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "troupe/engine_config.hpp"
#include "troupe/error.hpp"
#include "troupe/record.hpp"
#include "troupe/repository_sql.hpp"
#include "troupe/result.hpp"
#include "troupe/schema.hpp"
#include "troupe/value.hpp"

namespace troupe {

// -- atoms ----------------------------------------------------------------------

/// Runs a statement and returns its rows (alias of `execute_atom`; the two
/// names mirror the seed SDKs).
using query_atom = caf::atom_constant<caf::atom("query")>;
/// Runs a statement and returns its counters (and rows, if any).
using execute_atom = caf::atom_constant<caf::atom("execute")>;
/// Checks the database end to end through a pooled connection.
using ping_atom = caf::atom_constant<caf::atom("ping")>;
/// Returns the pool's status.
using status_atom = caf::atom_constant<caf::atom("status")>;
/// Shuts the engine down (see `dispose_report`).
using dispose_atom = caf::atom_constant<caf::atom("dispose")>;
/// Opens a session (to the engine); see `session_actor`.
using session_atom = caf::atom_constant<caf::atom("session")>;
/// Runs a transaction script with retries (to the engine).
using transaction_atom = caf::atom_constant<caf::atom("txscript")>;
/// Session messages.
using begin_atom = caf::atom_constant<caf::atom("begin")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using rollback_atom = caf::atom_constant<caf::atom("rollback")>;
using savepoint_atom = caf::atom_constant<caf::atom("savepoint")>;
using rollback_to_atom = caf::atom_constant<caf::atom("rollbackto")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using close_atom = caf::atom_constant<caf::atom("close")>;
/// Hands a session to another actor, which owns it from then on.
using hand_over_atom = caf::atom_constant<caf::atom("handover")>;

// Repositories (see repository_actor).
using repository_atom = caf::atom_constant<caf::atom("repository")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using exists_atom = caf::atom_constant<caf::atom("exists")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using page_atom = caf::atom_constant<caf::atom("page")>;
using find_atom = caf::atom_constant<caf::atom("find")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using create_many_atom = caf::atom_constant<caf::atom("createmany")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
/// Batch writes: by where-equals and by primary keys.
using update_where_atom = caf::atom_constant<caf::atom("updwhere")>;
using delete_where_atom = caf::atom_constant<caf::atom("delwhere")>;
using update_keys_atom = caf::atom_constant<caf::atom("updkeys")>;
using delete_keys_atom = caf::atom_constant<caf::atom("delkeys")>;
/// Field statistics (field_stats).
using stats_atom = caf::atom_constant<caf::atom("stats")>;
/// Keyset paging (page_token, keyset_page).
using page_after_atom = caf::atom_constant<caf::atom("pageafter")>;
using schema_atom = caf::atom_constant<caf::atom("schema")>;
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
/// A session runs a repository's plan (sent by repositories on behalf of
/// the session's owner, see repository_actor).
using plan_atom = caf::atom_constant<caf::atom("plan")>;

// -- message types -------------------------------------------------------------

/// A statement for the engine. With parameters it runs as a server-side
/// prepared statement (the values are bound, never spliced into the SQL);
/// without, through the text protocol.
struct statement {
  std::string sql;
  std::vector<value> params;
  /// How long the request may wait for a connection, in milliseconds;
  /// 0: the pool's `checkout_timeout`.
  uint32_t timeout_ms = 0;
  /// How long the statement may run on the server, in milliseconds; 0: the
  /// pool's `statement_timeout`. Past it the server stops it and the
  /// request fails with `statement_timeout`: on MariaDB through
  /// `SET STATEMENT max_statement_time=… FOR`, elsewhere (MySQL,
  /// MatrixOne) by `KILL QUERY` from a side connection at the limit.
  uint32_t execution_timeout_ms = 0;
  /// Parameter sets in `params`; 0 and 1: `params` is one set. With n > 1,
  /// `params` holds n sets of `params.size() / n` values, one after the
  /// other, and the statement (an INSERT, UPDATE, DELETE, REPLACE: nothing
  /// that returns rows) runs once per set in one request: as one bulk
  /// execution (MariaDB's array binding) where the server supports it,
  /// else one execution after another on the same connection. The result:
  /// affected rows summed, the id generated for the first set. A bulk
  /// execution is one statement (when a set fails none stays); one after
  /// another, the sets before a failing one stay unless a transaction is
  /// rolled back. Errors: `invalid_argument` when the values do not divide
  /// into the sets, or the statement returns rows (nothing runs).
  uint32_t sets = 1;

  statement() = default;
  statement(std::string sql_text, std::vector<value> values = {},
            uint32_t timeout = 0)
    : sql(std::move(sql_text)), params(std::move(values)), timeout_ms(timeout) {
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, statement& x) {
  return f(caf::meta::type_name("troupe::statement"), x.sql, x.params,
           x.timeout_ms, x.execution_timeout_ms, x.sets);
}

/// What the pool looks like. Times are in microseconds.
struct pool_status {
  /// Connections open or opening, and their states.
  uint32_t size = 0;
  uint32_t idle = 0;
  uint32_t busy = 0;
  uint32_t connecting = 0;
  /// Connections leased to sessions (a transaction is open on them).
  uint32_t leased = 0;
  /// Sessions alive.
  uint32_t sessions = 0;
  /// Requests waiting for a connection.
  uint32_t waiting = 0;
  uint32_t min_size = 0;
  uint32_t max_size = 0;
  /// The largest `size` seen.
  uint32_t peak_size = 0;
  /// Connections opened, closed, and connect attempts that failed.
  uint64_t opened = 0;
  uint64_t closed = 0;
  uint64_t failed = 0;
  /// Connections opened to replace one that died.
  uint64_t reconnects = 0;
  /// Leases reclaimed because they were held past `max_lease`.
  uint64_t reclaimed = 0;
  /// Requests answered with a result, failed (any error), refused because
  /// the queue was full, and timed out in the queue.
  uint64_t served = 0;
  uint64_t failed_requests = 0;
  uint64_t overloaded = 0;
  uint64_t timed_out = 0;
  /// Executions the driver sent on its pipelined path instead of through
  /// libmariadb (cached prepared SELECTs, docs/architecture.md); with
  /// `pipeline_depth` above 1 several of them share a connection at once.
  uint64_t pipelined = 0;
  /// Pooled connections reset (COM_RESET_CONNECTION and the connection's
  /// setup) because a statement left state in the session: variables, the
  /// current database, locks, temporary tables, ... (no caller's session
  /// state reaches another; docs/architecture.md).
  uint64_t resets = 0;
  /// True while the database is unreachable and requests fail fast.
  bool circuit_open = false;
  /// The last connect error, rendered (empty when none).
  std::string last_connect_error;
  /// The code of `last_connect_error` (`ok` when none): `auth_failed` while
  /// the server refuses the engine's credentials, `connect_failed` while it
  /// cannot be reached.
  errc last_connect_code = errc::ok;
  /// The TLS cipher of the most recently opened connection; empty when it
  /// is not encrypted (`tls=preferred` against a server without TLS, or
  /// `tls=disabled`).
  std::string tls_cipher;
  /// Queue wait and execution time percentiles since start.
  uint64_t queue_wait_p50 = 0;
  uint64_t queue_wait_p99 = 0;
  uint64_t exec_p50 = 0;
  uint64_t exec_p99 = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_status& x) {
  return f(caf::meta::type_name("troupe::pool_status"), x.size, x.idle, x.busy,
           x.connecting, x.leased, x.sessions, x.waiting, x.min_size, x.max_size, x.peak_size,
           x.opened, x.closed, x.failed, x.reconnects, x.reclaimed, x.served,
           x.failed_requests, x.overloaded, x.timed_out, x.pipelined, x.resets,
           x.circuit_open,
           x.last_connect_error, x.last_connect_code, x.tls_cipher,
           x.queue_wait_p50, x.queue_wait_p99,
           x.exec_p50, x.exec_p99);
}

/// Renders a status for humans (one line).
std::string to_string(const pool_status& x);

/// The outcome of an end-to-end ping.
struct ping_info {
  /// Queue wait plus the round trip, in microseconds.
  uint64_t round_trip_us = 0;
  /// The server's version string.
  std::string server_version;
  /// The server takes bulk executions (MariaDB's array binding, see
  /// `statement::sets`); without, several parameter sets run one by one.
  bool bulk_operations = false;
  /// The largest request the server accepts (`max_allowed_packet`), 0 when
  /// unknown.
  uint64_t max_allowed_packet = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping_info& x) {
  return f(caf::meta::type_name("troupe::ping_info"), x.round_trip_us,
           x.server_version, x.bulk_operations, x.max_allowed_packet);
}

/// What `dispose` did.
struct dispose_report {
  /// Queued requests failed with `shutting_down`.
  uint64_t cancelled = 0;
  /// Running statements that finished within the grace period.
  uint64_t finished = 0;
  /// Running statements whose connections were closed after the grace
  /// period (their requesters got `connection_lost`).
  uint64_t aborted = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dispose_report& x) {
  return f(caf::meta::type_name("troupe::dispose_report"), x.cancelled,
           x.finished, x.aborted);
}

/// Isolation levels (`server_default` keeps the server's setting).
enum class isolation_level : uint8_t {
  server_default,
  read_uncommitted,
  read_committed,
  repeatable_read,
  serializable,
};

std::string to_string(isolation_level x);

/// How `begin` starts a transaction.
struct transaction_options {
  isolation_level isolation = isolation_level::server_default;
  bool read_only = false;
  /// START TRANSACTION WITH CONSISTENT SNAPSHOT.
  bool consistent_snapshot = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transaction_options& x) {
  return f(caf::meta::type_name("troupe::transaction_options"), x.isolation,
           x.read_only, x.consistent_snapshot);
}

/// How a session behaves.
struct session_options {
  /// While a transaction is open and the owner sends nothing for this long,
  /// the session rolls back and gives its connection back, in ms; 0: the
  /// pool's `idle_in_transaction_timeout`.
  uint32_t idle_timeout_ms = 0;
  /// How long `begin` may wait for a connection, in ms; 0: the pool's
  /// `checkout_timeout`.
  uint32_t checkout_timeout_ms = 0;
  /// Accept statements that commit the transaction implicitly (DDL, LOCK
  /// TABLES, ...) inside a transaction. Off: they fail with
  /// `invalid_argument` and nothing is sent, so no caller believes a
  /// rollback will undo them.
  bool allow_implicit_commit = false;
  /// Run statements sent while no transaction is open in autocommit through
  /// the pool, each committed on its own. Off (the default): such statements
  /// fail with `invalid_argument` and nothing is sent, so a forgotten
  /// `begin` cannot make changes permanent unnoticed.
  bool autocommit = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_options& x) {
  return f(caf::meta::type_name("troupe::session_options"), x.idle_timeout_ms,
           x.checkout_timeout_ms, x.allow_implicit_commit, x.autocommit);
}

/// A session: one transaction at a time, on one connection leased from the
/// pool for the transaction's duration. Statements run in the order they
/// arrive; one sent while another runs waits behind it.
///
/// - `begin`: leases a connection and starts a transaction. Errors:
///   `checkout_timeout`, `overloaded`, `database_unreachable`;
///   `transaction_aborted` after the transaction was lost, until `rollback`
///   (a begin meant as nested must not start a new one). Inside an
///   open transaction it opens a nested level instead (a savepoint the
///   session names; no options: `invalid_argument`): `commit` then ends the
///   innermost level keeping its work, `rollback` undoes only that level's
///   work; the outermost `commit`/`rollback` end the transaction. A level
///   in which a statement failed must be rolled back: committing it
///   aborts the whole transaction (`transaction_aborted`; the outer commit
///   then fails and nothing is committed), because the code committing it
///   went on as if the failed statement had done its part.
/// - `query`/`execute`: inside a transaction on the leased connection.
///   Without one (before the first `begin`, after `commit` or `rollback`)
///   they fail with `invalid_argument` and nothing is sent, unless the
///   session was opened with `session_options::autocommit`: then they run
///   in autocommit through the pool, and a statement whose wait for the
///   pool ends gets `outcome_unknown` (it may have been applied). Errors:
///   `invalid_argument` for transaction control statements (use the
///   messages) and for implicit commits (unless allowed);
///   `transaction_aborted` once the transaction was lost (connection died,
///   deadlock rolled it back, idle timeout, lease reclaimed): nothing more
///   is sent until `rollback` or `begin` (inside a transaction nothing
///   uncommitted can have been applied, whatever the cause).
/// - `savepoint`/`rollback_to`/`release` with a savepoint name (letters,
///   digits, '_', '$').
/// - `commit`: `commit_outcome_unknown` when the connection was lost while
///   COMMIT was in flight; `transaction_aborted` when the transaction was
///   already lost (nothing was committed).
/// - `rollback`: ends the transaction (idempotent), or the innermost nested
///   level (see `begin`).
/// - `close`: rolls back an open transaction, then the session exits.
/// - `hand_over` with an actor: that actor owns the session from now on
///   (the transaction, if any, goes on); replies with an empty result.
///
/// Only the owner may use a session: the actor that opened it, or the one
/// it was handed to. A message from anyone else (or sent anonymously) gets
/// `not_owner` and changes nothing.
///
/// The session monitors its owner (local or remote): when the owner dies or
/// its node becomes unreachable, the open
/// transaction is rolled back and the connection returns to the pool
/// (KILL QUERY first if a statement still runs). A returned connection is
/// clean: no transaction, and reset (COM_RESET_CONNECTION) when the session
/// changed session state.
using session_actor = caf::typed_actor<
  caf::replies_to<begin_atom, transaction_options>::with<result>,
  caf::replies_to<query_atom, statement>::with<result>,
  caf::replies_to<execute_atom, statement>::with<result>,
  caf::replies_to<savepoint_atom, std::string>::with<result>,
  caf::replies_to<rollback_to_atom, std::string>::with<result>,
  caf::replies_to<release_atom, std::string>::with<result>,
  caf::replies_to<commit_atom>::with<result>,
  caf::replies_to<rollback_atom>::with<result>,
  caf::replies_to<close_atom>::with<result>,
  caf::replies_to<hand_over_atom, caf::actor>::with<result>,
  caf::replies_to<plan_atom, repository_sql::plan>::with<repository_result>,
  caf::replies_to<plan_atom, stats_atom, repository_sql::plan>::with<
    field_stats>,
  caf::replies_to<plan_atom, page_after_atom, repository_sql::plan>::with<
    keyset_page>>;

/// A repository: typed CRUD on one table, whose schema it reflects on first
/// use (and again on `refresh`). Keys, rows and changes are `record`s,
/// validated against the schema before any SQL runs (`invalid_argument`
/// naming the column; `unsupported` for key operations on a table without
/// a primary key; `not_found` when the table does not exist). Every
/// operation answers a `repository_result` (rows as records, and a count),
/// but `stats_atom` (`field_stats`) and `page_after_atom` (`keyset_page`):
///
/// - `(get_atom, key)`: the row, or none.
/// - `(exists_atom, key)`: count 1 or 0.
/// - `(count_atom)`: count = the table's rows.
/// - `(page_atom, page_request)`: a page of rows (at most 10,000).
/// - `(find_atom, where, limit)`: rows whose columns equal `where`.
/// - `(create_atom, row)`: the row as stored (generated id, defaults).
/// - `(create_many_atom, rows)`: inserts the rows (at most 1,000,000), all
///   or nothing: count = rows written, `first_id` = the AUTO_INCREMENT
///   value of the first. Every row is validated first (an error names the
///   row's index and the column; nothing is sent). Sent in steps under the
///   server's max_allowed_packet: bulk executions (MariaDB's array binding)
///   where the server takes them, multi-row INSERTs otherwise; several
///   steps run in one transaction (through a session: under a savepoint,
///   so a failure undoes this call's rows and the transaction goes on).
/// - `(update_atom, key, changes)`: the row as updated, or none.
/// - `(delete_atom, key)`: count 1 if a row was deleted, else 0.
/// - `(update_where_atom, where, changes)`, `(delete_where_atom, where)`:
///   every row whose columns equal `where` (NULL matches NULL); count = the
///   rows changed (a row left as it was is not counted) or deleted. An
///   empty `where` is refused (`invalid_argument`: it would change every
///   row).
/// - `(update_keys_atom, keys, changes)`, `(delete_keys_atom, keys)`: the
///   rows with these primary keys (at most 100,000; a key given twice
///   counts once), in statements of at most 256 keys, all or nothing
///   (through a session: under a savepoint); count as above.
/// - `(stats_atom, columns)`: `field_stats` of at most 64 columns (count,
///   distinct, nulls, min, max, avg of numeric columns), one statement.
/// - `(page_after_atom, token, limit)`: a `keyset_page` of at most `limit`
///   rows (0: 100, at most 10,000) in primary key order after the token's
///   key (`page_token{}`: the first page), and the next page's token.
///   `unsupported` without a primary key; `invalid_argument` for a token
///   of another table or a malformed one.
///
/// Each also comes with a `session_actor` first: it then runs inside that
/// session's open transaction (the request must come from the session's
/// owner: it reaches the session as the owner's own message; without an
/// open transaction it fails with `invalid_argument`). Errors of writes
/// that get no answer in time: `outcome_unknown` (it may have been
/// applied).
using repository_actor = caf::typed_actor<
  caf::replies_to<get_atom, record>::with<repository_result>,
  caf::replies_to<exists_atom, record>::with<repository_result>,
  caf::replies_to<count_atom>::with<repository_result>,
  caf::replies_to<page_atom, page_request>::with<repository_result>,
  caf::replies_to<find_atom, record, uint32_t>::with<repository_result>,
  caf::replies_to<create_atom, record>::with<repository_result>,
  caf::replies_to<create_many_atom, std::vector<record>>::with<
    repository_result>,
  caf::replies_to<update_atom, record, record>::with<repository_result>,
  caf::replies_to<delete_atom, record>::with<repository_result>,
  caf::replies_to<get_atom, session_actor, record>::with<repository_result>,
  caf::replies_to<exists_atom, session_actor, record>::with<
    repository_result>,
  caf::replies_to<count_atom, session_actor>::with<repository_result>,
  caf::replies_to<page_atom, session_actor, page_request>::with<
    repository_result>,
  caf::replies_to<find_atom, session_actor, record, uint32_t>::with<
    repository_result>,
  caf::replies_to<create_atom, session_actor, record>::with<
    repository_result>,
  caf::replies_to<create_many_atom, session_actor, std::vector<record>>::with<
    repository_result>,
  caf::replies_to<update_atom, session_actor, record, record>::with<
    repository_result>,
  caf::replies_to<delete_atom, session_actor, record>::with<
    repository_result>,
  caf::replies_to<update_where_atom, record, record>::with<repository_result>,
  caf::replies_to<delete_where_atom, record>::with<repository_result>,
  caf::replies_to<update_keys_atom, std::vector<record>, record>::with<
    repository_result>,
  caf::replies_to<delete_keys_atom, std::vector<record>>::with<
    repository_result>,
  caf::replies_to<stats_atom, std::vector<std::string>>::with<field_stats>,
  caf::replies_to<page_after_atom, page_token, uint32_t>::with<keyset_page>,
  caf::replies_to<update_where_atom, session_actor, record, record>::with<
    repository_result>,
  caf::replies_to<delete_where_atom, session_actor, record>::with<
    repository_result>,
  caf::replies_to<update_keys_atom, session_actor, std::vector<record>,
                  record>::with<repository_result>,
  caf::replies_to<delete_keys_atom, session_actor, std::vector<record>>::with<
    repository_result>,
  caf::replies_to<stats_atom, session_actor, std::vector<std::string>>::with<
    field_stats>,
  caf::replies_to<page_after_atom, session_actor, page_token, uint32_t>::with<
    keyset_page>,
  caf::replies_to<schema_atom>::with<table_schema>,
  caf::replies_to<refresh_atom>::with<table_schema>>;

/// A transaction as data: statements run in order inside one transaction,
/// committed at the end. On a deadlock (1213) — and on a lock wait timeout
/// (1205) when `retry_lock_wait_timeout` — the engine rolls back and runs
/// the script again, up to `max_attempts` times with a jittered backoff.
/// Any other error rolls back and is returned. No answer in time (the
/// engine's `request_bound`) to a statement ends the script with
/// `transaction_aborted` (nothing was committed: its session rolls back),
/// to COMMIT with `commit_outcome_unknown` (it may have been committed).
struct transaction_script {
  std::vector<statement> statements;
  transaction_options options;
  uint32_t max_attempts = 3;
  bool retry_lock_wait_timeout = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transaction_script& x) {
  return f(caf::meta::type_name("troupe::transaction_script"), x.statements,
           x.options, x.max_attempts, x.retry_lock_wait_timeout);
}

/// The outcome of a committed transaction script.
struct transaction_outcome {
  /// One result per statement of the successful attempt.
  std::vector<result> results;
  /// How many attempts it took (1 without retries).
  uint32_t attempts = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transaction_outcome& x) {
  return f(caf::meta::type_name("troupe::transaction_outcome"), x.results,
           x.attempts);
}

// -- the engine -----------------------------------------------------------------

/// The engine: a pool supervisor owning connection actors. Requests wait in
/// one bounded FIFO for an idle connection; see docs/architecture.md.
///
/// Errors: `invalid_argument` (empty SQL, wrong parameter count),
/// `overloaded` (queue full), `checkout_timeout` (waited past the deadline),
/// `database_unreachable` (circuit open), `connection_lost` (the connection
/// died while the statement ran: it may have been applied; never re-sent),
/// `outcome_unknown` (no answer within `read_timeout`: the connection was
/// dropped while the statement may still run, so it may have been applied),
/// `statement_timeout` (the statement's execution timeout, or the server's
/// own `max_statement_time`, stopped it: not applied), `server_error`,
/// `shutting_down` (after dispose).
///
/// Send requests with a finite timeout (`request_bound`). When that timeout
/// ends the wait (CAF's `sec::request_timeout`, not a troupe error), a
/// statement's outcome is unknown, exactly as with `outcome_unknown`: it
/// may still run and be applied. Do not re-send it blindly.
///
/// `(session_atom, session_options)` opens a session owned by the sender
/// (see `session_actor`); `(transaction_atom, transaction_script)` runs a
/// transaction with deadlock retries; `(repository_atom, table)` returns the
/// engine's repository for `table` of the DSN's database (one per table,
/// shared by all callers; see `repository_actor`). Errors:
/// `invalid_argument` for a name that cannot be a table's, `overloaded`
/// past 1,024 repositories.
using engine_actor = caf::typed_actor<
  caf::replies_to<query_atom, statement>::with<result>,
  caf::replies_to<execute_atom, statement>::with<result>,
  caf::replies_to<ping_atom>::with<ping_info>,
  caf::replies_to<status_atom>::with<pool_status>,
  caf::replies_to<dispose_atom>::with<dispose_report>,
  caf::replies_to<session_atom, session_options>::with<session_actor>,
  caf::replies_to<transaction_atom, transaction_script>::with<
    transaction_outcome>,
  caf::replies_to<repository_atom, std::string>::with<repository_actor>>;

/// Registers the engine's message types (under their "troupe::..." names)
/// and its error category with `cfg`. Call it on every node that talks to an
/// engine.
void register_types(caf::actor_system_config& cfg);

/// Makes the actor system built from `cfg` run troupe's reactor scheduler:
/// each of its `scheduler.max-threads` CAF workers also drives an event loop
/// and waits in it when idle. Engines spawned in such a system run their
/// connections on those workers (`io_threads` is then ignored): a request
/// and its answer stay on one thread, with no thread woken up in between,
/// which on a small machine nearly doubles throughput (docs/benchmarks.md).
/// The price: an actor that computes for long also delays the I/O of the
/// connections on its worker, so long computations belong in detached
/// actors. Unless set already, `scheduler.max-throughput` becomes 100 (an
/// actor handles at most 100 messages before its worker polls again). Call
/// before the actor system is constructed.
void use_reactor(caf::actor_system_config& cfg);

/// Spawns an engine. It connects in the background: requests sent before
/// the first connection is ready wait in the queue. Its connections run on
/// `io_threads` event loops of its own, or on the reactor's workers (see
/// use_reactor). Errors: `invalid_argument` for an inconsistent
/// configuration.
caf::expected<engine_actor> spawn_engine(caf::actor_system& sys,
                                         engine_config cfg);

} // namespace troupe
