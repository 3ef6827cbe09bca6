// Program lookup (see programs.hpp). Nothing here runs a program.

#include "posix/programs.hpp"

#include <cstdlib>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace troupe::posix {

namespace {

bool is_executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
         && ::access(path.c_str(), X_OK) == 0;
}

} // namespace

std::optional<std::string> find_program(const std::string& given,
                                        const std::string& default_name,
                                        std::initializer_list<const char*>
                                          fallback_dirs) {
  auto name = given.empty() ? default_name : given;
  if (name.find('/') != std::string::npos) {
    if (is_executable(name))
      return name;
    return std::nullopt;
  }
  std::vector<std::string> dirs;
  if (auto path = std::getenv("PATH")) {
    std::string_view rest{path};
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto dir = rest.substr(0, colon);
      if (!dir.empty())
        dirs.emplace_back(dir);
      if (colon == std::string_view::npos)
        break;
      rest.remove_prefix(colon + 1);
    }
  }
  // Debian keeps mariadbd in /usr/sbin, which is not in every user's PATH.
  for (auto dir : fallback_dirs)
    dirs.emplace_back(dir);
  for (auto& dir : dirs) {
    auto candidate = dir + "/" + name;
    if (is_executable(candidate))
      return candidate;
  }
  return std::nullopt;
}

} // namespace troupe::posix
