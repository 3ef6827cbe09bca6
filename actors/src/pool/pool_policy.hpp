#pragma once

// The pool's decisions as plain code: how many connections to open, the
// reconnect backoff and the circuit, idle-connection health and lifetimes,
// and the bounded queue of requests waiting for a connection. No CAF, no
// network, no clock of its own: every call gets `now`, so unit tests drive
// it with whatever time they like (tests/unit/pool_policy_test.cpp). The
// supervisor actor (pool_supervisor.cpp) owns the connections and calls
// these; it holds no policy of its own.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace troupe::detail {

using pool_clock = std::chrono::steady_clock;
using pool_time = pool_clock::time_point;
using pool_ms = std::chrono::milliseconds;

// -- sizing, backoff and the circuit ---------------------------------------------

/// Reconnect backoff and the circuit breaker.
///
/// One outage counts once: connect attempts that were already under way
/// when a failure was counted belong to the same outage, however many of
/// them fail (a pool of 8 losing its server sees 8 failures in the same
/// millisecond). Each attempt carries the `round()` at which it started;
/// only a failure of an attempt started in the current round counts,
/// doubles the backoff and starts a new round. After a counted failure
/// only one attempt runs at a time (a probe), no earlier than the backoff.
///
/// The circuit opens when a connect fails and no connection is open: then
/// requests fail fast instead of waiting for their deadline, and one probe
/// at a time keeps trying (half-open). Any sign that the database answers
/// closes it.
class reconnect_policy {
public:
  struct settings {
    pool_ms min{200};
    pool_ms max{30000};
    /// The longest wait between probes of an unreachable database (never
    /// more than `max`); refused logins wait `max`.
    pool_ms probe{1000};
  };

  /// What a failure changed.
  struct failure {
    /// It started a new round (false: part of an outage already counted).
    bool counted = false;
    /// Consecutive counted failures, this one included.
    uint32_t attempt = 0;
    /// Until the next attempt (counted failures only).
    pool_ms delay{0};
    /// The circuit opened with this failure.
    bool circuit_opened = false;
  };

  reconnect_policy() = default;
  explicit reconnect_policy(settings s) : settings_(s) {}

  /// The round a connect attempt starting now belongs to.
  uint64_t round() const { return round_; }

  /// How many connections to start now. `wanted`: how many the pool needs
  /// (see `connections_wanted`); `room`: how many more max_size allows;
  /// `connecting`: attempts under way.
  size_t to_open(pool_time now, size_t wanted, size_t room,
                 size_t connecting) const;

  /// An attempt of round `round` failed at `now`. `refused_login`: the
  /// server refused our credentials (retrying soon cannot help: the next
  /// attempt waits `max`). `none_open`: no connection is
  /// open. `u` in [0, 1) jitters the delay (between half and all of it).
  failure on_failure(uint64_t round, pool_time now, bool refused_login,
                     bool none_open, double u);

  /// A new connection opened: the outage is over. Returns how long the
  /// circuit was open, if it was.
  std::optional<pool_ms> on_connected(pool_time now);

  /// The database answered (a health check, a returned lease): closes the
  /// circuit. Returns how long it was open, if it was.
  std::optional<pool_ms> on_answered(pool_time now);

  bool circuit_open() const { return circuit_open_; }
  pool_time circuit_since() const { return circuit_since_; }
  uint32_t failures() const { return failures_; }
  pool_time next_attempt() const { return next_attempt_; }

private:
  std::optional<pool_ms> close_circuit(pool_time now);

  settings settings_;
  uint32_t failures_ = 0;
  uint64_t round_ = 0;
  pool_time next_attempt_{};
  bool circuit_open_ = false;
  pool_time circuit_since_{};
};

/// How many connections the pool wants to add: one per waiting request not
/// covered by an attempt under way, and up to `min_size`.
size_t connections_wanted(size_t waiting, size_t connecting, size_t size,
                          size_t min_size);

// -- health and lifetimes ----------------------------------------------------------------

/// What to do with an idle connection at a tick.
enum class idle_verdict {
  keep,
  /// Past its lifetime: close it (a new one replaces it when needed).
  recycle,
  /// Idle for `idle_timeout` while the pool is above `min_size`: close it.
  close_idle,
  /// Unused for a ping interval: check that it still works.
  ping,
};

struct idle_rules {
  size_t min_size = 0;
  pool_ms idle_timeout{60000};
  pool_ms ping_interval{10000};
};

idle_verdict judge_idle(pool_time now, pool_time expires, pool_time last_used,
                        size_t pool_size, const idle_rules& rules);

/// When a connection opened at `now` is to be recycled: `max_lifetime`
/// shortened by up to `jitter` (a fraction, 0–1) times `u` (in [0, 1)), so
/// connections opened together do not all close together.
pool_time lifetime_end(pool_time now, pool_ms max_lifetime, double jitter,
                       double u);

/// How often to check idle connections: the configured interval, but well
/// within the server's `wait_timeout` (seconds; 0: unknown).
pool_ms ping_interval_for(pool_ms configured, uint32_t wait_timeout_s);

// -- the waiting requests ---------------------------------------------------------------

/// Requests waiting for a connection, oldest first, at most `capacity`
/// (more is `overloaded`). `T` has a `pool_time deadline`.
template <class T>
class waiter_queue {
public:
  explicit waiter_queue(size_t capacity = 0) : capacity_(capacity) {}

  void set_capacity(size_t n) { capacity_ = n; }
  bool full() const { return q_.size() >= capacity_; }
  bool empty() const { return q_.empty(); }
  size_t size() const { return q_.size(); }
  T& front() { return q_.front(); }

  /// A new request; the caller checked `full()` first.
  void push_back(T x) { q_.push_back(std::move(x)); }

  /// A request that was already admitted goes back to the head (it is older
  /// than everything queued); the capacity does not apply.
  void push_front(T x) { q_.push_front(std::move(x)); }

  T pop_front() {
    T x = std::move(q_.front());
    q_.pop_front();
    return x;
  }

  /// Removes and returns the requests whose deadline passed, in deadline
  /// order (earliest first; by queue order among equal deadlines).
  std::vector<T> expire(pool_time now) {
    std::vector<T> out;
    for (auto i = q_.begin(); i != q_.end();) {
      if (now < i->deadline) {
        ++i;
        continue;
      }
      out.push_back(std::move(*i));
      i = q_.erase(i);
    }
    std::stable_sort(out.begin(), out.end(), [](const T& a, const T& b) {
      return a.deadline < b.deadline;
    });
    return out;
  }

  /// Removes the requests matching `pred`.
  template <class Pred>
  void remove_if(Pred pred) {
    q_.erase(std::remove_if(q_.begin(), q_.end(), pred), q_.end());
  }

  /// Removes and returns everything, oldest first.
  std::deque<T> drain() {
    auto out = std::move(q_);
    q_.clear();
    return out;
  }

private:
  std::deque<T> q_;
  size_t capacity_;
};

} // namespace troupe::detail
