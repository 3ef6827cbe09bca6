// Closing other descriptors and writing without SIGPIPE (see
// descriptors.hpp). Nothing here owns a descriptor.

#include "posix/descriptors.hpp"

#include <algorithm>
#include <cerrno>

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace troupe::posix {

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

} // namespace troupe::posix
