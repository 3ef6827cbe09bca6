#pragma once

// Messages between the pool supervisor, its connection actors and the event
// loop. Internal: these never cross the network (connection actors are never
// published), so they may carry shared pointers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "pool/reply_handle.hpp"
#include "troupe/event_loop.hpp"
#include "troupe/mariadb/async_connection.hpp"
#include "troupe/engine.hpp"

namespace troupe::detail {

using check_atom = caf::atom_constant<caf::atom("check")>;
using close_atom = caf::atom_constant<caf::atom("close")>;
using abort_atom = caf::atom_constant<caf::atom("abort")>;
using broken_atom = caf::atom_constant<caf::atom("broken")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using flushed_atom = caf::atom_constant<caf::atom("flushed")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using give_back_atom = caf::atom_constant<caf::atom("giveback")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
using clean_atom = caf::atom_constant<caf::atom("clean")>;
using stmt_done_atom = caf::atom_constant<caf::atom("stmtdone")>;
using stmt_failed_atom = caf::atom_constant<caf::atom("stmtfailed")>;
using idle_check_atom = caf::atom_constant<caf::atom("idlecheck")>;
using requeue_atom = caf::atom_constant<caf::atom("requeue")>;

/// One request on its way to a connection. The reply goes straight from the
/// event loop to the requester.
struct job {
  /// Autocommit: the requester, answered straight from the loop.
  reply_handle reply;
  /// Sessions: called on the loop instead of answering `reply`, so the
  /// session sees every outcome before its owner does.
  std::function<void(caf::expected<result>)> notify;
  statement stmt;
  /// An end-to-end ping instead of a statement: replies a ping_info.
  bool ping = false;
  /// The statement's execution limit (0: none), and whether the caller set
  /// it (else it is the pool's default, skipped where the server cannot
  /// apply it).
  std::chrono::milliseconds execution_timeout{0};
  bool timeout_explicit = false;
  /// Set on the loop: the driver pipelined it.
  bool pipelined = false;
  std::chrono::steady_clock::time_point enqueued;
  std::chrono::steady_clock::time_point deadline;
};
using job_ptr = std::shared_ptr<job>;

/// Sets the job's execution limit: the caller's (`requested_ms`, explicit)
/// or, when that is 0, the pool's default.
inline void set_execution_limit(job& j, uint32_t requested_ms,
                                std::chrono::milliseconds pool_default) {
  j.timeout_explicit = requested_ms > 0;
  j.execution_timeout = j.timeout_explicit
                          ? std::chrono::milliseconds{requested_ms}
                          : pool_default;
}

/// What a connection tells the supervisor when it is ready. The supervisor
/// runs autocommit jobs on `conn` itself (on its loop), which saves the
/// message hop through the connection actor on the hot path.
struct conn_info {
  uint64_t thread_id = 0;
  uint32_t wait_timeout = 0;
  std::string version;
  /// The TLS cipher in use, empty when the connection is not encrypted.
  std::string tls_cipher;
  std::shared_ptr<mariadb::async_connection> conn;
  std::shared_ptr<const struct job_context> context;
};

/// How a job ended, for the supervisor's bookkeeping.
enum class outcome : uint8_t { ok, error, fatal };

/// One finished job; the loop sends them to the supervisor in batches.
struct done_entry {
  uint32_t id = 0;
  uint64_t exec_us = 0;
  outcome how = outcome::ok;
  /// A job of the pool (not of a session holding a lease): it counts
  /// towards the connection's jobs in flight.
  bool pooled = true;
  /// The connection reported an open transaction after the job; the loop
  /// rolled it back before answering.
  bool tx_open = false;
  /// The job left state in the session (variables, current database, locks,
  /// temporary tables, ...); the loop reset the session before answering.
  bool state_changed = false;
  /// The driver pipelined it (wrote it without waiting for earlier answers).
  bool pipelined = false;
};
using done_batch = std::vector<done_entry>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_ptr&) {
  return f(caf::meta::type_name("troupe::detail::job_ptr"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, done_entry& x) {
  return f(caf::meta::type_name("troupe::detail::done_entry"), x.id,
           x.exec_us, x.how, x.pooled, x.tx_open, x.state_changed,
           x.pipelined);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conn_info& x) {
  return f(caf::meta::type_name("troupe::detail::conn_info"), x.thread_id,
           x.wait_timeout, x.version, x.tls_cipher);
}

/// A connection actor: owns one server connection (an async_connection on
/// the engine's event loop): connects, checks, cleans and aborts it. Jobs do
/// not pass through it: the supervisor gives them to the connection's lane.
using connection_actor = caf::typed_actor<
  caf::reacts_to<check_atom>,
  caf::reacts_to<broken_atom, caf::error>, caf::reacts_to<close_atom>,
  caf::reacts_to<abort_atom>, caf::reacts_to<clean_atom, bool>>;

/// A connection leased to a session: the session runs its statements on
/// `conn` directly (on its loop) and gives it back to the supervisor.
struct lease_grant {
  uint32_t id = 0;
  connection_actor connection;
  std::shared_ptr<mariadb::async_connection> conn;
  std::shared_ptr<const struct job_context> context;
  std::shared_ptr<event_loop> loop;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_grant& x) {
  return f(caf::meta::type_name("troupe::detail::lease_grant"), x.id);
}

/// The supervisor: the engine's public interface plus what its children
/// and the loop tell it (accepted only from its own children).
using supervisor_actor = engine_actor::extend<
  caf::reacts_to<ready_atom, uint32_t, conn_info>,
  caf::reacts_to<done_atom, done_batch>,
  caf::reacts_to<tick_atom>, caf::reacts_to<flushed_atom>,
  caf::replies_to<lease_atom, uint32_t>::with<lease_grant>,
  caf::reacts_to<give_back_atom, uint32_t, bool>,
  caf::reacts_to<requeue_atom, uint32_t, job_ptr>>;

} // namespace troupe::detail
