// Engine configuration: defaults, DSN options, CAF config files and command
// lines, and the errors for bad values.

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include <caf/actor_system_config.hpp>

#include "troupe/engine_config.hpp"
#include "troupe/engine_system_config.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

struct config : caf::actor_system_config {
  config() {
    add_engine_options(custom_options_);
  }
};

std::string message_of(const caf::error& err) {
  return info(err).message;
}

// Parses a command line and an INI text into a config.
caf::expected<engine_config> from_caf(std::vector<std::string> args,
                                      const std::string& ini) {
  config cfg;
  std::istringstream in{ini};
  if (auto err = cfg.parse(std::move(args), in))
    return make_error(errc::invalid_argument, cfg.render(err));
  return engine_config_from(cfg);
}

const std::string base_dsn = "mariadb://u:p@127.0.0.1:3306/db";

} // namespace

TEST_CASE("the pool defaults follow the peers' experience", "[config]") {
  auto cfg = engine_config::from_dsn(base_dsn);
  REQUIRE(cfg);
  CHECK(cfg->pool.max_size == 10);
  CHECK(cfg->pool.min_size == 2);
  CHECK(cfg->pool.max_waiters == 100);
  CHECK(cfg->pool.checkout_timeout == 5s);
  CHECK(cfg->pool.ping_interval == 10s);
  CHECK(cfg->pool.max_lifetime == 30min);
  CHECK(cfg->connection.read_timeout == 30s);
}

TEST_CASE("pool and driver options are read from the DSN", "[config]") {
  auto cfg = engine_config::from_dsn(base_dsn + "?max_size=8&min_size=8&"
                                           "checkout_timeout=250ms&"
                                           "read_timeout=2s&max_waiters=0");
  REQUIRE(cfg);
  CHECK(cfg->pool.max_size == 8);
  CHECK(cfg->pool.min_size == 8);
  CHECK(cfg->pool.checkout_timeout == 250ms);
  CHECK(cfg->pool.max_waiters == 0);
  CHECK(cfg->connection.read_timeout == 2s);
}

TEST_CASE("bad pool values are rejected naming the key and the range",
          "[config]") {
  auto bad = engine_config::from_dsn(base_dsn + "?max_size=0");
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::invalid_argument);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("max_size")
                                        && Catch::Contains("between 1 and"));
  bad = engine_config::from_dsn(base_dsn + "?checkout_timeout=soon");
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("checkout_timeout")
                                        && Catch::Contains("duration"));
  bad = engine_config::from_dsn(base_dsn + "?min_size=5&max_size=2");
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("min_size (5)"));
  bad = engine_config::from_dsn(base_dsn + "?lifetime_jitter=0.9");
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("lifetime_jitter"));
  bad = engine_config::from_dsn(base_dsn + "?max_sise=3");
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("max_sise"));
}

TEST_CASE("the CAF config file and command line set pool options, the "
          "command line winning",
          "[config]") {
  auto ini = "[troupe]\ndsn=\"" + base_dsn
             + "?max_size=3\"\n[troupe.pool]\nmax_size=6\nmin_size=1\n"
               "checkout_timeout=\"2s\"\n";
  auto cfg = from_caf({"--troupe.pool.max_size=7"}, ini);
  REQUIRE(cfg);
  CHECK(cfg->pool.max_size == 7);
  CHECK(cfg->pool.min_size == 1);
  CHECK(cfg->pool.checkout_timeout == 2s);
  cfg = from_caf({}, ini);
  REQUIRE(cfg);
  CHECK(cfg->pool.max_size == 6);
}

TEST_CASE("wrongly typed or unknown config file values are errors, not "
          "ignored",
          "[config]") {
  auto typed = from_caf({}, "[troupe]\ndsn=\"" + base_dsn
                              + "\"\n[troupe.pool]\nmax_size=\"many\"\n");
  REQUIRE_FALSE(typed);
  CHECK_THAT(message_of(typed.error()), Catch::Contains("max_size"));
  auto unknown = from_caf({}, "[troupe]\ndsn=\"" + base_dsn
                                + "\"\n[troupe.pool]\nmax_sizes=4\n");
  REQUIRE_FALSE(unknown);
  CHECK_THAT(message_of(unknown.error()), Catch::Contains("max_sizes"));
  auto missing = from_caf({}, "");
  REQUIRE_FALSE(missing);
  CHECK_THAT(message_of(missing.error()), Catch::Contains("troupe.dsn"));
  auto bad_cli = from_caf({"--troupe.pool.max_size=-1"},
                          "[troupe]\ndsn=\"" + base_dsn + "\"\n");
  REQUIRE_FALSE(bad_cli);
  CHECK_THAT(message_of(bad_cli.error()), Catch::Contains("max_size"));
}

TEST_CASE("request_bound covers the queue wait, connecting, sending and two "
          "read timeouts",
          "[config]") {
  auto cfg = engine_config::from_dsn(
    base_dsn
    + "?checkout_timeout=2s&connect_timeout=3s&read_timeout=7s&"
      "write_timeout=11s");
  REQUIRE(cfg);
  CHECK(request_bound(*cfg)
        == std::chrono::milliseconds{2000 + 3000 + 2 * 7000 + 11000 + 5000});
}

// -- the password and CAF's config dump ---------------------------------------

namespace {

const std::string secret_dsn = "mariadb://u:Zq7pw9@127.0.0.1:3306/db";

// The `troupe.dsn` entry of a dump, or "<missing>".
std::string dumped_dsn(const engine_system_config& cfg) {
  auto dump = cfg.dump_content();
  auto x = caf::get_if<std::string>(&dump, "troupe.dsn");
  return x ? *x : std::string{"<missing>"};
}

} // namespace

TEST_CASE("engine_system_config dumps troupe.dsn without the password and "
          "still connects with it",
          "[config][secrets]") {
  engine_system_config cfg;
  std::istringstream ini{""};
  REQUIRE_FALSE(cfg.parse({"--troupe.dsn=" + secret_dsn}, ini));
  CHECK(dumped_dsn(cfg) == "mariadb://u:***@127.0.0.1/db");
  // The dump is a copy: the config itself keeps the password.
  auto ecfg = engine_config_from(cfg);
  REQUIRE(ecfg);
  CHECK(ecfg->connection.password == "Zq7pw9");
  CHECK(dumped_dsn(cfg) == "mariadb://u:***@127.0.0.1/db");
}

TEST_CASE("engine_system_config hides all of a troupe.dsn it cannot parse",
          "[config][secrets]") {
  engine_system_config invalid;
  std::istringstream raw_slash{""};
  REQUIRE_FALSE(invalid.parse({"--troupe.dsn=mariadb://u:Zq7/pw@h/db"},
                              raw_slash));
  CHECK(dumped_dsn(invalid) == "<invalid DSN, not shown>");
  // (CAF drops a number for a string option from a config file and from
  // `set`; writing the content directly still gets one in.)
  engine_system_config number;
  caf::put(number.content, "troupe.dsn", 42);
  auto dump = number.dump_content();
  auto x = caf::get_if<std::string>(&dump, "troupe.dsn");
  REQUIRE(x);
  CHECK(*x == "<not a string, not shown>");
  // Without a DSN there is nothing to hide, and nothing is added.
  engine_system_config none;
  std::istringstream empty{""};
  REQUIRE_FALSE(none.parse({}, empty));
  CHECK(dumped_dsn(none) == "<missing>");
}

TEST_CASE("render_parse_error leaves out a troupe.dsn CAF cannot parse",
          "[config][secrets]") {
  engine_system_config cfg;
  std::istringstream ini{""};
  auto err = cfg.parse({"--troupe.dsn=\"mariadb://u:Zq7pw9@h/db"}, ini);
  REQUIRE(err);
  // Why the function exists: CAF quotes the argument.
  CHECK_THAT(caf::actor_system_config::render(err), Catch::Contains("Zq7pw9"));
  auto shown = engine_system_config::render_parse_error(err);
  CHECK_THAT(shown, !Catch::Contains("Zq7pw9"));
  CHECK_THAT(shown, Catch::Contains("troupe.dsn"));
  // Other errors are rendered as CAF does.
  engine_system_config other;
  std::istringstream ini2{""};
  auto unknown = other.parse({"--no-such-option=1"}, ini2);
  REQUIRE(unknown);
  CHECK(engine_system_config::render_parse_error(unknown)
        == caf::actor_system_config::render(unknown));
}
