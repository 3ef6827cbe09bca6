// Unhappy paths of the driver: server errors, refused and broken connections,
// timeouts, bad arguments.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "loop_helpers.hpp"
#include "scratch.hpp"
#include "troupe/error.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// A loopback port nothing listens on (bound, then closed).
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

error_info expect_error(const caf::expected<result>& res) {
  REQUIRE_FALSE(res);
  return info(res.error());
}

// Waits (bounded) until the server shows `thread_id` running a statement.
void wait_until_running(mariadb::sync_connection& admin, uint64_t thread_id) {
  for (int i = 0; i < 500; ++i) {
    auto res = admin.execute("SELECT COUNT(*) FROM information_schema.processlist "
                             "WHERE id = ? AND command = 'Query'",
                             {thread_id});
    REQUIRE(res);
    if (res->scalar<int>() == 1)
      return;
    std::this_thread::sleep_for(10ms);
  }
  FAIL("the statement never started on the server");
}

} // namespace

TEST_CASE("server errors carry the server's code, SQLSTATE and message and "
          "are not fatal",
          "[driver][errors]") {
  test::scratch_database db{"errs"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY)");
  db.run("INSERT INTO t VALUES (1)");
  auto conn = test::connect(db.options());
  SECTION("syntax error, text protocol") {
    auto e = expect_error(conn->query("SELEKT 1"));
    CHECK(e.code == errc::server_error);
    CHECK(e.server_code == 1064);
    CHECK(e.sqlstate == "42000");
    CHECK_THAT(e.message, Catch::Contains("SQL syntax"));
    CHECK_FALSE(e.fatal);
  }
  SECTION("syntax error, prepared") {
    auto e = expect_error(conn->execute("SELEKT ?", {1}));
    CHECK(e.code == errc::server_error);
    CHECK(e.server_code == 1064);
    CHECK(e.sqlstate == "42000");
  }
  SECTION("unknown table") {
    auto e = expect_error(conn->query("SELECT * FROM no_such_table"));
    CHECK(e.server_code == 1146);
    CHECK(e.sqlstate == "42S02");
    auto p = expect_error(conn->execute("SELECT * FROM no_such_table WHERE id = ?",
                                        {1}));
    CHECK(p.server_code == 1146);
  }
  SECTION("duplicate key") {
    auto e = expect_error(conn->execute("INSERT INTO t VALUES (?)", {1}));
    CHECK(e.code == errc::server_error);
    CHECK(e.server_code == 1062);
    CHECK(e.sqlstate == "23000");
    CHECK_FALSE(e.fatal);
  }
  // After any of these the connection still works.
  auto ok = conn->query("SELECT COUNT(*) FROM t");
  REQUIRE(ok);
  CHECK(ok->scalar<int>() == 1);
}

TEST_CASE("a wrong password fails with auth_failed and 1045",
          "[driver][errors]") {
  auto opts = test::server_options();
  opts.password = "definitely-wrong";
  auto conn = mariadb::sync_connection::open(opts);
  REQUIRE_FALSE(conn);
  auto e = info(conn.error());
  CHECK(e.code == errc::auth_failed);
  CHECK(e.server_code == 1045);
  CHECK(e.sqlstate == "28000");
  CHECK(e.fatal);
  CHECK_THAT(e.message, !Catch::Contains("definitely-wrong"));
}

TEST_CASE("an unknown database fails with connect_failed and 1049",
          "[driver][errors]") {
  auto opts = test::server_options();
  opts.database = test::database_name("missing_db");
  auto conn = mariadb::sync_connection::open(opts);
  REQUIRE_FALSE(conn);
  auto e = info(conn.error());
  CHECK(e.code == errc::connect_failed);
  CHECK(e.server_code == 1049);
  CHECK(e.sqlstate == "42000");
}

TEST_CASE("connecting to a closed port fails with connect_failed naming the "
          "address",
          "[driver][errors]") {
  auto opts = test::server_options();
  opts.socket.clear();
  opts.host = "127.0.0.1";
  opts.port = closed_port();
  auto started = std::chrono::steady_clock::now();
  auto conn = mariadb::sync_connection::open(opts);
  REQUIRE_FALSE(conn);
  auto e = info(conn.error());
  CHECK(e.code == errc::connect_failed);
  CHECK_THAT(e.message, Catch::Contains(fmt::format("127.0.0.1:{}", opts.port)));
  CHECK(e.fatal);
  // Refused, not timed out.
  CHECK(std::chrono::steady_clock::now() - started < opts.connect_timeout);
}

TEST_CASE("requiring TLS from a server without TLS fails to connect",
          "[driver][errors]") {
  // The private test server is started without TLS.
  auto plain = test::connect();
  REQUIRE(plain->raw().info().tls_cipher.empty());
  auto opts = test::server_options();
  opts.tls = mariadb::tls_mode::required;
  auto conn = mariadb::sync_connection::open(opts);
  REQUIRE_FALSE(conn);
  auto e = info(conn.error());
  CHECK(e.code == errc::connect_failed);
  CHECK_THAT(e.message, Catch::Contains("does not offer TLS"));
  // `preferred` falls back to plain text.
  opts.tls = mariadb::tls_mode::preferred;
  CHECK(mariadb::sync_connection::open(opts));
}

TEST_CASE("a wrong number of parameters is rejected before anything is sent",
          "[driver][errors]") {
  auto conn = test::connect();
  auto e = expect_error(conn->execute("SELECT ? + ?", {1}));
  CHECK(e.code == errc::invalid_argument);
  CHECK_THAT(e.message, Catch::Contains("2 parameter"));
  CHECK_FALSE(conn->raw().broken());
  auto ok = conn->execute("SELECT ? + ?", {1, 2});
  REQUIRE(ok);
  CHECK(ok->scalar<int>() == 3);
}

TEST_CASE("a result larger than max_result_bytes fails and the connection "
          "stays usable",
          "[driver][errors]") {
  auto opts = test::server_options();
  opts.max_result_bytes = 64 * 1024;
  auto conn = test::connect(opts);
  std::string big = "SELECT REPEAT('x', 1000) FROM information_schema.columns "
                    "a, information_schema.columns b LIMIT 2000";
  for (bool prepared : {false, true}) {
    INFO((prepared ? "prepared" : "text"));
    auto res = prepared ? conn->execute(big, {}) : conn->query(big);
    auto e = expect_error(res);
    CHECK(e.code == errc::result_too_large);
    CHECK_FALSE(e.fatal);
    auto ok = conn->query("SELECT 5");
    REQUIRE(ok);
    CHECK(ok->scalar<int>() == 5);
  }
}

TEST_CASE("a statement running past the read timeout fails with "
          "outcome_unknown and is fatal",
          "[driver][errors]") {
  auto opts = test::server_options();
  opts.read_timeout = 1s;
  auto conn = test::connect(opts);
  auto started = std::chrono::steady_clock::now();
  auto e = expect_error(conn->query("SELECT SLEEP(5)"));
  auto took = std::chrono::steady_clock::now() - started;
  // The server goes on running it: what it did is unknown, not failed.
  CHECK(e.code == errc::outcome_unknown);
  CHECK_THAT(e.message, Catch::Contains("may still run"));
  CHECK(e.fatal);
  CHECK(took < 4s);
  CHECK(conn->raw().broken());
}

TEST_CASE("a connection killed while a statement runs reports "
          "connection_lost, fatal",
          "[driver][errors]") {
  auto loop = make_epoll_loop("test-io");
  auto conn = mariadb::async_connection::make(*loop, test::server_options());
  REQUIRE(test::await_on(*loop, [conn](auto h) { conn->connect(h); }));
  auto admin = test::connect();
  uint64_t victim = 0;
  test::run_on(*loop, [&] { victim = conn->raw().info().thread_id; });
  auto p = std::make_shared<std::promise<caf::expected<result>>>();
  auto f = p->get_future();
  loop->post([conn, p] {
    conn->query("SELECT SLEEP(20)",
                [p](caf::expected<result> r) { p->set_value(std::move(r)); });
  });
  wait_until_running(*admin, victim);
  REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", victim)));
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  auto e = expect_error(f.get());
  CHECK(e.code == errc::connection_lost);
  CHECK(e.fatal);
  // Further requests fail at once instead of hanging.
  auto again = test::await_on(*loop, [conn](auto h) { conn->query("SELECT 1", h); });
  CHECK(info(again.error()).code == errc::connection_lost);
  test::run_on(*loop, [&] { conn.reset(); });
  loop->stop();
}

TEST_CASE("an idle connection killed by the server is noticed without a "
          "request",
          "[driver][errors]") {
  auto loop = make_epoll_loop("test-io");
  auto conn = mariadb::async_connection::make(*loop, test::server_options());
  REQUIRE(test::await_on(*loop, [conn](auto h) { conn->connect(h); }));
  auto broken = std::make_shared<std::promise<caf::error>>();
  auto f = broken->get_future();
  test::run_on(*loop, [&] {
    conn->on_broken([broken](caf::error e) { broken->set_value(std::move(e)); });
  });
  SECTION("by KILL CONNECTION") {
    uint64_t victim = 0;
    test::run_on(*loop, [&] { victim = conn->raw().info().thread_id; });
    auto admin = test::connect();
    REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", victim)));
  }
  SECTION("by wait_timeout") {
    REQUIRE(test::await_on(*loop, [conn](auto h) {
      conn->query("SET SESSION wait_timeout = 1", h);
    }));
  }
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  auto e = info(f.get());
  CHECK(e.code == errc::connection_lost);
  CHECK(e.fatal);
  test::run_on(*loop, [&] { conn.reset(); });
  loop->stop();
}

TEST_CASE("KILL QUERY through a side connection interrupts a statement and "
          "keeps the connection",
          "[driver][errors]") {
  test::scratch_database db{"killq"}; // seq_ tables need a current database
  auto opts = db.options();
  auto loop = make_epoll_loop("test-io");
  auto conn = mariadb::async_connection::make(*loop, opts);
  REQUIRE(test::await_on(*loop, [conn](auto h) { conn->connect(h); }));
  uint64_t victim = 0;
  test::run_on(*loop, [&] { victim = conn->raw().info().thread_id; });
  auto p = std::make_shared<std::promise<caf::expected<result>>>();
  auto f = p->get_future();
  loop->post([conn, p] {
    // A filtered scan of a huge virtual sequence (no aggregate pushdown):
    // interrupted with an error, unlike SLEEP (returns 1) or BENCHMARK
    // (returns NULL).
    conn->query("SELECT COUNT(*) FROM seq_1_to_100000000000 WHERE seq % 7 = 3",
                [p](caf::expected<result> r) { p->set_value(std::move(r)); });
  });
  auto admin = test::connect();
  wait_until_running(*admin, victim);
  REQUIRE_FALSE(mariadb::kill_query(opts, victim));
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  auto e = expect_error(f.get());
  CHECK(e.code == errc::server_error);
  CHECK(e.server_code == 1317);
  CHECK_FALSE(e.fatal);
  auto again = test::await_on(*loop, [conn](auto h) { conn->query("SELECT 2", h); });
  REQUIRE(again);
  CHECK(again->scalar<int>() == 2);
  test::run_on(*loop, [&] { conn.reset(); });
  loop->stop();
}

TEST_CASE("an error the server raises while sending rows carries its code "
          "and message",
          "[driver][errors]") {
  test::scratch_database db{"row_error"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY)");
  db.run("INSERT INTO t VALUES (1), (2), (3)");
  auto conn = test::connect(db.options());
  // The subquery returns several rows: 1242, reported after the metadata.
  for (bool prepared : {true, false}) {
    INFO((prepared ? "prepared" : "text"));
    auto res = prepared
                 ? conn->execute("SELECT (SELECT id FROM t WHERE id > ?)", {0})
                 : conn->query("SELECT (SELECT id FROM t WHERE id > 0)");
    REQUIRE_FALSE(res);
    auto e = info(res.error());
    CHECK(e.code == errc::server_error);
    CHECK(e.server_code == 1242);
    CHECK(e.sqlstate == "21000");
    CHECK_THAT(e.message, Catch::Contains("more than 1 row"));
    CHECK_FALSE(e.fatal);
    // The connection stays usable.
    auto ok = conn->query("SELECT 1");
    REQUIRE(ok);
  }
}

TEST_CASE("a statement larger than the server's max_allowed_packet is "
          "refused before it is sent, and the connection stays usable",
          "[driver][errors]") {
  test::scratch_database db{"too_large"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT)");
  auto conn = test::connect(db.options());
  auto limit = conn->query("SELECT @@SESSION.max_allowed_packet");
  REQUIRE(limit);
  auto max = *limit->scalar<uint64_t>();
  REQUIRE(conn->raw().info().max_allowed_packet == max);
  const std::string big(max + 1024, 'x');
  auto expect_refused = [&](caf::expected<result> r) {
    REQUIRE_FALSE(r);
    auto e = info(r.error());
    CHECK(e.code == errc::statement_too_large);
    CHECK_FALSE(e.fatal);
    CHECK_THAT(e.message, Catch::Contains("max_allowed_packet"));
    CHECK(e.message.find("xxxx") == std::string::npos); // no statement text
  };
  // As text, and as a bound parameter.
  expect_refused(conn->query("INSERT INTO t VALUES (1, '" + big + "')"));
  expect_refused(conn->execute("INSERT INTO t VALUES (?, ?)", {2, big}));
  // Nothing was sent: the same session goes on, and nothing was stored.
  auto same = conn->query("SELECT CONNECTION_ID()");
  REQUIRE(same);
  auto rows = conn->query("SELECT COUNT(*) FROM t");
  REQUIRE(rows);
  CHECK(rows->scalar<int>() == 0);
  // Just under the limit still goes through.
  const std::string fits(1024, 'y');
  REQUIRE(conn->execute("INSERT INTO t VALUES (?, ?)", {3, fits}));
  CHECK(conn->raw().info().thread_id == *same->scalar<uint64_t>());
}
