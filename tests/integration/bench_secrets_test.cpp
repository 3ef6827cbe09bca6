// troupe-bench runs sysbench without a shell and without the password on a
// command line: a password full of shell syntax is just a password.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "troupe/dsn.hpp"
#include "troupe/embedded_server.hpp"

namespace fs = std::filesystem;
namespace test = troupe::test;

TEST_CASE("troupe-bench passes a password with shell syntax to sysbench "
          "intact and runs no shell",
          "[bench][security]") {
  troupe::embedded_server_options opts;
  opts.password = "a;touch PWNED;b \"x\" $(touch PWNED2) y";
  auto server = troupe::embedded_server::start(opts);
  REQUIRE(server);
  test::temp_dir dir;
  const auto& cwd = dir.path();
  auto r = test::run_program(
    {test::bench_tool_path(), "--dsn",
     troupe::to_string((*server)->dsn(), true), "--modes", "sysbench",
     "--seconds", "1", "--rounds", "1", "--table-size", "100"},
    cwd, std::chrono::seconds{120});
  INFO(r.output);
  // sysbench logged in with it (a mangled password would fail here).
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("sysbench failed") == std::string::npos);
  CHECK(r.output.find("touch PWNED") == std::string::npos);
  CHECK(fs::is_empty(cwd));
  CHECK_FALSE(fs::exists("PWNED"));
}
