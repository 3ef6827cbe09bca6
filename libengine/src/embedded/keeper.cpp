// The keeper's side of the keeper protocol (see keeper.hpp): its command
// loop, how it spawns mariadb-install-db and mariadbd, and its cleanup. Not
// here: the owner's side (embedded_server.cpp) and the POSIX helpers it
// shares (posix/).

#include "embedded/keeper.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "posix/descriptors.hpp"
#include "posix/private_directory.hpp"

extern char** environ;

namespace troupe::detail {

void keeper_plan::finalize() {
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

namespace {

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
    posix::remove_tree(plan_.directory.c_str());
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

} // namespace

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
  posix::close_other_fds(ctl, st);
  fcntl(st, F_SETFL, O_NONBLOCK); // Never block on an owner that stopped reading.
  if (chdir("/") != 0) {
    // Harmless: the keeper only uses absolute paths.
  }
  auto signals = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  keeper{plan, ctl, st, signals}.run();
}

} // namespace troupe::detail
