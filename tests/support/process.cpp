#include "process.hpp"

#include <csignal>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::test {

piped_child start_piped(const std::vector<std::string>& argv,
                        const std::string& cwd,
                        const std::vector<std::string>& env) {
  piped_child out;
  int fds[2];
  if (argv.empty() || ::pipe2(fds, O_CLOEXEC) != 0)
    return out;
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  auto pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return out;
  }
  if (pid == 0) {
    auto in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || (!cwd.empty() && ::chdir(cwd.c_str()) != 0))
      ::_exit(126);
    ::dup2(in, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execve(args[0], args.data(), env.empty() ? environ : envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out.pid = pid;
  out.out = fds[0];
  return out;
}

program_run run_program(const std::vector<std::string>& argv,
                        const std::string& cwd, std::chrono::seconds limit,
                        const std::vector<std::string>& env) {
  program_run out;
  auto child = start_piped(argv, cwd, env);
  if (child.pid < 0)
    return out;
  auto pid = child.pid;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{child.out, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0)
      continue;
    auto n = ::read(child.out, buf, sizeof(buf));
    if (n <= 0)
      break;
    out.output.append(buf, static_cast<size_t>(n));
  }
  ::close(child.out);
  // Output closed: the program is exiting (or closed its output early).
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return out;
    }
    ::poll(nullptr, 0, 10);
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

} // namespace troupe::test
