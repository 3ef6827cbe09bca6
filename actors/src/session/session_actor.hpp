#pragma once

#include <chrono>
#include <string>

#include "pool/pool_messages.hpp"

namespace troupe::detail {

/// The session's interface plus what only the engine sends it: the loop's
/// statement outcomes and its own timers (accepted only from itself), and
/// the supervisor's revocation of its lease.
using session_impl_actor = session_actor::extend<
  caf::reacts_to<stmt_done_atom, uint64_t, result, bool>,
  caf::reacts_to<stmt_failed_atom, uint64_t, caf::error, bool>,
  caf::reacts_to<idle_check_atom, uint64_t>,
  caf::reacts_to<revoke_atom, uint32_t, std::string>>;

/// What a session needs from the engine.
struct session_params {
  supervisor_actor supervisor;
  caf::strong_actor_ptr owner;
  session_options options;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds checkout_timeout{5000};
  /// The execution limit of a statement that sets none (0: none).
  std::chrono::milliseconds statement_timeout{0};
  /// Bound on one autocommit request through the pool.
  std::chrono::milliseconds request_timeout{60000};
  std::string engine_name;
};

/// Spawns a session (monitored by `parent`, the supervisor).
session_impl_actor spawn_session(caf::local_actor* parent,
                                 session_params params);

/// Spawns the runner of a transaction script; it answers `reply` and exits.
caf::actor spawn_script_runner(caf::local_actor* parent, engine_actor engine,
                               transaction_script script, reply_handle reply,
                               std::chrono::milliseconds request_timeout);

} // namespace troupe::detail
