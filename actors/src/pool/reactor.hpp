#pragma once

// troupe's reactor scheduler (internal part): CAF workers that drive an
// event loop each. See use_reactor in troupe/engine.hpp.

#include <memory>
#include <vector>

#include <caf/fwd.hpp>

#include "troupe/event_loop.hpp"

namespace troupe::detail {

/// The event loops of the reactor's workers, one per worker; empty when
/// `sys` does not run the reactor scheduler.
std::vector<std::shared_ptr<event_loop>> reactor_loops(caf::actor_system& sys);

/// The reactor worker running on this thread, or null. Enqueueing to an
/// actor with it schedules the actor on this worker (no wake-up of another
/// thread); with null the scheduler picks a worker.
caf::execution_unit* local_unit();

} // namespace troupe::detail
