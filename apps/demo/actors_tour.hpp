#pragma once

#include <caf/fwd.hpp>

#include "troupe/engine_config.hpp"

namespace troupe::demo {

/// Runs the actor part of the tour with an actor system built from `cfg`
/// and an engine configured by `ecfg`; returns the exit code.
int run_actors_tour(caf::actor_system_config& cfg, engine_config ecfg);

} // namespace troupe::demo
