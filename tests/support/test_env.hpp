#pragma once

// Where the integration tests find their MariaDB server and tools.

#include <string>

#include "troupe/dsn.hpp"

namespace troupe::test {

/// The server for the integration tests: $TROUPE_TEST_DSN when set, else the
/// private server the ctest fixture started (its DSN file in the build tree).
/// Throws `std::runtime_error` saying how to get a server when neither is
/// available. The result is cached; safe to call from several threads.
troupe::dsn server_dsn();

/// The path of the `troupe-mariadb` executable of this build.
std::string mariadb_tool_path();

/// The path of the `troupe-bench` executable of this build.
std::string bench_tool_path();

} // namespace troupe::test
