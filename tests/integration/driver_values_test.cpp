// Values round-trip through the real server with both protocols.

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

struct sample {
  const char* column;
  const char* sql_type;
  value v;
};

// One row of values covering every kind, and the hard cases of each.
std::vector<sample> samples_row(bool second) {
  bytes blob;
  if (!second) {
    blob.resize(size_t{16} << 20);
    for (size_t i = 0; i < blob.size(); ++i)
      blob[i] = static_cast<uint8_t>((i * 31 + 7) & 0xff);
  } else {
    blob = bytes{0x00, 0xff, 0x00};
  }
  auto dec = second ? decimal{"-0.000000000000000000000000000001"}
                    : decimal{"12345678901234567890123456789012345."
                              "123456789012345678901234567890"};
  return {
    {"n_null", "INT NULL", null},
    {"s_empty", "VARCHAR(10) NOT NULL", second ? "x"s : ""s},
    {"i64", "BIGINT", second ? std::numeric_limits<int64_t>::max()
                             : std::numeric_limits<int64_t>::min()},
    {"u64", "BIGINT UNSIGNED", second ? uint64_t{0}
                                      : std::numeric_limits<uint64_t>::max()},
    {"dbl", "DOUBLE", second ? 1.7976931348623157e308 : -0.0},
    {"dcm", "DECIMAL(65,30)", dec},
    {"utf", "VARCHAR(100) CHARACTER SET utf8mb4",
     second ? "漢字かな한글"s : "emoji \xF0\x9F\x98\x80 and CJK 漢字"s},
    {"tricky", "VARCHAR(100)",
     second ? "\\"s : "it's \"quoted\" \\ back\0slash and NUL"s},
    {"blb", "LONGBLOB", blob},
    {"d", "DATE", second ? date{1000, 1, 1} : date{2024, 2, 29}},
    {"t", "TIME(6)", second ? time_value{true, 838, 59, 59, 0}
                            : time_value{false, 100, 30, 15, 123456}},
    {"dt", "DATETIME(6)", second ? datetime{9999, 12, 31, 23, 59, 59, 999999}
                                 : datetime{2024, 12, 31, 23, 59, 59, 1}},
    {"ts", "TIMESTAMP(6) NULL", second ? value{null}
                                       : value{datetime{2021, 6, 1, 12, 0, 0,
                                                        500000}}},
    {"bin", "VARBINARY(10)", second ? bytes{} : bytes{0x00, 0x01, 0x02}},
    {"js", "JSON", second ? "[]"s : "{\"a\": [1, 2, \"\xE2\x82\xAC\"]}"s},
    {"e", "ENUM('alpha','beta')", second ? "beta"s : "alpha"s},
    {"st", "SET('x','y','z')", second ? ""s : "x,z"s},
    // Exactly representable as a float: the text protocol sends 6 digits,
    // the binary one the float itself (see the FLOAT test below).
    {"flt", "FLOAT", second ? 3.5 : 1.125},
    {"bits", "BIT(16)", second ? bytes{0x00, 0x00} : bytes{0x80, 0x01}},
  };
}

void check_row(const row_view& row, const std::vector<sample>& expected,
               const char* protocol) {
  REQUIRE(row.size() == expected.size() + 1); // + id
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(protocol << " column " << expected[i].column << " expected "
                  << to_string(expected[i].v).substr(0, 80) << " got "
                  << to_string(row[i + 1]).substr(0, 80));
    // -0.0 == 0.0: MariaDB stores negative zero as zero (even `SELECT
    // -0e0` returns 0); the decoders keep the sign (see codec_test).
    CHECK(row[i + 1] == expected[i].v);
  }
}

} // namespace

TEST_CASE("every value kind round-trips through table columns with both "
          "protocols",
          "[driver][values]") {
  test::scratch_database db{"values"};
  auto rows = std::vector<std::vector<sample>>{samples_row(false),
                                               samples_row(true)};
  std::string ddl = "CREATE TABLE v (id INT PRIMARY KEY AUTO_INCREMENT";
  std::string cols, marks;
  for (const auto& s : rows[0]) {
    ddl += ", "s + s.column + " " + s.sql_type;
    cols += (cols.empty() ? ""s : ", "s) + s.column;
    marks += marks.empty() ? "?" : ", ?";
  }
  ddl += ")";
  db.run(ddl);
  auto conn = test::connect(db.options());
  for (const auto& row : rows) {
    std::vector<value> params;
    for (const auto& s : row)
      params.push_back(s.v);
    auto ins = conn->execute("INSERT INTO v (" + cols + ") VALUES (" + marks + ")",
                             params);
    REQUIRE(ins);
    CHECK(ins->affected_rows() == 1);
    CHECK(ins->last_insert_id() > 0);
  }
  SECTION("text protocol") {
    auto res = conn->query("SELECT id, " + cols + " FROM v ORDER BY id");
    REQUIRE(res);
    REQUIRE(res->row_count() == 2);
    check_row(res->row(0), rows[0], "text");
    check_row(res->row(1), rows[1], "text");
  }
  SECTION("binary protocol") {
    auto res = conn->execute("SELECT id, " + cols + " FROM v WHERE id > ? "
                             "ORDER BY id",
                             {0});
    REQUIRE(res);
    REQUIRE(res->row_count() == 2);
    check_row(res->row(0), rows[0], "binary");
    check_row(res->row(1), rows[1], "binary");
  }
  SECTION("column metadata describes the declared types") {
    auto res = conn->query("SELECT id, u64, dcm, utf, blb, js, e, st, bits, "
                           "bin, n_null FROM v LIMIT 0");
    REQUIRE(res);
    const auto& c = res->columns();
    REQUIRE(c.size() == 11);
    CHECK(c[0].type == column_type::int_);
    CHECK(c[0].is_primary_key());
    CHECK(c[0].is_auto_increment());
    CHECK_FALSE(c[0].nullable());
    CHECK(c[1].type == column_type::bigint);
    CHECK(c[1].is_unsigned());
    CHECK(c[2].type == column_type::decimal);
    CHECK(c[2].decimals == 30);
    CHECK(c[3].type == column_type::varchar);
    CHECK(c[4].type == column_type::blob);
    CHECK(c[5].type == column_type::json);
    CHECK(c[6].type == column_type::enum_);
    CHECK(c[7].type == column_type::set);
    CHECK(c[8].type == column_type::bit);
    CHECK(c[9].type == column_type::varbinary);
    CHECK(c[10].nullable());
    CHECK(c[3].org_table == "v");
    CHECK(c[3].database == db.name());
  }
}

TEST_CASE("values bound as parameters come back unchanged from SELECT ?",
          "[driver][values]") {
  auto conn = test::connect();
  std::vector<value> values{
    null,
    ""s,
    std::numeric_limits<int64_t>::min(),
    std::numeric_limits<int64_t>::max(),
    std::numeric_limits<uint64_t>::max(),
    -0.0,
    1e-300,
    "emoji \xF0\x9F\x98\x80 漢字"s,
    "quote ' dq \" bs \\ nul \0 end"s,
    bytes{0x00, 0x27, 0x5c, 0xff},
    date{2024, 2, 29},
    datetime{2024, 12, 31, 23, 59, 59, 999999},
  };
  for (const auto& v : values) {
    INFO("parameter " << to_string(v));
    auto res = conn->execute("SELECT ?", {v});
    REQUIRE(res);
    REQUIRE(res->row_count() == 1);
    const auto& got = res->row(0)[0];
    if (auto s = v.get_if<std::string>()) {
      // The server may describe a string parameter as binary or text.
      if (auto b = got.get_if<bytes>())
        CHECK(std::string(b->begin(), b->end()) == *s);
      else
        CHECK(got == v);
    } else {
      CHECK(got == v);
    }
  }
}

TEST_CASE("a decimal parameter keeps all 65 digits", "[driver][values]") {
  auto conn = test::connect();
  auto text = "-12345678901234567890123456789012345.123456789012345678901234567891"s;
  auto res = conn->execute("SELECT CAST(? AS DECIMAL(65,30))", {decimal{text}});
  REQUIRE(res);
  // 65 digits with 30 after the point: the last digit rounds away.
  CHECK(res->row(0)[0]
        == value{decimal{"-12345678901234567890123456789012345."
                         "123456789012345678901234567891"}});
}

TEST_CASE("NULL and the empty string stay different", "[driver][values]") {
  auto conn = test::connect();
  auto res = conn->query("SELECT NULL, '', CAST(NULL AS CHAR), ''");
  REQUIRE(res);
  CHECK(res->row(0)[0].is_null());
  CHECK(res->row(0)[1] == value{""s});
  auto prep = conn->execute("SELECT ?, ?", {null, ""s});
  REQUIRE(prep);
  CHECK(prep->row(0)[0].is_null());
  CHECK_FALSE(prep->row(0)[1].is_null());
}

TEST_CASE("scalar and typed getters read results naturally",
          "[driver][values]") {
  auto conn = test::connect();
  auto res = conn->query("SELECT 42 AS answer, 'x' AS letter");
  REQUIRE(res);
  CHECK(res->scalar<int>() == 42);
  CHECK(res->row(0).get<std::string>("LETTER") == "x"s);
  auto wrong = res->row(0).get<int64_t>("letter");
  REQUIRE_FALSE(wrong);
  CHECK(info(wrong.error()).code == errc::type_mismatch);
  CHECK_THAT(info(wrong.error()).message, Catch::Contains("letter"));
  auto missing = res->row(0).get<int>("nope");
  REQUIRE_FALSE(missing);
  CHECK(info(missing.error()).code == errc::not_found);
}

TEST_CASE("statements returning several result sets return all of them",
          "[driver][values]") {
  test::scratch_database db{"multi"};
  db.run("CREATE PROCEDURE two_sets(IN n INT) BEGIN SELECT n AS a; "
         "SELECT n + 1 AS b, 'x' AS c; END");
  // Both sets have the same shape: the second must not repeat the first.
  db.run("CREATE PROCEDURE same_shape(IN n INT) BEGIN SELECT n AS v; "
         "SELECT n + 100 AS v; END");
  auto conn = test::connect(db.options());
  // Twice each, so the prepared path also runs from the statement cache.
  for (int round = 0; round < 2; ++round) {
    for (bool prepared : {false, true}) {
      INFO((prepared ? "prepared" : "text") << " round " << round);
      auto res = prepared ? conn->execute("CALL two_sets(?)", {7 + round})
                          : conn->query(fmt::format("CALL two_sets({})",
                                                    7 + round));
      REQUIRE(res);
      REQUIRE(res->sets().size() >= 2);
      CHECK(res->sets()[0].scalar<int>() == 7 + round);
      CHECK(res->sets()[1].row(0).get<int>("b") == 8 + round);
      CHECK(res->sets()[1].row(0).get<std::string>("c") == "x"s);
      auto same = prepared ? conn->execute("CALL same_shape(?)", {round})
                           : conn->query(fmt::format("CALL same_shape({})",
                                                     round));
      REQUIRE(same);
      REQUIRE(same->sets().size() >= 2);
      CHECK(same->sets()[0].scalar<int>() == round);
      CHECK(same->sets()[1].scalar<int>() == round + 100);
      // The connection is in sync afterwards.
      auto again = conn->query("SELECT 1");
      REQUIRE(again);
      CHECK(again->scalar<int>() == 1);
    }
  }
}

TEST_CASE("DML reports affected rows, last insert id, warnings and info",
          "[driver][values]") {
  test::scratch_database db{"dml"};
  db.run("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v TINYINT)");
  auto conn = test::connect(db.options());
  auto ins = conn->query("INSERT INTO t (v) VALUES (1), (2), (3)");
  REQUIRE(ins);
  CHECK(ins->affected_rows() == 3);
  CHECK(ins->last_insert_id() == 1);
  CHECK_THAT(ins->info(), Catch::Contains("Records: 3"));
  auto upd = conn->execute("UPDATE t SET v = v + ? WHERE id >= ?", {10, 2});
  REQUIRE(upd);
  CHECK(upd->affected_rows() == 2);
  // An out-of-range value in non-strict mode is a warning.
  REQUIRE(conn->query("SET SESSION sql_mode = ''"));
  auto warn = conn->query("INSERT INTO t (v) VALUES (1000)");
  REQUIRE(warn);
  CHECK(warn->warnings() == 1);
}

TEST_CASE("FLOAT limits read exactly on the binary protocol and write back "
          "unchanged; the text protocol carries the server's 6 digits",
          "[driver][values]") {
  test::scratch_database db{"floats"};
  db.run("CREATE TABLE f (id INT PRIMARY KEY, v FLOAT, w FLOAT)");
  auto conn = test::connect(db.options());
  const float limits[] = {std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(),
                          16777217.0f /* rounds to 16777216 */};
  for (int id = 0; id < 4; ++id)
    REQUIRE(conn->execute("INSERT INTO f (id, v) VALUES (?, ?)",
                          {id, static_cast<double>(limits[id])}));
  for (int id = 0; id < 4; ++id) {
    INFO("value " << limits[id]);
    auto bin = conn->execute("SELECT v FROM f WHERE id = ?", {id});
    REQUIRE(bin);
    auto x = bin->scalar<double>();
    REQUIRE(x);
    CHECK(*x == static_cast<double>(limits[id]));
    // Written back (before: FLT_MAX read as 3.4028235e+38 failed with
    // 1264, out of range), the stored float is unchanged.
    REQUIRE(conn->execute("UPDATE f SET w = ? WHERE id = ?", {*x, id}));
    auto same = conn->execute("SELECT v = w FROM f WHERE id = ?", {id});
    REQUIRE(same);
    CHECK(same->scalar<int>() == 1);
  }
  // The text protocol: what the server sends, 6 significant digits.
  auto text = conn->query("SELECT v FROM f WHERE id = 0");
  REQUIRE(text);
  CHECK(text->scalar<double>() == 3.40282e38);
}
