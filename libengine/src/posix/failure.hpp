#pragma once

// posix::failure: what a POSIX helper was doing when a system call failed,
// and its errno. It does not turn that into an engine error: the caller does,
// with its own wording.

#include <string>

namespace troupe::posix {

/// Why a helper failed: `what` describes the step (e.g. "socket",
/// "cannot create /some/path"), `code` is the errno it failed with. An empty
/// `what` means success.
struct failure {
  std::string what;
  int code = 0;

  explicit operator bool() const {
    return !what.empty();
  }
};

} // namespace troupe::posix
