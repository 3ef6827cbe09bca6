#pragma once

// posix::find_program: resolves a program's name to an executable file, like
// a shell's PATH lookup plus fallback directories. It does not run anything.

#include <initializer_list>
#include <optional>
#include <string>

namespace troupe::posix {

/// Resolves `given` (a path, a bare name to look up in PATH, or empty for
/// `default_name`) to an executable file. A bare name is looked up in PATH,
/// then in `fallback_dirs`.
std::optional<std::string> find_program(const std::string& given,
                                        const std::string& default_name,
                                        std::initializer_list<const char*>
                                          fallback_dirs);

} // namespace troupe::posix
