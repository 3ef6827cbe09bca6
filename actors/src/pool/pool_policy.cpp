// The pool's decisions (pool_policy.hpp): sizing, backoff, the circuit,
// idle health and lifetimes. No CAF, no clock of its own.

#include "pool/pool_policy.hpp"

namespace troupe::detail {

// -- sizing, backoff and the circuit ---------------------------------------------

size_t reconnect_policy::to_open(pool_time now, size_t wanted, size_t room,
                                 size_t connecting) const {
  if (now < next_attempt_)
    return 0;
  // After a failure: one probe at a time.
  if (failures_ > 0 && connecting > 0)
    return 0;
  if (circuit_open_)
    wanted = std::max<size_t>(wanted, 1); // keep probing
  auto n = std::min(wanted, room);
  if (failures_ > 0)
    n = std::min<size_t>(n, 1);
  return n;
}

reconnect_policy::failure reconnect_policy::on_failure(uint64_t round,
                                                       pool_time now,
                                                       bool refused_login,
                                                       bool none_open,
                                                       double u) {
  failure out;
  if (none_open && !circuit_open_) {
    circuit_open_ = true;
    circuit_since_ = now;
    out.circuit_opened = true;
  }
  out.attempt = failures_;
  if (round != round_)
    return out; // under way before the failure that counted this outage
  ++round_;
  ++failures_;
  out.counted = true;
  out.attempt = failures_;
  // Wrong credentials stay wrong: no quick retries that only fill the
  // server's log (and may lock the account); probe at the longest backoff.
  auto shift = std::min<uint32_t>(failures_ - 1, 20);
  auto cap = std::min(settings_.max, settings_.probe).count();
  auto base = refused_login
                ? settings_.max.count()
                : std::min<int64_t>(cap, settings_.min.count() << shift);
  out.delay = pool_ms{static_cast<int64_t>(base * (0.5 + 0.5 * u))};
  next_attempt_ = now + out.delay;
  return out;
}

std::optional<pool_ms> reconnect_policy::on_connected(pool_time now) {
  failures_ = 0;
  next_attempt_ = now;
  return close_circuit(now);
}

std::optional<pool_ms> reconnect_policy::on_answered(pool_time now) {
  return close_circuit(now);
}

std::optional<pool_ms> reconnect_policy::close_circuit(pool_time now) {
  if (!circuit_open_)
    return std::nullopt;
  circuit_open_ = false;
  return std::chrono::duration_cast<pool_ms>(now - circuit_since_);
}

size_t connections_wanted(size_t waiting, size_t connecting, size_t size,
                          size_t min_size) {
  auto for_waiters = waiting > connecting ? waiting - connecting : 0;
  auto for_minimum = size < min_size ? min_size - size : 0;
  return std::max(for_waiters, for_minimum);
}

// -- health and lifetimes ----------------------------------------------------------------

idle_verdict judge_idle(pool_time now, pool_time expires, pool_time last_used,
                        size_t pool_size, const idle_rules& rules) {
  if (now >= expires)
    return idle_verdict::recycle;
  if (pool_size > rules.min_size && now - last_used >= rules.idle_timeout)
    return idle_verdict::close_idle;
  if (now - last_used >= rules.ping_interval)
    return idle_verdict::ping;
  return idle_verdict::keep;
}

pool_time lifetime_end(pool_time now, pool_ms max_lifetime, double jitter,
                       double u) {
  auto lifetime = static_cast<double>(max_lifetime.count())
                  * (1.0 - jitter * u);
  return now + pool_ms{static_cast<int64_t>(lifetime)};
}

pool_ms ping_interval_for(pool_ms configured, uint32_t wait_timeout_s) {
  // Ping idle connections well before the server drops them.
  if (wait_timeout_s == 0)
    return configured;
  return std::min(configured, pool_ms{int64_t{wait_timeout_s} * 500});
}

} // namespace troupe::detail
