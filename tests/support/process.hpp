#pragma once

// Running a program of this build from a test, bounded in time.

#include <chrono>
#include <string>
#include <vector>

namespace troupe::test {

struct program_run {
  /// The exit code, or -1 when it did not exit normally (killed, timed out).
  int exit_code = -1;
  /// What it wrote to stdout and stderr.
  std::string output;
};

/// A started program whose stdout and stderr go into a pipe.
struct piped_child {
  /// -1 when it could not be started.
  int pid = -1;
  /// The pipe's read end (close it).
  int out = -1;
};

/// Starts `argv` (argv[0] a path) in `cwd` (empty: the current directory)
/// with stdin from /dev/null and the environment `env` ("NAME=value";
/// empty: this process's).
piped_child start_piped(const std::vector<std::string>& argv,
                        const std::string& cwd,
                        const std::vector<std::string>& env);

/// Runs `argv` (argv[0] a path) in `cwd` (empty: the current directory) with
/// stdin from /dev/null and the environment `env` ("NAME=value"; empty:
/// this process's); kills it after `limit`.
program_run run_program(const std::vector<std::string>& argv,
                        const std::string& cwd = {},
                        std::chrono::seconds limit = std::chrono::seconds{120},
                        const std::vector<std::string>& env = {});

} // namespace troupe::test
