#include "test_env.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "troupe/error.hpp"

namespace troupe::test {

namespace {

constexpr const char* how_to_get_a_server
  = "Run the tests through scripts/test or ctest (which start a private "
    "MariaDB), or point TROUPE_TEST_DSN at a server, e.g. "
    "TROUPE_TEST_DSN=mariadb://user:password@127.0.0.1:3306/troupe_test";

troupe::dsn load_server_dsn() {
  if (auto env = std::getenv("TROUPE_TEST_DSN"); env != nullptr && *env != '\0') {
    auto parsed = parse_dsn(env);
    if (!parsed)
      throw std::runtime_error("TROUPE_TEST_DSN is not a valid DSN: "
                               + render(parsed.error()));
    return std::move(*parsed);
  }
  const std::string path = TROUPE_TEST_STATE_DIR "/dsn";
  std::ifstream in{path};
  std::string text;
  if (!in || !std::getline(in, text) || text.empty())
    throw std::runtime_error("no test server: " + path + " does not exist. "
                             + how_to_get_a_server);
  auto parsed = parse_dsn(text);
  if (!parsed)
    throw std::runtime_error(path + " does not hold a valid DSN ("
                             + render(parsed.error()) + "). "
                             + how_to_get_a_server);
  return std::move(*parsed);
}

} // namespace

troupe::dsn server_dsn() {
  // A throwing initializer leaves it uninitialized: the next call retries.
  static const troupe::dsn result = load_server_dsn();
  return result;
}

std::string mariadb_tool_path() {
  return TROUPE_MARIADB_TOOL;
}

std::string bench_tool_path() {
  return TROUPE_BENCH_TOOL;
}

} // namespace troupe::test
