#pragma once

// Running jobs on the event loop: the hot path of a request.

#include <chrono>
#include <memory>
#include <string>

#include "pool_messages.hpp"
#include "troupe/event_loop.hpp"

namespace troupe::detail {

/// Collects the jobs one event loop finished and tells the supervisor once
/// per loop iteration instead of once per job. Loop thread only.
class done_batcher : public std::enable_shared_from_this<done_batcher> {
public:
  done_batcher(event_loop& loop, supervisor_actor supervisor);

  void add(done_entry x);

private:
  void flush();

  event_loop& loop_;
  supervisor_actor supervisor_;
  done_batch pending_;
  bool scheduled_ = false;
};

/// What running a job on one connection needs besides the job. Immutable
/// and shared: it outlives the connection actor's state.
struct job_context {
  supervisor_actor supervisor;
  /// The connection actor, told when its connection broke.
  caf::actor connection;
  uint32_t id = 0;
  std::chrono::milliseconds slow_threshold{0};
  std::string engine_name;
  std::shared_ptr<done_batcher> batcher;
};

/// Runs `j` on `conn` (on the loop thread of `conn`): the requester gets the
/// answer straight from the loop, the supervisor a done entry, the
/// connection actor a `broken` message when the connection died.
void run_job(const std::shared_ptr<mariadb::async_connection>& conn, job_ptr j,
             std::shared_ptr<const job_context> ctx);

} // namespace troupe::detail
