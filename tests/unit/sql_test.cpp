#include "troupe/sql.hpp"

#include <chrono>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "troupe/error.hpp"

using Catch::Matchers::Contains;
using troupe::errc;
using troupe::sql::classify;
using troupe::sql::quote_identifier;
using troupe::sql::statement_traits;
using troupe::sql::validate_identifier;

namespace {

// Validates a name that must be rejected and returns the decoded error.
troupe::error_info rejected(std::string_view name, std::string_view what) {
  INFO("name: '" << name << "'");
  auto err = validate_identifier(name, what);
  if (!err)
    FAIL("validate_identifier accepted an invalid name");
  return troupe::info(err);
}

} // namespace

// -- classify: implicit commits -----------------------------------------------

TEST_CASE("classify marks DDL and administrative statements as implicit "
          "commits",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "CREATE TABLE t (a INT)",
                       "create table t (a int)",
                       "CREATE OR REPLACE TABLE t (a INT)",
                       "ALTER TABLE t ADD COLUMN b INT",
                       "DROP TABLE t",
                       "DROP DATABASE d",
                       "RENAME TABLE t TO u",
                       "TRUNCATE TABLE t",
                       "TRUNCATE t",
                       "GRANT SELECT ON d.* TO 'u'@'%'",
                       "REVOKE SELECT ON d.* FROM 'u'@'%'",
                       "LOCK TABLES t WRITE",
                       "UNLOCK TABLES",
                       "ANALYZE TABLE t",
                       "OPTIMIZE TABLE t",
                       "FLUSH PRIVILEGES",
                       "SET PASSWORD = PASSWORD('x')",
                       "LOAD INDEX INTO CACHE t",
                       "START SLAVE",
                       "STOP SLAVE",
                       "CREATE INDEX i ON t (a)",
                       "DROP INDEX i ON t",
                       "CREATE USER 'u'@'%'",
                       "RENAME USER 'u'@'%' TO 'v'@'%'",
                       "CREATE VIEW v AS SELECT 1",
                       "CREATE SEQUENCE s",
                       "ALTER SEQUENCE s RESTART",
                       "REPAIR TABLE t",
                       "CHECK TABLE t",
                       "CACHE INDEX t IN hot",
                       "CHANGE MASTER TO MASTER_HOST='h'",
                       "RESET MASTER");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK(traits.implicit_commit);
  CHECK_FALSE(traits.transaction_control);
  CHECK_FALSE(traits.opaque);
}

TEST_CASE("classify does not mark DDL on temporary tables as an implicit "
          "commit",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "CREATE TEMPORARY TABLE t (a INT)",
                       "create temporary table t (a int)",
                       "CREATE OR REPLACE TEMPORARY TABLE t (a INT)",
                       "DROP TEMPORARY TABLE t",
                       "DROP TEMPORARY TABLE IF EXISTS t",
                       "CREATE /* why */ TEMPORARY TABLE t (a INT)");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK_FALSE(traits.implicit_commit);
  CHECK_FALSE(traits.transaction_control);
}

TEST_CASE("classify marks plain data statements as neither implicit commit "
          "nor transaction control",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "SELECT 1",
                       "INSERT INTO t VALUES (1)",
                       "UPDATE t SET a = 1",
                       "DELETE FROM t",
                       "LOAD DATA INFILE '/tmp/x' INTO TABLE t",
                       "CALL p()",
                       "WITH c AS (SELECT 1) SELECT * FROM c",
                       "SET @x = 1",
                       "SET SESSION sql_mode = ''");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK_FALSE(traits.implicit_commit);
  CHECK_FALSE(traits.transaction_control);
  CHECK_FALSE(traits.opaque);
}

// MariaDB's list of statements that cause an implicit commit names SHUTDOWN.
TEST_CASE("classify marks SHUTDOWN as an implicit commit", "[sql]") {
  CHECK(classify("SHUTDOWN").implicit_commit);
  CHECK(classify("shutdown wait for all replicas").implicit_commit);
}

// -- classify: transaction control --------------------------------------------

TEST_CASE("classify marks statements that start, end or mark transactions as "
          "transaction control",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "BEGIN",
                       "BEGIN;",
                       "begin work",
                       "START TRANSACTION",
                       "START TRANSACTION READ ONLY",
                       "COMMIT",
                       "ROLLBACK",
                       "ROLLBACK TO SAVEPOINT a",
                       "SAVEPOINT a",
                       "RELEASE SAVEPOINT a",
                       "SET autocommit=0",
                       "SET SESSION autocommit = 1",
                       "XA START 'x'");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK(traits.transaction_control);
  CHECK_FALSE(traits.opaque);
}

TEST_CASE("classify does not take BEGIN NOT ATOMIC for transaction control",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "BEGIN NOT ATOMIC SELECT 1; END",
                       "begin not atomic select 1; end",
                       "BEGIN\n  NOT ATOMIC\n  SELECT 1;\nEND");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK(traits.keyword == "BEGIN");
  CHECK_FALSE(traits.transaction_control);
}

// MariaDB documents SET @@autocommit and SET @@session.autocommit as the same
// variable as SET autocommit: a session must not let them through.
TEST_CASE("classify marks SET @@autocommit as transaction control", "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "SET @@autocommit = 0",
                       "SET @@session.autocommit = 0",
                       "SET @@SESSION.AUTOCOMMIT=1");
  CAPTURE(text);
  CHECK(classify(text).transaction_control);
}

// SET STATEMENT var=value FOR <statement> runs <statement>; when that is DDL,
// MariaDB commits the open transaction just as for the bare statement.
TEST_CASE("classify judges the statement run by SET STATEMENT ... FOR",
          "[sql]") {
  CHECK(classify("SET STATEMENT max_statement_time=60 FOR "
                 "CREATE TABLE t (a INT)")
          .implicit_commit);
  CHECK(classify("SET STATEMENT lock_wait_timeout=5 FOR ALTER TABLE t "
                 "ADD COLUMN b INT")
          .implicit_commit);
  CHECK_FALSE(classify("SET STATEMENT max_statement_time=60 FOR SELECT 1")
                .implicit_commit);
}

// -- classify: what comes before the keyword ----------------------------------

TEST_CASE("classify skips whitespace and comments before the keyword",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "   CREATE TABLE t (a INT)",
                       "\t\r\n\n CREATE TABLE t (a INT)",
                       "-- a comment\nCREATE TABLE t (a INT)",
                       "--\ttab comment\nCREATE TABLE t (a INT)",
                       "--\nCREATE TABLE t (a INT)",
                       "# a comment\nCREATE TABLE t (a INT)",
                       "#no space needed\nCREATE TABLE t (a INT)",
                       "/* a comment */CREATE TABLE t (a INT)",
                       "/**/ CREATE TABLE t (a INT)",
                       "/* multi\n line */\n CREATE TABLE t (a INT)",
                       "/* a */ -- b\n # c\n /* d */ CREATE TABLE t (a INT)");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK(traits.keyword == "CREATE");
  CHECK(traits.implicit_commit);
  CHECK_FALSE(traits.opaque);
}

TEST_CASE("classify does not take --x without a space for a comment", "[sql]") {
  // In MySQL and MariaDB "--" starts a comment only when followed by
  // whitespace; "--x" is two minus signs before x.
  auto traits = classify("--x\nDROP TABLE t");
  CHECK(traits.keyword.empty());
  CHECK(traits.keyword != "DROP");
  CHECK_FALSE(traits.implicit_commit);
  CHECK_FALSE(traits.transaction_control);

  auto commit = classify("--x\nCOMMIT");
  CHECK(commit.keyword.empty());
  CHECK_FALSE(commit.transaction_control);
}

TEST_CASE("classify marks a statement starting with an executable comment as "
          "opaque",
          "[sql]") {
  auto text = GENERATE(
    as<std::string>{}, //
    "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
    "/*!40101 SET NAMES utf8mb4 */;",
    "  /*!40014 SET FOREIGN_KEY_CHECKS=0 */",
    "/*! CREATE TABLE t (a INT) */",
    "/* plain */ /*!40101 SET SQL_MODE='' */",
    "-- dump\n/*!40101 SET SQL_MODE='' */");
  CAPTURE(text);
  CHECK(classify(text).opaque);
}

// MariaDB documents /*M! ... */ and /*M!###### ... */ as executable comments
// that only MariaDB runs; they are as opaque as /*! ... */.
TEST_CASE("classify marks a statement starting with a MariaDB executable "
          "comment as opaque",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "/*M!100100 SET @x = 1 */",
                       "/*M! CREATE TABLE t (a INT) */");
  CAPTURE(text);
  CHECK(classify(text).opaque);
}

TEST_CASE("classify gives no keyword and no flags for empty or comment-only "
          "text",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "",
                       "   \n\t ",
                       "-- only a comment",
                       "-- only a comment\n",
                       "--",
                       "# only a comment",
                       "/* only a comment */",
                       "/* never closed CREATE TABLE t (a INT)",
                       "/* a */ -- b\n# c\n");
  CAPTURE(text);
  auto traits = classify(text);
  CHECK(traits.keyword.empty());
  CHECK_FALSE(traits.implicit_commit);
  CHECK_FALSE(traits.transaction_control);
  CHECK_FALSE(traits.opaque);
}

TEST_CASE("classify returns the first keyword upper-case", "[sql]") {
  CHECK(classify("select 1").keyword == "SELECT");
  CHECK(classify("SeLeCt 1").keyword == "SELECT");
  CHECK(classify("insert into t values (1)").keyword == "INSERT");
  CHECK(classify("commit;").keyword == "COMMIT");
  CHECK(classify("select(1)").keyword == "SELECT");
  CHECK(classify("  -- c\n  rollback").keyword == "ROLLBACK");
}

// -- classify: session state ---------------------------------------------------

TEST_CASE("classify marks statements that leave state in the session",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
                       "SET time_zone = '+05:00'",
                       "set @@session.time_zone = '+05:00'",
                       "SET NAMES latin1",
                       "SET CHARACTER SET latin1",
                       "SET @x = 1",
                       "SET ROLE r",
                       "USE mysql",
                       "use `mysql`",
                       "LOCK TABLES t WRITE",
                       "LOCK TABLE t READ",
                       "FLUSH TABLES WITH READ LOCK",
                       "SELECT GET_LOCK('x', 0)",
                       "select get_lock('x', 0)",
                       "DO GET_LOCK('x', 0)",
                       "SELECT * FROM t WHERE a = (SELECT get_lock('x', 1))",
                       "SELECT @x",
                       "SELECT a INTO @x FROM t",
                       "INSERT INTO t VALUES (@x)",
                       "CREATE TEMPORARY TABLE tmp (a INT)",
                       "CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)",
                       "PREPARE s FROM 'SELECT 1'",
                       "EXECUTE s",
                       "DEALLOCATE PREPARE s",
                       "HANDLER t OPEN",
                       "CALL p()",
                       "BEGIN NOT ATOMIC SET @a = 1; END",
                       "/*!40101 SET NAMES utf8 */",
                       "SET STATEMENT max_statement_time = 1 FOR SET @x = 1");
  CAPTURE(text);
  CHECK(classify(text).session_state);
}

TEST_CASE("classify does not mark statements that leave no session state",
          "[sql]") {
  auto text = GENERATE(as<std::string>{}, //
                       "SELECT 1",
                       "SELECT * FROM t WHERE a = ? FOR UPDATE",
                       "INSERT INTO t VALUES (1)",
                       "UPDATE t SET a = 1",
                       "DELETE FROM t",
                       "WITH c AS (SELECT 1) SELECT * FROM c",
                       "CREATE TABLE t (a INT)",
                       "DROP TABLE t",
                       "UNLOCK TABLES",
                       "SELECT RELEASE_LOCK('x')",
                       "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                       "SET STATEMENT max_statement_time = 1 FOR SELECT 1",
                       "SHOW TABLES",
                       "SELECT @@version",
                       "SELECT CONNECTION_ID(), @@SESSION.sql_mode",
                       "");
  CAPTURE(text);
  CHECK_FALSE(classify(text).session_state);
}

// -- validate_identifier ------------------------------------------------------

TEST_CASE("validate_identifier accepts letters, digits, '_' and '$' up to 64 "
          "characters",
          "[sql]") {
  auto name = GENERATE(as<std::string>{}, //
                       "a",
                       "A_1",
                       "$x",
                       "t123",
                       "_",
                       "1a",
                       std::string(64, 'x'));
  CAPTURE(name);
  CHECK_FALSE(validate_identifier(name, "savepoint"));
}

TEST_CASE("validate_identifier rejects an empty name, naming what it checked",
          "[sql]") {
  auto err = rejected("", "savepoint");
  CHECK(err.code == errc::invalid_argument);
  CHECK(err.is_troupe);
  CHECK_THAT(err.message, Contains("savepoint"));
  CHECK_THAT(err.message, Contains("empty"));
}

TEST_CASE("validate_identifier rejects a name longer than 64 characters",
          "[sql]") {
  auto err = rejected(std::string(65, 'x'), "table");
  CHECK(err.code == errc::invalid_argument);
  CHECK_THAT(err.message, Contains("table"));
  CHECK_THAT(err.message, Contains("64"));
}

TEST_CASE("validate_identifier rejects characters other than letters, digits, "
          "'_' and '$'",
          "[sql]") {
  auto name = GENERATE(as<std::string>{}, //
                       "a b",
                       "a`b",
                       "`",
                       "a'b",
                       "a\"b",
                       "a;b",
                       "a-b",
                       "caf\xc3\xa9", // "café" in UTF-8
                       std::string("a\0b", 3));
  auto err = rejected(name, "column");
  CHECK(err.code == errc::invalid_argument);
  CHECK_THAT(err.message, Contains("column"));
  CHECK_THAT(err.message, Contains("character"));
}

TEST_CASE("validate_identifier rejects a name of only digits", "[sql]") {
  auto err = rejected("123", "savepoint");
  CHECK(err.code == errc::invalid_argument);
  CHECK_THAT(err.message, Contains("savepoint"));
  CHECK_THAT(err.message, Contains("digits"));
}

// -- quote_identifier ---------------------------------------------------------

TEST_CASE("quote_identifier wraps a name in backticks", "[sql]") {
  CHECK(quote_identifier("a") == std::string{"`a`"});
  CHECK(quote_identifier("A_1$") == std::string{"`A_1$`"});
}

TEST_CASE("quote_identifier doubles backticks inside the name", "[sql]") {
  CHECK(quote_identifier("a`b") == std::string{"`a``b`"});
  CHECK(quote_identifier("`") == std::string{"````"});
  CHECK(quote_identifier("x`; DROP TABLE t; --")
        == std::string{"`x``; DROP TABLE t; --`"});
}

TEST_CASE("quote_identifier accepts UTF-8 names of up to 64 characters",
          "[sql]") {
  CHECK(quote_identifier("donn\xC3\xA9" "es")
        == std::string{"`donn\xC3\xA9" "es`"});
  CHECK(quote_identifier("\xE2\x82\xAC") == std::string{"`\xE2\x82\xAC`"});
  CHECK(quote_identifier("\xF0\x9F\x98\x80")
        == std::string{"`\xF0\x9F\x98\x80`"});
  // 64 two-byte characters are 128 bytes and still one identifier.
  std::string e_acute;
  for (int i = 0; i < 64; ++i)
    e_acute += "\xC3\xA9";
  CHECK(quote_identifier(e_acute));
}

TEST_CASE("quote_identifier refuses names that could close the quotes under "
          "a multibyte character set",
          "[sql]") {
  auto name = GENERATE(as<std::string>{}, //
                       std::string{"\x81`; SELECT CURRENT_USER(); -- "}, // gbk lead + backtick
                       std::string{"a\x81`"},
                       std::string{"\x95\x60"},      // sjis: 0x60 as trail byte
                       std::string{"\xC3"},          // cut short
                       std::string{"\xC0\xA0"},      // overlong
                       std::string{"\xED\xA0\x80"},  // a surrogate
                       std::string{"\xF4\x90\x80\x80"}, // above U+10FFFF
                       std::string{"\xFF"},
                       std::string{"a\0b", 3});
  CAPTURE(name);
  auto q = quote_identifier(name);
  REQUIRE_FALSE(q);
  CHECK(troupe::info(q.error()).code == errc::invalid_argument);
}

TEST_CASE("quote_identifier refuses an empty name and one longer than 64 "
          "characters",
          "[sql]") {
  CHECK_FALSE(quote_identifier(""));
  CHECK(quote_identifier(std::string(64, 'a')));
  CHECK_FALSE(quote_identifier(std::string(65, 'a')));
}

TEST_CASE("validate_identifier accepts ASCII only, whatever the locale",
          "[sql]") {
  // In a Latin-1 locale isalnum(0xE9) is true; identifiers stay ASCII.
  CHECK(validate_identifier("\xE9t\xE9", "savepoint"));
  CHECK(validate_identifier("caf\xC3\xA9", "savepoint"));
}

TEST_CASE("with_max_statement_time wraps a statement in SET STATEMENT, in "
          "seconds with millisecond precision",
          "[sql]") {
  using troupe::sql::with_max_statement_time;
  using namespace std::chrono_literals;
  CHECK(with_max_statement_time("SELECT 1", 1500ms)
        == "SET STATEMENT max_statement_time=1.500 FOR SELECT 1");
  CHECK(with_max_statement_time("SELECT 1", 250ms)
        == "SET STATEMENT max_statement_time=0.250 FOR SELECT 1");
  CHECK(with_max_statement_time("SELECT 1", 0ms)
        == "SET STATEMENT max_statement_time=0.001 FOR SELECT 1");
  // Judged by the statement it wraps: no session state, no reset.
  auto traits = troupe::sql::classify(
    with_max_statement_time("SELECT * FROM t", 100ms));
  CHECK_FALSE(traits.session_state);
  CHECK_FALSE(traits.transaction_control);
}
