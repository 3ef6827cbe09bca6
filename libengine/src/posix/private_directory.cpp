// Removing a directory tree without following links (see
// private_directory.hpp). Nothing here creates files or directories.

#include "posix/private_directory.hpp"

#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace troupe::posix {

namespace {

// Removes `name` (relative to `parent_fd`) and everything below it, never
// following symbolic links. Only uses calls that are safe in the keeper (a
// forked child of a possibly multi-threaded process; glibc's malloc, which
// fdopendir uses, is fork-safe).
void remove_tree_at(int parent_fd, const char* name) noexcept {
  if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
    return;
  // A directory (unlinkat fails with EISDIR): empty it, then remove it. A
  // second pass catches entries that a dying process created meanwhile.
  for (int pass = 0; pass < 3; ++pass) {
    int fd = openat(parent_fd, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return;
    DIR* dir = fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      return;
    }
    while (dirent* entry = readdir(dir)) {
      if (std::strcmp(entry->d_name, ".") != 0
          && std::strcmp(entry->d_name, "..") != 0)
        remove_tree_at(fd, entry->d_name);
    }
    closedir(dir); // Also closes fd.
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno != ENOTEMPTY)
      return;
  }
}

} // namespace

void remove_tree(const char* path) noexcept {
  remove_tree_at(AT_FDCWD, path);
}

} // namespace troupe::posix
