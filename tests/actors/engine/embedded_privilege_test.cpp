// The embedded server gives the engine's account its own databases and
// nothing more: with only the DSN, nobody reads or writes the host's files,
// grants privileges or touches other databases. As root the server runs as
// the `mysql` account when there is one.

#include <fstream>
#include <string>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "troupe/embedded_server.hpp"

using namespace troupe;
using test::code_of;

namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The real uid of a process, from /proc.
long uid_of(pid_t pid) {
  std::ifstream in{fmt::format("/proc/{}/status", pid)};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Uid:", 0) == 0)
      return std::stol(line.substr(4));
  return -1;
}

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "the embedded server refuses the engine's account the "
                 "host's files, grants and other databases",
                 "[embedded][security]") {
  auto server = embedded_server::start();
  REQUIRE(server);
  auto engine = spawn(config_for((*server)->dsn()));
  REQUIRE(query(engine, "CREATE TABLE t (line TEXT)"));

  auto load = query(engine, "LOAD DATA INFILE '/etc/passwd' INTO TABLE t");
  REQUIRE_FALSE(load);
  CHECK(code_of(load) == errc::server_error);
  auto rows = query(engine, "SELECT COUNT(*) FROM t");
  REQUIRE(rows);
  CHECK(rows->scalar<int64_t>() == int64_t{0});

  auto out = query(engine, "SELECT 'x' INTO OUTFILE 'troupe_out.txt'");
  REQUIRE_FALSE(out);
  CHECK(code_of(out) == errc::server_error);
  auto datadir = (*server)->directory() + "/data";
  CHECK_FALSE(exists(datadir + "/troupe/troupe_out.txt"));
  auto abs = query(engine, "SELECT 'x' INTO OUTFILE '/tmp/troupe_out_abs.txt'");
  CHECK_FALSE(abs);
  CHECK_FALSE(exists("/tmp/troupe_out_abs.txt"));

  auto load_file = query(engine, "SELECT LOAD_FILE('/etc/passwd')");
  REQUIRE(load_file);
  CHECK(load_file->row(0).get<caf::optional<std::string>>(0)
        == caf::optional<std::string>{});

  // Its own database and those named after it, no other.
  CHECK(query(engine, "CREATE DATABASE troupe_extra"));
  CHECK(code_of(query(engine, "CREATE DATABASE other")) == errc::server_error);
  CHECK(code_of(query(engine, "SELECT COUNT(*) FROM mysql.user"))
        == errc::server_error);
  CHECK(code_of(query(engine, "CREATE USER 'intruder'@'%'"))
        == errc::server_error);
  CHECK(code_of(query(engine, "GRANT SELECT ON troupe.* TO 'troupe'@'%'"))
        == errc::server_error);
  CHECK(code_of(query(engine, "SET GLOBAL max_connections = 1"))
        == errc::server_error);

  auto priv = query(engine, "SELECT @@GLOBAL.secure_file_priv");
  REQUIRE(priv);
  auto dir = priv->scalar<std::string>();
  REQUIRE(dir);
  CHECK(dir->rfind((*server)->directory(), 0) == 0);

  if (::geteuid() == 0 && ::getpwnam("mysql") != nullptr)
    CHECK(uid_of((*server)->server_pid()) != 0);
}
