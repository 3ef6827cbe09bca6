#pragma once

// posix::child_process: owns a forked child that leads its own process group,
// waits for it and kills the group as a last resort; describe_wait_status
// puts a wait status into words. Forking and what the child runs are the
// caller's business.

#include <chrono>
#include <string>

#include <sys/types.h>

namespace troupe::posix {

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
  bool wait_for_exit(std::chrono::milliseconds timeout);

  /// Last resort: SIGKILL for the group (the child and its own children),
  /// then reap.
  void kill_and_reap();

private:
  pid_t pid_ = 0;
};

/// E.g. "exited with code 1" or "was killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

} // namespace troupe::posix
