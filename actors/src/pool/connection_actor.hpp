#pragma once

#include <cstdint>
#include <memory>

#include "pool/job_runner.hpp"
#include "pool/pool_messages.hpp"
#include "troupe/event_loop.hpp"
#include "troupe/mariadb/connection.hpp"

namespace troupe::detail {

/// Settings a connection actor needs from the engine.
struct connection_params {
  std::shared_ptr<event_loop> loop;
  mariadb::connect_options options;
  supervisor_actor supervisor;
  uint32_t id = 0;
  std::chrono::milliseconds slow_threshold{0};
  std::string engine_name;
  std::shared_ptr<done_batcher> batcher;
};

/// Spawns a connection actor (monitored by the caller). It connects at once
/// and reports `ready` to the supervisor, or exits with the connect error.
connection_actor spawn_connection(caf::local_actor* parent,
                                  connection_params params);

} // namespace troupe::detail
