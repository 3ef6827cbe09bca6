#pragma once

// posix::private_directory: owns a directory tree and removes it when it goes
// away; posix::remove_tree removes a tree without following links. Creating
// the directory and what goes in it is the owner's business.

#include <string>
#include <utility>

namespace troupe::posix {

/// Removes `path` and everything below it, never following symbolic links.
/// Safe in a forked child of a multi-threaded process: only system calls and
/// fdopendir/readdir (which need glibc's fork-safe malloc), no other
/// allocation.
void remove_tree(const char* path) noexcept;

/// Owns a directory tree and removes it on destruction.
class private_directory {
public:
  private_directory() = default;
  explicit private_directory(std::string path) : path_(std::move(path)) {
  }
  private_directory(const private_directory&) = delete;
  private_directory& operator=(const private_directory&) = delete;
  ~private_directory() {
    if (!path_.empty())
      remove_tree(path_.c_str());
  }

  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

} // namespace troupe::posix
