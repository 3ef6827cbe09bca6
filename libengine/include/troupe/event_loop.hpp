#pragma once

// The event loop that drives non-blocking connections.
//
// A loop owns one thread (or is driven by one, see driven_loop). Connections register their socket with `watch` and
// get `on_io` calls on that thread when the socket is ready; timers and
// posted tasks also run on it. Everything but `post`, `stop` and
// `in_loop_thread` must be called on the loop thread (post a task to get
// there). The interface is small on purpose so the implementation (an own
// epoll thread today, see docs/architecture.md) can be replaced.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace troupe {

/// Readiness bits, equal to libmariadb's MYSQL_WAIT_* values, plus
/// `io_yield`: "nothing to wait for, but let others run first and then
/// resume" (a long result is decoded in slices so one connection cannot hold
/// a loop for long).
enum io_events : int {
  io_read = 1,
  io_write = 2,
  io_timeout = 8,
  io_yield = 64,
};

/// Receives readiness events for a watched file descriptor.
class io_handler {
public:
  virtual ~io_handler();
  /// Called on the loop thread with `io_read` and/or `io_write` (errors and
  /// hang-ups are reported as readable). May be spurious.
  virtual void on_io(int events) = 0;
};

/// A single-threaded event loop. See the file comment.
class event_loop {
public:
  using task = std::function<void()>;
  using timer_id = uint64_t;
  using clock = std::chrono::steady_clock;

  virtual ~event_loop();

  /// Runs `t` on the loop thread, after the tasks posted before it.
  /// Thread-safe. Returns false (and drops `t`) when the loop has stopped.
  virtual bool post(task t) = 0;

  /// Sets the events `fd` is watched for (`io_read | io_write`, 0 to pause),
  /// registering it on first use. `h` must stay alive until `unwatch(fd)`.
  virtual void watch(int fd, int events, io_handler* h) = 0;

  /// Stops watching `fd`. Call before closing it.
  virtual void unwatch(int fd) = 0;

  /// Stops watching `fd` after someone else closed it (libmariadb closes
  /// its socket itself when a connection fails): drops the registration
  /// without a system call on the number, which by now may name a file that
  /// another thread opened. Closing took the file out of the epoll set; a
  /// late event of it is dropped by its registration's generation.
  virtual void forget(int fd) = 0;

  /// Runs `t` once after `delay`. Returns an id for `cancel`.
  virtual timer_id schedule(clock::duration delay, task t) = 0;

  /// Cancels a timer; does nothing when it already ran or was cancelled.
  virtual void cancel(timer_id id) = 0;

  /// True when called on the loop thread.
  virtual bool in_loop_thread() const = 0;

  /// Stops the loop and joins its thread. Tasks posted before `stop` run
  /// first; handlers still registered are not called any more. Must not be
  /// called on the loop thread. Idempotent.
  virtual void stop() = 0;

  /// The number of file descriptors currently watched.
  virtual size_t watched_count() const = 0;
};

/// Starts an event loop on its own thread (epoll). `name` names the thread.
std::unique_ptr<event_loop> make_epoll_loop(std::string name = "troupe-io");

/// An event loop without a thread of its own: whoever owns it runs it by
/// calling `run_once` (always from the same thread, which then is the loop
/// thread). Used by troupe's reactor scheduler, whose CAF workers drive
/// their loop between actors and wait in it when idle.
class driven_loop : public event_loop {
public:
  /// Runs one iteration: waits up to `timeout_ms` (0: poll, -1: no limit)
  /// for I/O, a due timer, a posted task or `wake`, then runs what is ready.
  /// Never waits while a posted task is pending.
  virtual void run_once(int timeout_ms) = 0;

  /// Ends a `run_once` that waits. Thread-safe.
  virtual void wake() = 0;
};

/// An epoll loop driven by its owner (see driven_loop). `stop` refuses new
/// tasks and runs the pending ones on the calling thread.
std::unique_ptr<driven_loop> make_driven_epoll_loop(std::string name);

} // namespace troupe
