// The private MariaDB server (troupe/embedded_server.hpp). These tests start
// their own servers; they do not use the shared fixture server.

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mysql.h>

#include "test_env.hpp"
#include "troupe/embedded_server.hpp"
#include "troupe/error.hpp"
#include "troupe/mariadb/connection.hpp"

using namespace std::chrono_literals;
using troupe::embedded_server;
using troupe::embedded_server_options;
using troupe::errc;

namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto gone_timeout = 20s;
constexpr auto poll_interval = 50ms;

struct mysql_closer {
  void operator()(MYSQL* ptr) const {
    mysql_close(ptr);
  }
};

struct result_closer {
  void operator()(MYSQL_RES* ptr) const {
    mysql_free_result(ptr);
  }
};

// Logs in with plain libmariadb and returns "<database> <current user>", or
// "error: ..." when that fails.
std::string identity_via(const troupe::dsn& dsn) {
  std::unique_ptr<MYSQL, mysql_closer> mysql{mysql_init(nullptr)};
  if (!mysql)
    return "error: mysql_init";
  unsigned timeout = 5;
  unsigned protocol = dsn.uses_socket() ? MYSQL_PROTOCOL_SOCKET
                                        : MYSQL_PROTOCOL_TCP;
  mysql_options(mysql.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(mysql.get(), MYSQL_OPT_READ_TIMEOUT, &timeout);
  mysql_options(mysql.get(), MYSQL_OPT_PROTOCOL, &protocol);
  auto host = dsn.uses_socket() ? "localhost" : dsn.host.c_str();
  auto socket = dsn.uses_socket() ? dsn.socket.c_str() : nullptr;
  auto port = dsn.uses_socket() ? 0u : unsigned{dsn.port};
  if (mysql_real_connect(mysql.get(), host, dsn.user.c_str(),
                         dsn.password.c_str(), dsn.database.c_str(), port,
                         socket, 0)
      == nullptr)
    return std::string{"error: "} + mysql_error(mysql.get());
  if (mysql_query(mysql.get(), "SELECT DATABASE(), CURRENT_USER()") != 0)
    return std::string{"error: "} + mysql_error(mysql.get());
  std::unique_ptr<MYSQL_RES, result_closer> res{
    mysql_store_result(mysql.get())};
  if (!res)
    return std::string{"error: "} + mysql_error(mysql.get());
  auto row = mysql_fetch_row(res.get());
  if (row == nullptr || row[0] == nullptr || row[1] == nullptr)
    return "error: no row";
  return std::string{row[0]} + " " + row[1];
}

bool pid_gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Waits (bounded) until no process has the pid any more.
bool wait_until_gone(pid_t pid) {
  auto deadline = clock_type::now() + gone_timeout;
  while (!pid_gone(pid)) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll_interval);
  }
  return true;
}

bool wait_until_removed(const std::string& path) {
  auto deadline = clock_type::now() + gone_timeout;
  std::error_code ec;
  while (fs::exists(fs::symlink_status(path, ec))) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll_interval);
  }
  return true;
}

// Counts processes whose command line mentions `text`.
int processes_mentioning(const std::string& text) {
  int count = 0;
  std::error_code ec;
  for (auto& entry : fs::directory_iterator("/proc", ec)) {
    auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::ifstream in{entry.path() / "cmdline"};
    std::string cmdline{std::istreambuf_iterator<char>{in}, {}};
    if (cmdline.find(text) != std::string::npos)
      ++count;
  }
  return count;
}

// A private base directory for one test, removed at the end.
class scratch_dir {
public:
  scratch_dir() {
    char buf[] = "/tmp/troupe-embedded-test.XXXXXX";
    // o+x: as root the server runs as the mysql account, which must reach
    // the private directory inside (that one stays 0700).
    if (::mkdtemp(buf) != nullptr && ::chmod(buf, 0711) == 0)
      path_ = buf;
  }
  ~scratch_dir() {
    std::error_code ec;
    if (!path_.empty())
      fs::remove_all(path_, ec);
  }
  const std::string& path() const {
    return path_;
  }
  bool empty() const {
    std::error_code ec;
    return fs::is_empty(path_, ec);
  }

private:
  std::string path_;
};

errc code_of(const caf::error& err) {
  return troupe::info(err).code;
}

// Makes this process the reaper of orphaned descendants while it lives, so
// that a test can wait for a grandchild whose parent it killed.
class subreaper_scope {
public:
  subreaper_scope() {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  ~subreaper_scope() {
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
};

// Owns a child process: kills and reaps it unless the test did.
class owned_child {
public:
  explicit owned_child(pid_t pid) : pid_(pid) {
  }
  owned_child(const owned_child&) = delete;
  owned_child& operator=(const owned_child&) = delete;
  ~owned_child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const {
    return pid_;
  }
  // Reaps the child if it exits in time; returns its wait status or -1.
  int wait_for_exit(std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
      int status = 0;
      auto res = ::waitpid(pid_, &status, WNOHANG);
      if (res == pid_) {
        pid_ = 0;
        return status;
      }
      if (res < 0 || clock_type::now() >= deadline)
        return -1;
      std::this_thread::sleep_for(poll_interval);
    }
  }

private:
  pid_t pid_;
};

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

TEST_CASE("embedded server accepts logins over TCP and its socket and leaves "
          "nothing behind",
          "[embedded]") {
  pid_t server_pid = 0;
  pid_t keeper_pid = 0;
  std::string dir;
  {
    auto server = embedded_server::start();
    INFO((server ? std::string{} : troupe::render(server.error())));
    REQUIRE(server);
    auto& srv = **server;
    server_pid = srv.server_pid();
    keeper_pid = srv.keeper_pid();
    dir = srv.directory();
    CHECK(srv.running());
    CHECK(server_pid > 0);
    CHECK(keeper_pid > 0);
    CHECK(fs::is_directory(dir));
    CHECK(fs::exists(srv.socket_path()));
    CHECK(srv.port() != 0);
    CHECK(srv.startup_time() > 0ms);
    CHECK(identity_via(srv.dsn()) == "troupe troupe@%");
    CHECK(identity_via(srv.socket_dsn()) == "troupe troupe@localhost");
    auto dsn = srv.dsn();
    CHECK(dsn.scheme == "mariadb");
    CHECK(dsn.host == "127.0.0.1");
    CHECK(dsn.port == srv.port());
    CHECK(dsn.password.size() == 24);
    CHECK(srv.socket_dsn().host.empty());
    CHECK(srv.socket_dsn().socket == srv.socket_path());
    CHECK(srv.log_tail(50).find("ready for connections") != std::string::npos);
  }
  CHECK(wait_until_gone(server_pid));
  CHECK(wait_until_gone(keeper_pid));
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("embedded server's account reads files only when asked, and then "
          "only in its files directory",
          "[embedded][security]") {
  for (bool file : {false, true}) {
    INFO("file_privilege " << file);
    embedded_server_options options;
    options.file_privilege = file;
    auto server = embedded_server::start(options);
    INFO((server ? std::string{} : troupe::render(server.error())));
    REQUIRE(server);
    auto& srv = **server;
    auto path = srv.files_dir() + "/rows.tsv";
    {
      std::ofstream out{path};
      out << "1\tone\n2\ttwo\n";
    }
    REQUIRE(::chmod(path.c_str(), 0644) == 0);
    auto opts = troupe::mariadb::connect_options::from_dsn(srv.dsn());
    REQUIRE(opts);
    auto conn = troupe::mariadb::sync_connection::open(*opts);
    REQUIRE(conn);
    REQUIRE((*conn)->query("CREATE TABLE t (a INT, b TEXT)"));
    auto load = (*conn)->query("LOAD DATA INFILE '" + path
                               + "' INTO TABLE t");
    if (file) {
      REQUIRE(load);
      CHECK(load->affected_rows() == 2);
    } else {
      REQUIRE_FALSE(load);
      CHECK(troupe::info(load.error()).server_code == 1045);
    }
    // Outside the files directory: never.
    auto outside = (*conn)->query("LOAD DATA INFILE '/etc/passwd' INTO "
                                  "TABLE t");
    REQUIRE_FALSE(outside);
    CHECK(troupe::info(outside.error()).server_code
          == (file ? 1290 : 1045));
    auto count = (*conn)->query("SELECT COUNT(*) FROM t");
    REQUIRE(count);
    CHECK(count->scalar<int64_t>() == (file ? 2 : 0));
  }
}

TEST_CASE("embedded server refuses connections after stop and serves again on "
          "the same port after restart",
          "[embedded]") {
  embedded_server_options options;
  options.database = "stop_restart";
  options.user = "restarter";
  options.password = "not so secret!";
  auto server = embedded_server::start(options);
  INFO((server ? std::string{} : troupe::render(server.error())));
  REQUIRE(server);
  auto& srv = **server;
  auto port = srv.port();
  auto first_pid = srv.server_pid();
  REQUIRE(identity_via(srv.dsn()) == "stop_restart restarter@%");

  REQUIRE_FALSE(srv.stop());
  CHECK_FALSE(srv.running());
  CHECK(srv.server_pid() == 0);
  CHECK(wait_until_gone(first_pid));
  CHECK(identity_via(srv.dsn()).rfind("error: ", 0) == 0);
  CHECK(identity_via(srv.socket_dsn()).rfind("error: ", 0) == 0);
  CHECK_FALSE(srv.stop()); // Stopping a stopped server is harmless.

  auto err = srv.restart();
  INFO((err ? troupe::render(err) : std::string{}));
  REQUIRE_FALSE(err);
  CHECK(srv.running());
  CHECK(srv.port() == port);
  CHECK(srv.server_pid() > 0);
  CHECK(srv.server_pid() != first_pid);
  CHECK(identity_via(srv.dsn()) == "stop_restart restarter@%");
  CHECK(identity_via(srv.socket_dsn()) == "stop_restart restarter@localhost");
}

TEST_CASE("embedded server reports a mariadbd that dies on its own",
          "[embedded]") {
  auto server = embedded_server::start();
  INFO((server ? std::string{} : troupe::render(server.error())));
  REQUIRE(server);
  auto& srv = **server;
  auto pid = srv.server_pid();
  REQUIRE(::kill(pid, SIGKILL) == 0);
  auto deadline = clock_type::now() + gone_timeout;
  while (srv.running() && clock_type::now() < deadline)
    std::this_thread::sleep_for(poll_interval);
  CHECK_FALSE(srv.running());
  CHECK(srv.log_tail(5).find("was killed by signal 9") != std::string::npos);
  auto err = srv.restart();
  INFO((err ? troupe::render(err) : std::string{}));
  REQUIRE_FALSE(err);
  CHECK(identity_via(srv.dsn()) == "troupe troupe@%");
}

TEST_CASE("embedded server dies with its owner when the owner gets SIGKILL",
          "[embedded]") {
  subreaper_scope reaper;
  int to_tool[2];
  int from_tool[2];
  REQUIRE(::pipe2(to_tool, O_CLOEXEC) == 0);
  fd_closer to_tool_read{to_tool[0]};
  fd_closer to_tool_write{to_tool[1]};
  REQUIRE(::pipe2(from_tool, O_CLOEXEC) == 0);
  fd_closer from_tool_read{from_tool[0]};
  fd_closer from_tool_write{from_tool[1]};
  auto tool = troupe::test::mariadb_tool_path();
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(to_tool[0], STDIN_FILENO);
    ::dup2(from_tool[1], STDOUT_FILENO);
    ::execl(tool.c_str(), tool.c_str(), "run", static_cast<char*>(nullptr));
    static constexpr char msg[] = "cannot execute troupe-mariadb\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  owned_child owner{pid};
  ::close(from_tool_write.fd);
  from_tool_write.fd = -1;

  // The tool prints dsn=, socket=, pid=, keeper= and dir=, in this order.
  std::string output;
  pid_t server_pid = 0;
  pid_t keeper_pid = 0;
  std::string dir;
  auto deadline = clock_type::now() + 120s;
  while (dir.empty() && clock_type::now() < deadline) {
    pollfd pfd{from_tool_read.fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0)
      continue;
    char buf[512];
    auto got = ::read(from_tool_read.fd, buf, sizeof(buf));
    if (got <= 0)
      break;
    output.append(buf, static_cast<size_t>(got));
    std::istringstream lines{output};
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("pid=", 0) == 0)
        server_pid = std::stoi(line.substr(4));
      else if (line.rfind("keeper=", 0) == 0)
        keeper_pid = std::stoi(line.substr(7));
      else if (line.rfind("dir=", 0) == 0 && !lines.eof())
        dir = line.substr(4);
    }
  }
  INFO("tool output: " << output);
  REQUIRE(server_pid > 0);
  REQUIRE(keeper_pid > 0);
  REQUIRE(!dir.empty());
  REQUIRE(fs::is_directory(dir));
  REQUIRE_FALSE(pid_gone(server_pid));

  REQUIRE(::kill(owner.pid(), SIGKILL) == 0);
  auto status = owner.wait_for_exit(gone_timeout);
  REQUIRE(status >= 0);
  CHECK(WIFSIGNALED(status));

  // The orphaned keeper is now our child (we are its subreaper).
  owned_child keeper{keeper_pid};
  auto keeper_status = keeper.wait_for_exit(gone_timeout);
  CHECK(keeper_status == 0); // It cleaned up and exited normally.
  CHECK(wait_until_gone(server_pid));
  CHECK(wait_until_removed(dir));
}

TEST_CASE("embedded server rejects a mariadbd path that does not exist",
          "[embedded]") {
  embedded_server_options options;
  options.mariadbd = "/nonexistent/sbin/mariadbd";
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  INFO(troupe::render(server.error()));
  CHECK(code_of(server.error()) == errc::invalid_argument);
  CHECK(troupe::info(server.error()).message.find("/nonexistent/sbin/mariadbd")
        != std::string::npos);
}

TEST_CASE("embedded server rejects invalid database names, user names and "
          "passwords",
          "[embedded]") {
  scratch_dir base;
  REQUIRE_FALSE(base.path().empty());
  // std::string elements: a `.c_str()` of a temporary in this list would
  // dangle once the list is built (seen as a random, sometimes valid, name).
  const std::vector<std::string> names = {
    "", "bad-name", "x`; DROP DATABASE mysql; --", "caf\xc3\xa9",
    std::string(65, 'a')};
  for (const auto& name : names) {
    INFO("name: " << name);
    embedded_server_options options;
    options.base_dir = base.path();
    options.database = name;
    auto by_database = embedded_server::start(options);
    REQUIRE_FALSE(by_database);
    CHECK(code_of(by_database.error()) == errc::invalid_argument);
    options.database = "fine";
    options.user = name;
    auto by_user = embedded_server::start(options);
    REQUIRE_FALSE(by_user);
    CHECK(code_of(by_user.error()) == errc::invalid_argument);
  }
  for (std::string password : {"it's", "back\\slash", "new\nline"}) {
    embedded_server_options options;
    options.base_dir = base.path();
    options.password = password;
    auto server = embedded_server::start(options);
    REQUIRE_FALSE(server);
    CHECK(code_of(server.error()) == errc::invalid_argument);
    // The message must not repeat the password.
    CHECK(troupe::info(server.error()).message.find(password)
          == std::string::npos);
  }
  CHECK(base.empty()); // Rejected before anything was created.
}

TEST_CASE("embedded server rejects a base directory too long for a socket path",
          "[embedded]") {
  embedded_server_options options;
  options.base_dir = "/tmp/" + std::string(100, 'd');
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  INFO(troupe::render(server.error()));
  CHECK(code_of(server.error()) == errc::invalid_argument);
}

TEST_CASE("embedded server run by root refuses a base directory the mysql "
          "account cannot enter, and leaves it empty",
          "[embedded]") {
  if (::geteuid() != 0 || ::getpwnam("mysql") == nullptr)
    return; // Only root hands the server to the mysql account.
  scratch_dir base;
  REQUIRE(::chmod(base.path().c_str(), 0700) == 0);
  embedded_server_options options;
  options.base_dir = base.path();
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  INFO(troupe::render(server.error()));
  CHECK(code_of(server.error()) == errc::invalid_argument);
  CHECK_THAT(troupe::info(server.error()).message,
             Catch::Contains(base.path()));
  CHECK(base.empty());
}

TEST_CASE("embedded server returns connect_failed with the log when it does "
          "not come up in time, and leaves nothing behind",
          "[embedded]") {
  scratch_dir base;
  REQUIRE_FALSE(base.path().empty());
  embedded_server_options options;
  options.base_dir = base.path();
  options.startup_timeout = 1ms;
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  auto message = troupe::info(server.error()).message;
  INFO(message);
  CHECK(code_of(server.error()) == errc::connect_failed);
  CHECK(message.find("within 1 ms") != std::string::npos);
  // A line of the error log (the keeper notes each start there).
  CHECK(message.find("troupe keeper: starting mariadbd") != std::string::npos);
  CHECK(base.empty());
  CHECK(processes_mentioning(base.path()) == 0);
}

TEST_CASE("embedded server returns connect_failed when its fixed port is taken",
          "[embedded]") {
  // Occupy a port the way another server would.
  fd_closer blocker{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  REQUIRE(blocker.fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(blocker.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
          == 0);
  REQUIRE(::listen(blocker.fd, 1) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(blocker.fd, reinterpret_cast<sockaddr*>(&addr), &len)
          == 0);
  scratch_dir base;
  embedded_server_options options;
  options.base_dir = base.path();
  options.port = ntohs(addr.sin_port);
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  auto message = troupe::info(server.error()).message;
  INFO(message);
  CHECK(code_of(server.error()) == errc::connect_failed);
  CHECK(message.find("Address already in use") != std::string::npos);
  CHECK(base.empty());
  CHECK(processes_mentioning(base.path()) == 0);
}

TEST_CASE("embedded server reports a failing mariadb-install-db as internal "
          "and leaves nothing behind",
          "[embedded]") {
  scratch_dir base;
  embedded_server_options options;
  options.base_dir = base.path();
  options.install_db = "/bin/false";
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  auto message = troupe::info(server.error()).message;
  INFO(message);
  CHECK(code_of(server.error()) == errc::internal);
  CHECK(message.find("exited with code 1") != std::string::npos);
  CHECK(base.empty());
}

TEST_CASE("embedded server returns connect_failed with the log when mariadbd "
          "exits during startup",
          "[embedded]") {
  scratch_dir base;
  embedded_server_options options;
  options.base_dir = base.path();
  options.extra_args = {"--no-such-option-for-troupe"};
  auto server = embedded_server::start(options);
  REQUIRE_FALSE(server);
  auto message = troupe::info(server.error()).message;
  INFO(message);
  CHECK(code_of(server.error()) == errc::connect_failed);
  CHECK(message.find("during startup") != std::string::npos);
  CHECK(message.find("no-such-option-for-troupe") != std::string::npos);
  CHECK(base.empty());
  CHECK(processes_mentioning(base.path()) == 0);
}
