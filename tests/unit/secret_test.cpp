// secret_string overwrites the buffers it drops. Checked where the bytes
// stay observable: a string short enough to live inside the object (its
// storage is ours to read after the destructor ran), and moved-from or
// assigned-over objects that are still alive.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "troupe/secret.hpp"

using troupe::secret_string;

namespace {

// Reads the bytes through a volatile pointer: after a destructor ran the
// optimizer regards the storage as dead and could skip ordinary reads.
bool holds(const unsigned char* bytes, size_t n, const std::string& what) {
  std::string copy(n, '\0');
  auto* p = static_cast<const volatile unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i)
    copy[i] = static_cast<char>(p[i]);
  return copy.find(what) != std::string::npos;
}

} // namespace

TEST_CASE("a short secret is overwritten when destroyed", "[secret]") {
  const std::string pw = "hunter2"; // fits the in-object buffer
  alignas(secret_string) unsigned char storage[sizeof(secret_string)] = {};
  auto* s = new (storage) secret_string{pw};
  REQUIRE(holds(storage, sizeof(storage), pw));
  s->~secret_string();
  CHECK_FALSE(holds(storage, sizeof(storage), pw));
}

TEST_CASE("a plain string keeps its bytes after destruction, which is what "
          "the secret avoids",
          "[secret]") {
  // The control: without wiping, the bytes stay in the storage.
  const std::string pw = "hunter2";
  alignas(std::string) unsigned char storage[sizeof(std::string)] = {};
  auto* s = new (storage) std::string{pw};
  REQUIRE(holds(storage, sizeof(storage), pw));
  s->~basic_string();
  CHECK(holds(storage, sizeof(storage), pw));
}

TEST_CASE("moving or assigning a secret leaves no copy behind", "[secret]") {
  const std::string pw = "hunter2";
  SECTION("moved from") {
    secret_string a{pw};
    secret_string b{std::move(a)};
    CHECK(b == pw);
    auto* bytes = reinterpret_cast<const unsigned char*>(&a);
    CHECK_FALSE(holds(bytes, sizeof(a), pw));
  }
  SECTION("assigned over") {
    secret_string a{pw};
    const char* before = a.data(); // in-object buffer
    a = std::string{"other"};
    CHECK(a == "other");
    CHECK(std::memcmp(before, "other", 5) == 0);
    // "hunter2" was longer: its tail would survive a plain assignment.
    CHECK(std::all_of(before + 5, before + 15, [](char c) { return c == 0; }));
  }
  SECTION("from a plain string that is moved in") {
    std::string plain = pw;
    secret_string a{std::move(plain)};
    auto* bytes = reinterpret_cast<const unsigned char*>(&plain);
    CHECK_FALSE(holds(bytes, sizeof(plain), pw));
  }
}

TEST_CASE("wipe zeroes the whole buffer, also past the size", "[secret]") {
  std::string s = "a-long-password-on-the-heap-0123456789";
  s.resize(3);
  const char* p = s.data();
  auto cap = s.capacity();
  troupe::wipe(s);
  CHECK(s.empty());
  CHECK(s.data() == p); // same buffer, not reallocated
  CHECK(std::all_of(p, p + cap, [](char c) { return c == 0; }));
}
