#pragma once

#include <memory>

#include "pool_messages.hpp"
#include "troupe/engine_config.hpp"
#include "troupe/event_loop.hpp"

namespace troupe::detail {

/// Spawns the pool supervisor of an engine (see docs/architecture.md, "The
/// pool supervisor").
supervisor_actor spawn_supervisor(caf::actor_system& sys, engine_config cfg,
                                  std::shared_ptr<event_loop> loop);

} // namespace troupe::detail
