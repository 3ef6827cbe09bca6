// troupe-mariadb: a private, throw-away MariaDB server (see
// troupe/embedded_server.hpp).
//
//   troupe-mariadb run [--port N]
//     Starts a server in the foreground and prints `dsn=`, `socket=`, `pid=`
//     (mariadbd), `keeper=` and `dir=` lines on stdout. Stops on SIGINT,
//     SIGTERM or end of stdin. The DSN includes the password: the server is
//     private and throw-away, and this is a developer tool.
//
//   troupe-mariadb start --state-dir DIR
//     The ctest fixture. Starts a daemon that serves a server until SIGTERM,
//     until the process that ran `start` (ctest) exits, or for at most two
//     hours. The daemon writes DIR/dsn (with the password, mode 0600),
//     DIR/daemon.pid and DIR/daemon.log. Does nothing when TROUPE_TEST_DSN is
//     set (the tests then use that server).
//
//   troupe-mariadb stop --state-dir DIR
//     Stops the daemon of `start`. Does nothing when TROUPE_TEST_DSN is set.
//
// Exit codes: 0 success, 1 failure, 2 bad usage.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "troupe/embedded_server.hpp"
#include "troupe/error.hpp"

namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

constexpr const char* tool_name = "troupe-mariadb";
constexpr milliseconds start_wait{120'000};
constexpr milliseconds stop_wait{30'000};
constexpr milliseconds poll_interval{50};
// The daemon outlives a crashed ctest for at most this long.
constexpr milliseconds daemon_max_lifetime{2 * 60 * 60 * 1000};
// Without pidfd_open, how often the daemon checks whether its owner lives.
constexpr int owner_poll_ms = 500;

constexpr const char* usage_text
  = "usage: troupe-mariadb run [--port N]\n"
    "       troupe-mariadb start --state-dir DIR\n"
    "       troupe-mariadb stop --state-dir DIR\n";

/// Owns a file descriptor.
class unique_fd {
public:
  explicit unique_fd(int fd = -1) : fd_(fd) {
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const {
    return fd_;
  }

private:
  int fd_;
};

struct arguments {
  std::string command;
  uint16_t port = 0;
  std::string state_dir;
};

int usage(const std::string& problem) {
  std::cerr << tool_name << ": " << problem << "\n" << usage_text;
  return 2;
}

// Returns an error message, or an empty string.
std::string parse_arguments(int argc, char** argv, arguments& args) {
  if (argc < 2)
    return "missing command";
  args.command = argv[1];
  if (args.command != "run" && args.command != "start"
      && args.command != "stop")
    return "unknown command '" + args.command + "'";
  for (int i = 2; i < argc; ++i) {
    std::string opt = argv[i];
    if (i + 1 >= argc)
      return "option '" + opt + "' needs a value";
    std::string value = argv[++i];
    if (opt == "--port" && args.command == "run") {
      char* end = nullptr;
      errno = 0;
      auto n = std::strtol(value.c_str(), &end, 10);
      if (errno != 0 || end == value.c_str() || *end != '\0' || n < 1
          || n > 65535)
        return "invalid port '" + value + "'";
      args.port = static_cast<uint16_t>(n);
    } else if (opt == "--state-dir" && args.command != "run") {
      if (value.empty())
        return "empty --state-dir";
      args.state_dir = value;
    } else {
      return "unknown option '" + opt + "' for '" + args.command + "'";
    }
  }
  if (args.command != "run" && args.state_dir.empty())
    return "'" + args.command + "' needs --state-dir DIR";
  return {};
}

// The server's password is [A-Za-z0-9], so no percent-encoding is needed.
std::string render_dsn(const troupe::dsn& x) {
  return x.scheme + "://" + x.user + ":" + x.password + "@" + x.host + ":"
         + std::to_string(x.port) + "/" + x.database;
}

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in{path};
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);)
    all.push_back(line);
  std::string result;
  auto first = all.size() > lines ? all.size() - lines : 0;
  for (auto i = first; i < all.size(); ++i)
    result += all[i] + "\n";
  return result;
}

std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  if (!in || !std::getline(in, line))
    return std::nullopt;
  return line;
}

// Writes `content` to `path` so that readers see all of it or nothing. The
// temporary file has an unpredictable name and is created exclusively (no
// one can plant a file or a link there first); rename never follows a link
// at `path`.
bool write_atomically(const std::string& path, const std::string& content,
                      mode_t mode) {
  auto tmp = path + ".tmp.XXXXXX";
  {
    unique_fd fd{::mkostemp(tmp.data(), O_CLOEXEC)};
    if (fd.get() < 0)
      return false;
    bool ok = ::fchmod(fd.get(), mode) == 0;
    size_t done = 0;
    while (ok && done < content.size()) {
      auto n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      ok = n >= 0;
      if (ok)
        done += static_cast<size_t>(n);
    }
    if (!ok) {
      ::unlink(tmp.c_str());
      return false;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

// Creates the state directory (0700) or checks an existing one: a real
// directory (not a link), ours, that nobody else may write to; otherwise
// someone else could swap the DSN file (which holds the password) or the
// pid file the tool later signals. Returns an empty string or the problem.
std::string prepare_state_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return "cannot create " + dir + ": " + std::strerror(errno);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0)
    return "cannot inspect " + dir + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return dir + " is not a directory (a link or a file is refused)";
  if (st.st_uid != ::geteuid())
    return dir + " belongs to another user (uid " + std::to_string(st.st_uid)
           + ")";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return dir + " may be written by others (mode "
           + std::to_string((st.st_mode >> 6) & 7)
           + std::to_string((st.st_mode >> 3) & 7)
           + std::to_string(st.st_mode & 7) + "); use a directory only you "
           + "may write to";
  return {};
}

// True while `pid` runs (a zombie does not count: nobody may reap it soon).
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return false;
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text;
  if (!std::getline(stat, text))
    return ::kill(pid, 0) == 0 || errno != ESRCH;
  auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size()
         || text[paren + 2] != 'Z';
}

bool is_our_daemon(pid_t pid) {
  auto comm = read_first_line("/proc/" + std::to_string(pid) + "/comm");
  return comm && *comm == tool_name;
}

std::optional<pid_t> recorded_daemon(const std::string& state_dir) {
  auto text = read_first_line(state_dir + "/daemon.pid");
  if (!text)
    return std::nullopt;
  char* end = nullptr;
  auto n = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str() || n <= 1)
    return std::nullopt;
  return static_cast<pid_t>(n);
}

// Stops the daemon recorded in `state_dir`, if it runs. Returns false when it
// had to be killed with SIGKILL.
bool stop_daemon(const std::string& state_dir) {
  bool clean = true;
  auto pid = recorded_daemon(state_dir);
  if (pid && process_alive(*pid) && is_our_daemon(*pid)) {
    std::cout << tool_name << ": stopping the daemon (pid " << *pid << ")"
              << std::endl;
    ::kill(*pid, SIGTERM);
    auto deadline = clock_type::now() + stop_wait;
    while (process_alive(*pid) && clock_type::now() < deadline)
      ::usleep(static_cast<useconds_t>(poll_interval.count() * 1000));
    if (process_alive(*pid)) {
      std::cerr << tool_name << ": the daemon (pid " << *pid
                << ") did not stop within " << stop_wait.count()
                << " ms; killing it\n";
      ::kill(*pid, SIGKILL);
      clean = false;
    }
  } else {
    std::cout << tool_name << ": no daemon running" << std::endl;
  }
  // A daemon that was killed left these behind.
  ::unlink((state_dir + "/dsn").c_str());
  ::unlink((state_dir + "/daemon.pid").c_str());
  return clean;
}

bool external_server_configured() {
  auto env = std::getenv("TROUPE_TEST_DSN");
  if (env == nullptr || *env == '\0')
    return false;
  std::cout << tool_name
            << ": TROUPE_TEST_DSN is set; the tests use that external "
               "server, nothing to do"
            << std::endl;
  return true;
}

// Blocks the given signals and returns a signalfd for them.
int signal_fd_for(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (auto sig : signals)
    sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  return signalfd(-1, &set, SFD_CLOEXEC);
}

// -- run ----------------------------------------------------------------------

int run_foreground(const arguments& args) {
  // Blocked before the keeper is forked; the keeper sets its own mask.
  unique_fd signals{signal_fd_for({SIGINT, SIGTERM})};
  troupe::embedded_server_options options;
  options.port = args.port;
  auto server = troupe::embedded_server::start(options);
  if (!server) {
    std::cerr << tool_name << ": " << troupe::render(server.error()) << "\n";
    return 1;
  }
  auto& srv = **server;
  std::cout << "dsn=" << render_dsn(srv.dsn()) << "\n"
            << "socket=" << srv.socket_path() << "\n"
            << "pid=" << srv.server_pid() << "\n"
            << "keeper=" << srv.keeper_pid() << "\n"
            << "dir=" << srv.directory() << std::endl;
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signals.get(), POLLIN, 0}};
  for (;;) {
    auto n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || fds[1].revents != 0)
      break;
    if (fds[0].revents != 0) {
      char buf[256];
      auto got = ::read(STDIN_FILENO, buf, sizeof(buf));
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
        break; // End of stdin (or no usable stdin): the caller is done.
    }
  }
  server->reset();
  std::cout << tool_name << ": stopped" << std::endl;
  return 0;
}

// -- start / stop ---------------------------------------------------------------

// Waits until the owner exits, a termination signal arrives or the maximum
// lifetime passes.
void wait_for_end(pid_t owner, int signals) {
  auto deadline = clock_type::now() + daemon_max_lifetime;
  unique_fd owner_fd{static_cast<int>(syscall(SYS_pidfd_open, owner, 0))};
  if (owner_fd.get() < 0 && errno == ESRCH) {
    spdlog::info("the owner (pid {}) is already gone", owner);
    return;
  }
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline
                                                         - clock_type::now());
    if (left.count() <= 0) {
      spdlog::warn("reached the maximum lifetime of {} ms",
                   daemon_max_lifetime.count());
      return;
    }
    pollfd fds[2] = {{signals, POLLIN, 0}, {owner_fd.get(), POLLIN, 0}};
    auto timeout = owner_fd.get() < 0
                     ? std::min<long long>(left.count(), owner_poll_ms)
                     : left.count();
    auto n = ::poll(fds, 2, static_cast<int>(timeout));
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll failed: {}", std::strerror(errno));
      return;
    }
    if (n > 0 && fds[0].revents != 0) {
      signalfd_siginfo info{};
      if (::read(signals, &info, sizeof(info)) > 0)
        spdlog::info("received signal {}", info.ssi_signo);
      return;
    }
    if ((n > 0 && fds[1].revents != 0)
        || (owner_fd.get() < 0 && !process_alive(owner))) {
      spdlog::info("the owner (pid {}) exited", owner);
      return;
    }
  }
}

int daemon_main(const std::string& state_dir, pid_t owner) {
  // Detach from ctest: a new session, and none of its descriptors (ctest
  // waits for EOF on the test's output pipes).
  ::setsid();
  auto log_path = state_dir + "/daemon.log";
  auto log_fd = ::open(log_path.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                       0600);
  auto null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0)
    return 1;
  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  syscall(SYS_close_range, 3u, ~0u, 0u);
  // A plain (uncolored) logger: the log is a file now.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("troupe-mariadb-daemon"));
  auto pid_path = state_dir + "/daemon.pid";
  auto dsn_path = state_dir + "/dsn";
  auto self = std::to_string(getpid());
  // Before the pid file exists: `stop` may send SIGTERM from then on.
  unique_fd signals{signal_fd_for({SIGINT, SIGTERM, SIGHUP})};
  if (!write_atomically(pid_path, self + "\n", 0644)) {
    spdlog::error("cannot write {}: {}", pid_path, std::strerror(errno));
    return 1;
  }
  auto server = troupe::embedded_server::start();
  if (!server) {
    spdlog::error("{}", troupe::render(server.error()));
    ::unlink(pid_path.c_str());
    return 1;
  }
  auto dsn_text = render_dsn((*server)->dsn());
  if (!write_atomically(dsn_path, dsn_text + "\n", 0600)) {
    spdlog::error("cannot write {}: {}", dsn_path, std::strerror(errno));
    ::unlink(pid_path.c_str());
    return 1;
  }
  spdlog::info("serving {} (directory {}) until pid {} exits",
               troupe::redact_dsn(dsn_text), (*server)->directory(), owner);
  wait_for_end(owner, signals.get());
  // First hide the DSN, so that nobody picks up a server that is going away.
  ::unlink(dsn_path.c_str());
  server->reset();
  if (read_first_line(pid_path) == self)
    ::unlink(pid_path.c_str());
  spdlog::info("stopped");
  return 0;
}

int start_daemon(const arguments& args) {
  const auto& dir = args.state_dir;
  if (auto problem = prepare_state_dir(dir); !problem.empty()) {
    std::cerr << tool_name << ": " << problem << "\n";
    return 1;
  }
  if (external_server_configured())
    return 0;
  // A daemon of an earlier run that was not stopped (e.g. ctest was killed).
  stop_daemon(dir);
  auto owner = getppid();
  std::cout.flush();
  std::cerr.flush();
  auto pid = ::fork();
  if (pid < 0) {
    std::cerr << tool_name << ": fork: " << std::strerror(errno) << "\n";
    return 1;
  }
  if (pid == 0)
    return daemon_main(dir, owner);
  auto dsn_path = dir + "/dsn";
  auto log_path = dir + "/daemon.log";
  auto deadline = clock_type::now() + start_wait;
  for (;;) {
    if (auto text = read_first_line(dsn_path); text && !text->empty()) {
      std::cout << tool_name << ": private mariadb ready: "
                << troupe::redact_dsn(*text)
                << " (daemon pid " << pid << ", state in " << dir << ")"
                << std::endl;
      return 0;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      std::cerr << tool_name << ": the daemon failed; last lines of "
                << log_path << ":\n"
                << tail_of(log_path, 30);
      return 1;
    }
    if (clock_type::now() >= deadline) {
      std::cerr << tool_name << ": no server after " << start_wait.count()
                << " ms; last lines of " << log_path << ":\n"
                << tail_of(log_path, 30);
      ::kill(pid, SIGTERM);
      return 1;
    }
    ::usleep(static_cast<useconds_t>(poll_interval.count() * 1000));
  }
}

int stop_command(const arguments& args) {
  if (external_server_configured())
    return 0;
  return stop_daemon(args.state_dir) ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  arguments args;
  if (auto problem = parse_arguments(argc, argv, args); !problem.empty())
    return usage(problem);
  // Logs go to stderr; stdout carries the results.
  spdlog::set_default_logger(spdlog::stderr_color_mt(tool_name));
  if (args.command == "run")
    return run_foreground(args);
  if (args.command == "start")
    return start_daemon(args);
  return stop_command(args);
}
