// Overwriting dropped password buffers (troupe/secret.hpp).

#include "troupe/secret.hpp"

#include <string.h>

namespace troupe {

void wipe(std::string& s) noexcept {
  // Within the capacity resize does not allocate; it makes the whole buffer
  // part of the string, so the bytes past the old size are zeroed too.
  s.resize(s.capacity());
  ::explicit_bzero(s.data(), s.size());
  s.clear();
}

} // namespace troupe
