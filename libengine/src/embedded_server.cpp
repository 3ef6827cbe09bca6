#include "troupe/embedded_server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <spdlog/spdlog.h>

#include "troupe/error.hpp"

extern char** environ;

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// mariadb-install-db needs about a second; this only catches a hung install.
constexpr milliseconds install_timeout{120'000};

// The keeper answers at once, except for 'K', which may use its full grace.
constexpr int server_stop_grace_ms = 10'000;
constexpr milliseconds keeper_reply_timeout{server_stop_grace_ms + 5'000};

// The keeper kills mariadbd with SIGKILL on EOF, so it exits quickly; this
// only catches a keeper that hangs (e.g. on a dead NFS mount).
constexpr milliseconds keeper_exit_timeout{15'000};

constexpr milliseconds connect_retry_interval{50};
constexpr int max_port_attempts = 3;
constexpr size_t max_name_length = 64;
constexpr size_t max_password_length = 128;
constexpr size_t random_password_length = 24;
constexpr const char* dir_prefix = "troupe-mariadb.";

// -- small RAII owners --------------------------------------------------------

/// Owns a file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {
  }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {
  }
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    reset();
  }

  int get() const {
    return fd_;
  }
  explicit operator bool() const {
    return fd_ >= 0;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

// Removes `name` (relative to `parent_fd`) and everything below it, never
// following symbolic links. Only uses calls that are safe in the keeper (a
// forked child of a possibly multi-threaded process; glibc's malloc, which
// fdopendir uses, is fork-safe).
void remove_tree_at(int parent_fd, const char* name) noexcept {
  if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
    return;
  // A directory (unlinkat fails with EISDIR): empty it, then remove it. A
  // second pass catches entries that a dying process created meanwhile.
  for (int pass = 0; pass < 3; ++pass) {
    int fd = openat(parent_fd, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return;
    DIR* dir = fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      return;
    }
    while (dirent* entry = readdir(dir)) {
      if (std::strcmp(entry->d_name, ".") != 0
          && std::strcmp(entry->d_name, "..") != 0)
        remove_tree_at(fd, entry->d_name);
    }
    closedir(dir); // Also closes fd.
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno != ENOTEMPTY)
      return;
  }
}

void remove_tree(const char* path) noexcept {
  remove_tree_at(AT_FDCWD, path);
}

/// Owns a directory tree and removes it on destruction.
class private_directory {
public:
  private_directory() = default;
  explicit private_directory(std::string path) : path_(std::move(path)) {
  }
  private_directory(const private_directory&) = delete;
  private_directory& operator=(const private_directory&) = delete;
  ~private_directory() {
    if (!path_.empty())
      remove_tree(path_.c_str());
  }

  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

/// Owns a child process that leads its own process group. The destructor
/// kills the whole group and reaps the child unless it was reaped already.
class child_process {
public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    kill_and_reap();
  }

  void assign(pid_t pid) {
    kill_and_reap();
    pid_ = pid;
  }

  pid_t pid() const {
    return pid_;
  }

  /// Reaps the child if it exits within `timeout`; returns whether it did.
  bool wait_for_exit(milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    while (pid_ > 0) {
      auto res = waitpid(pid_, nullptr, WNOHANG);
      if (res == pid_ || (res < 0 && errno == ECHILD)) {
        pid_ = 0;
        return true;
      }
      if (clock_type::now() >= deadline)
        return false;
      timespec nap{0, 5'000'000};
      nanosleep(&nap, nullptr);
    }
    return true;
  }

  /// Last resort: SIGKILL for the group (the keeper and mariadbd), then reap.
  void kill_and_reap() {
    if (pid_ <= 0)
      return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      // Retry.
    }
    pid_ = 0;
  }

private:
  pid_t pid_ = 0;
};

struct mysql_closer {
  void operator()(MYSQL* ptr) const {
    mysql_close(ptr);
  }
};

// -- helpers for the owner ----------------------------------------------------

std::string errno_text(int code) {
  return std::string{std::strerror(code)};
}

caf::error sys_error(const char* what) {
  auto code = errno;
  return make_error(errc::internal,
                    std::string{"embedded mariadb: "} + what + ": "
                      + errno_text(code));
}

bool is_executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
         && ::access(path.c_str(), X_OK) == 0;
}

// Resolves `given` (a path, a bare name to look up in PATH, or empty for
// `default_name`) to an executable file.
std::optional<std::string> find_program(const std::string& given,
                                        const std::string& default_name,
                                        std::initializer_list<const char*>
                                          fallback_dirs) {
  auto name = given.empty() ? default_name : given;
  if (name.find('/') != std::string::npos) {
    if (is_executable(name))
      return name;
    return std::nullopt;
  }
  std::vector<std::string> dirs;
  if (auto path = std::getenv("PATH")) {
    std::string_view rest{path};
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto dir = rest.substr(0, colon);
      if (!dir.empty())
        dirs.emplace_back(dir);
      if (colon == std::string_view::npos)
        break;
      rest.remove_prefix(colon + 1);
    }
  }
  // Debian keeps mariadbd in /usr/sbin, which is not in every user's PATH.
  for (auto dir : fallback_dirs)
    dirs.emplace_back(dir);
  for (auto& dir : dirs) {
    auto candidate = dir + "/" + name;
    if (is_executable(candidate))
      return candidate;
  }
  return std::nullopt;
}

bool is_valid_name(const std::string& name) {
  if (name.empty() || name.size() > max_name_length)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
  });
}

// Passwords end up in a SQL string literal in init.sql. Rather than relying
// on escaping rules that depend on the server's SQL mode
// (NO_BACKSLASH_ESCAPES), we only accept printable ASCII without quote and
// backslash, which needs no escaping in any mode.
bool is_valid_password(const std::string& password) {
  if (password.size() > max_password_length)
    return false;
  return std::all_of(password.begin(), password.end(), [](char c) {
    return c >= 0x20 && c <= 0x7e && c != '\'' && c != '\\';
  });
}

caf::expected<std::string> random_password() {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz"
                                     "0123456789";
  constexpr unsigned alphabet_size = sizeof(alphabet) - 1; // 62
  // Bytes >= 248 are rejected so that every character is equally likely.
  constexpr unsigned limit = 256 - 256 % alphabet_size;
  unique_fd fd{::open("/dev/urandom", O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return sys_error("cannot open /dev/urandom");
  std::string result;
  while (result.size() < random_password_length) {
    unsigned char buf[64];
    auto n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return sys_error("cannot read /dev/urandom");
    for (ssize_t i = 0; i < n && result.size() < random_password_length; ++i)
      if (buf[i] < limit)
        result += alphabet[buf[i] % alphabet_size];
  }
  return result;
}

// Asks the kernel for a free port. Another process may take it before
// mariadbd binds it; `start` retries with a new port when that happens.
caf::expected<uint16_t> free_port() {
  unique_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd)
    return sys_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return sys_error("bind to 127.0.0.1:0");
  socklen_t len = sizeof(addr);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return sys_error("getsockname");
  return ntohs(addr.sin_port);
}

// Returns the last `lines` lines of a file (reading at most its last 64 KiB).
std::string tail_of_file(const std::string& path, size_t lines) {
  constexpr off_t max_bytes = 64 * 1024;
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return {};
  auto start = std::max<off_t>(0, st.st_size - max_bytes);
  std::string text;
  text.resize(static_cast<size_t>(st.st_size - start));
  size_t got = 0;
  while (got < text.size()) {
    auto n = ::pread(fd.get(), text.data() + got, text.size() - got,
                     start + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (lines == 0)
    return {};
  auto pos = text.size();
  for (size_t i = 0; i < lines; ++i) {
    auto nl = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    if (nl == std::string::npos || pos == 0)
      return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    auto sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " ("
           + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

caf::error write_private_file(const std::string& path,
                              const std::string& content) {
  unique_fd fd{::open(path.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                      0600)};
  if (!fd)
    return sys_error(("cannot create " + path).c_str());
  size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return sys_error(("cannot write " + path).c_str());
    done += static_cast<size_t>(n);
  }
  return {};
}

// -- the keeper ---------------------------------------------------------------
//
// The keeper is forked from the owner, which may be multi-threaded, and never
// calls exec. It therefore sticks to async-signal-safe system calls (plus
// fdopendir/readdir, which only need glibc's fork-safe malloc): no stdio, no
// iostreams, no spdlog, no std::string construction. Everything it needs is
// prepared in a `keeper_plan` before the fork.
//
// Protocol owner -> keeper (control pipe, one byte each):
//   'I'  run mariadb-install-db          -> "installed <wait status>"
//   'R'  start mariadbd unless running   -> "started <pid>"
//   'K'  stop mariadbd (SIGTERM, SIGKILL after 10 s) -> "exited <status>"
//   EOF  the owner is gone: kill everything, remove the directory, exit.
// Keeper -> owner (status pipe, one line each): the replies above, plus an
// unsolicited "exited <wait status>" when mariadbd dies on its own. A
// negative number reports a failure: -errno of a failed fork, or "exited -1"
// for 'K' while no server ran.

struct keeper_plan {
  /// The account the server runs as when the keeper is root (Debian's
  /// `mysql`): the keeper's children switch to it before they exec. -1:
  /// stay as we are.
  uid_t run_uid = static_cast<uid_t>(-1);
  gid_t run_gid = static_cast<gid_t>(-1);
  std::string directory;
  std::string error_log;
  std::string install_log;
  std::vector<std::string> install_args;
  std::vector<std::string> install_env;
  std::vector<std::string> server_args;

  // Views into the strings above, null-terminated, for execve.
  std::vector<char*> install_argv;
  std::vector<char*> install_envp;
  std::vector<char*> server_argv;

  void finalize() {
    auto fill = [](std::vector<std::string>& from, std::vector<char*>& to) {
      to.clear();
      for (auto& str : from)
        to.push_back(str.data());
      to.push_back(nullptr);
    };
    fill(install_args, install_argv);
    fill(install_env, install_envp);
    fill(server_args, server_argv);
  }
};

/// A fixed-size line for the keeper, which must neither allocate nor use
/// stdio.
class line_builder {
public:
  line_builder& add(const char* text) noexcept {
    while (*text != '\0' && size_ < sizeof(buf_))
      buf_[size_++] = *text++;
    return *this;
  }

  line_builder& add(long long value) noexcept {
    char digits[24];
    size_t n = 0;
    bool negative = value < 0;
    unsigned long long abs = negative ? 0ULL - static_cast<unsigned long long>(value)
                                      : static_cast<unsigned long long>(value);
    do {
      digits[n++] = static_cast<char>('0' + abs % 10);
      abs /= 10;
    } while (abs != 0);
    if (negative && size_ < sizeof(buf_))
      buf_[size_++] = '-';
    while (n > 0 && size_ < sizeof(buf_))
      buf_[size_++] = digits[--n];
    return *this;
  }

  void write_to(int fd) const noexcept {
    size_t done = 0;
    while (done < size_) {
      auto n = ::write(fd, buf_ + done, size_ - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      done += static_cast<size_t>(n);
    }
  }

private:
  char buf_[512];
  size_t size_ = 0;
};

long long monotonic_ms() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Closes every descriptor >= 3 except `keep_a` and `keep_b` (both >= 3).
void close_other_fds(int keep_a, int keep_b) noexcept {
  auto lo = static_cast<unsigned>(std::min(keep_a, keep_b));
  auto hi = static_cast<unsigned>(std::max(keep_a, keep_b));
  auto close_range_of = [](unsigned first, unsigned last) {
    if (first > last)
      return;
    if (syscall(SYS_close_range, first, last, 0) == 0)
      return;
    // Kernels before 5.9: close one by one up to the descriptor limit.
    rlimit lim{};
    unsigned max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
      max_fd = static_cast<unsigned>(std::min<rlim_t>(lim.rlim_cur, 1u << 20));
    for (unsigned fd = first; fd <= last && fd < max_fd; ++fd)
      ::close(static_cast<int>(fd));
  };
  close_range_of(3, lo - 1);
  close_range_of(lo + 1, hi - 1);
  close_range_of(hi + 1, ~0u);
}

class keeper {
public:
  keeper(const keeper_plan& plan, int control, int status, int signals)
    : plan_(plan),
      control_(control),
      status_(status),
      signals_(signals),
      self_(getpid()) {
  }

  [[noreturn]] void run() noexcept {
    for (;;) {
      if (terminate_)
        shut_down();
      pollfd fds[2] = {{control_, POLLIN, 0}, {signals_, POLLIN, 0}};
      // Without a signalfd (should not happen), reap by polling.
      auto n = poll(fds, 2, signals_ < 0 ? 100 : -1);
      if (n < 0 && errno != EINTR)
        shut_down();
      if (n > 0 && fds[1].revents != 0)
        drain_signals();
      reap();
      if (n > 0 && fds[0].revents != 0) {
        char buf[64];
        auto got = read(control_, buf, sizeof(buf));
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
          shut_down();
        for (ssize_t i = 0; i < got; ++i)
          on_command(buf[i]);
      }
    }
  }

private:
  void on_command(char command) noexcept {
    switch (command) {
      case 'I':
        if (install_ == 0) {
          install_ = spawn(plan_.install_argv.data(),
                           plan_.install_envp.data(),
                           plan_.install_log.c_str(), true, nullptr);
          if (install_ < 0) {
            report("installed", -errno);
            install_ = 0;
          }
        }
        break;
      case 'R':
        if (server_ == 0) {
          server_ = spawn(plan_.server_argv.data(), environ,
                          plan_.error_log.c_str(), false,
                          "troupe keeper: starting mariadbd\n");
          if (server_ < 0) {
            report("started", -errno);
            server_ = 0;
            break;
          }
        }
        report("started", server_);
        break;
      case 'K':
        stop_server();
        break;
      default:
        break; // Unknown bytes are ignored; the owner is trusted.
    }
  }

  // Forks and executes argv; stdin is /dev/null, stdout and stderr append to
  // `output`. Returns the pid, or -1 with errno set.
  pid_t spawn(char* const* argv, char* const* envp, const char* output,
              bool own_group, const char* banner) noexcept {
    // Written before the fork, so the log has it even when the child is
    // killed at once (e.g. a startup timeout of 1 ms).
    if (banner != nullptr)
      append_to(output, line_builder{}.add(banner));
    auto pid = fork();
    if (pid != 0)
      return pid;
    if (own_group)
      setpgid(0, 0);
    // The log is opened before dropping privileges: the keeper (root) wrote
    // its banner there first.
    auto in = open("/dev/null", O_RDONLY);
    auto out = open(output, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0)
      _exit(127);
    // Not as root: the server's account cannot read what root can. Before
    // PR_SET_PDEATHSIG, which a change of credentials clears.
    if (plan_.run_uid != static_cast<uid_t>(-1)
        && (setgroups(0, nullptr) != 0 || setgid(plan_.run_gid) != 0
            || setuid(plan_.run_uid) != 0))
      _exit(126);
    // Die with the keeper. PR_SET_PDEATHSIG fires when the parent *thread*
    // exits; the keeper has only one, so that is the keeper's death.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != self_)
      _exit(127); // The keeper died before prctl took effect.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, nullptr);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    if (in > 2)
      close(in);
    if (out > 2)
      close(out);
    execve(argv[0], argv, envp);
    line_builder{}
      .add("troupe keeper: cannot execute ")
      .add(argv[0])
      .add(": errno ")
      .add(static_cast<long long>(errno))
      .add("\n")
      .write_to(2);
    _exit(127);
  }

  void stop_server() noexcept {
    if (server_ == 0) {
      report("exited", -1);
      return;
    }
    kill(server_, SIGTERM);
    auto deadline = monotonic_ms() + server_stop_grace_ms;
    int status = 0;
    for (;;) {
      auto res = waitpid(server_, &status, WNOHANG);
      if (res == server_ || (res < 0 && errno == ECHILD))
        break;
      auto left = deadline - monotonic_ms();
      if (left <= 0) {
        kill(server_, SIGKILL);
        while (waitpid(server_, &status, 0) < 0 && errno == EINTR) {
          // Retry.
        }
        break;
      }
      pollfd pfd{signals_, POLLIN, 0};
      poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 100)));
      drain_signals();
    }
    note_exit(server_, status);
    server_ = 0;
    report("exited", status);
    reap(); // The install may have ended meanwhile; its SIGCHLD is consumed.
  }

  void reap() noexcept {
    int status = 0;
    if (install_ != 0 && waitpid(install_, &status, WNOHANG) == install_) {
      install_ = 0;
      report("installed", status);
    }
    if (server_ != 0 && waitpid(server_, &status, WNOHANG) == server_) {
      note_exit(server_, status);
      server_ = 0;
      report("exited", status);
    }
  }

  void drain_signals() noexcept {
    if (signals_ < 0)
      return;
    signalfd_siginfo info[8];
    for (;;) {
      auto got = read(signals_, info, sizeof(info));
      if (got <= 0)
        return;
      for (size_t i = 0; i < static_cast<size_t>(got) / sizeof(info[0]); ++i)
        if (info[i].ssi_signo != SIGCHLD)
          terminate_ = true;
    }
  }

  // The owner is gone (or someone asked the keeper to terminate). The data is
  // deleted next, so a clean shutdown buys nothing: SIGKILL cannot hang.
  [[noreturn]] void shut_down() noexcept {
    if (install_ != 0) {
      kill(-install_, SIGKILL); // mariadb-install-db and its mariadbd.
      kill(install_, SIGKILL);
      while (waitpid(install_, nullptr, 0) < 0 && errno == EINTR) {
        // Retry.
      }
    }
    if (server_ != 0) {
      kill(server_, SIGKILL);
      while (waitpid(server_, nullptr, 0) < 0 && errno == EINTR) {
        // Retry.
      }
    }
    remove_tree(plan_.directory.c_str());
    _exit(0);
  }

  void report(const char* word, long long value) noexcept {
    line_builder{}.add(word).add(" ").add(value).add("\n").write_to(status_);
  }

  // Like mysqld_safe, leaves a note in the error log when mariadbd ends, so
  // that the log explains a crash.
  void note_exit(pid_t pid, int status) noexcept {
    line_builder line;
    line.add("troupe keeper: mariadbd (pid ").add(static_cast<long long>(pid));
    if (WIFEXITED(status))
      line.add(") exited with code ")
        .add(static_cast<long long>(WEXITSTATUS(status)));
    else if (WIFSIGNALED(status))
      line.add(") was killed by signal ")
        .add(static_cast<long long>(WTERMSIG(status)));
    else
      line.add(") ended");
    append_to(plan_.error_log.c_str(), line.add("\n"));
  }

  static void append_to(const char* path, const line_builder& line) noexcept {
    auto fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                   0600);
    if (fd < 0)
      return;
    line.write_to(fd);
    close(fd);
  }

  const keeper_plan& plan_;
  int control_;
  int status_;
  int signals_;
  pid_t self_;
  pid_t server_ = 0;
  pid_t install_ = 0;
  bool terminate_ = false;
};

// Entry point of the keeper, right after fork. Never returns.
[[noreturn]] void keeper_main(const keeper_plan& plan, int control,
                              int status) noexcept {
  // Own process group: terminal signals for the owner's group do not reach
  // the keeper, and the owner can kill the keeper with mariadbd as a group.
  setpgid(0, 0);
  // The owner's signal handlers mean nothing here.
  struct sigaction act {};
  act.sa_handler = SIG_DFL;
  sigemptyset(&act.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig)
    sigaction(sig, &act, nullptr); // Fails harmlessly for KILL, STOP, ...
  // A write to the status pipe after the owner died must not kill the keeper
  // before it cleaned up.
  act.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &act, nullptr);
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT})
    sigaddset(&handled, sig);
  sigprocmask(SIG_SETMASK, &handled, nullptr);
  // Move both pipe ends above stdio, point stdio at /dev/null and drop every
  // other inherited descriptor, in particular any copy of the control pipe's
  // write end (else EOF would never come).
  auto ctl = fcntl(control, F_DUPFD_CLOEXEC, 3);
  auto st = fcntl(status, F_DUPFD_CLOEXEC, 3);
  if (ctl < 0 || st < 0)
    _exit(70);
  auto null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) {
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
  }
  close_other_fds(ctl, st);
  fcntl(st, F_SETFL, O_NONBLOCK); // Never block on an owner that stopped reading.
  if (chdir("/") != 0) {
    // Harmless: the keeper only uses absolute paths.
  }
  auto signals = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  keeper{plan, ctl, st, signals}.run();
}

// Blocks SIGPIPE for the calling thread while writing to a pipe whose reader
// may be gone, so that the owner gets EPIPE instead of dying.
ssize_t write_without_sigpipe(int fd, const void* data, size_t size) {
  sigset_t pipe_set;
  sigset_t old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t res;
  do {
    res = ::write(fd, data, size);
  } while (res < 0 && errno == EINTR);
  auto saved_errno = errno;
  if (res < 0 && saved_errno == EPIPE && !was_pending) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero); // Consume our own SIGPIPE.
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved_errno;
  return res;
}

} // namespace

// -- the owner's side ---------------------------------------------------------

struct embedded_server::impl {
  impl(embedded_server_options opts, uint16_t port_number, std::string dir)
    : options(std::move(opts)),
      port(port_number),
      directory(std::move(dir)),
      data_dir(directory.path() + "/data"),
      tmp_dir(directory.path() + "/tmp"),
      socket_path(directory.path() + "/mysqld.sock"),
      pid_file(directory.path() + "/mysqld.pid"),
      error_log(directory.path() + "/error.log"),
      install_log(directory.path() + "/install.log"),
      init_file(directory.path() + "/init.sql"),
      files_dir(directory.path() + "/files") {
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  ~impl() {
    // Closing the control pipe is the keeper's signal to clean up.
    control.reset();
    if (!keeper.wait_for_exit(keeper_exit_timeout))
      spdlog::warn("embedded mariadb: keeper (pid {}) did not exit within {} "
                   "ms; killing its process group",
                   keeper.pid(), keeper_exit_timeout.count());
    keeper.kill_and_reap();
    // `directory` removes whatever the keeper could not.
  }

  enum class read_result { line, timeout, eof };

  /// Options with the resolved binaries and the actual password.
  embedded_server_options options;
  uint16_t port;
  // Declared before `keeper`: destroyed after it, so the directory is removed
  // only when no process uses it any more.
  private_directory directory;
  std::string data_dir;
  std::string tmp_dir;
  std::string socket_path;
  std::string pid_file;
  std::string error_log;
  std::string install_log;
  std::string init_file;
  /// The only place LOAD DATA INFILE and SELECT ... INTO OUTFILE may use
  /// (secure_file_priv); empty.
  std::string files_dir;
  /// The account the server runs as (see keeper_plan), when root.
  uid_t run_uid = static_cast<uid_t>(-1);
  gid_t run_gid = static_cast<gid_t>(-1);
  child_process keeper;
  unique_fd control;        // Write end; only the owner holds it.
  mutable unique_fd status; // Read end.
  mutable std::string status_buffer;
  mutable pid_t server = 0;
  mutable int last_exit_status = 0;
  milliseconds startup_time{0};

  std::string init_sql() const {
    const auto& db = options.database;
    const auto& user = options.user;
    const auto& pw = options.password;
    std::string sql;
    sql += "CREATE DATABASE IF NOT EXISTS `" + db
           + "` CHARACTER SET utf8mb4;\n";
    // 'user'@'localhost' too: socket logins would otherwise match the
    // anonymous ''@'localhost' account (if any) before 'user'@'%'.
    for (const char* host : {"%", "localhost"}) {
      auto account = "'" + user + "'@'" + host + "'";
      sql += "CREATE USER IF NOT EXISTS " + account + " IDENTIFIED BY '" + pw
             + "';\n";
      // Its own database and those named after it (`troupe_...`, e.g. the
      // tests' scratch databases), nothing global: no FILE (no reading or
      // writing the host's files), no SUPER, no GRANT OPTION, no CREATE
      // USER. PROCESS only shows what runs (processlist, InnoDB's
      // transactions) on this private server. (Names are letters, digits and
      // '_'; '_' is a wildcard in a grant's pattern, hence the escapes.)
      sql += "GRANT PROCESS ON *.* TO " + account + ";\n";
      sql += "GRANT ALL PRIVILEGES ON `" + db + "`.* TO " + account + ";\n";
      std::string pattern;
      for (char c : db) {
        if (c == '_')
          pattern += '\\';
        pattern += c;
      }
      sql += "GRANT ALL PRIVILEGES ON `" + pattern + "\\_%`.* TO " + account
             + ";\n";
    }
    return sql;
  }

  keeper_plan make_plan() const {
    // As root without a server account to switch to, mariadbd must be told
    // that root is meant.
    bool as_root = geteuid() == 0 && run_uid == static_cast<uid_t>(-1);
    keeper_plan plan;
    plan.run_uid = run_uid;
    plan.run_gid = run_gid;
    plan.directory = directory.path();
    plan.error_log = error_log;
    plan.install_log = install_log;
    plan.install_args = {options.install_db,
                         "--no-defaults",
                         "--datadir=" + data_dir,
                         // Passed on to mariadbd. Private, because parallel
                         // bootstraps sharing /tmp fail now and then with
                         // "Could not remove temporary table".
                         "--tmpdir=" + tmp_dir,
                         "--auth-root-authentication-method=socket",
                         "--skip-test-db"};
    // mariadbd refuses to run as root unless told to; install-db passes the
    // option on to the mariadbd it bootstraps with.
    if (as_root)
      plan.install_args.emplace_back("--user=root");
    // Bootstrap with the same binary that will serve.
    for (auto env = environ; env != nullptr && *env != nullptr; ++env)
      if (std::strncmp(*env, "MYSQLD_BOOTSTRAP=", 17) != 0)
        plan.install_env.emplace_back(*env);
    plan.install_env.emplace_back("MYSQLD_BOOTSTRAP=" + options.mariadbd);
    plan.server_args = {options.mariadbd,
                        "--no-defaults",
                        "--datadir=" + data_dir,
                        "--tmpdir=" + tmp_dir,
                        "--socket=" + socket_path,
                        "--port=" + std::to_string(port),
                        "--bind-address=127.0.0.1",
                        "--pid-file=" + pid_file,
                        "--log-error=" + error_log,
                        "--skip-name-resolve",
                        "--character-set-server=utf8mb4",
                        "--collation-server=utf8mb4_unicode_ci",
                        "--max-allowed-packet=64M",
                        "--max-connections=1000",
                        "--innodb-buffer-pool-size=128M",
                        "--innodb-flush-log-at-trx-commit=2",
                        "--skip-log-bin",
                        "--secure-file-priv=" + files_dir,
                        "--local-infile=0",
                        "--init-file=" + init_file};
    if (as_root)
      plan.server_args.emplace_back("--user=root");
    for (auto& arg : options.extra_args)
      plan.server_args.push_back(arg);
    plan.finalize();
    return plan;
  }

  /// As root, the server runs as Debian's `mysql` account when it exists:
  /// the private directory and what is in it so far become its own (still
  /// 0700/0600: nobody else gets in).
  caf::error hand_to_server_account() {
    if (geteuid() != 0)
      return {};
    auto* pw = getpwnam("mysql");
    if (pw == nullptr || pw->pw_uid == 0) {
      spdlog::warn("embedded mariadb: running as root and there is no "
                   "'mysql' account: the server runs as root");
      return {};
    }
    std::initializer_list<const std::string*> paths{
      &directory.path(), &data_dir, &tmp_dir, &files_dir, &init_file,
      &error_log, &install_log};
    for (const auto* path : paths)
      if (::lchown(path->c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return sys_error(("cannot hand " + *path + " to the mysql account")
                           .c_str());
    // The account must reach the directory: every directory above it must
    // let it through.
    auto path = directory.path();
    for (auto cut = path.rfind('/'); cut != std::string::npos && cut > 0;
         cut = path.rfind('/', cut - 1)) {
      auto parent = path.substr(0, cut);
      struct stat st;
      if (::stat(parent.c_str(), &st) != 0)
        return sys_error(("cannot inspect " + parent).c_str());
      bool passes = (st.st_mode & S_IXOTH) != 0
                    || (st.st_uid == pw->pw_uid && (st.st_mode & S_IXUSR))
                    || (st.st_gid == pw->pw_gid && (st.st_mode & S_IXGRP));
      if (!passes)
        return make_error(errc::invalid_argument,
                          "embedded mariadb: the server runs as the 'mysql' "
                          "account, which cannot enter "
                            + parent
                            + "; choose a base directory that others may "
                              "traverse (mode o+x)");
    }
    run_uid = pw->pw_uid;
    run_gid = pw->pw_gid;
    return {};
  }

  caf::error spawn_keeper() {
    auto plan = make_plan();
    int ctl[2];
    int st[2];
    if (pipe2(ctl, O_CLOEXEC) != 0)
      return sys_error("pipe2");
    unique_fd ctl_read{ctl[0]};
    unique_fd ctl_write{ctl[1]};
    if (pipe2(st, O_CLOEXEC) != 0)
      return sys_error("pipe2");
    unique_fd st_read{st[0]};
    unique_fd st_write{st[1]};
    auto pid = fork();
    if (pid < 0)
      return sys_error("fork");
    if (pid == 0)
      keeper_main(plan, ctl_read.get(), st_write.get());
    // Also here, so that kill(-pid) works even before the child ran.
    setpgid(pid, pid);
    keeper.assign(pid);
    control = std::move(ctl_write);
    status = std::move(st_read);
    return {};
  }

  caf::error send(char command) {
    if (write_without_sigpipe(control.get(), &command, 1) != 1)
      return sys_error("the keeper process is gone");
    return {};
  }

  void apply(const std::string& line) const {
    auto space = line.find(' ');
    if (space == std::string::npos)
      return;
    auto word = line.substr(0, space);
    auto value = std::atoll(line.c_str() + space + 1);
    if (word == "started" && value > 0) {
      server = static_cast<pid_t>(value);
    } else if (word == "exited") {
      server = 0;
      if (value >= 0)
        last_exit_status = static_cast<int>(value);
    }
  }

  // Reads one status line (and applies it) unless the deadline passes first.
  read_result read_line(clock_type::time_point deadline,
                        std::string& line) const {
    for (;;) {
      auto nl = status_buffer.find('\n');
      if (nl != std::string::npos) {
        line = status_buffer.substr(0, nl);
        status_buffer.erase(0, nl + 1);
        apply(line);
        return read_result::line;
      }
      if (!status)
        return read_result::eof;
      auto left = std::chrono::duration_cast<milliseconds>(deadline
                                                           - clock_type::now());
      pollfd pfd{status.get(), POLLIN, 0};
      auto n = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(
                                 0, std::min<long long>(left.count(), 1000))));
      if (n < 0 && errno != EINTR)
        return read_result::eof;
      if (n <= 0) {
        if (clock_type::now() >= deadline)
          return read_result::timeout;
        continue;
      }
      char buf[256];
      auto got = ::read(status.get(), buf, sizeof(buf));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        status.reset(); // The keeper is gone.
        server = 0;
        return read_result::eof;
      }
      status_buffer.append(buf, static_cast<size_t>(got));
    }
  }

  // Applies every status line that is available right now.
  void drain() const {
    std::string line;
    while (read_line(clock_type::now(), line) == read_result::line) {
      // apply() did the work.
    }
  }

  // Waits for the reply `word` and returns its number.
  caf::expected<long long> await(const char* word, milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    auto prefix = std::string{word} + " ";
    std::string line;
    for (;;) {
      switch (read_line(deadline, line)) {
        case read_result::line:
          if (line.compare(0, prefix.size(), prefix) == 0)
            return std::atoll(line.c_str() + prefix.size());
          break;
        case read_result::timeout:
          return make_error(errc::internal,
                            std::string{"embedded mariadb: the keeper did not "
                                        "report '"}
                              + word + "' within "
                              + std::to_string(timeout.count()) + " ms");
        case read_result::eof:
          return make_error(errc::internal,
                            std::string{"embedded mariadb: the keeper exited "
                                        "while waiting for '"}
                              + word + "'");
      }
    }
  }

  caf::error install() {
    if (auto err = send('I'))
      return err;
    auto status_value = await("installed", install_timeout);
    if (!status_value)
      return make_error(errc::internal,
                        "embedded mariadb: mariadb-install-db did not finish "
                        "(" + render(status_value.error()) + "); from "
                          + install_log + ":\n" + install_problems());
    if (*status_value < 0)
      return make_error(errc::internal,
                        "embedded mariadb: cannot fork mariadb-install-db: "
                          + errno_text(static_cast<int>(-*status_value)));
    auto wait_status = static_cast<int>(*status_value);
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0)
      return make_error(errc::internal,
                        "embedded mariadb: " + options.install_db + " "
                          + describe_wait_status(wait_status) + "; from "
                          + install_log + ":\n" + install_problems());
    return {};
  }

  // The error lines of the install log (its last lines are always the same
  // advice), or its tail when it has none.
  std::string install_problems() const {
    auto text = tail_of_file(install_log, 200);
    std::string result;
    size_t count = 0;
    size_t pos = 0;
    while (pos < text.size() && count < 10) {
      auto nl = text.find('\n', pos);
      auto line = text.substr(pos, nl == std::string::npos ? nl : nl - pos);
      auto mentions = [&line](const char* word) {
        return line.find(word) != std::string::npos;
      };
      if (mentions("ERROR") || mentions("Error") || mentions("failed")
          || mentions("Fatal")) {
        result += line + "\n";
        ++count;
      }
      if (nl == std::string::npos)
        break;
      pos = nl + 1;
    }
    if (result.empty())
      result = tail_of_file(install_log, 20);
    return result.empty() ? "(the log is empty)" : result;
  }

  // Returns an empty string when the server accepted a login.
  std::string try_connect() const {
    std::unique_ptr<MYSQL, mysql_closer> mysql{mysql_init(nullptr)};
    if (!mysql)
      return "mysql_init failed (out of memory)";
    unsigned connect_timeout = 1;
    unsigned io_timeout = 5;
    unsigned protocol = MYSQL_PROTOCOL_SOCKET;
    mysql_options(mysql.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(mysql.get(), MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(mysql.get(), MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(mysql.get(), MYSQL_OPT_PROTOCOL, &protocol);
    if (mysql_real_connect(mysql.get(), "localhost", options.user.c_str(),
                           options.password.c_str(), options.database.c_str(),
                           0, socket_path.c_str(), 0)
        == nullptr)
      return mysql_error(mysql.get());
    return {};
  }

  // Starts mariadbd (if not running) and waits until it accepts a login.
  // Sets `port_taken` when it died because its TCP port was in use.
  caf::error launch(bool& port_taken) {
    port_taken = false;
    auto t0 = clock_type::now();
    auto deadline = t0 + options.startup_timeout;
    if (auto err = send('R'))
      return err;
    auto pid = await("started", keeper_reply_timeout);
    if (!pid)
      return pid.error();
    if (*pid < 0)
      return make_error(errc::internal,
                        "embedded mariadb: cannot fork mariadbd: "
                          + errno_text(static_cast<int>(-*pid)));
    std::string last_error = "none yet";
    std::string line;
    for (;;) {
      drain();
      if (server == 0) {
        auto tail = log_excerpt();
        port_taken = tail.find("Address already in use") != std::string::npos
                     || tail.find("Bind on TCP/IP port") != std::string::npos;
        return make_error(errc::connect_failed,
                          "embedded mariadb: mariadbd "
                            + describe_wait_status(last_exit_status)
                            + " during startup; last lines of " + error_log
                            + ":\n" + tail);
      }
      auto err = try_connect();
      if (err.empty()) {
        startup_time = std::chrono::duration_cast<milliseconds>(
          clock_type::now() - t0);
        return {};
      }
      last_error = std::move(err);
      auto now = clock_type::now();
      if (now >= deadline) {
        // Stop it first: the log then also says how far it got.
        if (!send('K'))
          static_cast<void>(await("exited", keeper_reply_timeout));
        return make_error(errc::connect_failed,
                          "embedded mariadb: mariadbd did not accept "
                          "connections on "
                            + socket_path + " within "
                            + std::to_string(options.startup_timeout.count())
                            + " ms (last error: " + last_error
                            + "); last lines of " + error_log + ":\n"
                            + log_excerpt());
      }
      // Sleeps, but wakes up at once when the keeper reports an exit.
      read_line(std::min(deadline, now + connect_retry_interval), line);
    }
  }

  caf::error stop() {
    drain();
    if (server == 0)
      return {};
    if (auto err = send('K'))
      return err;
    auto res = await("exited", keeper_reply_timeout);
    if (!res)
      return res.error();
    spdlog::info("embedded mariadb: stopped the server on 127.0.0.1:{}", port);
    return {};
  }

  std::string log_tail(size_t lines) const {
    return tail_of_file(error_log, lines);
  }

  // The tail of the error log for an error message.
  std::string log_excerpt() const {
    auto text = log_tail(20);
    return text.empty() ? "(the log is empty)" : text;
  }
};

embedded_server::embedded_server(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
}

embedded_server::~embedded_server() {
  if (impl_)
    spdlog::info("embedded mariadb: shutting down the server on "
                 "127.0.0.1:{} and removing {}",
                 impl_->port, impl_->directory.path());
}

caf::expected<std::unique_ptr<embedded_server>>
embedded_server::start(embedded_server_options options) {
  // Validate everything before creating anything.
  if (!is_valid_name(options.database))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: invalid database name '"
                        + options.database
                        + "' (1 to 64 letters, digits or '_')");
  if (!is_valid_name(options.user))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: invalid user name '" + options.user
                        + "' (1 to 64 letters, digits or '_')");
  if (!is_valid_password(options.password))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: invalid password (up to 128 "
                      "printable ASCII characters, no quote or backslash)");
  if (options.startup_timeout.count() <= 0)
    return make_error(errc::invalid_argument,
                      "embedded mariadb: startup_timeout must be positive");
  auto mariadbd = find_program(options.mariadbd, "mariadbd",
                               {"/usr/sbin", "/usr/libexec"});
  if (!mariadbd)
    return make_error(errc::invalid_argument,
                      "embedded mariadb: mariadbd not found or not executable"
                        + (options.mariadbd.empty()
                             ? std::string{" (searched PATH, /usr/sbin, "
                                           "/usr/libexec)"}
                             : ": " + options.mariadbd));
  auto install_db = find_program(options.install_db, "mariadb-install-db",
                                 {"/usr/bin"});
  if (!install_db)
    return make_error(errc::invalid_argument,
                      "embedded mariadb: mariadb-install-db not found or not "
                      "executable"
                        + (options.install_db.empty()
                             ? std::string{" (searched PATH, /usr/bin)"}
                             : ": " + options.install_db));
  options.mariadbd = std::move(*mariadbd);
  options.install_db = std::move(*install_db);
  if (options.password.empty()) {
    auto password = random_password();
    if (!password)
      return password.error();
    options.password = std::move(*password);
  }
  auto base_dir = options.base_dir;
  if (base_dir.empty()) {
    auto tmp = std::getenv("TMPDIR");
    base_dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  while (base_dir.size() > 1 && base_dir.back() == '/')
    base_dir.pop_back();
  auto dir_template = base_dir + "/" + dir_prefix + "XXXXXX";
  auto longest_socket = dir_template + "/mysqld.sock";
  if (longest_socket.size() >= sizeof(sockaddr_un::sun_path))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: base directory '" + base_dir
                        + "' is too long for a unix socket path ("
                        + std::to_string(longest_socket.size()) + " of at most "
                        + std::to_string(sizeof(sockaddr_un::sun_path) - 1)
                        + " bytes)");
  for (int attempt = 1;; ++attempt) {
    auto install_started = clock_type::now();
    auto port = options.port;
    if (port == 0) {
      auto free = free_port();
      if (!free)
        return free.error();
      port = *free;
    }
    auto dir_buf = dir_template;
    if (mkdtemp(dir_buf.data()) == nullptr)
      return sys_error(("cannot create a directory in " + base_dir).c_str());
    // From here on, `self` owns the directory.
    auto self = std::make_unique<impl>(options, port, dir_buf);
    for (auto sub : {&self->data_dir, &self->tmp_dir, &self->files_dir})
      if (::mkdir(sub->c_str(), 0700) != 0)
        return sys_error(("cannot create " + *sub).c_str());
    if (auto err = write_private_file(self->init_file, self->init_sql()))
      return err;
    // Created here so that they can be handed to the server's account.
    for (auto log : {&self->error_log, &self->install_log})
      if (auto err = write_private_file(*log, {}))
        return err;
    if (auto err = self->hand_to_server_account())
      return err;
    if (auto err = self->spawn_keeper())
      return err;
    if (auto err = self->install())
      return err;
    auto install_time = std::chrono::duration_cast<milliseconds>(
      clock_type::now() - install_started);
    bool port_taken = false;
    if (auto err = self->launch(port_taken)) {
      if (port_taken && options.port == 0 && attempt < max_port_attempts) {
        spdlog::warn("embedded mariadb: port {} was taken before mariadbd "
                     "could bind it; retrying with another port",
                     port);
        continue;
      }
      return err;
    }
    spdlog::info("embedded mariadb: started on 127.0.0.1:{} in {} ms", port,
                 self->startup_time.count());
    spdlog::debug("embedded mariadb: data directory {} initialized in {} ms",
                  self->data_dir, install_time.count());
    return std::unique_ptr<embedded_server>{new embedded_server(std::move(self))};
  }
}

troupe::dsn embedded_server::dsn() const {
  troupe::dsn result;
  result.scheme = "mariadb";
  result.user = impl_->options.user;
  result.password = impl_->options.password;
  result.host = "127.0.0.1";
  result.port = impl_->port;
  result.database = impl_->options.database;
  return result;
}

troupe::dsn embedded_server::socket_dsn() const {
  auto result = dsn();
  result.host.clear();
  result.socket = impl_->socket_path;
  return result;
}

uint16_t embedded_server::port() const {
  return impl_->port;
}

const std::string& embedded_server::socket_path() const {
  return impl_->socket_path;
}

const std::string& embedded_server::directory() const {
  return impl_->directory.path();
}

pid_t embedded_server::server_pid() const {
  impl_->drain();
  return impl_->server;
}

pid_t embedded_server::keeper_pid() const {
  return impl_->keeper.pid();
}

std::chrono::milliseconds embedded_server::startup_time() const {
  return impl_->startup_time;
}

caf::error embedded_server::stop() {
  return impl_->stop();
}

caf::error embedded_server::restart() {
  bool port_taken = false;
  if (auto err = impl_->launch(port_taken))
    return err;
  spdlog::info("embedded mariadb: restarted on 127.0.0.1:{} in {} ms",
               impl_->port, impl_->startup_time.count());
  return {};
}

bool embedded_server::running() const {
  impl_->drain();
  return impl_->server != 0;
}

std::string embedded_server::log_tail(size_t lines) const {
  return impl_->log_tail(lines);
}

} // namespace troupe
