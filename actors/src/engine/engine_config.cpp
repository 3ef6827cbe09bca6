#include "troupe/engine_config.hpp"

#include <fmt/format.h>

#include "troupe/error.hpp"
#include "troupe/option_parsing.hpp"

namespace troupe {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds one_day{86400000};

caf::error set_duration(const std::string& key, const std::string& value,
                        milliseconds min, milliseconds max, milliseconds& dst) {
  auto x = parse_duration(key, value, min, max);
  if (!x)
    return std::move(x.error());
  dst = *x;
  return {};
}

caf::error set_size(const std::string& key, const std::string& value,
                    uint64_t min, uint64_t max, size_t& dst) {
  auto x = parse_uint(key, value, min, max);
  if (!x)
    return std::move(x.error());
  dst = static_cast<size_t>(*x);
  return {};
}

} // namespace

const std::vector<std::string>& pool_config::keys() {
  static const std::vector<std::string> result{
    "min_size",      "max_size",      "max_waiters",    "checkout_timeout",
    "idle_timeout",  "ping_interval", "max_lifetime",   "lifetime_jitter",
    "reconnect_min", "reconnect_max", "shutdown_grace", "slow_threshold",
    "pipeline_depth", "idle_in_transaction_timeout", "max_lease",
    "max_sessions", "max_timeout", "statement_timeout", "probe_interval",
  };
  return result;
}

caf::expected<bool> pool_config::set(const std::string& key,
                                     const std::string& value) {
  caf::error err;
  if (key == "min_size")
    err = set_size(key, value, 0, 10000, min_size);
  else if (key == "max_size")
    err = set_size(key, value, 1, 10000, max_size);
  else if (key == "max_waiters")
    err = set_size(key, value, 0, 10000000, max_waiters);
  else if (key == "checkout_timeout")
    err = set_duration(key, value, milliseconds{1}, one_day, checkout_timeout);
  else if (key == "idle_timeout")
    err = set_duration(key, value, milliseconds{100}, 30 * one_day,
                       idle_timeout);
  else if (key == "ping_interval")
    err = set_duration(key, value, milliseconds{100}, one_day, ping_interval);
  else if (key == "max_lifetime")
    err = set_duration(key, value, milliseconds{1000}, 30 * one_day,
                       max_lifetime);
  else if (key == "lifetime_jitter") {
    auto x = parse_double(key, value, 0.0, 0.5);
    if (!x)
      err = std::move(x.error());
    else
      lifetime_jitter = *x;
  } else if (key == "reconnect_min")
    err = set_duration(key, value, milliseconds{1}, one_day, reconnect_min);
  else if (key == "reconnect_max")
    err = set_duration(key, value, milliseconds{1}, one_day, reconnect_max);
  else if (key == "probe_interval")
    err = set_duration(key, value, milliseconds{1}, one_day, probe_interval);
  else if (key == "shutdown_grace")
    err = set_duration(key, value, milliseconds{0}, one_day, shutdown_grace);
  else if (key == "idle_in_transaction_timeout")
    err = set_duration(key, value, milliseconds{10}, one_day,
                       idle_in_transaction_timeout);
  else if (key == "max_lease")
    err = set_duration(key, value, milliseconds{0}, 30 * one_day, max_lease);
  else if (key == "pipeline_depth")
    err = set_size(key, value, 1, 8, pipeline_depth);
  else if (key == "max_sessions")
    err = set_size(key, value, 1, 1000000, max_sessions);
  else if (key == "max_timeout")
    err = set_duration(key, value, milliseconds{1}, one_day, max_timeout);
  else if (key == "statement_timeout")
    err = set_duration(key, value, milliseconds{0}, one_day,
                       statement_timeout);
  else if (key == "slow_threshold")
    err = set_duration(key, value, milliseconds{0}, one_day, slow_threshold);
  else
    return false;
  if (err)
    return err;
  return true;
}

caf::error pool_config::validate() const {
  if (min_size > max_size)
    return make_error(errc::invalid_argument,
                      fmt::format("min_size ({}) must not exceed max_size ({})",
                                  min_size, max_size));
  if (reconnect_min > reconnect_max)
    return make_error(errc::invalid_argument,
                      fmt::format("reconnect_min ({}) must not exceed "
                                  "reconnect_max ({})",
                                  format_duration(reconnect_min),
                                  format_duration(reconnect_max)));
  return {};
}

caf::expected<engine_config> engine_config::from_dsn(const troupe::dsn& x) {
  engine_config out;
  std::vector<std::string> rest;
  auto conn = mariadb::connect_options::from_dsn(x, &rest);
  if (!conn)
    return std::move(conn.error());
  out.connection = std::move(*conn);
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& key : rest)
    kv.emplace_back(key, *x.option(key));
  if (auto err = out.apply(kv))
    return err;
  return out;
}

caf::expected<engine_config> engine_config::from_dsn(const std::string& text) {
  auto x = parse_dsn(text);
  if (!x)
    return std::move(x.error());
  return from_dsn(*x);
}

caf::error engine_config::apply(
  const std::vector<std::pair<std::string, std::string>>& kv) {
  for (const auto& [key, value] : kv) {
    if (key == "io_threads") {
      auto n = parse_uint(key, value, 1, 64);
      if (!n)
        return std::move(n.error());
      io_threads = static_cast<size_t>(*n);
      continue;
    }
    auto set = pool.set(key, value);
    if (!set)
      return std::move(set.error());
    if (!*set)
      return make_error(errc::invalid_argument,
                        fmt::format("unknown option '{}' (pool options: {}; "
                                    "engine: io_threads)",
                                    key, fmt::join(pool_config::keys(), ", ")));
  }
  return pool.validate();
}

std::chrono::milliseconds request_bound(const engine_config& cfg) {
  const auto& c = cfg.connection;
  return cfg.pool.checkout_timeout + c.connect_timeout + c.write_timeout
         + 2 * c.read_timeout + std::chrono::milliseconds{5000};
}

} // namespace troupe
