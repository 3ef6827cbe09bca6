// The password stays out of what a real program prints: troupe-demo's
// --dump-config (CAF prints the config while parsing the command line) and
// the logs of a run against the test server.

#ifdef TROUPE_DEMO_PATH

#include <chrono>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "scratch.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "troupe/dsn.hpp"

extern char** environ;

using namespace troupe;
using Catch::Matchers::Contains;

namespace {

using run_result = troupe::test::program_run;

// Runs troupe-demo with `args`, its environment this one's without
// TROUPE_DSN plus `extra_env` ("NAME=value"), and waits for it.
run_result run_demo(const std::vector<std::string>& args,
                    const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::string{*e}.rfind("TROUPE_DSN=", 0) != 0)
      env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<std::string> argv{TROUPE_DEMO_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return troupe::test::run_program(argv, {}, std::chrono::seconds{120}, env);
}

// Distinctive, and with characters that a DSN percent-encodes, so that
// neither form can appear by chance.
const std::string secret = "Zq7@dump#pw9";
const std::string secret_encoded = "Zq7%40dump%23pw9";
const std::string secret_dsn = "mariadb://app:" + secret_encoded
                               + "@db.example.com:3307/shop?max_size=3";
// What the dump shows instead.
const std::string redacted = "mariadb://app:***@db.example.com:3307/shop"
                             "?max_size=3";

// Checks how a run ended and what it printed: exit code `code`, each of
// `expected`, and nothing of the secret.
void check_run(const run_result& r, int code,
               const std::vector<std::string>& expected) {
  INFO("output:\n" << r.output);
  CHECK(r.exit_code == code);
  for (const auto& x : expected)
    CHECK_THAT(r.output, Contains(x));
  CHECK_THAT(r.output, !Contains(secret));
  CHECK_THAT(r.output, !Contains(secret_encoded));
  CHECK_THAT(r.output, !Contains("Zq7"));
}

} // namespace

TEST_CASE("troupe-demo --dump-config shows the DSN without its password",
          "[integration][secrets]") {
  SECTION("given with --troupe.dsn=") {
    check_run(run_demo({"--troupe.dsn=" + secret_dsn, "--dump-config"}), 0,
              {redacted});
  }
  SECTION("given with the demo's --dsn") {
    check_run(run_demo({"--dsn", secret_dsn, "--dump-config"}), 0,
              {redacted});
  }
  SECTION("given in the config file") {
    test::temp_dir dir;
    auto ini = dir.write("demo.ini",
                         "[troupe]\ndsn=\"" + secret_dsn + "\"\n", 0600);
    check_run(run_demo({"--config-file=" + ini, "--dump-config"}), 0,
              {redacted});
  }
  SECTION("given in TROUPE_DSN") {
    check_run(run_demo({"--dump-config"}, {"TROUPE_DSN=" + secret_dsn}), 0,
              {redacted});
  }
}

TEST_CASE("troupe-demo hides all of an invalid DSN that holds a password",
          "[integration][secrets]") {
  // A raw '/' in the password: where the password ends is unknown.
  const std::string bad = "--troupe.dsn=mariadb://app:Zq7/pw@db/shop";
  check_run(run_demo({bad, "--dump-config"}), 0, {"invalid DSN, not shown"});
  check_run(run_demo({bad}), 1, {"bad configuration", "invalid DSN"});
  // CAF itself cannot parse this one (the quote does not end).
  check_run(run_demo({"--troupe.dsn=\"mariadb://app:Zq7pw@db/shop"}), 2,
            {"troupe.dsn", "not shown"});
}

TEST_CASE("troupe-demo refuses an unknown argument and a password_file others "
          "may read",
          "[integration][secrets]") {
  check_run(run_demo({"--troupe.dsn=" + secret_dsn, "stray"}), 2,
            {"unknown argument 'stray'"});
  test::temp_dir dir;
  auto file = dir.write("pw", secret, 0644);
  check_run(run_demo({"--troupe.dsn=mariadb://app@db.example.com/shop"
                      "?password_file="
                      + percent_encode(file)}),
            1, {"password_file", "chmod 600"});
}

TEST_CASE("a whole troupe-demo run against the server never prints the "
          "password",
          "[integration][secrets]") {
  test::scratch_database db{"demo"};
  auto x = db.dsn();
  auto pw = resolve_password(x);
  REQUIRE(pw);
  // The server's random 24-character password, in the DSN text on the
  // command line: the case that needs the redaction.
  REQUIRE(pw->size() >= 8);
  x.password = *pw;
  x.options.clear();
  auto r = run_demo({"--troupe.dsn=" + to_string(x, true)});
  INFO("output:\n" << r.output);
  CHECK(r.exit_code == 0);
  // The run got far: the driver connected and the engine logged its pool.
  CHECK_THAT(r.output, Contains("connecting to " + x.user + "@"));
  CHECK_THAT(r.output, Contains("pool for " + x.user + "@"));
  CHECK_THAT(r.output, Contains("disposed"));
  CHECK_THAT(r.output, !Contains(*pw));
  CHECK_THAT(r.output, !Contains(percent_encode(*pw)));
}

TEST_CASE("a troupe-demo run with a wrong password fails without printing "
          "it",
          "[integration][secrets]") {
  auto x = test::server_dsn();
  x.password = secret;
  x.options.clear();
  check_run(run_demo({"--troupe.dsn=" + to_string(x, true)}), 1,
            {"cannot connect", "Access denied"});
}

#endif // TROUPE_DEMO_PATH
