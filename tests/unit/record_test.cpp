// Records and their validation against a schema, without a server (the
// server agrees: tests/integration/validation_test.cpp).

#include <cfloat>

#include <catch2/catch.hpp>

#include "troupe/error.hpp"
#include "troupe/record.hpp"

using namespace troupe;
using namespace std::string_literals;

namespace {

column_schema col(std::string name, column_type type, std::string sql_type,
                  bool nullable = true) {
  column_schema c;
  c.name = std::move(name);
  c.type = type;
  c.sql_type = std::move(sql_type);
  c.nullable = nullable;
  return c;
}

table_schema users() {
  table_schema t;
  t.name = "users";
  auto id = col("id", column_type::bigint, "bigint(20) unsigned", false);
  id.is_unsigned = true;
  id.auto_increment = true;
  auto name = col("name", column_type::varchar, "varchar(5)", false);
  name.max_length = 5;
  auto age = col("age", column_type::tinyint, "tinyint(3) unsigned");
  age.is_unsigned = true;
  auto kind = col("kind", column_type::enum_, "enum('a','b')", false);
  kind.members = {"a", "b"};
  kind.default_value.what = column_default::kind::literal;
  kind.default_value.text = "a";
  auto twice = col("twice", column_type::int_, "int(11)");
  twice.generated = generated_kind::virtual_column;
  t.columns = {id, name, age, kind, twice};
  t.primary_key = {"id"};
  return t;
}

std::string message_of(const caf::error& err) {
  return info(err).message;
}

} // namespace

TEST_CASE("a record keeps its columns in order and reads them typed",
          "[record]") {
  record r{{"name", "ada"}, {"age", 36}};
  r.set("age", 37).set("kind", "b");
  REQUIRE(r.size() == 3);
  CHECK(r.fields()[0].first == "name");
  CHECK(r.fields()[2].first == "kind");
  CHECK(r.get<int64_t>("age") == 37);
  CHECK(r.get<std::string>("name") == "ada"s);
  auto missing = r.get<int64_t>("nope");
  REQUIRE_FALSE(missing);
  CHECK(info(missing.error()).code == errc::not_found);
  auto wrong = r.get<int64_t>("name");
  REQUIRE_FALSE(wrong);
  CHECK(info(wrong.error()).code == errc::type_mismatch);
}

TEST_CASE("a valid record passes for create, update and key", "[record]") {
  auto t = users();
  CHECK_FALSE(validate(t, {{"name", "ada"}}, write_kind::create));
  CHECK_FALSE(validate(t, {{"id", null_t{}}, {"name", "ada"}, {"age", 255}},
                       write_kind::create));
  CHECK_FALSE(validate(t, {{"age", null_t{}}}, write_kind::update));
  CHECK_FALSE(validate(t, {{"id", 7}}, write_kind::key));
  CHECK_FALSE(validate(t, {{"name", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"}},
                       write_kind::update)); // 5 characters, 10 bytes
  CHECK_FALSE(validate(t, {{"kind", "B"}}, write_kind::update));
}

TEST_CASE("each validation error names the column and never the value",
          "[record]") {
  auto t = users();
  struct bad_case {
    record r;
    write_kind kind;
    const char* says;
  };
  std::vector<bad_case> cases{
    {{{"nick", "x"}, {"name", "ada"}}, write_kind::create, "no column 'nick'"},
    {{{"name", "ada"}, {"name", "bob"}}, write_kind::create, "given twice"},
    {{{"age", 3}}, write_kind::create, "'name'"},
    {{{"name", null_t{}}}, write_kind::update, "NULL for a NOT NULL"},
    {{{"name", "secret"}}, write_kind::update, "longer than the column's 5"},
    {{{"age", 256}}, write_kind::update, "out of the column's range"},
    {{{"age", -1}}, write_kind::update, "out of the column's range"},
    {{{"age", 1.5}}, write_kind::update, "fractional"},
    {{{"age", "12"}}, write_kind::update, "string value"},
    {{{"kind", "c"}}, write_kind::update, "not one of the ENUM"},
    {{{"twice", 2}}, write_kind::update, "generated"},
    {{{"name", "\xFF"}}, write_kind::update, "not valid UTF-8"},
    {{}, write_kind::update, "changes no column"},
    {{{"name", "ada"}}, write_kind::key, "not part of the primary key"},
    {{}, write_kind::key, "lacks column 'id'"},
  };
  for (auto& c : cases) {
    INFO(c.says);
    auto err = validate(t, c.r, c.kind);
    REQUIRE(err);
    CHECK(info(err).code == errc::invalid_argument);
    CHECK_THAT(message_of(err), Catch::Contains(c.says));
    CHECK_THAT(message_of(err), !Catch::Contains("secret"));
  }
  auto keyless = t;
  keyless.primary_key.clear();
  auto err = validate(keyless, {{"id", 1}}, write_kind::key);
  REQUIRE(err);
  CHECK(info(err).code == errc::unsupported);
}

TEST_CASE("values are checked against each column type's range and form",
          "[record]") {
  auto ok = [](const column_schema& c, value x) {
    return !validate_value(c, x);
  };
  auto tiny = col("t", column_type::tinyint, "tinyint(4)");
  CHECK(ok(tiny, -128));
  CHECK(ok(tiny, 127));
  CHECK_FALSE(ok(tiny, 128));
  CHECK_FALSE(ok(tiny, -129));
  CHECK(ok(tiny, decimal{"12.000"}));
  CHECK_FALSE(ok(tiny, decimal{"12.5"}));
  auto big = col("b", column_type::bigint, "bigint(20) unsigned");
  big.is_unsigned = true;
  CHECK(ok(big, UINT64_MAX));
  CHECK_FALSE(ok(big, -1));
  auto sbig = col("s", column_type::bigint, "bigint(20)");
  CHECK(ok(sbig, INT64_MIN));
  CHECK_FALSE(ok(sbig, uint64_t{1} << 63));
  auto f = col("f", column_type::float_, "float");
  CHECK(ok(f, static_cast<double>(FLT_MAX)));
  CHECK_FALSE(ok(f, 1e39));
  CHECK_FALSE(ok(f, std::numeric_limits<double>::infinity()));
  auto d = col("d", column_type::decimal, "decimal(5,2)");
  d.precision = 5;
  d.scale = 2;
  CHECK(ok(d, decimal{"999.99"}));
  CHECK(ok(d, decimal{"-0999.994"})); // rounded by the server
  CHECK_FALSE(ok(d, decimal{"1000.00"}));
  CHECK_FALSE(ok(d, 1000));
  CHECK_FALSE(ok(d, "1.0"));
  auto bits = col("b", column_type::bit, "bit(5)");
  bits.max_length = 5;
  CHECK(ok(bits, 31));
  CHECK_FALSE(ok(bits, 32));
  auto set = col("s", column_type::set, "set('r','w')");
  set.members = {"r", "w"};
  CHECK(ok(set, "r,w"));
  CHECK(ok(set, ""));
  CHECK_FALSE(ok(set, "r,x"));
  auto ts = col("ts", column_type::timestamp, "timestamp");
  CHECK(ok(ts, datetime{2024, 2, 29, 12, 0, 0, 0}));
  CHECK_FALSE(ok(ts, datetime{1969, 12, 31, 0, 0, 0, 0}));
  CHECK_FALSE(ok(ts, "2024-01-01"));
  auto dt = col("dt", column_type::date, "date");
  CHECK(ok(dt, date{2024, 2, 29}));
  CHECK_FALSE(ok(dt, datetime{2024, 2, 29, 1, 0, 0, 0}));
  auto uuid = col("u", column_type::uuid, "uuid");
  CHECK(ok(uuid, "123e4567-e89b-12d3-a456-426614174000"));
  CHECK_FALSE(ok(uuid, "123e4567-e89b-12d3-a456-42661417400"));
  auto v4 = col("a", column_type::inet4, "inet4");
  CHECK(ok(v4, "10.0.0.1"));
  CHECK_FALSE(ok(v4, "10.0.0.256"));
  CHECK_FALSE(ok(v4, "::1"));
  auto v6 = col("a", column_type::inet6, "inet6");
  CHECK(ok(v6, "::1"));
  CHECK_FALSE(ok(v6, "::g"));
  auto bin = col("b", column_type::varbinary, "varbinary(3)");
  bin.max_length = 3;
  CHECK(ok(bin, bytes{1, 2, 3}));
  CHECK_FALSE(ok(bin, bytes{1, 2, 3, 4}));
  auto text = col("t", column_type::text, "tinytext");
  text.max_length = 4;
  CHECK(ok(text, "\xC3\xA9\xC3\xA9")); // 2 characters, 4 bytes
  CHECK_FALSE(ok(text, "\xC3\xA9\xC3\xA9x")); // 5 bytes: TEXT counts bytes
  auto geo = col("g", column_type::unknown, "geometry");
  CHECK_FALSE(ok(geo, "POINT(1 1)"));
  CHECK(ok(geo, null_t{}));
}
