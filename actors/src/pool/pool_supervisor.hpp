#pragma once

#include <memory>
#include <vector>

#include "pool/pool_messages.hpp"
#include "troupe/engine_config.hpp"
#include "troupe/event_loop.hpp"

namespace troupe::detail {

/// Spawns the pool supervisor of an engine (see docs/architecture.md, "The
/// pool supervisor").
/// `loops` drive the connections (spread evenly).
supervisor_actor spawn_supervisor(caf::actor_system& sys, engine_config cfg,
                                  std::vector<std::shared_ptr<event_loop>> loops);

} // namespace troupe::detail
