#pragma once

// A CAF config for programs that host an engine. Include it where the
// program's config class is defined (it pulls in caf/actor_system_config.hpp).
//
//   struct config : troupe::engine_system_config {
//     config() { opt_group{custom_options_, "global"}.add(...); }
//   };
//   void caf_main(caf::actor_system& sys, const config& cfg) {
//     auto ecfg = troupe::engine_config_from(cfg);
//     ...
//   }
//   CAF_MAIN()

#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>

namespace troupe {

/// Replaces the password in the `troupe.dsn` entry of `x` (a copy of a CAF
/// config's settings about to be shown, e.g. by `--dump-config`) with "***"
/// (an invalid DSN is replaced as a whole). `engine_system_config` does this
/// for its dump; call it from `dump_content()` of a config class of your own
/// that calls `add_engine_options`.
void redact_engine_options(caf::settings& x);

/// An actor system config that registers troupe's message types and error
/// category (`register_types`), declares the engine's options
/// (`add_engine_options`: `troupe.dsn`, `troupe.pool.*`), turns on CAF's
/// node heartbeat with troupe's defaults (`use_heartbeat` in remote.hpp:
/// every 1 s, a node silent for 5 s is dropped; `middleman.*` options
/// override them), and keeps the DSN's password out of CAF's
/// `--dump-config`.
class engine_system_config : public caf::actor_system_config {
public:
  engine_system_config();

  /// What `--dump-config` prints: CAF's dump with `troupe.dsn` redacted
  /// (`redact_engine_options`). CAF 0.17 prints it while parsing the
  /// command line, before the program could read or change the DSN, so
  /// this override is the place to redact it.
  caf::settings dump_content() const override;

  /// Renders an error of `parse` for the user. CAF's own rendering quotes
  /// the offending argument, escaped, e.g. a `--troupe.dsn="...` with an
  /// unterminated quote, password and all: such an error is rendered
  /// without the argument.
  static std::string render_parse_error(const caf::error& err);
};

} // namespace troupe
