// Session-level behaviour of the driver: the statement cache, reset, the
// transaction flag, and many connections on one event loop.

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <string>

#include <fmt/format.h>

#include "loop_helpers.hpp"
#include "scratch.hpp"
#include "troupe/embedded_server.hpp"
#include "troupe/error.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

using test::session_status;

} // namespace

TEST_CASE("the statement cache evicts the least recently used statement and "
          "re-prepares it when needed",
          "[driver][cache]") {
  auto opts = test::server_options();
  opts.statement_cache_size = 2;
  auto conn = test::connect(opts);
  auto& raw = conn->raw();
  auto closes_before = session_status(*conn, "Com_stmt_close");
  for (int round = 0; round < 3; ++round) {
    for (int k = 1; k <= 3; ++k) {
      auto res = conn->execute(fmt::format("SELECT ? * {}", k), {round});
      REQUIRE(res);
      CHECK(res->scalar<int>() == round * k);
      CHECK(raw.cached_statements() <= 2);
    }
  }
  // Three statements cycling through two slots: every execution misses.
  CHECK(raw.stats().statements_prepared == 9);
  CHECK(raw.stats().statements_evicted == 7);
  CHECK(raw.stats().statement_cache_hits == 0);
  // Evicted statements were closed on the server.
  CHECK(session_status(*conn, "Com_stmt_close") - closes_before == 7);
  // A repeated statement is a hit.
  REQUIRE(conn->execute("SELECT ? * 3", {1}));
  CHECK(raw.stats().statement_cache_hits == 1);
}

TEST_CASE("the server's prepared statement limit is handled by giving back "
          "cached statements",
          "[driver][cache]") {
  embedded_server_options so;
  so.extra_args.push_back("--max-prepared-stmt-count=4");
  auto server = embedded_server::start(so);
  REQUIRE(server);
  auto opts = mariadb::connect_options::from_dsn((*server)->dsn());
  REQUIRE(opts);
  opts->statement_cache_size = 100;
  auto conn = test::connect(*opts);
  for (int k = 1; k <= 10; ++k) {
    auto res = conn->execute(fmt::format("SELECT ? + {}", k), {1});
    REQUIRE(res);
    CHECK(res->scalar<int>() == 1 + k);
  }
  CHECK(conn->raw().stats().statements_evicted > 0);
  CHECK(conn->raw().cached_statements() <= 4);
}

TEST_CASE("reset clears session state and the statement cache",
          "[driver][session]") {
  auto conn = test::connect();
  REQUIRE(conn->query("SET @x = 42"));
  REQUIRE(conn->execute("SELECT ?", {1}));
  REQUIRE(conn->raw().cached_statements() == 1);
  REQUIRE(conn->query("BEGIN"));
  CHECK(conn->raw().in_transaction());
  REQUIRE_FALSE(conn->reset());
  CHECK_FALSE(conn->raw().in_transaction());
  CHECK(conn->raw().cached_statements() == 0);
  auto x = conn->query("SELECT @x");
  REQUIRE(x);
  CHECK(x->row(0)[0].is_null());
  // Statements are prepared again transparently.
  auto again = conn->execute("SELECT ?", {7});
  REQUIRE(again);
  CHECK(again->scalar<int>() == 7);
}

TEST_CASE("the transaction flag follows BEGIN, COMMIT and ROLLBACK",
          "[driver][session]") {
  auto conn = test::connect();
  CHECK_FALSE(conn->raw().in_transaction());
  REQUIRE(conn->query("START TRANSACTION"));
  CHECK(conn->raw().in_transaction());
  REQUIRE(conn->query("COMMIT"));
  CHECK_FALSE(conn->raw().in_transaction());
  REQUIRE(conn->query("BEGIN"));
  REQUIRE(conn->query("ROLLBACK"));
  CHECK_FALSE(conn->raw().in_transaction());
}

TEST_CASE("the driver reports the server's flavour, version and session "
          "limits",
          "[driver][session]") {
  auto conn = test::connect();
  const auto& info = conn->raw().info();
  CHECK(info.kind == mariadb::flavour::mariadb);
  CHECK(info.version_number >= 100000);
  CHECK(info.thread_id > 0);
  CHECK(info.wait_timeout > 0);
  CHECK(info.bulk_operations);
  auto id = conn->query("SELECT CONNECTION_ID()");
  REQUIRE(id);
  CHECK(id->scalar<uint64_t>() == info.thread_id);
}

TEST_CASE("init statements run on connect and a failing one fails the "
          "connect",
          "[driver][session]") {
  auto opts = test::server_options();
  opts.init_statements = {"SET time_zone = '+03:00'", "SET @troupe = 'yes'"};
  auto conn = test::connect(opts);
  auto res = conn->query("SELECT @@time_zone, @troupe");
  REQUIRE(res);
  CHECK(res->row(0).get<std::string>(0) == "+03:00"s);
  CHECK(res->row(0).get<std::string>(1) == "yes"s);
  opts.init_statements = {"SET no_such_variable = 1"};
  auto bad = mariadb::sync_connection::open(opts);
  REQUIRE_FALSE(bad);
  auto e = info(bad.error());
  CHECK(e.code == errc::connect_failed);
  CHECK(e.server_code == 1193);
  CHECK_THAT(e.message, Catch::Contains("init statement #1"));
}

TEST_CASE("many connections driven by one event loop return correct results "
          "concurrently",
          "[driver][loop]") {
  constexpr int connections = 16;
  constexpr int per_connection = 100;
  auto loop = make_epoll_loop("test-io");
  std::vector<std::shared_ptr<mariadb::async_connection>> conns;
  for (int i = 0; i < connections; ++i)
    conns.push_back(mariadb::async_connection::make(*loop, test::server_options()));
  std::atomic<int> correct{0};
  std::atomic<int> failed{0};
  std::atomic<int> done{0};
  auto all_done = std::make_shared<std::promise<void>>();
  auto f = all_done->get_future();
  loop->post([&, all_done] {
    for (int c = 0; c < connections; ++c) {
      auto conn = conns[c];
      conn->connect([&, c](caf::expected<result> r) {
        if (!r)
          failed += per_connection;
      });
      for (int q = 0; q < per_connection; ++q) {
        auto check = [&, c, q, all_done](caf::expected<result> r) {
          if (r && r->scalar<int64_t>() == int64_t{c} * 1000 + q)
            ++correct;
          else
            ++failed;
          if (++done == connections * per_connection)
            all_done->set_value();
        };
        // Mix both protocols.
        if (q % 2 == 0)
          conn->execute("SELECT ? * 1000 + ?", {c, q}, check);
        else
          conn->query(fmt::format("SELECT {} * 1000 + {}", c, q), check);
      }
    }
  });
  REQUIRE(f.wait_for(60s) == std::future_status::ready);
  CHECK(correct == connections * per_connection);
  CHECK(failed == 0);
  test::run_on(*loop, [&] { conns.clear(); });
  loop->stop();
}

TEST_CASE("a cached statement follows a change of the default database",
          "[driver][cache]") {
  test::scratch_database one{"dbone"};
  test::scratch_database two{"dbtwo"};
  one.run("CREATE TABLE t (v INT)");
  one.run("INSERT INTO t VALUES (1)");
  two.run("CREATE TABLE t (v INT)");
  two.run("INSERT INTO t VALUES (2)");
  auto conn = test::connect(one.options());
  auto first = conn->execute("SELECT v FROM t WHERE v > ?", {0});
  REQUIRE(first);
  CHECK(first->scalar<int>() == 1);
  REQUIRE(conn->query(fmt::format("USE `{}`", two.name())));
  auto second = conn->execute("SELECT v FROM t WHERE v > ?", {0});
  REQUIRE(second);
  CHECK(second->scalar<int>() == 2);
  REQUIRE(conn->execute("INSERT INTO t VALUES (?)", {20}));
  auto count = two.run("SELECT COUNT(*) FROM t");
  CHECK(count.scalar<int>() == 2);
}

TEST_CASE("a cached SELECT * after ALTER TABLE returns the new columns or "
          "fails fatally, never stale data",
          "[driver][cache]") {
  test::scratch_database db{"alter"};
  db.run("CREATE TABLE t (a INT)");
  db.run("INSERT INTO t VALUES (1)");
  auto conn = test::connect(db.options());
  auto before = conn->execute("SELECT * FROM t WHERE a > ?", {0});
  REQUIRE(before);
  REQUIRE(before->columns().size() == 1);
  db.run("ALTER TABLE t ADD COLUMN b VARCHAR(10) DEFAULT 'new'");
  auto after = conn->execute("SELECT * FROM t WHERE a > ?", {0});
  if (after) {
    REQUIRE(after->columns().size() == 2);
    CHECK(after->columns()[1].name == "b");
    CHECK(after->row(0)[1] == value{"new"s});
    auto again = conn->query("SELECT 42");
    REQUIRE(again);
    CHECK(again->scalar<int>() == 42);
  } else {
    // The connection could not follow the new metadata: it must say so and
    // be dropped rather than answer the next statement out of sync.
    CHECK(info(after.error()).fatal);
    CHECK(conn->raw().broken());
  }
}

TEST_CASE("a parameter larger than the server's max_allowed_packet is "
          "refused before it is sent, not a silent desync",
          "[driver][errors]") {
  // Before: sent, the server closed the connection (1153), reported as
  // connection_lost ("may have been applied") although nothing ran.
  embedded_server_options so;
  so.extra_args.push_back("--max-allowed-packet=1M");
  auto server = embedded_server::start(so);
  REQUIRE(server);
  auto opts = mariadb::connect_options::from_dsn((*server)->dsn());
  REQUIRE(opts);
  auto conn = test::connect(*opts);
  CHECK(conn->raw().info().max_allowed_packet == (1u << 20));
  auto res = conn->execute("SELECT LENGTH(?)", {bytes(2 << 20, 'x')});
  REQUIRE_FALSE(res);
  auto e = info(res.error());
  CHECK(e.code == errc::statement_too_large);
  CHECK_FALSE(e.fatal);
  CHECK_FALSE(conn->raw().broken());
  // In sync: the next statement gets its own answer.
  auto next = conn->execute("SELECT LENGTH(?)", {bytes(1000, 'x')});
  REQUIRE(next);
  CHECK(next->scalar<int>() == 1000);
}

TEST_CASE("destroying an async connection answers its queued requests",
          "[driver][loop]") {
  auto loop = make_epoll_loop("test-io");
  auto conn = mariadb::async_connection::make(*loop, test::server_options());
  REQUIRE(test::await_on(*loop, [conn](auto h) { conn->connect(h); }));
  auto answered = std::make_shared<std::atomic<int>>(0);
  auto shutting_down = std::make_shared<std::atomic<int>>(0);
  test::run_on(*loop, [&] {
    for (int i = 0; i < 3; ++i)
      conn->query("SELECT SLEEP(5)", [=](caf::expected<result> r) {
        ++*answered;
        if (!r && info(r.error()).code == errc::shutting_down)
          ++*shutting_down;
      });
    conn.reset(); // the last reference
  });
  CHECK(*answered == 3);
  CHECK(*shutting_down == 3);
  loop->stop();
}

TEST_CASE("a long result arrives complete through the event loop",
          "[driver][loop]") {
  test::scratch_database db{"long"};
  auto loop = make_epoll_loop("test-io");
  auto conn = mariadb::async_connection::make(*loop, db.options());
  REQUIRE(test::await_on(*loop, [conn](auto h) { conn->connect(h); }));
  for (bool prepared : {false, true}) {
    INFO((prepared ? "prepared" : "text"));
    auto res = test::await_on(*loop, [conn, prepared](auto h) {
      if (prepared)
        conn->execute("SELECT seq FROM seq_1_to_20000 WHERE seq > ?", {0}, h);
      else
        conn->query("SELECT seq FROM seq_1_to_20000", h);
    });
    if (!res)
      FAIL(render(res.error()));
    REQUIRE(res->row_count() == 20000);
    bool ordered = true;
    for (size_t i = 0; i < res->row_count(); ++i)
      ordered = ordered && res->row(i)[0] == value{uint64_t{i + 1}};
    CHECK(ordered);
  }
  test::run_on(*loop, [&] { conn.reset(); });
  loop->stop();
}
