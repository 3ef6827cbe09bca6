#pragma once

// Descriptor chores around fork and pipes: closing every descriptor but two
// (in a forked child) and writing to a pipe whose reader may be gone without
// dying of SIGPIPE. No descriptor ownership (unique_fd.hpp) and no files.

#include <cstddef>

#include <sys/types.h>

namespace troupe::posix {

/// Closes every descriptor >= 3 except `keep_a` and `keep_b` (both >= 3).
/// Async-signal-safe: for a forked child before it goes on.
void close_other_fds(int keep_a, int keep_b) noexcept;

/// Blocks SIGPIPE for the calling thread while writing to a pipe whose reader
/// may be gone, so that the caller gets EPIPE instead of dying. Returns what
/// write(2) returns; errno as write(2) left it.
ssize_t write_without_sigpipe(int fd, const void* data, size_t size);

} // namespace troupe::posix
