#include "troupe/value.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "troupe/error.hpp"
#include "troupe/result.hpp"

using Catch::Matchers::Contains;
using troupe::errc;
using troupe::value;
using troupe::value_kind;

namespace {

constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();
constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();
constexpr uint64_t uint64_max = std::numeric_limits<uint64_t>::max();

// Reads `x` as T where that must work; fails the test with the error otherwise.
template <class T>
T read_ok(const value& x) {
  INFO("value: " << to_string(x));
  auto r = x.as<T>();
  if (!r)
    FAIL("unexpected error: " << troupe::render(r.error()));
  return std::move(*r);
}

// Reads `x` as T where that must fail with type_mismatch; returns the message.
template <class T>
std::string read_mismatch(const value& x) {
  INFO("value: " << to_string(x));
  auto r = x.as<T>();
  if (r)
    FAIL("read although the types do not match");
  auto err = troupe::info(r.error());
  CHECK(err.is_troupe);
  CHECK(err.code == errc::type_mismatch);
  return err.message;
}

// A column with just a name, for hand-built result sets.
troupe::column named(std::string name) {
  troupe::column c;
  c.name = std::move(name);
  return c;
}

// Two columns ("id", "Name") and three rows: (1,'a'), (2,NULL), (3,'c').
troupe::result_set people() {
  troupe::result_set rs;
  rs.columns() = {named("id"), named("Name")};
  rs.cells() = {value{1}, value{"a"}, value{2}, value{troupe::null},
                value{3}, value{"c"}};
  return rs;
}

} // namespace

// -- construction -------------------------------------------------------------

TEST_CASE("a default-constructed value is NULL", "[value]") {
  value x;
  CHECK(x.is_null());
  CHECK(x.kind() == value_kind::null);
  CHECK(value{troupe::null}.is_null());
}

TEST_CASE("signed integers of every width become int64", "[value]") {
  CHECK(value{int8_t{-8}}.kind() == value_kind::int64);
  CHECK(value{int16_t{-16}}.kind() == value_kind::int64);
  CHECK(value{int32_t{-32}}.kind() == value_kind::int64);
  CHECK(value{int64_t{-64}}.kind() == value_kind::int64);
  CHECK(value{-7}.kind() == value_kind::int64);
  CHECK(value{-7L}.kind() == value_kind::int64);
  CHECK(value{-7LL}.kind() == value_kind::int64);
  CHECK(*value{int8_t{-8}}.get_if<int64_t>() == -8);
  CHECK(*value{int16_t{-16}}.get_if<int64_t>() == -16);
  CHECK(*value{int32_t{-32}}.get_if<int64_t>() == -32);
  CHECK(*value{int64_min}.get_if<int64_t>() == int64_min);
  CHECK(*value{int64_max}.get_if<int64_t>() == int64_max);
}

TEST_CASE("unsigned integers of every width become uint64", "[value]") {
  CHECK(value{uint8_t{8}}.kind() == value_kind::uint64);
  CHECK(value{uint16_t{16}}.kind() == value_kind::uint64);
  CHECK(value{uint32_t{32}}.kind() == value_kind::uint64);
  CHECK(value{uint64_t{64}}.kind() == value_kind::uint64);
  CHECK(value{7u}.kind() == value_kind::uint64);
  CHECK(value{7ULL}.kind() == value_kind::uint64);
  CHECK(*value{uint8_t{255}}.get_if<uint64_t>() == 255);
  CHECK(*value{uint32_t{4000000000u}}.get_if<uint64_t>() == 4000000000u);
  CHECK(*value{uint64_max}.get_if<uint64_t>() == uint64_max);
  CHECK(value{uint64_max}.get_if<int64_t>() == nullptr);
}

TEST_CASE("bool becomes the int64 1 or 0", "[value]") {
  CHECK(value{true}.kind() == value_kind::int64);
  CHECK(*value{true}.get_if<int64_t>() == 1);
  CHECK(*value{false}.get_if<int64_t>() == 0);
}

TEST_CASE("double and float become float64", "[value]") {
  CHECK(value{2.5}.kind() == value_kind::float64);
  CHECK(*value{2.5}.get_if<double>() == 2.5);
  CHECK(value{0.25f}.kind() == value_kind::float64);
  CHECK(*value{0.25f}.get_if<double>() == 0.25);
}

TEST_CASE("every string type becomes a string", "[value]") {
  const char* cstr = "hello";
  std::string str = "world";
  std::string_view view = std::string_view{"viewed text"}.substr(0, 6);
  CHECK(value{cstr}.kind() == value_kind::string);
  CHECK(*value{cstr}.get_if<std::string>() == "hello");
  CHECK(value{str}.kind() == value_kind::string);
  CHECK(*value{str}.get_if<std::string>() == "world");
  CHECK(value{view}.kind() == value_kind::string);
  CHECK(*value{view}.get_if<std::string>() == "viewed");
  CHECK(*value{std::string{"a\0b", 3}}.get_if<std::string>()
        == std::string{"a\0b", 3});
}

TEST_CASE("decimal, bytes, date, time and datetime keep their kinds",
          "[value]") {
  CHECK(value{troupe::decimal{"-12.500"}}.kind() == value_kind::decimal);
  CHECK(value{troupe::decimal{"-12.500"}}.get_if<troupe::decimal>()->text
        == "-12.500");
  CHECK(value{troupe::bytes{0, 1, 255}}.kind() == value_kind::bytes);
  CHECK(*value{troupe::bytes{0, 1, 255}}.get_if<troupe::bytes>()
        == troupe::bytes{0, 1, 255});
  CHECK(value{troupe::date{2024, 2, 29}}.kind() == value_kind::date);
  CHECK(value{troupe::time_value{true, 838, 59, 59, 0}}.kind()
        == value_kind::time);
  CHECK(value{troupe::datetime{2024, 2, 29, 13, 14, 15, 16}}.kind()
        == value_kind::datetime);
  CHECK(value{troupe::datetime{2024, 2, 29, 13, 14, 15, 16}}
          .get_if<troupe::datetime>()
          ->microsecond
        == 16);
}

TEST_CASE("a caf::optional with a value becomes that value", "[value]") {
  CHECK(value{caf::optional<int>{42}} == value{42});
  CHECK(value{caf::optional<std::string>{"x"}} == value{"x"});
  CHECK(value{caf::optional<uint16_t>{7}}.kind() == value_kind::uint64);
}

TEST_CASE("an empty caf::optional becomes NULL", "[value]") {
  CHECK(value{caf::optional<int>{}}.is_null());
  CHECK(value{caf::optional<std::string>{caf::none}}.is_null());
}

TEST_CASE("value_kind names are stable", "[value]") {
  CHECK(to_string(value_kind::null) == "null");
  CHECK(to_string(value_kind::int64) == "int64");
  CHECK(to_string(value_kind::uint64) == "uint64");
  CHECK(to_string(value_kind::float64) == "double");
  CHECK(to_string(value_kind::decimal) == "decimal");
  CHECK(to_string(value_kind::string) == "string");
  CHECK(to_string(value_kind::bytes) == "bytes");
  CHECK(to_string(value_kind::date) == "date");
  CHECK(to_string(value_kind::time) == "time");
  CHECK(to_string(value_kind::datetime) == "datetime");
}

// -- conversions that work ----------------------------------------------------

TEST_CASE("as converts between int64 and uint64 when the value fits",
          "[value]") {
  CHECK(read_ok<uint64_t>(value{int64_t{5}}) == 5u);
  CHECK(read_ok<uint64_t>(value{int64_max}) == uint64_t{int64_max});
  CHECK(read_ok<int64_t>(value{uint64_t{5}}) == 5);
  CHECK(read_ok<int64_t>(value{uint64_t{int64_max}}) == int64_max);
  CHECK(read_ok<int64_t>(value{int64_min}) == int64_min);
  CHECK(read_ok<uint64_t>(value{uint64_max}) == uint64_max);
}

TEST_CASE("as narrows integers when the value fits", "[value]") {
  CHECK(read_ok<int8_t>(value{-128}) == -128);
  CHECK(read_ok<int8_t>(value{uint64_t{127}}) == 127);
  CHECK(read_ok<int16_t>(value{-32768}) == -32768);
  CHECK(read_ok<int32_t>(value{int64_t{2147483647}}) == 2147483647);
  CHECK(read_ok<uint8_t>(value{255}) == 255);
  CHECK(read_ok<uint16_t>(value{65535}) == 65535);
  CHECK(read_ok<uint32_t>(value{uint64_t{4294967295u}}) == 4294967295u);
  CHECK(read_ok<int>(value{uint8_t{200}}) == 200);
}

TEST_CASE("as reads integers as double", "[value]") {
  CHECK(read_ok<double>(value{-3}) == -3.0);
  CHECK(read_ok<double>(value{uint64_t{1} << 53}) == 9007199254740992.0);
  CHECK(read_ok<double>(value{0.5}) == 0.5);
}

TEST_CASE("as reads a decimal as its exact text", "[value]") {
  CHECK(read_ok<std::string>(value{troupe::decimal{"-0.000100"}})
        == "-0.000100");
  CHECK(read_ok<troupe::decimal>(value{troupe::decimal{"12.5"}}).text
        == "12.5");
}

TEST_CASE("as reads 0 and 1 as bool", "[value]") {
  CHECK(read_ok<bool>(value{1}) == true);
  CHECK(read_ok<bool>(value{0}) == false);
  CHECK(read_ok<bool>(value{uint64_t{1}}) == true);
  CHECK(read_ok<bool>(value{true}) == true);
}

TEST_CASE("as reads NULL as an empty caf::optional and values as engaged",
          "[value]") {
  auto none = read_ok<caf::optional<int64_t>>(value{});
  CHECK_FALSE(none);
  auto some = read_ok<caf::optional<int64_t>>(value{uint64_t{9}});
  REQUIRE(some);
  CHECK(*some == 9);
  auto text = read_ok<caf::optional<std::string>>(value{"t"});
  REQUIRE(text);
  CHECK(*text == "t");
}

TEST_CASE("as reads every kind as itself", "[value]") {
  CHECK(read_ok<std::string>(value{"s"}) == "s");
  CHECK(read_ok<troupe::bytes>(value{troupe::bytes{1, 2}})
        == troupe::bytes{1, 2});
  CHECK(read_ok<troupe::date>(value{troupe::date{2024, 1, 2}})
        == troupe::date{2024, 1, 2});
  CHECK(read_ok<troupe::time_value>(value{troupe::time_value{true, 1, 2, 3, 4}})
        == troupe::time_value{true, 1, 2, 3, 4});
  CHECK(read_ok<troupe::datetime>(value{troupe::datetime{2024, 1, 2, 3, 4, 5,
                                                         6}})
        == troupe::datetime{2024, 1, 2, 3, 4, 5, 6});
  CHECK(read_ok<value>(value{7}) == value{7});
}

// -- conversions that must fail -----------------------------------------------

TEST_CASE("as refuses to read NULL as int64 and says the value is NULL",
          "[value]") {
  auto msg = read_mismatch<int64_t>(value{});
  CHECK_THAT(msg, Contains("NULL"));
  CHECK_THAT(msg, Contains("int64"));
}

TEST_CASE("as refuses to read NULL as string or double", "[value]") {
  CHECK_THAT(read_mismatch<std::string>(value{}), Contains("NULL"));
  CHECK_THAT(read_mismatch<double>(value{}), Contains("NULL"));
  CHECK_THAT(read_mismatch<bool>(value{}), Contains("NULL"));
}

TEST_CASE("as refuses to read a string as int64 and names both types",
          "[value]") {
  auto msg = read_mismatch<int64_t>(value{"42"});
  CHECK_THAT(msg, Contains("string"));
  CHECK_THAT(msg, Contains("int64"));
}

TEST_CASE("as refuses to read uint64 max as int64 and names both types",
          "[value]") {
  auto msg = read_mismatch<int64_t>(value{uint64_max});
  CHECK_THAT(msg, Contains("uint64"));
  CHECK_THAT(msg, Contains("int64 (out of range)"));
}

TEST_CASE("as refuses to read a negative integer as uint64 and names both "
          "types",
          "[value]") {
  auto msg = read_mismatch<uint64_t>(value{-1});
  CHECK_THAT(msg, Contains("int64"));
  CHECK_THAT(msg, Contains("uint64"));
  read_mismatch<uint8_t>(value{-1});
  read_mismatch<uint32_t>(value{int64_min});
}

TEST_CASE("as refuses to narrow 300 to int8_t and names both types",
          "[value]") {
  auto msg = read_mismatch<int8_t>(value{300});
  CHECK_THAT(msg, Contains("int64"));
  CHECK_THAT(msg, Contains("int8"));
  read_mismatch<int8_t>(value{-129});
  read_mismatch<uint16_t>(value{65536});
  read_mismatch<int32_t>(value{uint64_t{2147483648u}});
}

TEST_CASE("as refuses to read a double as int64 and names both types",
          "[value]") {
  auto msg = read_mismatch<int64_t>(value{1.0});
  CHECK_THAT(msg, Contains("double"));
  CHECK_THAT(msg, Contains("int64"));
}

TEST_CASE("as refuses to read bytes as a string and names both types",
          "[value]") {
  auto msg = read_mismatch<std::string>(value{troupe::bytes{'a', 'b'}});
  CHECK_THAT(msg, Contains("bytes"));
  CHECK_THAT(msg, Contains("string"));
}

TEST_CASE("as refuses to read a date as datetime and names both types",
          "[value]") {
  auto msg = read_mismatch<troupe::datetime>(value{troupe::date{2024, 1, 1}});
  CHECK_THAT(msg, Contains("date value"));
  CHECK_THAT(msg, Contains("datetime"));
}

TEST_CASE("as refuses strings and decimals as bool or double", "[value]") {
  CHECK_THAT(read_mismatch<bool>(value{"true"}), Contains("string"));
  CHECK_THAT(read_mismatch<double>(value{troupe::decimal{"1.5"}}),
             Contains("decimal"));
  CHECK_THAT(read_mismatch<troupe::decimal>(value{1.5}), Contains("double"));
}

TEST_CASE("as with caf::optional still refuses a wrong non-NULL type",
          "[value]") {
  auto msg = read_mismatch<caf::optional<int64_t>>(value{"x"});
  CHECK_THAT(msg, Contains("string"));
}

// -- rendering ----------------------------------------------------------------

TEST_CASE("to_string renders NULL and numbers", "[value]") {
  CHECK(to_string(value{}) == "NULL");
  CHECK(to_string(value{-42}) == "-42");
  CHECK(to_string(value{int64_min}) == "-9223372036854775808");
  CHECK(to_string(value{uint64_max}) == "18446744073709551615");
  CHECK(to_string(value{1.5}) == "1.5");
  CHECK(to_string(value{troupe::decimal{"-0.10"}}) == "-0.10");
}

TEST_CASE("to_string quotes strings and escapes quotes, backslashes, NUL and "
          "newlines",
          "[value]") {
  CHECK(to_string(value{"plain"}) == "'plain'");
  CHECK(to_string(value{""}) == "''");
  CHECK(to_string(value{"it's"}) == R"('it\'s')");
  CHECK(to_string(value{R"(a\b)"}) == R"('a\\b')");
  CHECK(to_string(value{std::string{"a\0b", 3}}) == R"('a\0b')");
  CHECK(to_string(value{"a\nb"}) == R"('a\nb')");
}

TEST_CASE("to_string renders bytes as lowercase hex with 0x", "[value]") {
  CHECK(to_string(value{troupe::bytes{0x00, 0xff, 0x1a}}) == "0x00ff1a");
  CHECK(to_string(value{troupe::bytes{}}) == "0x");
}

TEST_CASE("to_string renders dates, times and datetimes in ISO form",
          "[value]") {
  CHECK(to_string(value{troupe::date{2024, 2, 29}}) == "2024-02-29");
  CHECK(to_string(value{troupe::date{0, 0, 0}}) == "0000-00-00");
  CHECK(to_string(value{troupe::time_value{false, 7, 5, 3, 0}}) == "07:05:03");
  CHECK(to_string(value{troupe::time_value{false, 12, 0, 0, 500000}})
        == "12:00:00.500000");
  CHECK(to_string(value{troupe::time_value{false, 0, 0, 0, 1}})
        == "00:00:00.000001");
  CHECK(to_string(value{troupe::time_value{true, 838, 59, 59, 0}})
        == "-838:59:59");
  CHECK(to_string(value{troupe::time_value{true, 0, 0, 1, 250}})
        == "-00:00:01.000250");
  CHECK(to_string(value{troupe::datetime{2024, 2, 29, 13, 4, 5, 0}})
        == "2024-02-29 13:04:05");
  CHECK(to_string(value{troupe::datetime{1999, 12, 31, 23, 59, 59, 999999}})
        == "1999-12-31 23:59:59.999999");
}

// -- equality -----------------------------------------------------------------

TEST_CASE("values are equal only when kind and content are equal", "[value]") {
  CHECK(value{} == value{troupe::null});
  CHECK(value{1} == value{int64_t{1}});
  CHECK(value{"a"} == value{std::string{"a"}});
  CHECK(value{1} != value{2});
  CHECK(value{1} != value{uint64_t{1}});
  CHECK(value{1} != value{1.0});
  CHECK(value{} != value{0});
  CHECK(value{"1"} != value{troupe::decimal{"1"}});
  CHECK(value{troupe::decimal{"1.0"}} != value{troupe::decimal{"1.00"}});
  CHECK(value{troupe::bytes{'a'}} != value{"a"});
}

TEST_CASE("dates, times and datetimes compare every field", "[value]") {
  CHECK(troupe::date{2024, 1, 2} == troupe::date{2024, 1, 2});
  CHECK(troupe::date{2024, 1, 2} != troupe::date{2024, 1, 3});
  CHECK(troupe::date{2024, 1, 2} != troupe::date{2024, 2, 2});
  CHECK(troupe::date{2024, 1, 2} != troupe::date{2023, 1, 2});
  troupe::time_value t{false, 1, 2, 3, 4};
  CHECK(t == troupe::time_value{false, 1, 2, 3, 4});
  CHECK(t != troupe::time_value{true, 1, 2, 3, 4});
  CHECK(t != troupe::time_value{false, 2, 2, 3, 4});
  CHECK(t != troupe::time_value{false, 1, 3, 3, 4});
  CHECK(t != troupe::time_value{false, 1, 2, 4, 4});
  CHECK(t != troupe::time_value{false, 1, 2, 3, 5});
  troupe::datetime dt{2024, 1, 2, 3, 4, 5, 6};
  CHECK(dt == troupe::datetime{2024, 1, 2, 3, 4, 5, 6});
  CHECK(dt != troupe::datetime{2025, 1, 2, 3, 4, 5, 6});
  CHECK(dt != troupe::datetime{2024, 2, 2, 3, 4, 5, 6});
  CHECK(dt != troupe::datetime{2024, 1, 3, 3, 4, 5, 6});
  CHECK(dt != troupe::datetime{2024, 1, 2, 4, 4, 5, 6});
  CHECK(dt != troupe::datetime{2024, 1, 2, 3, 5, 5, 6});
  CHECK(dt != troupe::datetime{2024, 1, 2, 3, 4, 6, 6});
  CHECK(dt != troupe::datetime{2024, 1, 2, 3, 4, 5, 7});
}

// -- result_set and result ----------------------------------------------------

TEST_CASE("a result set without columns has no rows even with cells",
          "[value]") {
  troupe::result_set rs;
  CHECK(rs.row_count() == 0);
  CHECK(rs.empty());
  rs.cells().push_back(value{1});
  CHECK(rs.row_count() == 0);
  CHECK(rs.empty());
}

TEST_CASE("a result set counts rows and indexes cells row-major", "[value]") {
  auto rs = people();
  CHECK(rs.row_count() == 3);
  CHECK_FALSE(rs.empty());
  CHECK(rs.row(0).size() == 2);
  CHECK(rs.row(0)[0] == value{1});
  CHECK(rs.row(0)[1] == value{"a"});
  CHECK(rs.row(1)[0] == value{2});
  CHECK(rs.row(1)[1].is_null());
  CHECK(rs.row(2)[0] == value{3});
  CHECK(rs.row(2)[1] == value{"c"});
}

TEST_CASE("row at returns the cell for an index in range", "[value]") {
  auto rs = people();
  auto cell = rs.row(2).at(1);
  REQUIRE(cell);
  CHECK(**cell == value{"c"});
}

TEST_CASE("row at with an index out of range returns not_found", "[value]") {
  auto rs = people();
  auto cell = rs.row(0).at(2);
  REQUIRE_FALSE(cell);
  auto err = troupe::info(cell.error());
  CHECK(err.code == errc::not_found);
  CHECK_THAT(err.message, Contains("2"));
  auto typed = rs.row(0).get<int64_t>(5);
  REQUIRE_FALSE(typed);
  CHECK(troupe::info(typed.error()).code == errc::not_found);
}

TEST_CASE("row at finds a column by name regardless of case", "[value]") {
  auto rs = people();
  for (auto name : {"name", "NAME", "Name", "nAmE"}) {
    INFO("name: " << name);
    auto cell = rs.row(0).at(std::string_view{name});
    REQUIRE(cell);
    CHECK(**cell == value{"a"});
  }
  CHECK(*rs.column_index("ID") == 0);
}

TEST_CASE("row at finds the first of two columns with the same name",
          "[value]") {
  troupe::result_set rs;
  rs.columns() = {named("x"), named("X")};
  rs.cells() = {value{1}, value{2}};
  auto cell = rs.row(0).at(std::string_view{"x"});
  REQUIRE(cell);
  CHECK(**cell == value{1});
}

TEST_CASE("row at with an unknown column name returns not_found listing the "
          "known columns",
          "[value]") {
  auto rs = people();
  auto cell = rs.row(0).at(std::string_view{"email"});
  REQUIRE_FALSE(cell);
  auto err = troupe::info(cell.error());
  CHECK(err.code == errc::not_found);
  CHECK_THAT(err.message, Contains("email"));
  CHECK_THAT(err.message, Contains("id"));
  CHECK_THAT(err.message, Contains("Name"));
  auto prefix = rs.row(0).at(std::string_view{"Nam"});
  CHECK_FALSE(prefix);
}

TEST_CASE("row get reads a cell by name as the requested type", "[value]") {
  auto rs = people();
  auto id = rs.row(1).get<uint32_t>("ID");
  REQUIRE(id);
  CHECK(*id == 2);
  auto name = rs.row(1).get<caf::optional<std::string>>("name");
  REQUIRE(name);
  CHECK_FALSE(*name);
}

TEST_CASE("row get with the wrong type names the column in the error",
          "[value]") {
  auto rs = people();
  auto x = rs.row(0).get<int64_t>("Name");
  REQUIRE_FALSE(x);
  auto err = troupe::info(x.error());
  CHECK(err.code == errc::type_mismatch);
  CHECK_THAT(err.message, Contains("Name"));
  CHECK_THAT(err.message, Contains("string"));
  auto null_cell = rs.row(1).get<std::string>(1);
  REQUIRE_FALSE(null_cell);
  auto err2 = troupe::info(null_cell.error());
  CHECK(err2.code == errc::type_mismatch);
  CHECK_THAT(err2.message, Contains("Name"));
  CHECK_THAT(err2.message, Contains("NULL"));
}

TEST_CASE("row get with an unknown column name returns not_found", "[value]") {
  auto rs = people();
  auto x = rs.row(0).get<int64_t>("nope");
  REQUIRE_FALSE(x);
  auto err = troupe::info(x.error());
  CHECK(err.code == errc::not_found);
  CHECK_THAT(err.message, Contains("nope"));
}

TEST_CASE("scalar reads the first cell of the first row", "[value]") {
  auto rs = people();
  auto x = rs.scalar<int64_t>();
  REQUIRE(x);
  CHECK(*x == 1);
  troupe::result r{rs};
  auto y = r.scalar<double>();
  REQUIRE(y);
  CHECK(*y == 1.0);
}

TEST_CASE("scalar on a result without rows returns not_found", "[value]") {
  troupe::result_set rs;
  rs.columns() = {named("n")};
  auto x = rs.scalar<int64_t>();
  REQUIRE_FALSE(x);
  CHECK(troupe::info(x.error()).code == errc::not_found);
  troupe::result none;
  auto y = none.scalar<int64_t>();
  REQUIRE_FALSE(y);
  CHECK(troupe::info(y.error()).code == errc::not_found);
}

TEST_CASE("scalar with the wrong type returns type_mismatch", "[value]") {
  troupe::result_set rs;
  rs.columns() = {named("n")};
  rs.cells() = {value{"text"}};
  auto x = rs.scalar<int64_t>();
  REQUIRE_FALSE(x);
  CHECK(troupe::info(x.error()).code == errc::type_mismatch);
}

TEST_CASE("a result without sets reads as one empty set", "[value]") {
  troupe::result r;
  CHECK(r.sets().empty());
  CHECK(r.first().columns().empty());
  CHECK(r.first().cells().empty());
  CHECK(r.row_count() == 0);
  CHECK(r.empty());
  CHECK(r.columns().empty());
  CHECK(r.affected_rows() == 0);
  CHECK(r.last_insert_id() == 0);
  CHECK(r.warnings() == 0);
  CHECK(r.info().empty());
}

TEST_CASE("a result's accessors read its first set", "[value]") {
  troupe::result_set ok;
  ok.affected_rows = 3;
  ok.last_insert_id = 77;
  ok.warnings = 1;
  ok.info = "Rows matched: 3";
  troupe::result r{ok};
  r.sets().push_back(people());
  CHECK(r.sets().size() == 2);
  CHECK(r.affected_rows() == 3);
  CHECK(r.last_insert_id() == 77);
  CHECK(r.warnings() == 1);
  CHECK(r.info() == "Rows matched: 3");
  CHECK(r.row_count() == 0);
  CHECK(r.sets()[1].row_count() == 3);
}

TEST_CASE("memory_size grows with the size of strings, bytes and decimals",
          "[value]") {
  auto make = [](value cell) {
    troupe::result_set rs;
    rs.columns() = {named("c")};
    rs.cells() = {std::move(cell)};
    return troupe::result{std::move(rs)};
  };
  auto small = make(value{std::string(10, 'x')}).memory_size();
  auto large = make(value{std::string(10000, 'x')}).memory_size();
  CHECK(large >= small + 9990);
  auto small_bytes = make(value{troupe::bytes(10)}).memory_size();
  auto large_bytes = make(value{troupe::bytes(5000)}).memory_size();
  CHECK(large_bytes >= small_bytes + 4990);
  auto small_dec = make(value{troupe::decimal{"1"}}).memory_size();
  auto large_dec = make(value{troupe::decimal{std::string(60, '9')}})
                     .memory_size();
  CHECK(large_dec >= small_dec + 59);
  CHECK(troupe::result{}.memory_size() > 0);
  CHECK(make(value{1}).memory_size() > troupe::result{}.memory_size());
}

TEST_CASE("result sets compare columns, cells and counters", "[value]") {
  auto x = people();
  auto y = people();
  CHECK(x == y);
  y.affected_rows = 1;
  CHECK_FALSE(x == y);
  y = people();
  y.cells()[3] = value{"b"};
  CHECK_FALSE(x == y);
  y = people();
  y.columns()[0].type = troupe::column_type::bigint;
  CHECK_FALSE(x == y);
  y = people();
  y.info = "i";
  CHECK_FALSE(x == y);
}
