// The driver's private conversions between libmariadb's representations and
// troupe's values. The header is private to libengine, hence the relative path.
#include "../../libengine/src/mariadb/codec.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

using troupe::column_type;
using troupe::value;
using troupe::value_kind;
using troupe::mariadb::detail::decode_kind;
using troupe::mariadb::detail::decode_kind_of;
using troupe::mariadb::detail::decode_text;
using troupe::mariadb::detail::from_mysql_time;
using troupe::mariadb::detail::to_column;
using troupe::mariadb::detail::to_mysql_time;
using troupe::mariadb::detail::widen_float;

namespace {

// Decodes text that must be well-formed; fails the test otherwise.
value decode_ok(decode_kind kind, std::string_view text) {
  INFO("text: '" << text << "'");
  value out{"sentinel"};
  if (!decode_text(kind, text, out))
    FAIL("decode_text rejected well-formed input");
  return out;
}

// Returns true when decode_text rejects `text`.
bool rejects(decode_kind kind, std::string_view text) {
  value out;
  return !decode_text(kind, text, out);
}

// A zero-initialized field with a type, flags, character set and name.
struct field_builder {
  MYSQL_FIELD field;
  char name[32];

  field_builder(enum_field_types type, unsigned flags = 0,
                unsigned charset = 45, const char* col_name = "c") {
    std::memset(&field, 0, sizeof(field));
    std::memset(name, 0, sizeof(name));
    std::strncpy(name, col_name, sizeof(name) - 1);
    field.type = type;
    field.flags = flags;
    field.charsetnr = charset;
    field.name = name;
    field.name_length = static_cast<unsigned>(std::strlen(name));
  }
};

constexpr unsigned utf8mb4_general_ci = 45;
constexpr unsigned binary_charset = 63;

} // namespace

// -- decode_text: integers ----------------------------------------------------

TEST_CASE("decode_text reads NULL for the null kind", "[codec]") {
  CHECK(decode_ok(decode_kind::null, "").is_null());
}

TEST_CASE("decode_text reads int64 min and max", "[codec]") {
  CHECK(decode_ok(decode_kind::int64, "-9223372036854775808")
        == value{std::numeric_limits<int64_t>::min()});
  CHECK(decode_ok(decode_kind::int64, "9223372036854775807")
        == value{std::numeric_limits<int64_t>::max()});
  CHECK(decode_ok(decode_kind::int64, "0") == value{0});
  CHECK(decode_ok(decode_kind::int64, "-1") == value{-1});
}

TEST_CASE("decode_text reads uint64 max as an unsigned value", "[codec]") {
  auto x = decode_ok(decode_kind::uint64, "18446744073709551615");
  CHECK(x.kind() == value_kind::uint64);
  CHECK(x == value{std::numeric_limits<uint64_t>::max()});
}

TEST_CASE("decode_text rejects integers that overflow their kind", "[codec]") {
  CHECK(rejects(decode_kind::int64, "9223372036854775808"));
  CHECK(rejects(decode_kind::int64, "-9223372036854775809"));
  CHECK(rejects(decode_kind::uint64, "18446744073709551616"));
  CHECK(rejects(decode_kind::uint64, "-1"));
}

TEST_CASE("decode_text rejects malformed integers", "[codec]") {
  CHECK(rejects(decode_kind::int64, "abc"));
  CHECK(rejects(decode_kind::int64, "1.5"));
  CHECK(rejects(decode_kind::int64, ""));
  CHECK(rejects(decode_kind::int64, "12 "));
  CHECK(rejects(decode_kind::int64, " 12"));
  CHECK(rejects(decode_kind::uint64, "0x10"));
}

// -- decode_text: floating point and decimal ---------------------------------

TEST_CASE("decode_text keeps the sign of negative zero", "[codec]") {
  auto x = decode_ok(decode_kind::float64, "-0");
  REQUIRE(x.kind() == value_kind::float64);
  CHECK(*x.get_if<double>() == 0.0);
  CHECK(std::signbit(*x.get_if<double>()));
  auto y = decode_ok(decode_kind::float64, "0");
  CHECK_FALSE(std::signbit(*y.get_if<double>()));
}

TEST_CASE("decode_text reads doubles in exponent form", "[codec]") {
  CHECK(decode_ok(decode_kind::float64, "1e308") == value{1e308});
  CHECK(decode_ok(decode_kind::float64, "-1.5E-10") == value{-1.5e-10});
  CHECK(decode_ok(decode_kind::float64, "0.1") == value{0.1});
  CHECK(decode_ok(decode_kind::float32, "3.40282e38") == value{3.40282e38});
}

TEST_CASE("decode_text rejects malformed doubles", "[codec]") {
  CHECK(rejects(decode_kind::float64, ""));
  CHECK(rejects(decode_kind::float64, "1.5x"));
  CHECK(rejects(decode_kind::float64, "abc"));
  CHECK(rejects(decode_kind::float32, "1,5"));
}

TEST_CASE("decode_text keeps decimals verbatim", "[codec]") {
  auto x = decode_ok(decode_kind::decimal, "-0.000000000000000000000000000001");
  REQUIRE(x.kind() == value_kind::decimal);
  CHECK(x.get_if<troupe::decimal>()->text
        == "-0.000000000000000000000000000001");
  auto big = std::string(65, '9');
  CHECK(decode_ok(decode_kind::decimal, big).get_if<troupe::decimal>()->text
        == big);
  CHECK(decode_ok(decode_kind::decimal, "1.500").get_if<troupe::decimal>()->text
        == "1.500");
}

TEST_CASE("widen_float returns the float's own value as a double",
          "[codec]") {
  // Not the double that prints like the float (1.1): that one is not the
  // stored value, and for FLT_MAX it is larger than any float, so writing
  // it back failed with 1264 (out of range).
  CHECK(widen_float(1.1f) == static_cast<double>(1.1f));
  CHECK(widen_float(1.1f) != 1.1);
  const float fmax = std::numeric_limits<float>::max();
  CHECK(widen_float(fmax) == 340282346638528859811704183484516925440.0);
  CHECK(static_cast<float>(widen_float(fmax)) == fmax);
  const float tiny = std::numeric_limits<float>::denorm_min();
  CHECK(widen_float(tiny) == 1.40129846432481707092e-45);
  CHECK(widen_float(-0.5f) == -0.5);
  CHECK(widen_float(16777216.0f) == 16777216.0);
}

// -- decode_text: strings and bytes ------------------------------------------

TEST_CASE("decode_text reads strings and bytes including NUL bytes",
          "[codec]") {
  std::string_view raw{"a\0\xff", 3};
  auto s = decode_ok(decode_kind::string, raw);
  CHECK(s == value{std::string{raw}});
  auto b = decode_ok(decode_kind::bytes, raw);
  CHECK(b == value{troupe::bytes{'a', 0, 0xff}});
  CHECK(decode_ok(decode_kind::string, "") == value{""});
  CHECK(decode_ok(decode_kind::bytes, "") == value{troupe::bytes{}});
}

// -- decode_text: dates and times --------------------------------------------

TEST_CASE("decode_text reads a leap day", "[codec]") {
  CHECK(decode_ok(decode_kind::date, "2024-02-29")
        == value{troupe::date{2024, 2, 29}});
}

TEST_CASE("decode_text keeps the zero date as zeros", "[codec]") {
  CHECK(decode_ok(decode_kind::date, "0000-00-00")
        == value{troupe::date{0, 0, 0}});
  CHECK(decode_ok(decode_kind::datetime, "0000-00-00 00:00:00")
        == value{troupe::datetime{}});
}

TEST_CASE("decode_text rejects malformed dates", "[codec]") {
  CHECK(rejects(decode_kind::date, ""));
  CHECK(rejects(decode_kind::date, "2024-13"));
  CHECK(rejects(decode_kind::date, "2024/02/29"));
  CHECK(rejects(decode_kind::date, "24-02-29"));
  CHECK(rejects(decode_kind::date, "2024-02-29 00:00:00"));
  CHECK(rejects(decode_kind::date, "2024-0a-29"));
}

TEST_CASE("decode_text reads the most negative TIME", "[codec]") {
  CHECK(decode_ok(decode_kind::time, "-838:59:59.000000")
        == value{troupe::time_value{true, 838, 59, 59, 0}});
  CHECK(decode_ok(decode_kind::time, "838:59:59.999999")
        == value{troupe::time_value{false, 838, 59, 59, 999999}});
}

TEST_CASE("decode_text scales short fractions of a second to microseconds",
          "[codec]") {
  CHECK(decode_ok(decode_kind::time, "12:00:00.5")
        == value{troupe::time_value{false, 12, 0, 0, 500000}});
  CHECK(decode_ok(decode_kind::time, "00:00:00.000001")
        == value{troupe::time_value{false, 0, 0, 0, 1}});
  CHECK(decode_ok(decode_kind::time, "-00:00:01.25")
        == value{troupe::time_value{true, 0, 0, 1, 250000}});
  CHECK(decode_ok(decode_kind::time, "01:02:03")
        == value{troupe::time_value{false, 1, 2, 3, 0}});
}

TEST_CASE("decode_text rejects malformed times", "[codec]") {
  CHECK(rejects(decode_kind::time, "12:00"));
  CHECK(rejects(decode_kind::time, ""));
  CHECK(rejects(decode_kind::time, "-"));
  CHECK(rejects(decode_kind::time, ":00:00"));
  CHECK(rejects(decode_kind::time, "12:00:00.1234567"));
  CHECK(rejects(decode_kind::time, "12:00:00."));
  CHECK(rejects(decode_kind::time, "12:00:00x"));
  CHECK(rejects(decode_kind::time, "ab:00:00"));
  CHECK(rejects(decode_kind::time, "12-00-00"));
}

TEST_CASE("decode_text reads datetimes with and without a fraction",
          "[codec]") {
  CHECK(decode_ok(decode_kind::datetime, "2024-02-29 13:14:15")
        == value{troupe::datetime{2024, 2, 29, 13, 14, 15, 0}});
  CHECK(decode_ok(decode_kind::datetime, "2024-02-29 13:14:15.123456")
        == value{troupe::datetime{2024, 2, 29, 13, 14, 15, 123456}});
  CHECK(decode_ok(decode_kind::datetime, "1970-01-01 00:00:00.1")
        == value{troupe::datetime{1970, 1, 1, 0, 0, 0, 100000}});
}

TEST_CASE("decode_text rejects malformed datetimes", "[codec]") {
  CHECK(rejects(decode_kind::datetime, ""));
  CHECK(rejects(decode_kind::datetime, "2024-02-29T13:14:15"));
  CHECK(rejects(decode_kind::datetime, "2024-02-29 13:14"));
  CHECK(rejects(decode_kind::datetime, "2024-02-29 13:14:15.1234567"));
  CHECK(rejects(decode_kind::datetime, "2024-02-29 13:14:15 "));
}

// -- field metadata -----------------------------------------------------------

TEST_CASE("an unsigned tinyint decodes as uint64", "[codec]") {
  field_builder f{MYSQL_TYPE_TINY, UNSIGNED_FLAG};
  CHECK(decode_kind_of(f.field) == decode_kind::uint64);
  auto c = to_column(f.field);
  CHECK(c.type == column_type::tinyint);
  CHECK(c.is_unsigned());
  field_builder s{MYSQL_TYPE_TINY};
  CHECK(decode_kind_of(s.field) == decode_kind::int64);
  CHECK_FALSE(to_column(s.field).is_unsigned());
}

TEST_CASE("integer types map to their column types", "[codec]") {
  CHECK(to_column(field_builder{MYSQL_TYPE_SHORT}.field).type
        == column_type::smallint);
  CHECK(to_column(field_builder{MYSQL_TYPE_INT24}.field).type
        == column_type::mediumint);
  CHECK(to_column(field_builder{MYSQL_TYPE_LONG}.field).type
        == column_type::int_);
  CHECK(to_column(field_builder{MYSQL_TYPE_LONGLONG}.field).type
        == column_type::bigint);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_LONGLONG, UNSIGNED_FLAG}.field)
        == decode_kind::uint64);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_YEAR}.field)
        == decode_kind::int64);
}

TEST_CASE("a varchar with the binary charset is varbinary and decodes as "
          "bytes",
          "[codec]") {
  field_builder f{MYSQL_TYPE_VAR_STRING, 0, binary_charset};
  CHECK(to_column(f.field).type == column_type::varbinary);
  CHECK(decode_kind_of(f.field) == decode_kind::bytes);
  field_builder t{MYSQL_TYPE_VAR_STRING, 0, utf8mb4_general_ci};
  CHECK(to_column(t.field).type == column_type::varchar);
  CHECK(decode_kind_of(t.field) == decode_kind::string);
}

TEST_CASE("a blob with a text charset is text and decodes as string",
          "[codec]") {
  field_builder f{MYSQL_TYPE_BLOB, 0, utf8mb4_general_ci};
  CHECK(to_column(f.field).type == column_type::text);
  CHECK(decode_kind_of(f.field) == decode_kind::string);
  field_builder b{MYSQL_TYPE_BLOB, BINARY_FLAG, binary_charset};
  CHECK(to_column(b.field).type == column_type::blob);
  CHECK(decode_kind_of(b.field) == decode_kind::bytes);
}

TEST_CASE("a string with ENUM_FLAG is an enum and with SET_FLAG a set",
          "[codec]") {
  field_builder e{MYSQL_TYPE_STRING, ENUM_FLAG};
  CHECK(to_column(e.field).type == column_type::enum_);
  CHECK(decode_kind_of(e.field) == decode_kind::string);
  field_builder s{MYSQL_TYPE_STRING, SET_FLAG};
  CHECK(to_column(s.field).type == column_type::set);
  CHECK(decode_kind_of(s.field) == decode_kind::string);
  field_builder c{MYSQL_TYPE_STRING};
  CHECK(to_column(c.field).type == column_type::char_);
  field_builder bin{MYSQL_TYPE_STRING, 0, binary_charset};
  CHECK(to_column(bin.field).type == column_type::binary);
  CHECK(decode_kind_of(bin.field) == decode_kind::bytes);
}

TEST_CASE("NEWDECIMAL decodes as decimal and BIT as bytes", "[codec]") {
  field_builder d{MYSQL_TYPE_NEWDECIMAL};
  CHECK(to_column(d.field).type == column_type::decimal);
  CHECK(decode_kind_of(d.field) == decode_kind::decimal);
  field_builder bit{MYSQL_TYPE_BIT, UNSIGNED_FLAG, binary_charset};
  CHECK(to_column(bit.field).type == column_type::bit);
  CHECK(decode_kind_of(bit.field) == decode_kind::bytes);
}

TEST_CASE("temporal and floating-point types get their decode kinds",
          "[codec]") {
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_DATE}.field)
        == decode_kind::date);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_TIME}.field)
        == decode_kind::time);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_DATETIME}.field)
        == decode_kind::datetime);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_TIMESTAMP}.field)
        == decode_kind::datetime);
  CHECK(to_column(field_builder{MYSQL_TYPE_TIMESTAMP}.field).type
        == column_type::timestamp);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_FLOAT}.field)
        == decode_kind::float32);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_DOUBLE}.field)
        == decode_kind::float64);
  CHECK(decode_kind_of(field_builder{MYSQL_TYPE_NULL}.field)
        == decode_kind::null);
}

TEST_CASE("column flags map from the protocol's flags", "[codec]") {
  field_builder none{MYSQL_TYPE_LONG};
  auto c0 = to_column(none.field);
  CHECK(c0.flags == 0);
  CHECK(c0.nullable());
  CHECK_FALSE(c0.is_primary_key());
  CHECK_FALSE(c0.is_auto_increment());
  CHECK_FALSE(c0.is_unsigned());

  field_builder all{MYSQL_TYPE_LONG,
                    NOT_NULL_FLAG | PRI_KEY_FLAG | AUTO_INCREMENT_FLAG
                      | UNSIGNED_FLAG};
  auto c1 = to_column(all.field);
  CHECK_FALSE(c1.nullable());
  CHECK(c1.is_primary_key());
  CHECK(c1.is_auto_increment());
  CHECK(c1.is_unsigned());
  CHECK(c1.flags
        == (troupe::flag_not_null | troupe::flag_primary_key
            | troupe::flag_auto_increment | troupe::flag_unsigned));

  field_builder keys{MYSQL_TYPE_LONG, UNIQUE_KEY_FLAG | MULTIPLE_KEY_FLAG
                                        | ZEROFILL_FLAG | BINARY_FLAG};
  CHECK(to_column(keys.field).flags
        == (troupe::flag_unique_key | troupe::flag_multiple_key
            | troupe::flag_zerofill | troupe::flag_binary));
}

TEST_CASE("to_column copies names, length, decimals and charset", "[codec]") {
  char org_name[] = "price_col";
  char table[] = "p";
  char org_table[] = "products";
  char db[] = "shop";
  field_builder f{MYSQL_TYPE_NEWDECIMAL, 0, utf8mb4_general_ci, "price"};
  f.field.org_name = org_name;
  f.field.org_name_length = 9;
  f.field.table = table;
  f.field.table_length = 1;
  f.field.org_table = org_table;
  f.field.org_table_length = 8;
  f.field.db = db;
  f.field.db_length = 4;
  f.field.length = 12;
  f.field.decimals = 2;
  auto c = to_column(f.field);
  CHECK(c.name == "price");
  CHECK(c.org_name == "price_col");
  CHECK(c.table == "p");
  CHECK(c.org_table == "products");
  CHECK(c.database == "shop");
  CHECK(c.length == 12);
  CHECK(c.decimals == 2);
  CHECK(c.charset == utf8mb4_general_ci);
}

TEST_CASE("to_column honours name_length rather than the terminating NUL",
          "[codec]") {
  field_builder f{MYSQL_TYPE_LONG, 0, utf8mb4_general_ci, "abcdef"};
  f.field.name_length = 3;
  CHECK(to_column(f.field).name == "abc");
  field_builder g{MYSQL_TYPE_LONG};
  g.field.name = nullptr;
  g.field.name_length = 0;
  CHECK(to_column(g.field).name.empty());
}

// -- MYSQL_TIME ---------------------------------------------------------------

TEST_CASE("a date round-trips through MYSQL_TIME", "[codec]") {
  MYSQL_TIME t;
  to_mysql_time(value{troupe::date{2024, 2, 29}}, t);
  CHECK(t.time_type == MYSQL_TIMESTAMP_DATE);
  CHECK(t.year == 2024);
  CHECK(t.month == 2);
  CHECK(t.day == 29);
  CHECK(t.hour == 0);
  CHECK(from_mysql_time(decode_kind::date, t)
        == value{troupe::date{2024, 2, 29}});
}

TEST_CASE("a negative time over 24 hours round-trips through MYSQL_TIME",
          "[codec]") {
  troupe::time_value x{true, 838, 59, 59, 999999};
  MYSQL_TIME t;
  to_mysql_time(value{x}, t);
  CHECK(t.time_type == MYSQL_TIMESTAMP_TIME);
  CHECK(t.neg);
  // libmariadb sends a TIME's hour as one byte next to a day count.
  CHECK(t.day * 24 + t.hour == 838);
  CHECK(t.hour < 24);
  CHECK(t.minute == 59);
  CHECK(t.second == 59);
  CHECK(t.second_part == 999999);
  CHECK(from_mysql_time(decode_kind::time, t) == value{x});
  troupe::time_value y{false, 25, 0, 1, 0};
  to_mysql_time(value{y}, t);
  CHECK_FALSE(t.neg);
  CHECK(from_mysql_time(decode_kind::time, t) == value{y});
}

TEST_CASE("from_mysql_time folds the day field of a TIME into hours",
          "[codec]") {
  MYSQL_TIME t;
  std::memset(&t, 0, sizeof(t));
  t.day = 2;
  t.hour = 3;
  t.minute = 4;
  t.second = 5;
  t.second_part = 6;
  t.neg = 1;
  t.time_type = MYSQL_TIMESTAMP_TIME;
  CHECK(from_mysql_time(decode_kind::time, t)
        == value{troupe::time_value{true, 51, 4, 5, 6}});
}

TEST_CASE("a datetime with microseconds round-trips through MYSQL_TIME",
          "[codec]") {
  troupe::datetime x{1999, 12, 31, 23, 59, 58, 123456};
  MYSQL_TIME t;
  to_mysql_time(value{x}, t);
  CHECK(t.time_type == MYSQL_TIMESTAMP_DATETIME);
  CHECK(t.year == 1999);
  CHECK(t.hour == 23);
  CHECK(t.second_part == 123456);
  CHECK_FALSE(t.neg);
  CHECK(from_mysql_time(decode_kind::datetime, t) == value{x});
}

TEST_CASE("to_mysql_time clears fields left over from an earlier value",
          "[codec]") {
  MYSQL_TIME t;
  to_mysql_time(value{troupe::datetime{2024, 1, 2, 3, 4, 5, 6}}, t);
  to_mysql_time(value{troupe::date{2020, 5, 6}}, t);
  CHECK(t.hour == 0);
  CHECK(t.minute == 0);
  CHECK(t.second == 0);
  CHECK(t.second_part == 0);
  CHECK(from_mysql_time(decode_kind::datetime, t)
        == value{troupe::datetime{2020, 5, 6, 0, 0, 0, 0}});
}

// -- temporal parameters --------------------------------------------------------

TEST_CASE("date, time and datetime parameters outside what the server "
          "stores are refused, naming the parameter and the field",
          "[codec]") {
  using troupe::mariadb::detail::check_temporal_params;
  using troupe::date;
  using troupe::datetime;
  using troupe::time_value;
  using troupe::value;
  auto refused = [](std::vector<value> params, const std::string& field) {
    auto err = check_temporal_params(params);
    REQUIRE(err);
    auto e = troupe::info(err);
    CHECK(e.code == troupe::errc::invalid_argument);
    CHECK_THAT(e.message, Catch::Contains("parameter " + std::to_string(params.size())));
    CHECK_THAT(e.message, Catch::Contains(field));
  };
  refused({date{2024, 13, 1}}, "month");
  refused({date{2024, 1, 32}}, "day");
  refused({date{10000, 1, 1}}, "year");
  refused({1, time_value{false, 839, 0, 0, 0}}, "hours");
  refused({time_value{false, 1, 60, 0, 0}}, "minutes");
  refused({time_value{true, 1, 0, 60, 0}}, "seconds");
  refused({time_value{false, 0, 0, 0, 1000000}}, "microseconds");
  refused({datetime{2024, 1, 1, 24, 0, 0, 0}}, "hour");
  refused({"x", datetime{2024, 1, 1, 0, 60, 0, 0}}, "minute");
  refused({datetime{2024, 1, 1, 0, 0, 60, 0}}, "second");
  refused({datetime{2024, 1, 1, 0, 0, 0, 1000000}}, "microsecond");
  refused({datetime{2024, 13, 1, 0, 0, 0, 0}}, "month");
  // The limits themselves, zero dates and other kinds pass.
  CHECK_FALSE(check_temporal_params(
    {date{9999, 12, 31}, date{0, 0, 0}, time_value{true, 838, 59, 59, 999999},
     datetime{9999, 12, 31, 23, 59, 59, 999999}, datetime{}, 1, "s"}));
  // The message never carries the value.
  auto err = check_temporal_params({time_value{false, 12345, 0, 0, 0}});
  CHECK(troupe::info(err).message.find("12345") == std::string::npos);
}

TEST_CASE("a negative zero TIME is sent as zero", "[codec]") {
  using troupe::mariadb::detail::sends_negative;
  using troupe::time_value;
  CHECK_FALSE(sends_negative(time_value{true, 0, 0, 0, 0}));
  CHECK(sends_negative(time_value{true, 0, 0, 0, 1}));
  CHECK(sends_negative(time_value{true, 1, 0, 0, 0}));
  CHECK_FALSE(sends_negative(time_value{false, 1, 0, 0, 0}));
  MYSQL_TIME t{};
  troupe::mariadb::detail::to_mysql_time(troupe::value{time_value{true, 0, 0, 0, 0}}, t);
  CHECK(t.neg == 0);
}
