// troupe-mariadb keeps its state (the DSN with the password, the daemon's
// pid) only in a directory that nobody else can write to or swap.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_env.hpp"

namespace fs = std::filesystem;

namespace {

struct tool_run {
  int exit_code = -1;
  std::string err;
};

// Runs troupe-mariadb with `args` (bounded: it is killed after 60 s).
tool_run run_tool(std::vector<std::string> args) {
  auto tool = troupe::test::mariadb_tool_path();
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> argv{tool.data()};
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  tool_run out;
  char buf[512];
  for (int waited = 0; waited < 600; ++waited) {
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0)
      continue;
    auto n = ::read(pipe_fds[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    out.err.append(buf, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

struct temp_dir {
  std::string path;
  temp_dir() {
    char buf[] = "/tmp/troupe-tool-test.XXXXXX";
    REQUIRE(::mkdtemp(buf) != nullptr);
    path = buf;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

} // namespace

TEST_CASE("troupe-mariadb start refuses a state directory others may write "
          "to, and writes nothing there",
          "[embedded][security]") {
  temp_dir base;
  auto dir = base.path + "/state";
  REQUIRE(::mkdir(dir.c_str(), 0777) == 0);
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  auto r = run_tool({"start", "--state-dir", dir});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("may be written by others") != std::string::npos);
  CHECK(fs::is_empty(dir));
}

TEST_CASE("troupe-mariadb start refuses a state directory that is a link",
          "[embedded][security]") {
  temp_dir base;
  auto real = base.path + "/real";
  auto link = base.path + "/link";
  REQUIRE(::mkdir(real.c_str(), 0700) == 0);
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  auto r = run_tool({"start", "--state-dir", link});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not a directory") != std::string::npos);
  CHECK(fs::is_empty(real));
}

TEST_CASE("troupe-mariadb start reports a state directory it cannot create",
          "[embedded]") {
  temp_dir base;
  auto r = run_tool({"start", "--state-dir", base.path + "/no/such/parent"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot create") != std::string::npos);
}
