// Pipelined executions: prepared SELECTs the driver writes without waiting
// for the answers before them, and decodes itself. Every test compares with
// what libmariadb returns or checks an unhappy path: errors, kills, timeouts.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "loop_helpers.hpp"
#include "scratch.hpp"
#include "troupe/error.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

using conn_ptr = std::shared_ptr<mariadb::async_connection>;
using answers = std::vector<caf::expected<result>>;

struct call {
  std::string sql;
  std::vector<value> params;
  bool text = false; // run with query() instead of execute()
};

/// Gives all `calls` to `conn` in one loop task (so they queue or pipeline
/// together) and waits for every answer. Answers are stored in the order the
/// handlers ran; `order` records that order as call indexes.
answers run_batch(event_loop& loop, const conn_ptr& conn,
                  const std::vector<call>& calls,
                  std::vector<size_t>* order = nullptr,
                  std::chrono::seconds timeout = 60s) {
  struct state {
    answers out;
    std::vector<size_t> order;
    size_t left;
    std::promise<void> done;
  };
  auto st = std::make_shared<state>();
  st->out.resize(calls.size(), caf::expected<result>{caf::error{}});
  st->left = calls.size();
  auto f = st->done.get_future();
  loop.post([st, conn, calls] {
    for (size_t i = 0; i < calls.size(); ++i) {
      auto h = [st, i](caf::expected<result> r) {
        st->out[i] = std::move(r);
        st->order.push_back(i);
        if (--st->left == 0)
          st->done.set_value();
      };
      if (calls[i].text)
        conn->query(calls[i].sql, h);
      else
        conn->execute(calls[i].sql, calls[i].params, h);
    }
  });
  if (f.wait_for(timeout) != std::future_status::ready)
    throw std::runtime_error("the batch did not complete in time");
  if (order)
    *order = st->order;
  return std::move(st->out);
}

conn_ptr open(event_loop& loop, mariadb::connect_options opts) {
  auto conn = mariadb::async_connection::make(loop, std::move(opts));
  auto r = test::await_on(loop, [conn](auto h) { conn->connect(h); });
  if (!r)
    FAIL(render(r.error()));
  return conn;
}

uint64_t pipelined(event_loop& loop, const conn_ptr& conn) {
  uint64_t n = 0;
  test::run_on(loop, [&] { n = conn->raw().stats().executions_pipelined; });
  return n;
}

void close_on_loop(event_loop& loop, conn_ptr& conn) {
  test::run_on(loop, [&] { conn.reset(); });
}

} // namespace

TEST_CASE("pipelined executions return exactly what libmariadb returns",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_same"};
  db.run("CREATE TABLE v (id INT PRIMARY KEY, "
         "ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, "
         "mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, "
         "bi BIGINT, bu BIGINT UNSIGNED, y YEAR, f FLOAT, d DOUBLE, "
         "dc DECIMAL(65,30), dt DATE, tm TIME(6), dtm DATETIME(6), "
         "ts TIMESTAMP(6) NULL, c CHAR(5), vc VARCHAR(100), tx TEXT, "
         "bn BINARY(3), vb VARBINARY(10), bl LONGBLOB, js JSON, "
         "e ENUM('alpha','beta'), st SET('x','y','z'), bt BIT(16))");
  db.run("INSERT INTO v VALUES "
         "(1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, "
         "4294967295, -9223372036854775808, 18446744073709551615, 2155, "
         "1.1, -1.7976931348623157e308, "
         "'-12345678901234567890123456789012345.123456789012345678901234567890', "
         "'2024-02-29', '-838:59:59.000000', '9999-12-31 23:59:59.999999', "
         "'2021-06-01 12:00:00.5', 'ab', 'emoji \xF0\x9F\x98\x80 漢字', "
         "REPEAT('long text ', 200), 'a\\0b', X'000102', "
         "REPEAT(X'00FF', 5000), '{\"a\": [1, 2]}', 'beta', 'x,z', b'1000000000000001'),"
         "(2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, "
         "9223372036854775807, 0, 1901, 3.5, 0.0, '0.000000000000000000000000000001', "
         "'1000-01-01', '100:30:15.123456', '1000-01-01 00:00:00', NULL, '', "
         "'', '', X'', X'', X'', '[]', 'alpha', '', b'0'),"
         "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
         "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
         "NULL, NULL, NULL, NULL, NULL, NULL)");
  auto loop = make_epoll_loop("test-io");
  auto piped = open(*loop, db.options());
  auto off_opts = db.options();
  off_opts.pipelining = false;
  auto plain = open(*loop, off_opts);
  const std::string sql = "SELECT * FROM v WHERE id = ?";
  // The first execution prepares the statement through libmariadb.
  REQUIRE(run_batch(*loop, piped, {{sql, {1}}})[0]);
  REQUIRE(pipelined(*loop, piped) == 0);
  std::vector<call> burst;
  for (int round = 0; round < 4; ++round)
    for (int id : {3, 1, 2})
      burst.push_back({sql, {id}});
  std::vector<size_t> order;
  auto got = run_batch(*loop, piped, burst, &order);
  auto want = run_batch(*loop, plain, burst);
  CHECK(pipelined(*loop, piped) == burst.size());
  CHECK(pipelined(*loop, plain) == 0);
  for (size_t i = 0; i < burst.size(); ++i) {
    INFO("call " << i);
    if (!got[i])
      FAIL(render(got[i].error()));
    REQUIRE(want[i]);
    REQUIRE(got[i]->row_count() == 1);
    CHECK(got[i]->row(0)[0] == burst[i].params[0]);
    const auto& a = got[i]->sets()[0];
    const auto& b = want[i]->sets()[0];
    REQUIRE(a.columns().size() == b.columns().size());
    for (size_t c = 0; c < a.columns().size(); ++c) {
      INFO("column " << b.columns()[c].name << ": pipelined "
                     << to_string(a.cells()[c]).substr(0, 60) << ", libmariadb "
                     << to_string(b.cells()[c]).substr(0, 60));
      CHECK(a.columns()[c] == b.columns()[c]);
      CHECK(a.cells()[c] == b.cells()[c]);
    }
    CHECK(a.warnings == b.warnings);
  }
  // Answers reach their requests in the order sent.
  std::vector<size_t> sent(burst.size());
  for (size_t i = 0; i < sent.size(); ++i)
    sent[i] = i;
  CHECK(order == sent);
  close_on_loop(*loop, piped);
  close_on_loop(*loop, plain);
  loop->stop();
}

TEST_CASE("a long pipelined result arrives complete", "[driver][pipeline]") {
  test::scratch_database db{"pipe_long"};
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string sql = "SELECT seq, REPEAT('x', 100) FROM seq_1_to_20000 "
                          "WHERE seq > ?";
  REQUIRE(run_batch(*loop, conn, {{sql, {19999}}})[0]);
  auto res = run_batch(*loop, conn, {{sql, {0}}, {sql, {10000}}});
  CHECK(pipelined(*loop, conn) == 2);
  REQUIRE(res[0]);
  REQUIRE(res[1]);
  REQUIRE(res[0]->row_count() == 20000);
  REQUIRE(res[1]->row_count() == 10000);
  bool ordered = true;
  for (size_t i = 0; i < res[0]->row_count(); ++i)
    ordered = ordered && res[0]->row(i)[0] == value{uint64_t{i + 1}};
  CHECK(ordered);
  CHECK(res[1]->row(0)[0] == value{uint64_t{10001}});
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("a failing execution in a pipeline fails alone",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_err"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY)");
  db.run("INSERT INTO t VALUES (1), (2), (3)");
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  // More than one row from the subquery is an error (1242) at run time.
  const std::string sql = "SELECT (SELECT id FROM t WHERE id > ?)";
  REQUIRE(run_batch(*loop, conn, {{sql, {2}}})[0]);
  auto res = run_batch(*loop, conn,
                       {{sql, {2}}, {sql, {0}}, {sql, {1}}, {sql, {2}}});
  CHECK(pipelined(*loop, conn) == 4);
  REQUIRE(res[0]);
  CHECK(res[0]->scalar<int>() == 3);
  REQUIRE_FALSE(res[1]);
  CHECK(info(res[1].error()).code == errc::server_error);
  CHECK(info(res[1].error()).server_code == 1242);
  CHECK_FALSE(is_fatal(res[1].error()));
  REQUIRE_FALSE(res[2]);
  CHECK(info(res[2].error()).server_code == 1242);
  REQUIRE(res[3]);
  CHECK(res[3]->scalar<int>() == 3);
  // The connection is in sync: libmariadb runs the next statements. A
  // wrong parameter count is refused before anything is sent.
  auto after = run_batch(*loop, conn,
                         {{"SELECT 41 + 1", {}, true},
                          {sql, {2}},
                          {sql, {2, 3}},
                          {sql, {2}}});
  REQUIRE(after[0]);
  CHECK(after[0]->scalar<int>() == 42);
  REQUIRE(after[1]);
  CHECK(after[1]->scalar<int>() == 3);
  REQUIRE_FALSE(after[2]);
  CHECK(info(after[2].error()).code == errc::invalid_argument);
  REQUIRE(after[3]);
  CHECK(after[3]->scalar<int>() == 3);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("writes, session changes and a disabled pipeline go through "
          "libmariadb one at a time",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_not"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)");
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  std::vector<call> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back({"INSERT INTO t (v) VALUES (?)", {i}});
    calls.push_back({"SELECT @last := ?", {i}});
    calls.push_back({"SELECT GET_LOCK(?, 0)", {"pipe_not_lock"s}});
    calls.push_back({"/*!100000 SELECT ? */", {i}});
  }
  auto res = run_batch(*loop, conn, calls);
  for (auto& r : res)
    CHECK(r);
  CHECK(pipelined(*loop, conn) == 0);
  auto off = db.options();
  off.pipelining = false;
  auto plain = open(*loop, off);
  const std::string sql = "SELECT v FROM t WHERE v = ?";
  auto sel = run_batch(*loop, plain, {{sql, {0}}, {sql, {1}}, {sql, {2}}});
  for (auto& r : sel)
    CHECK(r);
  CHECK(pipelined(*loop, plain) == 0);
  close_on_loop(*loop, conn);
  close_on_loop(*loop, plain);
  loop->stop();
}

TEST_CASE("a statement queued behind pipelined executions runs after them, "
          "in order",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_mixed"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)");
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string count = "SELECT COUNT(*) FROM t WHERE v >= ?";
  REQUIRE(run_batch(*loop, conn, {{count, {0}}})[0]);
  std::vector<size_t> order;
  auto res = run_batch(*loop, conn,
                       {{count, {0}},
                        {count, {0}},
                        {"INSERT INTO t (v) VALUES (?)", {5}},
                        {count, {0}},
                        {"INSERT INTO t (v) VALUES (6), (7)", {}, true},
                        {count, {0}}},
                       &order);
  CHECK(order == std::vector<size_t>{0, 1, 2, 3, 4, 5});
  for (auto& r : res)
    REQUIRE(r);
  CHECK(res[0]->scalar<int>() == 0);
  CHECK(res[1]->scalar<int>() == 0);
  CHECK(res[3]->scalar<int>() == 1);
  CHECK(res[5]->scalar<int>() == 3);
  // All four counts went onto the wire, those behind a write once that
  // write had its answer.
  CHECK(pipelined(*loop, conn) == 4);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("a pipelined statement whose table changed decodes the new "
          "metadata, and libmariadb prepares it afresh",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_alter"};
  db.run("CREATE TABLE m (id INT PRIMARY KEY, v INT)");
  db.run("INSERT INTO m VALUES (1, 10)");
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string sql = "SELECT * FROM m WHERE id = ?";
  REQUIRE(run_batch(*loop, conn, {{sql, {1}}})[0]);
  auto before = run_batch(*loop, conn, {{sql, {1}}})[0];
  REQUIRE(before);
  CHECK(before->row(0)[1] == value{int64_t{10}});
  REQUIRE(pipelined(*loop, conn) == 1);
  db.run("ALTER TABLE m MODIFY v VARCHAR(20), ADD COLUMN w DATE");
  db.run("UPDATE m SET v = 'ten', w = '2024-01-02'");
  auto after = run_batch(*loop, conn, {{sql, {1}}})[0];
  if (!after)
    FAIL(render(after.error()));
  CHECK(pipelined(*loop, conn) == 2);
  REQUIRE(after->columns().size() == 3);
  CHECK(after->columns()[1].type == column_type::varchar);
  CHECK(after->columns()[2].type == column_type::date);
  CHECK(after->row(0)[1] == value{"ten"s});
  CHECK(after->row(0)[2] == value{date{2024, 1, 2}});
  uint64_t prepared_before = 0;
  test::run_on(*loop, [&] {
    prepared_before = conn->raw().stats().statements_prepared;
  });
  // libmariadb never saw the new metadata: the statement is prepared again
  // before it runs there, and then pipelines as before.
  auto again = run_batch(*loop, conn, {{sql, {1}}, {sql, {1}}});
  for (auto& r : again) {
    if (!r)
      FAIL(render(r.error()));
    REQUIRE(r->columns().size() == 3);
    CHECK(r->row(0)[1] == value{"ten"s});
    CHECK(r->row(0)[2] == value{date{2024, 1, 2}});
  }
  uint64_t prepared_after = 0;
  test::run_on(*loop, [&] {
    prepared_after = conn->raw().stats().statements_prepared;
  });
  CHECK(prepared_after == prepared_before + 1);
  CHECK(pipelined(*loop, conn) == 3);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("killing a connection with pipelined executions fails each of them "
          "with connection_lost",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_kill"};
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string sql = "SELECT SLEEP(?)";
  REQUIRE(run_batch(*loop, conn, {{sql, {0}}})[0]);
  uint64_t thread = 0;
  test::run_on(*loop, [&] { thread = conn->raw().info().thread_id; });
  auto admin = test::connect();
  std::thread killer{[&] {
    // Kill once the first sleep runs on the server (the outcome is the same
    // if it never shows: the kill then comes while the requests are sent).
    test::running_thread(*admin, "SELECT SLEEP(%", db.name());
    admin->query(fmt::format("KILL CONNECTION {}", thread));
  }};
  auto res = run_batch(*loop, conn, {{sql, {20}}, {sql, {20}}, {sql, {20}}});
  killer.join();
  CHECK(pipelined(*loop, conn) == 3);
  for (auto& r : res) {
    REQUIRE_FALSE(r);
    INFO(render(r.error()));
    CHECK(info(r.error()).code == errc::connection_lost);
    CHECK(is_fatal(r.error()));
  }
  bool usable = true;
  test::run_on(*loop, [&] { usable = conn->usable(); });
  CHECK_FALSE(usable);
  // A request after the break is refused, not sent.
  auto late = run_batch(*loop, conn, {{sql, {0}}})[0];
  REQUIRE_FALSE(late);
  CHECK(info(late.error()).code == errc::connection_lost);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("read_timeout ends a pipelined execution that gets no answer",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_timeout"};
  auto opts = db.options();
  opts.read_timeout = 300ms;
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, opts);
  const std::string sql = "SELECT SLEEP(?)";
  REQUIRE(run_batch(*loop, conn, {{sql, {0}}})[0]);
  auto res = run_batch(*loop, conn, {{sql, {0}}, {sql, {5}}, {sql, {0}}});
  CHECK(pipelined(*loop, conn) == 3);
  REQUIRE(res[0]);
  REQUIRE_FALSE(res[1]);
  CHECK(info(res[1].error()).code == errc::outcome_unknown);
  CHECK_THAT(info(res[1].error()).message, Catch::Contains("read_timeout"));
  REQUIRE_FALSE(res[2]);
  CHECK(is_fatal(res[2].error()));
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("max_result_bytes bounds a pipelined result and the connection "
          "stays usable",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_big"};
  auto opts = db.options();
  opts.max_result_bytes = 64 * 1024;
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, opts);
  const std::string sql = "SELECT seq, REPEAT('y', 200) FROM seq_1_to_20000 "
                          "WHERE seq > ?";
  REQUIRE(run_batch(*loop, conn, {{sql, {19990}}})[0]);
  auto res = run_batch(*loop, conn, {{sql, {0}}, {sql, {19995}}});
  CHECK(pipelined(*loop, conn) == 2);
  REQUIRE_FALSE(res[0]);
  CHECK(info(res[0].error()).code == errc::result_too_large);
  CHECK_FALSE(is_fatal(res[0].error()));
  REQUIRE(res[1]);
  CHECK(res[1]->row_count() == 5);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("column metadata counts against max_result_bytes when pipelined",
          "[driver][pipeline][memory]") {
  test::scratch_database db{"pipe_meta"};
  auto opts = db.options();
  opts.max_result_bytes = 4 * 1024;
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, opts);
  // 100 columns with long names and no rows: only metadata.
  std::string sql = "SELECT ";
  for (int i = 0; i < 100; ++i)
    sql += fmt::format("{}{} AS column_with_a_rather_long_name_number_{:03}",
                       i == 0 ? "" : ", ", i, i);
  sql += " FROM DUAL WHERE ? = 0";
  // The first execution prepares it (through libmariadb), the next two are
  // pipelined; every one is over the budget.
  auto first = run_batch(*loop, conn, {{sql, {1}}});
  REQUIRE_FALSE(first[0]);
  CHECK(info(first[0].error()).code == errc::result_too_large);
  auto res = run_batch(*loop, conn, {{sql, {1}}, {sql, {2}}});
  CHECK(pipelined(*loop, conn) == 2);
  for (auto& r : res) {
    REQUIRE_FALSE(r);
    CHECK(info(r.error()).code == errc::result_too_large);
    CHECK_FALSE(is_fatal(r.error()));
  }
  auto ok = run_batch(*loop, conn, {{"SELECT ?", {5}}});
  REQUIRE(ok[0]);
  CHECK(ok[0]->scalar<int>() == 5);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("temporal parameters: a negative zero TIME is sent the same way "
          "on every execution, and invalid ones are refused on every path",
          "[driver][pipeline][values]") {
  test::scratch_database db{"pipe_time"};
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string sql = "SELECT CAST(? AS CHAR)";
  const value neg_zero = time_value{true, 0, 0, 0, 0};
  // The first execution goes through libmariadb, the next ones are
  // pipelined: before, they sent -00:00:00 where the first sent 00:00:00.
  auto first = run_batch(*loop, conn, {{sql, {neg_zero}}});
  REQUIRE(first[0]);
  CHECK(first[0]->scalar<std::string>() == "00:00:00"s);
  auto res = run_batch(*loop, conn, {{sql, {neg_zero}}, {sql, {neg_zero}}});
  CHECK(pipelined(*loop, conn) == 2);
  for (auto& r : res) {
    REQUIRE(r);
    CHECK(r->scalar<std::string>() == "00:00:00"s);
  }
  // An invalid one is refused before it is sent, whichever path it would
  // take, and the connection goes on.
  const value bad = time_value{false, 1, 60, 0, 0};
  auto refused = run_batch(*loop, conn, {{sql, {bad}}, {sql, {bad}}});
  for (auto& r : refused) {
    REQUIRE_FALSE(r);
    CHECK(info(r.error()).code == errc::invalid_argument);
    CHECK_THAT(info(r.error()).message, Catch::Contains("minutes"));
  }
  REQUIRE(run_batch(*loop, conn, {{sql, {neg_zero}}})[0]);
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("destroying a connection answers its pipelined executions",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_destroy"};
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string sql = "SELECT SLEEP(?)";
  REQUIRE(run_batch(*loop, conn, {{sql, {0}}})[0]);
  auto answered = std::make_shared<std::atomic<int>>(0);
  auto shutting_down = std::make_shared<std::atomic<int>>(0);
  uint64_t sent = 0;
  test::run_on(*loop, [&] {
    for (int i = 0; i < 3; ++i)
      conn->execute(sql, {5}, [=](caf::expected<result> r) {
        ++*answered;
        if (!r && info(r.error()).code == errc::shutting_down)
          ++*shutting_down;
      });
    sent = conn->raw().stats().executions_pipelined;
    conn.reset(); // the last reference
  });
  CHECK(sent == 3);
  CHECK(*answered == 3);
  CHECK(*shutting_down == 3);
  loop->stop();
}

TEST_CASE("executions on the wire when their table changes all decode with "
          "the new metadata",
          "[driver][pipeline]") {
  test::scratch_database db{"pipe_alter2"};
  db.run("CREATE TABLE m (id INT PRIMARY KEY, v INT)");
  db.run("INSERT INTO m VALUES (1, 10)");
  db.run("CREATE TABLE lk (id INT PRIMARY KEY) ENGINE=InnoDB");
  db.run("INSERT INTO lk VALUES (1)");
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string slow = "SELECT id FROM lk WHERE id = ? FOR UPDATE";
  const std::string sql = "SELECT * FROM m WHERE id = ?";
  REQUIRE(run_batch(*loop, conn, {{slow, {1}}, {sql, {1}}})[1]);
  // Three executions go onto the wire; the first waits for a row lock held
  // here until the table has changed. The second gets the new metadata,
  // the third is told it is unchanged (since the second) and must be
  // decoded the same way.
  auto holder = test::connect(db.options());
  REQUIRE(holder->query("BEGIN"));
  REQUIRE(holder->query("SELECT id FROM lk WHERE id = 1 FOR UPDATE"));
  auto done = std::make_shared<std::promise<answers>>();
  auto f = done->get_future();
  test::run_on(*loop, [&] {
    auto out = std::make_shared<answers>();
    auto collect = [out, done](caf::expected<result> r) {
      out->push_back(std::move(r));
      if (out->size() == 3)
        done->set_value(std::move(*out));
    };
    conn->execute(slow, {1}, collect);
    conn->execute(sql, {1}, collect);
    conn->execute(sql, {1}, collect);
  });
  db.run("ALTER TABLE m MODIFY v VARCHAR(20), ADD COLUMN w DATE");
  db.run("UPDATE m SET v = 'ten', w = '2024-01-02'");
  REQUIRE(holder->query("COMMIT"));
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  auto res = f.get();
  CHECK(pipelined(*loop, conn) == 3);
  REQUIRE(res[0]);
  for (size_t i = 1; i < 3; ++i) {
    INFO("execution " << i);
    if (!res[i])
      FAIL(render(res[i].error()));
    REQUIRE(res[i]->columns().size() == 3);
    CHECK(res[i]->columns()[1].type == column_type::varchar);
    CHECK(res[i]->row(0)[1] == value{"ten"s});
    CHECK(res[i]->row(0)[2] == value{date{2024, 1, 2}});
  }
  close_on_loop(*loop, conn);
  loop->stop();
}

TEST_CASE("INET4, INET6 and UUID columns are named as such on every path",
          "[driver][pipeline][values]") {
  test::scratch_database db{"pipe_inet"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY, a INET4, b INET6, c UUID)");
  db.run("INSERT INTO t VALUES (1, '10.0.0.1', '::1', "
         "'123e4567-e89b-12d3-a456-426655440000')");
  auto check = [](const caf::expected<result>& r, const char* path) {
    INFO(path);
    REQUIRE(r);
    REQUIRE(r->columns().size() == 3);
    CHECK(r->columns()[0].type == column_type::inet4);
    CHECK(r->columns()[1].type == column_type::inet6);
    CHECK(r->columns()[2].type == column_type::uuid);
    CHECK(r->row(0).get<std::string>(0) == "10.0.0.1"s);
    CHECK(r->row(0).get<std::string>(1) == "::1"s);
    CHECK(r->row(0).get<std::string>(2)
          == "123e4567-e89b-12d3-a456-426655440000"s);
  };
  auto loop = make_epoll_loop("test-io");
  auto conn = open(*loop, db.options());
  const std::string sql = "SELECT a, b, c FROM t WHERE id = ?";
  check(run_batch(*loop, conn, {{"SELECT a, b, c FROM t WHERE id = 1", {},
                                 true}})[0],
        "text");
  check(run_batch(*loop, conn, {{sql, {1}}})[0], "prepared");
  auto piped = run_batch(*loop, conn, {{sql, {1}}, {sql, {1}}});
  CHECK(pipelined(*loop, conn) >= 1);
  for (auto& r : piped)
    check(r, "pipelined");
  CHECK(to_string(column_type::inet6) == "inet6");
  close_on_loop(*loop, conn);
  loop->stop();
}
