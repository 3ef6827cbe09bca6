// Writing a private file and reading a file's tail (see files.hpp). Nothing
// here removes files.

#include "posix/files.hpp"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix/unique_fd.hpp"

namespace troupe::posix {

failure write_private_file(const std::string& path,
                           const std::string& content) {
  unique_fd fd{::open(path.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                      0600)};
  if (!fd)
    return {"cannot create " + path, errno};
  size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return {"cannot write " + path, errno};
    done += static_cast<size_t>(n);
  }
  return {};
}

std::string tail_of_file(const std::string& path, size_t lines) {
  constexpr off_t max_bytes = 64 * 1024;
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return {};
  auto start = std::max<off_t>(0, st.st_size - max_bytes);
  std::string text;
  text.resize(static_cast<size_t>(st.st_size - start));
  size_t got = 0;
  while (got < text.size()) {
    auto n = ::pread(fd.get(), text.data() + got, text.size() - got,
                     start + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  while (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (lines == 0)
    return {};
  auto pos = text.size();
  for (size_t i = 0; i < lines; ++i) {
    auto nl = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    if (nl == std::string::npos || pos == 0)
      return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

} // namespace troupe::posix
