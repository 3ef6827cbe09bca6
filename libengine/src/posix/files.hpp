#pragma once

// Whole-file chores: creating a private file with its content, reading the
// tail of a log. No directories (private_directory.hpp) and no descriptor
// ownership (unique_fd.hpp).

#include <cstddef>
#include <string>

#include "posix/failure.hpp"

namespace troupe::posix {

/// Creates `path` (mode 0600; it must not exist yet, and a link there is
/// refused) and writes `content` to it. Fails with "cannot create <path>" or
/// "cannot write <path>".
failure write_private_file(const std::string& path,
                           const std::string& content);

/// Returns the last `lines` lines of a file (reading at most its last
/// 64 KiB), without trailing newlines; empty when it cannot be read.
std::string tail_of_file(const std::string& path, size_t lines);

} // namespace troupe::posix
