#pragma once

// A program of this build running beside a test (a peer node, ...), which
// the test can read from, signal and kill. The destructor kills it.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace troupe::test {

class child_process {
public:
  /// Starts `argv` (argv[0] a path) with stdin from /dev/null, stdout and
  /// stderr into a pipe the test reads, and this process's environment plus
  /// `extra_env` ("NAME=value"). Returns nullptr when it cannot be started.
  static std::unique_ptr<child_process>
  start(const std::vector<std::string>& argv,
        const std::vector<std::string>& extra_env = {});

  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Reads its output until a line starting with `prefix` and returns the
  /// rest of that line; nullopt when the child exits, closes its output or
  /// `limit` passes first.
  std::optional<std::string> wait_line(std::string_view prefix,
                                       std::chrono::milliseconds limit);

  /// Sends `sig` (SIGKILL, SIGSTOP, SIGCONT, ...).
  void signal(int sig);

  /// Everything it wrote so far (for failure messages).
  const std::string& output() const {
    return output_;
  }

  pid_t pid() const {
    return pid_;
  }

private:
  child_process(pid_t pid, int out) : pid_(pid), out_(out) {
  }
  pid_t pid_;
  int out_;
  std::string output_;
  size_t scanned_ = 0; // output_ up to here holds no unread line
};

} // namespace troupe::test
