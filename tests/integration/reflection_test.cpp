// Reflection against the real server: every MariaDB column type, composite
// and unique keys, expression defaults, generated columns, a table without a
// key, a missing table.

#include <catch2/catch.hpp>

#include "scratch.hpp"
#include "troupe/error.hpp"
#include "troupe/schema.hpp"

using namespace troupe;

using test::reflect;

TEST_CASE("reflection reads every MariaDB column type, keys, defaults and "
          "generated columns",
          "[reflection]") {
  test::scratch_database db{"reflect"};
  db.run(R"(CREATE TABLE every_type (
    a TINYINT NOT NULL, b SMALLINT UNSIGNED, c MEDIUMINT, d INT NOT NULL,
    e BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    f FLOAT, g DOUBLE, h DECIMAL(12,3) DEFAULT 1.500, i BIT(5),
    j DATE DEFAULT '2024-02-29', k TIME(3), l DATETIME(6),
    m TIMESTAMP(2) NOT NULL DEFAULT CURRENT_TIMESTAMP(2)
      ON UPDATE CURRENT_TIMESTAMP(2),
    n YEAR, o CHAR(3) CHARACTER SET latin1, p VARCHAR(40) NOT NULL DEFAULT 'it''s',
    q TINYTEXT, r TEXT, s MEDIUMTEXT, t LONGTEXT, u BINARY(4),
    v VARBINARY(9), w TINYBLOB, x BLOB, y MEDIUMBLOB, z LONGBLOB,
    aa JSON, ab ENUM('x','y''z') NOT NULL DEFAULT 'x', ac SET('r','w'),
    ad INET4, ae INET6, af UUID DEFAULT UUID(), ag GEOMETRY,
    ah INT AS (d * 2) VIRTUAL, ai INT AS (d + 1) PERSISTENT,
    aj VARCHAR(10) DEFAULT NULL,
    PRIMARY KEY (e, d), UNIQUE KEY uq_p (p), UNIQUE KEY uq_oa (o, a),
    KEY plain (b)))");
  auto conn = test::connect(db.options());
  auto t = reflect(*conn, db.name(), "every_type");
  REQUIRE(t);
  CHECK(t->database == db.name());
  CHECK(t->name == "every_type");
  REQUIRE(t->columns.size() == 36);
  CHECK(t->columns[0].name == "a");
  CHECK(t->columns[35].name == "aj");
  auto at = [&](const char* name) -> const column_schema& {
    auto* c = t->column(name);
    REQUIRE(c);
    return *c;
  };
  struct expect {
    const char* name;
    column_type type;
  };
  for (auto [name, type] : std::vector<expect>{
         {"a", column_type::tinyint},   {"b", column_type::smallint},
         {"c", column_type::mediumint}, {"d", column_type::int_},
         {"e", column_type::bigint},    {"f", column_type::float_},
         {"g", column_type::double_},   {"h", column_type::decimal},
         {"i", column_type::bit},       {"j", column_type::date},
         {"k", column_type::time},      {"l", column_type::datetime},
         {"m", column_type::timestamp}, {"n", column_type::year},
         {"o", column_type::char_},     {"p", column_type::varchar},
         {"q", column_type::text},      {"t", column_type::text},
         {"u", column_type::binary},    {"v", column_type::varbinary},
         {"w", column_type::blob},      {"z", column_type::blob},
         {"aa", column_type::text},     {"ab", column_type::enum_},
         {"ac", column_type::set},      {"ad", column_type::inet4},
         {"ae", column_type::inet6},    {"af", column_type::uuid}}) {
    INFO(name);
    CHECK(at(name).type == type);
  }
  // MariaDB's JSON is LONGTEXT with a CHECK: reflected as what it is.
  CHECK(at("aa").data_type == "longtext");
  // GEOMETRY is not a type the engine knows: reported, not guessed.
  CHECK(at("ag").type == column_type::unknown);
  CHECK(at("ag").sql_type == "geometry");
  CHECK(t->unsupported_columns() == std::vector<std::string>{"ag"});
  // Sizes, signs, nullability.
  CHECK(at("b").is_unsigned);
  CHECK_FALSE(at("c").is_unsigned);
  CHECK_FALSE(at("a").nullable);
  CHECK(at("b").nullable);
  CHECK(at("h").precision == 12);
  CHECK(at("h").scale == 3);
  CHECK(at("i").max_length == 5);
  CHECK(at("k").fractional_digits == 3);
  CHECK(at("l").fractional_digits == 6);
  CHECK(at("o").max_length == 3);
  CHECK(at("o").charset == "latin1");
  CHECK(at("p").max_length == 40);
  CHECK(at("v").max_length == 9);
  CHECK(at("ab").members == std::vector<std::string>{"x", "y'z"});
  CHECK(at("ac").members == std::vector<std::string>{"r", "w"});
  // Defaults.
  CHECK(at("a").default_value.what == column_default::kind::none);
  CHECK(at("b").default_value.what == column_default::kind::null);
  CHECK(at("aj").default_value.what == column_default::kind::null);
  CHECK(at("h").default_value.what == column_default::kind::literal);
  CHECK(at("h").default_value.text == "1.500");
  CHECK(at("j").default_value.text == "2024-02-29");
  CHECK(at("p").default_value.what == column_default::kind::literal);
  CHECK(at("p").default_value.text == "it's");
  CHECK(at("ab").default_value.text == "x");
  CHECK(at("m").default_value.what == column_default::kind::expression);
  CHECK_THAT(at("m").default_value.text,
             Catch::Contains("current_timestamp", Catch::CaseSensitive::No));
  CHECK(at("m").on_update);
  CHECK(at("af").default_value.what == column_default::kind::expression);
  // Auto-increment and generated columns.
  CHECK(at("e").auto_increment);
  CHECK_FALSE(at("d").auto_increment);
  CHECK(at("ah").generated == generated_kind::virtual_column);
  CHECK(at("ai").generated == generated_kind::stored);
  CHECK_THAT(at("ah").generation_expression, Catch::Contains("2"));
  CHECK(at("ah").default_value.what == column_default::kind::none);
  CHECK(at("ah").optional_on_insert());
  CHECK_FALSE(at("a").optional_on_insert());
  CHECK(at("p").optional_on_insert());
  // Keys: the composite primary key in key order, the unique keys, not the
  // plain index.
  CHECK(t->primary_key == std::vector<std::string>{"e", "d"});
  REQUIRE(t->unique_keys.size() == 2);
  CHECK(t->unique_keys[0].name == "uq_oa");
  CHECK(t->unique_keys[0].columns == std::vector<std::string>{"o", "a"});
  CHECK(t->unique_keys[1].columns == std::vector<std::string>{"p"});
  // The connection's current database is the default.
  auto here = reflect(*conn, "", "every_type");
  REQUIRE(here);
  CHECK(here->columns.size() == 36);
}

TEST_CASE("a table without a key reflects, and reports no primary key",
          "[reflection]") {
  test::scratch_database db{"reflect"};
  db.run("CREATE TABLE no_key (a INT, b TEXT)");
  auto conn = test::connect(db.options());
  auto t = reflect(*conn, db.name(), "no_key");
  REQUIRE(t);
  CHECK(t->columns.size() == 2);
  CHECK_FALSE(t->has_primary_key());
  CHECK(t->unique_keys.empty());
}

TEST_CASE("a missing table, or one named by someone else's case, is "
          "not_found; a bad name is refused before anything is sent",
          "[reflection]") {
  test::scratch_database db{"reflect"};
  db.run("CREATE TABLE present (a INT PRIMARY KEY)");
  auto conn = test::connect(db.options());
  auto missing = reflect(*conn, db.name(), "absent");
  REQUIRE_FALSE(missing);
  CHECK(info(missing.error()).code == errc::not_found);
  CHECK_THAT(info(missing.error()).message, Catch::Contains("absent"));
  auto other_db = reflect(*conn, "no_such_database_here", "present");
  REQUIRE_FALSE(other_db);
  CHECK(info(other_db.error()).code == errc::not_found);
  auto injected = reflect(*conn, db.name(), "present' OR '1'='1");
  REQUIRE_FALSE(injected);
  CHECK(info(injected.error()).code == errc::not_found);
  auto bad = reflect(*conn, db.name(), std::string(65, 'p'));
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::invalid_argument);
}
