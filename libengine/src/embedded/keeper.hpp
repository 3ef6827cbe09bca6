#pragma once

// The keeper: the process the embedded server forks to run
// mariadb-install-db and mariadbd, and to clean up when its owner is gone.
// Here: its plan, its protocol and its entry point. Not here: the owner's
// side (embedded_server.cpp), which builds the plan, forks and talks to it.

#include <string>
#include <vector>

#include <sys/types.h>

namespace troupe::detail {

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

/// How long 'K' waits after SIGTERM before it sends SIGKILL.
inline constexpr int server_stop_grace_ms = 10'000;

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

  /// Fills the views; call once the strings are final, before the fork.
  void finalize();
};

/// Entry point of the keeper, right after fork: `control` is the read end of
/// the control pipe, `status` the write end of the status pipe. Never
/// returns.
[[noreturn]] void keeper_main(const keeper_plan& plan, int control,
                              int status) noexcept;

} // namespace troupe::detail
