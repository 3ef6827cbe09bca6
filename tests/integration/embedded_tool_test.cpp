// troupe-mariadb keeps its state (the DSN with the password, the daemon's
// pid) only in a directory that nobody else can write to or swap.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace fs = std::filesystem;
using troupe::test::temp_dir;

namespace {

// Runs troupe-mariadb with `args`.
troupe::test::program_run run_tool(std::vector<std::string> args) {
  args.insert(args.begin(), troupe::test::mariadb_tool_path());
  return troupe::test::run_program(args, {}, std::chrono::seconds{60});
}

} // namespace

TEST_CASE("troupe-mariadb start refuses a state directory others may write "
          "to, and writes nothing there",
          "[embedded][security]") {
  temp_dir base;
  auto dir = base.path() + "/state";
  REQUIRE(::mkdir(dir.c_str(), 0777) == 0);
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  auto r = run_tool({"start", "--state-dir", dir});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("may be written by others") != std::string::npos);
  CHECK(fs::is_empty(dir));
}

TEST_CASE("troupe-mariadb start refuses a state directory that is a link",
          "[embedded][security]") {
  temp_dir base;
  auto real = base.path() + "/real";
  auto link = base.path() + "/link";
  REQUIRE(::mkdir(real.c_str(), 0700) == 0);
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  auto r = run_tool({"start", "--state-dir", link});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("not a directory") != std::string::npos);
  CHECK(fs::is_empty(real));
}

TEST_CASE("troupe-mariadb start reports a state directory it cannot create",
          "[embedded]") {
  temp_dir base;
  auto r = run_tool({"start", "--state-dir", base.path() + "/no/such/parent"});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("cannot create") != std::string::npos);
}
