// Where a DSN's password comes from: the DSN text, a file, or an environment
// variable (see resolve_password in dsn.hpp).

#include "troupe/dsn.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "troupe/error.hpp"

namespace troupe {

namespace {

constexpr size_t max_password_file_size = 4096;

caf::error fail(std::string what) {
  return make_error(errc::invalid_argument, std::move(what));
}

// Closes a file descriptor on every return path.
class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {
    // nop
  }
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;

private:
  int fd_;
};

// Checks a password read from `source` (a phrase naming the option): it goes
// to the server as a C string in one line, so a NUL or a line break would
// silently cut or change it.
caf::error check_password(const std::string& pw, const std::string& source) {
  if (pw.empty())
    return fail(fmt::format("{} is empty", source));
  if (pw.find('\0') != std::string::npos)
    return fail(fmt::format("{} contains a NUL byte", source));
  if (pw.find_first_of("\r\n") != std::string::npos)
    return fail(fmt::format("{} has more than one line (it must hold the "
                            "password alone)",
                            source));
  return {};
}

caf::expected<secret_string> read_password_file(const std::string& path) {
  auto source = fmt::format("password_file '{}'", path);
  if (path.empty())
    return fail("option 'password_file' is empty (expected a path)");
  // Check what was opened, not the path: the file cannot be swapped between
  // the check and the read. O_NONBLOCK: opening a FIFO must not hang.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return fail(fmt::format("cannot open {}: {}", source,
                            std::strerror(errno)));
  fd_guard guard{fd};
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    return fail(fmt::format("cannot stat {}: {}", source,
                            std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    return fail(fmt::format("{} is not a regular file", source));
  if ((st.st_mode & 077) != 0)
    return fail(fmt::format("{} may be accessed by group or others (mode "
                            "{:04o}); restrict it with chmod 600",
                            source, st.st_mode & 07777));
  if (static_cast<uint64_t>(st.st_size) > max_password_file_size)
    return fail(fmt::format("{} is larger than {} bytes", source,
                            max_password_file_size));
  secret_string pw;
  pw.reserve(max_password_file_size + 1); // appending never reallocates
  char buf[max_password_file_size + 1];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail(fmt::format("cannot read {}: {}", source,
                              std::strerror(errno)));
    if (n == 0)
      break;
    pw.append(buf, static_cast<size_t>(n));
    ::explicit_bzero(buf, sizeof(buf));
    // The file may have grown since fstat.
    if (pw.size() > max_password_file_size)
      return fail(fmt::format("{} is larger than {} bytes", source,
                              max_password_file_size));
  }
  // Editors and `echo` end the file with a newline; it is not part of the
  // password.
  if (!pw.empty() && pw.back() == '\n')
    pw.pop_back();
  if (!pw.empty() && pw.back() == '\r')
    pw.pop_back();
  if (auto err = check_password(pw, source))
    return err;
  return pw;
}

caf::expected<secret_string> read_password_env(const std::string& name) {
  if (name.empty())
    return fail("option 'password_env' is empty (expected the name of an "
                "environment variable)");
  auto source = fmt::format("environment variable '{}' (password_env)", name);
  const char* value = std::getenv(name.c_str());
  if (value == nullptr)
    return fail(fmt::format("{} is not set", source));
  secret_string pw{value};
  if (auto err = check_password(pw, source))
    return err;
  return pw;
}

} // namespace

caf::expected<secret_string> resolve_password(const dsn& x) {
  auto file = x.option("password_file");
  auto env = x.option("password_env");
  std::vector<std::string> sources;
  if (!x.password.empty())
    sources.emplace_back("a password in the DSN");
  if (file != nullptr)
    sources.emplace_back("password_file");
  if (env != nullptr)
    sources.emplace_back("password_env");
  if (sources.size() > 1)
    return fail(fmt::format("the DSN gives the password more than one way "
                            "({}); use one of them",
                            fmt::join(sources, ", ")));
  if (file != nullptr)
    return read_password_file(*file);
  if (env != nullptr)
    return read_password_env(*env);
  return x.password;
}

} // namespace troupe
