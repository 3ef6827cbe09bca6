// Statements run with several parameter sets (connection::start_execute with
// `sets`): one bulk execution (MariaDB's array binding) when the values
// allow it, one execution after another otherwise.

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "scratch.hpp"
#include "troupe/error.hpp"

using namespace troupe;
using namespace std::string_literals;

namespace {

using test::session_status;

// Executions the server counted on this connection (single and bulk).
uint64_t executions(mariadb::sync_connection& conn) {
  return session_status(conn, "Com_stmt_execute");
}

const char* insert_sql = "INSERT INTO t (k, c, d, x, u, b, w) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)";

void make_table(test::scratch_database& db) {
  db.run("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL "
         "UNIQUE, c VARCHAR(200) NULL, d DATETIME(6) NULL, x DOUBLE NULL, "
         "u BIGINT UNSIGNED NULL, b VARBINARY(16) NULL, w DECIMAL(20,4) NULL)");
}

// The values of set `i`: every kind, NULLs in some sets, signed and
// unsigned integers mixed in `u`.
std::vector<value> row_values(int i) {
  std::vector<value> out;
  out.emplace_back(int64_t{i});
  out.push_back(i % 7 == 0 ? value{null}
                           : value{fmt::format("row {} it's \"quoted\" 漢字", i)});
  out.push_back(i % 5 == 0 ? value{null}
                           : value{datetime{2024, 1,
                                            static_cast<uint8_t>(1 + i % 28),
                                            12, 0,
                                            static_cast<uint8_t>(i % 60),
                                            static_cast<uint32_t>(i)}});
  out.emplace_back(i * 0.5);
  if (i % 3 == 0)
    out.emplace_back(uint64_t{1} << 40 | static_cast<uint64_t>(i));
  else
    out.emplace_back(int64_t{i});
  out.push_back(i % 4 == 0 ? value{bytes{}}
                           : value{bytes{0x00, static_cast<uint8_t>(i & 0xff),
                                         0xff}});
  out.push_back(value{decimal{fmt::format("{}.{:04}", i, i % 10000)}});
  return out;
}

std::vector<value> rows_values(int n, int first = 1) {
  std::vector<value> out;
  for (int i = first; i < first + n; ++i)
    for (auto& v : row_values(i))
      out.push_back(std::move(v));
  return out;
}

value cell(const row_view& row, size_t i) {
  auto x = row.at(i);
  REQUIRE(x);
  return **x;
}

// Every row of t equals the values it was inserted with.
void check_rows(mariadb::sync_connection& conn, int n, int first = 1) {
  // A bound value: the binary protocol, so cells come back typed.
  auto res = conn.execute("SELECT k, c, d, x, u, b, w FROM t WHERE k >= ? "
                          "ORDER BY k",
                          {first});
  REQUIRE(res);
  REQUIRE(res->row_count() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto expected = row_values(first + i);
    auto row = res->row(static_cast<size_t>(i));
    CHECK(cell(row, 0) == expected[0]);
    CHECK(cell(row, 1) == expected[1]);
    CHECK(cell(row, 2) == expected[2]);
    CHECK(cell(row, 3) == expected[3]);
    // BIGINT UNSIGNED comes back unsigned whatever was sent.
    auto u = expected[4].get_if<int64_t>()
               ? value{static_cast<uint64_t>(*expected[4].get_if<int64_t>())}
               : expected[4];
    CHECK(cell(row, 4) == u);
    CHECK(cell(row, 5) == expected[5]);
    CHECK(cell(row, 6) == expected[6]);
  }
}

// A table of every kind of value, and a connection to its database.
struct bulk_fixture {
  test::scratch_database db{"bulk"};
  std::unique_ptr<mariadb::sync_connection> conn;

  bulk_fixture() {
    make_table(db);
    conn = test::connect(db.options());
  }
};

} // namespace

TEST_CASE_METHOD(bulk_fixture, "several parameter sets go as one bulk execution: every row "
          "stored as sent, affected rows summed, the first generated id",
          "[driver][bulk]") {
  REQUIRE(conn->raw().info().bulk_operations);
  auto before = executions(*conn);
  constexpr int n = 1000;
  auto res = conn->execute(insert_sql, rows_values(n), n);
  REQUIRE(res);
  CHECK(res->affected_rows() == n);
  auto first = db.run("SELECT MIN(id) FROM t").scalar<int64_t>();
  REQUIRE(first);
  CHECK(res->last_insert_id() == static_cast<uint64_t>(*first));
  // One execution on the server for the thousand sets.
  CHECK(executions(*conn) - before == 1);
  check_rows(*conn, n);
}

TEST_CASE_METHOD(bulk_fixture, "after a bulk execution the same cached statement runs single "
          "executions again",
          "[driver][bulk]") {
  REQUIRE(conn->execute(insert_sql, rows_values(10), 10));
  auto one = conn->execute(insert_sql, row_values(11));
  REQUIRE(one);
  CHECK(one->affected_rows() == 1);
  REQUIRE(conn->execute(insert_sql, rows_values(5, 12), 5));
  CHECK(conn->raw().stats().statements_prepared == 1);
  check_rows(*conn, 16);
}

TEST_CASE_METHOD(bulk_fixture, "sets whose values do not share one type per parameter run one "
          "after another, with the same outcome",
          "[driver][bulk]") {
  // `c` holds a string in one set and an integer in another.
  std::vector<value> params;
  for (int i = 1; i <= 4; ++i) {
    auto row = row_values(i);
    if (i == 2)
      row[1] = value{int64_t{42}};
    for (auto& v : row)
      params.push_back(std::move(v));
  }
  auto before = executions(*conn);
  auto res = conn->execute(insert_sql, params, 4);
  REQUIRE(res);
  CHECK(res->affected_rows() == 4);
  CHECK(executions(*conn) - before == 4);
  auto c = conn->query("SELECT c FROM t WHERE k = 2");
  REQUIRE(c);
  CHECK(c->scalar<std::string>() == "42"s);
}

TEST_CASE_METHOD(bulk_fixture, "a failing set in a transaction: the error names it and a "
          "rollback leaves nothing",
          "[driver][bulk][errors]") {
  auto params = rows_values(100);
  // Set 60 repeats set 10's unique k.
  params[59 * 7] = value{int64_t{10}};
  SECTION("bulk") {}
  SECTION("one after another") {
    // A string in `x` (DOUBLE) in set 1 only: no common type, so the sets
    // go one after another.
    params[3] = value{"0.5"s};
  }
  REQUIRE(conn->query("START TRANSACTION"));
  auto res = conn->execute(insert_sql, params, 100);
  REQUIRE_FALSE(res);
  auto x = info(res.error());
  CHECK(x.server_code == 1062);
  REQUIRE(conn->query("ROLLBACK"));
  CHECK(db.run("SELECT COUNT(*) FROM t").scalar<int64_t>() == 0);
}

TEST_CASE_METHOD(bulk_fixture, "one after another, the error of a failing set says which set "
          "failed and how many were applied",
          "[driver][bulk][errors]") {
  auto params = rows_values(5);
  params[3] = value{"0.5"s}; // no common type: one after another
  params[3 * 7] = value{int64_t{1}}; // set 4 repeats set 1's k
  auto res = conn->execute(insert_sql, params, 5);
  REQUIRE_FALSE(res);
  auto x = info(res.error());
  CHECK(x.server_code == 1062);
  CHECK_THAT(x.message, Catch::Contains("parameter set 4 of 5")
                          && Catch::Contains("3 set(s) before it were applied"));
  // Autocommit: the three before it are there.
  CHECK(db.run("SELECT COUNT(*) FROM t").scalar<int64_t>() == 3);
}

TEST_CASE_METHOD(bulk_fixture, "bad parameter sets are refused before anything is executed",
          "[driver][bulk][errors]") {
  auto before = executions(*conn);
  SECTION("values that do not divide into the sets") {
    auto params = rows_values(3);
    params.pop_back();
    auto res = conn->execute(insert_sql, params, 3);
    REQUIRE_FALSE(res);
    CHECK(info(res.error()).code == errc::invalid_argument);
  }
  SECTION("sets of the wrong width") {
    auto params = rows_values(4); // 28 values: 7 sets of 4, not of 7
    auto res = conn->execute(insert_sql, params, 7);
    REQUIRE_FALSE(res);
    CHECK(info(res.error()).code == errc::invalid_argument);
    CHECK_THAT(info(res.error()).message,
               Catch::Contains("each of the 7 sets has 4"));
  }
  SECTION("no parameters") {
    auto res = conn->execute("INSERT INTO t (k) VALUES (1)", {}, 2);
    REQUIRE_FALSE(res);
    CHECK(info(res.error()).code == errc::invalid_argument);
  }
  SECTION("a statement that returns rows") {
    auto res = conn->execute("SELECT ?", {1, 2}, 2);
    REQUIRE_FALSE(res);
    CHECK(info(res.error()).code == errc::invalid_argument);
    CHECK_THAT(info(res.error()).message, Catch::Contains("returns rows"));
  }
  SECTION("sets larger than the server accepts") {
    auto max = conn->raw().info().max_allowed_packet;
    REQUIRE(max > 0);
    std::vector<value> params;
    std::string big(static_cast<size_t>(max / 4), 'x');
    for (int i = 0; i < 5; ++i) {
      auto row = row_values(i + 1);
      row[1] = value{big};
      for (auto& v : row)
        params.push_back(std::move(v));
    }
    auto res = conn->execute(insert_sql, params, 5);
    REQUIRE_FALSE(res);
    CHECK(info(res.error()).code == errc::statement_too_large);
    CHECK(conn->raw().connected());
  }
  CHECK(executions(*conn) == before);
  CHECK(db.run("SELECT COUNT(*) FROM t").scalar<int64_t>() == 0);
}

TEST_CASE_METHOD(bulk_fixture, "a bulk execution runs under SET STATEMENT max_statement_time",
          "[driver][bulk]") {
  auto res = conn->execute(std::string{"SET STATEMENT max_statement_time=5 FOR "}
                             + insert_sql,
                           rows_values(50), 50);
  REQUIRE(res);
  CHECK(res->affected_rows() == 50);
  check_rows(*conn, 50);
}
TEST_CASE_METHOD(bulk_fixture, "in autocommit a failing bulk execution is one statement: none of "
          "its sets stays",
          "[driver][bulk][errors]") {
  auto params = rows_values(100);
  params[59 * 7] = value{int64_t{10}}; // set 60 repeats set 10's k
  auto res = conn->execute(insert_sql, params, 100);
  REQUIRE_FALSE(res);
  CHECK(info(res.error()).server_code == 1062);
  CHECK(db.run("SELECT COUNT(*) FROM t").scalar<int64_t>() == 0);
}
