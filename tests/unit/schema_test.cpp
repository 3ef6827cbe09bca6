// Reflection's pure parts: type names, ENUM/SET members, defaults, and the
// schema built from information_schema rows (the server's own rows are in
// tests/integration/reflection_test.cpp).

#include <catch2/catch.hpp>

#include "troupe/error.hpp"
#include "troupe/schema.hpp"

using namespace troupe;

namespace {

// A result with the given column names and rows of cells.
result rows(std::vector<std::string> names,
            std::vector<std::vector<value>> cells) {
  result_set set;
  for (auto& n : names) {
    column c;
    c.name = n;
    set.columns().push_back(c);
  }
  for (auto& row : cells) {
    REQUIRE(row.size() == names.size());
    for (auto& v : row)
      set.cells().push_back(v);
  }
  return result{std::move(set)};
}

const std::vector<std::string> column_names{
  "TABLE_SCHEMA",  "COLUMN_NAME",          "DATA_TYPE",
  "COLUMN_TYPE",   "IS_NULLABLE",          "COLUMN_DEFAULT",
  "EXTRA",         "CHARACTER_MAXIMUM_LENGTH", "NUMERIC_PRECISION",
  "NUMERIC_SCALE", "DATETIME_PRECISION",   "CHARACTER_SET_NAME",
  "GENERATION_EXPRESSION"};

std::vector<value> col(std::string name, std::string data_type,
                       std::string sql_type, bool nullable, value def,
                       std::string extra = "") {
  return {"app", std::move(name), std::move(data_type), std::move(sql_type),
          nullable ? "YES" : "NO", std::move(def), std::move(extra),
          null_t{}, null_t{}, null_t{}, null_t{}, null_t{}, null_t{}};
}

} // namespace

TEST_CASE("information_schema type names map to the engine's types, and "
          "unknown ones stay unknown",
          "[schema]") {
  CHECK(column_type_of("int") == column_type::int_);
  CHECK(column_type_of("BIGINT") == column_type::bigint);
  CHECK(column_type_of("longtext") == column_type::text);
  CHECK(column_type_of("mediumblob") == column_type::blob);
  CHECK(column_type_of("inet6") == column_type::inet6);
  CHECK(column_type_of("uuid") == column_type::uuid);
  CHECK(column_type_of("enum") == column_type::enum_);
  CHECK(column_type_of("geometry") == column_type::unknown);
  CHECK(column_type_of("vector") == column_type::unknown);
  CHECK(column_type_of("") == column_type::unknown);
}

TEST_CASE("ENUM and SET members are parsed with quotes and escapes",
          "[schema]") {
  auto m = parse_members("enum('a','it''s','x,y','')");
  REQUIRE(m);
  CHECK(*m == std::vector<std::string>{"a", "it's", "x,y", ""});
  auto s = parse_members("set('r','w')");
  REQUIRE(s);
  CHECK(*s == std::vector<std::string>{"r", "w"});
  auto bs = parse_members("enum('back\\\\slash')");
  REQUIRE(bs);
  CHECK(*bs == std::vector<std::string>{"back\\slash"});
  for (auto bad : {"int(11)", "enum(", "enum('a'", "enum('a',)", "enum(a)",
                   "enum('a')x", "set('a''"}) {
    INFO(bad);
    auto r = parse_members(bad);
    REQUIRE_FALSE(r);
    CHECK(info(r.error()).code == errc::invalid_argument);
  }
}

TEST_CASE("defaults: none, NULL, literals and expressions", "[schema]") {
  CHECK(parse_default(null_t{}).what == column_default::kind::none);
  CHECK(parse_default("NULL").what == column_default::kind::null);
  auto s = parse_default("'it''s'");
  CHECK(s.what == column_default::kind::literal);
  CHECK(s.text == "it's");
  // The string 'NULL' is a literal, not DEFAULT NULL.
  auto quoted_null = parse_default("'NULL'");
  CHECK(quoted_null.what == column_default::kind::literal);
  CHECK(quoted_null.text == "NULL");
  auto empty = parse_default("''");
  CHECK(empty.what == column_default::kind::literal);
  CHECK(empty.text.empty());
  for (auto n : {"0", "-1", "1.50", "1e3", "-2.5E-3"}) {
    auto d = parse_default(n);
    CHECK(d.what == column_default::kind::literal);
    CHECK(d.text == n);
  }
  for (auto e : {"current_timestamp()", "uuid()", "(`a` + 1)", "1e", "--1"}) {
    INFO(e);
    auto d = parse_default(e);
    CHECK(d.what == column_default::kind::expression);
    CHECK(d.text == e);
  }
}

TEST_CASE("a schema is built from column and key rows", "[schema]") {
  auto columns = rows(
    column_names,
    {col("id", "bigint", "bigint(20) unsigned", false, null_t{},
         "auto_increment"),
     col("name", "varchar", "varchar(40)", false, "'anon'"),
     col("kind", "enum", "enum('a','b')", true, "NULL"),
     col("made", "timestamp", "timestamp", false, "current_timestamp()",
         "on update current_timestamp()"),
     col("twice", "bigint", "bigint(20)", true, null_t{}, "VIRTUAL GENERATED"),
     col("shape", "geometry", "geometry", true, null_t{})});
  auto keys = rows({"INDEX_NAME", "COLUMN_NAME"},
                   {{"PRIMARY", "id"}, {"uq", "name"}, {"uq", "kind"}});
  auto t = build_table_schema("t", columns, keys);
  REQUIRE(t);
  CHECK(t->database == "app");
  REQUIRE(t->columns.size() == 6);
  auto& id = t->columns[0];
  CHECK(id.type == column_type::bigint);
  CHECK(id.is_unsigned);
  CHECK(id.auto_increment);
  CHECK_FALSE(id.nullable);
  CHECK(id.optional_on_insert());
  auto* name = t->column("name");
  REQUIRE(name);
  CHECK(name->default_value.what == column_default::kind::literal);
  CHECK(name->default_value.text == "anon");
  CHECK(t->column("kind")->members == std::vector<std::string>{"a", "b"});
  CHECK(t->column("made")->on_update);
  CHECK(t->column("made")->default_value.what
        == column_default::kind::expression);
  CHECK(t->column("twice")->generated == generated_kind::virtual_column);
  CHECK(t->column("Name") == nullptr); // exact names
  CHECK(t->primary_key == std::vector<std::string>{"id"});
  REQUIRE(t->unique_keys.size() == 1);
  CHECK(t->unique_keys[0].columns == std::vector<std::string>{"name", "kind"});
  CHECK(t->unsupported_columns() == std::vector<std::string>{"shape"});
}

TEST_CASE("reflection refuses bad names, missing tables and wrong shapes",
          "[schema]") {
  auto bad = reflect_columns("app", std::string(65, 'x'));
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::invalid_argument);
  CHECK_FALSE(reflect_keys(std::string("a\0b", 3), "t"));
  // Names are bound, never spliced.
  auto ok = reflect_columns("app", "t'; DROP TABLE x; --");
  REQUIRE(ok);
  CHECK(ok->sql.find("DROP") == std::string::npos);
  REQUIRE(ok->params.size() == 2);
  CHECK(ok->params[1] == value{"t'; DROP TABLE x; --"});
  auto current = reflect_keys("", "t");
  REQUIRE(current);
  CHECK(current->params.size() == 1);
  CHECK(current->sql.find("DATABASE()") != std::string::npos);
  auto keys = rows({"INDEX_NAME", "COLUMN_NAME"}, {});
  auto missing = build_table_schema("nope", rows(column_names, {}), keys);
  REQUIRE_FALSE(missing);
  CHECK(info(missing.error()).code == errc::not_found);
  auto wrong = build_table_schema("t", rows({"a"}, {{1}}), keys);
  REQUIRE_FALSE(wrong);
  CHECK(info(wrong.error()).code == errc::internal);
}
