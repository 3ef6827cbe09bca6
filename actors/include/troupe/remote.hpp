#pragma once

// Using an engine that runs on another node.
//
// CAF 0.17 never fails a request whose receiver's node is lost: it waits
// for its own timeout (or forever with `infinite`), and so does every later
// request to the dead handle. `guard_remote` puts a local actor with the
// engine's interface in front of the remote handle. It forwards every
// request, remembers which ones are pending, watches the remote node, and
// answers all of them with `node_down` as soon as CAF reports the node lost
// (its process died, the TCP connection broke, or it stopped sending
// heartbeats: `use_heartbeat`). Then the guard exits with that error as its
// exit reason (monitor it to learn of the loss); requests sent to it later
// fail at once with CAF's `request_receiver_down`. Sessions opened through
// a guarded engine are guarded the same way.
//
// A guard is an actor like the ones you spawn: it ends when its node is
// lost, when the remote engine exits, or when you send it an exit message,
// and an actor system does not shut down while one runs (CAF keeps every
// local actor that talked to another node alive until it exits, so a
// guard does not end when its last handle goes). Send it an exit when you
// are done: `self->send_exit(engine, caf::exit_reason::user_shutdown)`.
//
//   auto remote = sys.middleman().remote_actor<troupe::engine_actor>(host, port);
//   if (!remote) ...;
//   auto engine = troupe::guard_remote(sys, *remote);
//   self->request(*engine, 30s, troupe::query_atom::value, stmt) ...
//
// `client::attach` guards a remote handle by itself.
//
// Bounds (measured in docs/architecture.md, "What happens when…"):
// - the remote process dies or the connection breaks: `node_down` within
//   about a second (CAF notices the closed connection);
// - the remote process stops (SIGSTOP, a hung machine): `node_down` within
//   the heartbeat's `timeout` plus one `interval` after its last message,
//   provided both nodes use heartbeats.

#include <chrono>

#include <caf/fwd.hpp>

#include "troupe/engine.hpp"

namespace troupe {

/// How a guard treats requests to a remote engine.
struct remote_options {
  /// The longest the guard keeps a request pending when the remote node
  /// lives but sends no answer. It then answers as a request timeout would
  /// (`outcome_unknown` for a statement, `query_timeout` for a request that
  /// changes nothing, docs/errors.md). Requesters normally give up earlier
  /// with their own, shorter timeout; this bound keeps the guard's memory
  /// bounded. Must be positive.
  std::chrono::milliseconds request_bound{std::chrono::minutes{5}};
};

/// Returns a local handle for `remote`, an engine on another node, that
/// answers pending requests with `node_down` once that node is lost (see
/// above). Sessions opened through it are local guards of the
/// remote sessions: only their owner may use them (`not_owner` otherwise),
/// `hand_over` moves them to another local actor, and when the owner dies
/// the guard exits, so the remote session rolls back. Repositories obtained
/// through it are local guards of the remote ones (one per repository);
/// their in-session operations go through the session's guard. Returns `remote`
/// itself when it is not remote (already local, or invalid). Errors:
/// `invalid_argument` for a non-positive `request_bound`.
caf::expected<engine_actor> guard_remote(caf::actor_system& sys,
                                         engine_actor remote,
                                         remote_options opts = {});

/// Makes the actor system built from `cfg` send a heartbeat to every
/// connected node each `interval` and drop a node it heard nothing from
/// for `timeout` (CAF's `middleman.heartbeat-interval` and
/// `middleman.connection-timeout`). A dropped node counts as lost: guards
/// answer `node_down`, and sessions it owned on this node roll back. Every
/// node of an application must use heartbeats with the same interval:
/// a node that sends none is dropped by the others after `timeout` of
/// silence. `engine_system_config` calls this with the defaults (1 s, 5 s);
/// the command line or config file can still change them. Errors:
/// `invalid_argument` unless 0 < interval < timeout.
caf::error use_heartbeat(caf::actor_system_config& cfg,
                         std::chrono::milliseconds interval
                         = std::chrono::seconds{1},
                         std::chrono::milliseconds timeout
                         = std::chrono::seconds{5});

} // namespace troupe
