#pragma once

// Running jobs on the event loop: the hot path of a request.

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pool/pool_messages.hpp"
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
  /// For KILL QUERY at a statement's execution timeout on servers without
  /// max_statement_time: the connection's loop (it runs the jobs, so it
  /// outlives them) and its options (for the side connection).
  event_loop* loop = nullptr;
  mariadb::connect_options options;
};

/// The pool's jobs for one connection: the ones running (several when the
/// driver pipelines them) and the ones queued behind (pipeline_depth > 1).
/// Shared by the supervisor, which adds, expires and takes back waiting
/// jobs, and the connection's loop, which starts waiting jobs when running
/// ones complete or the driver accepts more: under load a request then
/// reaches its connection without waking the loop and without a supervisor
/// round trip.
class job_lane {
public:
  /// Queues `j` if a job runs; returns true if the caller must start `j` on
  /// the loop: the lane was idle, or the driver pipelines what runs and takes
  /// more (the lane then counts `j` as running).
  bool submit(job_ptr& j);

  /// Loop thread, after a job completed: the next waiting job (which then
  /// runs in its place), or null.
  job_ptr next();

  /// Loop thread: gives back a started job that cannot run yet (it may not
  /// join the jobs running on the connection); it waits at the head of the
  /// lane. False (nothing done) when no other job of the lane runs, so
  /// nothing would start it later.
  bool put_back(job_ptr& j);

  /// Loop thread, after starting a job: notes whether the driver takes more
  /// jobs next to the running ones (`accepting`), and if so returns one more
  /// waiting job to start, or null.
  job_ptr more(bool accepting);

  /// Removes the waiting jobs whose deadline is at or before `now`.
  std::vector<job_ptr> expire(std::chrono::steady_clock::time_point now);

  /// Removes the oldest waiting job (to run it on an idle connection).
  job_ptr steal();

  /// Removes every waiting job.
  std::vector<job_ptr> drain();

  size_t waiting() const;

private:
  mutable std::mutex mtx_;
  std::deque<job_ptr> waiting_;
  size_t running_ = 0;
  bool accepting_ = false;
};
using lane_ptr = std::shared_ptr<job_lane>;

/// Loop thread: makes `conn` fit for anyone: rolls back (when `rollback`
/// or the server reports an open transaction), then resets the session
/// (COM_RESET_CONNECTION and the connection's setup) when it changed or the
/// server does not track changes. `done` gets an empty result, or the error
/// that left the connection unfit.
void clean_connection(const std::shared_ptr<mariadb::async_connection>& conn,
                      bool rollback, mariadb::async_connection::handler done);

/// Runs `j` on `conn` (on the loop thread of `conn`): the requester gets the
/// answer straight from the loop, the supervisor a done entry, the
/// connection actor a `broken` message when the connection died. With a
/// lane, the next waiting job of the lane starts when `j` completes.
void run_job(const std::shared_ptr<mariadb::async_connection>& conn, job_ptr j,
             std::shared_ptr<const job_context> ctx, lane_ptr lane = nullptr);

} // namespace troupe::detail
