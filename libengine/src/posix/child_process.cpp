// Waiting for and killing a child process, and wait statuses in words (see
// child_process.hpp). Nothing here forks.

#include "posix/child_process.hpp"

#include <cerrno>
#include <cstring>

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

namespace troupe::posix {

bool child_process::wait_for_exit(std::chrono::milliseconds timeout) {
  using clock_type = std::chrono::steady_clock;
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

void child_process::kill_and_reap() {
  if (pid_ <= 0)
    return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    // Retry.
  }
  pid_ = 0;
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

} // namespace troupe::posix
