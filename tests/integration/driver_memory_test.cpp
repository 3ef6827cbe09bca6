// max_result_bytes bounds what a statement's answer keeps in memory: rows,
// column metadata, info strings and the result sets themselves; a single
// packet far beyond it is refused before it is read.

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "mysql_peer.hpp"
#include "scratch.hpp"
#include "troupe/error.hpp"
#include "troupe/mariadb/connection.hpp"

using namespace troupe;

namespace {

// Under AddressSanitizer freed memory stays in its quarantine (256 MiB by
// default), and under ThreadSanitizer every byte touched has shadow memory
// several times its size, so the peak resident memory says nothing about
// what the driver keeps: the bounds below are checked only without them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool rss_measures_the_driver = false;
#else
constexpr bool rss_measures_the_driver = true;
#endif

// The process's peak resident memory (VmHWM), in KiB.
long peak_rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

error_info failure(const caf::expected<result>& r) {
  REQUIRE_FALSE(r);
  return info(r.error());
}

} // namespace

TEST_CASE("many empty result sets count against max_result_bytes",
          "[driver][memory]") {
  test::scratch_database db{"mem"};
  // 3000 result sets without rows: before, only rows were counted and all
  // 3000 came back.
  db.run("CREATE PROCEDURE many_sets() BEGIN DECLARE i INT DEFAULT 0; "
         "WHILE i < 3000 DO SELECT 1 AS one FROM DUAL WHERE 0; "
         "SET i = i + 1; END WHILE; END");
  auto opts = db.options();
  opts.max_result_bytes = 64 * 1024;
  auto conn = test::connect(opts);
  for (bool prepared : {false, true}) {
    INFO((prepared ? "prepared" : "text"));
    auto r = prepared ? conn->execute("CALL many_sets()", {})
                      : conn->query("CALL many_sets()");
    auto e = failure(r);
    CHECK(e.code == errc::result_too_large);
    CHECK_FALSE(e.fatal);
    auto ok = conn->query("SELECT 5");
    REQUIRE(ok);
    CHECK(ok->scalar<int>() == 5);
  }
  // Within the limit the same procedure answers in full.
  opts.max_result_bytes = 64 * 1024 * 1024;
  auto roomy = test::connect(opts);
  auto all = roomy->query("CALL many_sets()");
  REQUIRE(all);
  CHECK(all->sets().size() >= 3000);
}

TEST_CASE("column metadata counts against max_result_bytes", "[driver][memory]") {
  auto opts = test::server_options();
  opts.max_result_bytes = 4 * 1024;
  auto conn = test::connect(opts);
  // 100 columns with long names and no rows.
  std::string sql = "SELECT ";
  for (int i = 0; i < 100; ++i)
    sql += fmt::format("{}{} AS column_with_a_rather_long_name_number_{:03}",
                       i == 0 ? "" : ", ", i, i);
  sql += " FROM DUAL WHERE 0";
  auto e = failure(conn->query(sql));
  CHECK(e.code == errc::result_too_large);
  CHECK(conn->query("SELECT 1"));
}

TEST_CASE("a row packet far beyond max_result_bytes is refused before it is "
          "read, and the connection is dropped",
          "[driver][memory]") {
  auto opts = test::server_options();
  opts.max_result_bytes = 64 * 1024;
  auto conn = test::connect(opts);
  CHECK(conn->raw().effective_max_packet() == 64 * 1024 + (size_t{16} << 20));
  // (ctest runs each test case in a process of its own: the high-water mark
  // is this test's.)
  auto before = peak_rss_kib();
  // 60 MiB in one row: far more than max_result_bytes + 16 MiB.
  auto e = failure(conn->query("SELECT REPEAT('x', 60 * 1024 * 1024)"));
  auto grown = peak_rss_kib() - before;
  // libmariadb reports the refused packet as a lost connection (2013) on
  // the fetch path, or as 2020 (result_too_large); fatal either way.
  CHECK((e.code == errc::result_too_large || e.code == errc::connection_lost));
  CHECK(e.fatal);
  // At most the 16 MiB of slack were read, never the 60 MiB row.
  if (rss_measures_the_driver)
    CHECK(grown < 32 * 1024);
}

TEST_CASE("a row somewhat over max_result_bytes is read, dropped, and the "
          "connection stays usable",
          "[driver][memory]") {
  auto opts = test::server_options();
  opts.max_result_bytes = 64 * 1024;
  auto conn = test::connect(opts);
  auto e = failure(conn->query("SELECT REPEAT('x', 2 * 1024 * 1024)"));
  CHECK(e.code == errc::result_too_large);
  CHECK_FALSE(e.fatal);
  CHECK(conn->query("SELECT 1"));
}

TEST_CASE("a server sending result set after result set with large info "
          "strings does not grow the client's memory",
          "[driver][memory][security]") {
  // A hostile server: 400 OK packets of 1 MiB info each for one statement.
  // Before info strings were counted, all 400 came back (400 MiB).
  constexpr int sets = 400;
  const std::string info(1 << 20, 'i');
  test::fake_server server{[&](test::wire_socket& s) {
    test::serve_fake_session(s, [&](const std::string& sql,
                                    test::wire_socket& sock) {
      if (sql != "CALL flood()")
        return sock.send_packet(1, test::ok_packet());
      constexpr uint16_t more_results = 0x0008, autocommit = 0x0002;
      for (int i = 0; i < sets; ++i) {
        uint16_t status = i + 1 < sets ? (autocommit | more_results)
                                       : autocommit;
        if (!sock.send_packet(static_cast<uint8_t>(1 + i),
                              test::ok_packet(status, info)))
          return false;
      }
      return true;
    });
  }};
  mariadb::connect_options opts;
  opts.host = "127.0.0.1";
  opts.port = server.port();
  opts.user = "app";
  opts.password = "pw";
  opts.max_result_bytes = 1 << 20;
  auto conn = mariadb::sync_connection::open(opts);
  REQUIRE(conn);
  auto before = peak_rss_kib();
  auto e = failure((*conn)->query("CALL flood()"));
  CHECK(e.code == errc::result_too_large);
  CHECK_FALSE(e.fatal);
  auto growth_kib = peak_rss_kib() - before;
  INFO("peak memory grew by " << growth_kib << " KiB");
  // max_result_bytes plus one packet in libmariadb's buffer, and slack.
  if (rss_measures_the_driver)
    CHECK(growth_kib < 16 * 1024);
  CHECK((*conn)->query("DO 1")); // still in sync
}
