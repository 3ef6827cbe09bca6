#pragma once

// A string for passwords: it behaves as a std::string, and every buffer it
// drops (destroyed, moved from, assigned over, cleared with `wipe`) is
// overwritten first, so a password does not linger in freed memory.
//
// It narrows what a core dump or a later heap read can find; it is not a
// vault: libmariadb keeps its own copy while a connection is open, and
// temporaries made with `std::string(s)` are plain strings.

#include <string>
#include <utility>

namespace troupe {

/// Overwrites the whole buffer of `s` (also the part past its size) with
/// zeros, then clears it.
void wipe(std::string& s) noexcept;

class secret_string : public std::string {
public:
  using std::string::string;

  secret_string() = default;
  secret_string(const std::string& x) : std::string(x) {}
  secret_string(std::string&& x) noexcept : std::string(std::move(x)) {
    wipe(x);
  }
  secret_string(const secret_string& x) : std::string(x) {}
  secret_string(secret_string&& x) noexcept : std::string(std::move(x)) {
    wipe(x);
  }

  secret_string& operator=(const secret_string& x) {
    if (this != &x) {
      wipe(*this);
      std::string::operator=(x);
    }
    return *this;
  }
  secret_string& operator=(secret_string&& x) noexcept {
    if (this != &x) {
      wipe(*this);
      std::string::operator=(std::move(x));
      wipe(x);
    }
    return *this;
  }
  secret_string& operator=(const std::string& x) {
    wipe(*this);
    std::string::operator=(x);
    return *this;
  }
  secret_string& operator=(std::string&& x) noexcept {
    wipe(*this);
    std::string::operator=(std::move(x));
    wipe(x);
    return *this;
  }
  secret_string& operator=(const char* x) {
    wipe(*this);
    std::string::operator=(x);
    return *this;
  }

  ~secret_string() { wipe(*this); }
};

} // namespace troupe
