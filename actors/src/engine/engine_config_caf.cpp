// The CAF side of engine_config: declaring and reading `troupe.*` options.

#include "troupe/engine_config.hpp"
#include "troupe/engine_system_config.hpp"
#include "troupe/remote.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_option_adder.hpp>
#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/pec.hpp>
#include <caf/settings.hpp>

#include <fmt/format.h>

#include "troupe/engine.hpp"
#include "troupe/error.hpp"

namespace troupe {

namespace {

// Renders a config value as the text a user wrote, whatever type CAF's INI
// parser gave it (an unquoted 8 is an integer, "8" a string, 2s a timespan).
caf::expected<std::string> as_text(const std::string& key,
                                   const caf::config_value& x) {
  if (auto s = caf::get_if<std::string>(&x))
    return *s;
  if (auto i = caf::get_if<int64_t>(&x))
    return std::to_string(*i);
  if (auto b = caf::get_if<bool>(&x))
    return std::string{*b ? "true" : "false"};
  if (auto d = caf::get_if<double>(&x))
    return fmt::format("{}", *d);
  if (auto t = caf::get_if<caf::timespan>(&x))
    return fmt::format("{}ms",
                       std::chrono::duration_cast<std::chrono::milliseconds>(*t)
                         .count());
  return make_error(errc::invalid_argument,
                    fmt::format("invalid value {} for 'troupe.pool.{}'",
                                caf::to_string(x), key));
}

} // namespace

void add_engine_options(caf::config_option_set& options) {
  // Declared as strings: troupe parses and validates them itself.
  caf::config_option_adder{options, "troupe"}.add<std::string>(
    "dsn", "the database, e.g. mariadb://user:pass@host:3306/db?max_size=8");
  caf::config_option_adder pool{options, "troupe.pool"};
  for (const auto& key : pool_config::keys())
    pool.add<std::string>(key.c_str(),
                          "pool option, see docs/configuration.md");
  pool.add<std::string>("io_threads", "event loop threads (1-64)");
}

void redact_engine_options(caf::settings& x) {
  auto group = x.find("troupe");
  if (group == x.end())
    return;
  auto section = caf::get_if<caf::settings>(&group->second);
  if (section == nullptr)
    return;
  auto i = section->find("dsn");
  if (i == section->end())
    return;
  // Not a string (a config file without quotes): shown as nothing rather
  // than guessed at.
  auto text = caf::get_if<std::string>(&i->second);
  i->second = text != nullptr ? redact_dsn(*text)
                              : std::string{"<not a string, not shown>"};
}

engine_system_config::engine_system_config() {
  register_types(*this);
  add_engine_options(custom_options_);
  // Lost and silent nodes are noticed (remote.hpp); the defaults are valid.
  use_heartbeat(*this);
}

caf::settings engine_system_config::dump_content() const {
  auto result = caf::actor_system_config::dump_content();
  redact_engine_options(result);
  return result;
}

std::string engine_system_config::render_parse_error(const caf::error& err) {
  auto text = caf::actor_system_config::render(err);
  if (text.find("troupe.dsn") == std::string::npos)
    return text;
  auto what = err.category() == caf::atom("parser")
                ? caf::to_string(static_cast<caf::pec>(err.code()))
                : std::string{"error"};
  return fmt::format("cannot parse the value of troupe.dsn ({}); the value "
                     "is not shown",
                     what);
}

caf::expected<engine_config>
engine_config_from(const caf::actor_system_config& cfg) {
  const auto& content = cfg.content;
  std::string dsn_text;
  if (auto x = caf::get_if(&content, "troupe.dsn")) {
    auto s = caf::get_if<std::string>(x);
    if (!s)
      return make_error(errc::invalid_argument,
                        "'troupe.dsn' must be a string (quote it in the "
                        "config file)");
    dsn_text = *s;
  }
  if (dsn_text.empty())
    return make_error(errc::invalid_argument,
                      "no database: set troupe.dsn (config file) or "
                      "--troupe.dsn=mariadb://user:pass@host:port/db");
  auto out = engine_config::from_dsn(dsn_text);
  if (!out)
    return out;
  std::vector<std::pair<std::string, std::string>> kv;
  if (auto section = caf::get_if<caf::settings>(&content, "troupe.pool")) {
    for (const auto& [key, value] : *section) {
      auto text = as_text(key, value);
      if (!text)
        return std::move(text.error());
      kv.emplace_back(key, std::move(*text));
    }
  }
  if (auto err = out->apply(kv))
    return err;
  return out;
}

} // namespace troupe
