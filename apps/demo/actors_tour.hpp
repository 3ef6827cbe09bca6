#pragma once

#include "troupe/dsn.hpp"

namespace troupe::demo {

/// Runs the actor part of the tour against `target`; returns the exit code.
int run_actors_tour(const dsn& target);

} // namespace troupe::demo
