#include "child.hpp"

#include "process.hpp"

#include <csignal>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace troupe::test {

std::unique_ptr<child_process>
child_process::start(const std::vector<std::string>& argv,
                     const std::vector<std::string>& extra_env) {
  std::vector<std::string> env;
  for (auto** e = environ; *e != nullptr; ++e)
    env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  auto started = start_piped(argv, {}, env);
  if (started.pid < 0)
    return nullptr;
  auto pid = static_cast<pid_t>(started.pid);
  auto fd = started.out;
  return std::unique_ptr<child_process>{new child_process(pid, fd)};
}

child_process::~child_process() {
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  ::close(out_);
}

std::optional<std::string>
child_process::wait_line(std::string_view prefix,
                         std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    // Complete lines not looked at yet.
    for (auto eol = output_.find('\n', scanned_); eol != std::string::npos;
         eol = output_.find('\n', scanned_)) {
      std::string_view line{output_.data() + scanned_, eol - scanned_};
      scanned_ = eol + 1;
      if (line.substr(0, prefix.size()) == prefix)
        return std::string{line.substr(prefix.size())};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd pfd{out_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[4096];
    auto n = ::read(out_, buf, sizeof(buf));
    if (n <= 0)
      return std::nullopt; // exited or closed its output
    output_.append(buf, static_cast<size_t>(n));
  }
}

void child_process::signal(int sig) {
  ::kill(pid_, sig);
}

} // namespace troupe::test
