#include "troupe/option_parsing.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "troupe/dsn.hpp"
#include "troupe/error.hpp"
#include "troupe/mariadb/connection.hpp"

using Catch::Matchers::Contains;
using std::chrono::milliseconds;
using troupe::errc;
using troupe::format_duration;
using troupe::parse_bool;
using troupe::parse_double;
using troupe::parse_duration;
using troupe::parse_size;
using troupe::parse_uint;
using troupe::mariadb::connect_options;
using troupe::mariadb::tls_mode;

using namespace std::chrono_literals;

namespace {

// Returns the decoded error of a parse that must fail with invalid_argument.
template <class T>
troupe::error_info rejected(const caf::expected<T>& x) {
  if (x)
    FAIL("accepted although invalid");
  auto err = troupe::info(x.error());
  CHECK(err.is_troupe);
  CHECK(err.code == errc::invalid_argument);
  return err;
}

// A duration between 1ms and 1h, the range most tests use.
caf::expected<milliseconds> duration(std::string_view text) {
  return parse_duration("read_timeout", text, 1ms, 1h);
}

milliseconds duration_ok(std::string_view text) {
  INFO("text: '" << text << "'");
  auto x = duration(text);
  if (!x)
    FAIL("unexpected error: " << troupe::render(x.error()));
  return *x;
}

// Checks that `text` is rejected as a read_timeout and that the message names
// the key, the text and the accepted range.
void check_duration_rejected(std::string_view text) {
  INFO("text: '" << text << "'");
  auto err = rejected(duration(text));
  CHECK_THAT(err.message, Contains("'read_timeout'"));
  CHECK_THAT(err.message, Contains("'" + std::string{text} + "'"));
  CHECK_THAT(err.message, Contains("1ms"));
  CHECK_THAT(err.message, Contains("1h"));
}

troupe::dsn parse_dsn_ok(std::string_view text) {
  INFO("DSN: " << text);
  auto x = troupe::parse_dsn(text);
  if (!x)
    FAIL("unexpected DSN error: " << troupe::render(x.error()));
  return std::move(*x);
}

connect_options options_ok(std::string_view text) {
  auto d = parse_dsn_ok(text);
  INFO("DSN: " << text);
  auto x = connect_options::from_dsn(d);
  if (!x)
    FAIL("unexpected error: " << troupe::render(x.error()));
  return std::move(*x);
}

troupe::error_info options_rejected(std::string_view text) {
  auto d = parse_dsn_ok(text);
  INFO("DSN: " << text);
  return rejected(connect_options::from_dsn(d));
}

constexpr char base[] = "mariadb://app:secret@db.example.com:3307/shop";

std::string with(std::string_view query) {
  return std::string{base} + "?" + std::string{query};
}

} // namespace

// -- parse_duration -----------------------------------------------------------

TEST_CASE("parse_duration reads every unit", "[options]") {
  CHECK(duration_ok("500ms") == 500ms);
  CHECK(duration_ok("5s") == 5000ms);
  CHECK(duration_ok("2m") == 120000ms);
  CHECK(duration_ok("1h") == 3600000ms);
}

TEST_CASE("parse_duration reads a bare number as milliseconds",
          "[options]") {
  CHECK(duration_ok("250") == 250ms);
  CHECK(duration_ok("1") == 1ms);
}

TEST_CASE("parse_duration accepts both bounds", "[options]") {
  CHECK(duration_ok("1ms") == 1ms);
  CHECK(duration_ok("1h") == 1h);
  CHECK(duration_ok("60m") == 1h);
  CHECK(duration_ok("3600000") == 1h);
  auto exact = parse_duration("k", "5s", 5s, 5s);
  REQUIRE(exact);
  CHECK(*exact == 5s);
}

TEST_CASE("parse_duration rejects a value below the minimum, naming the key "
          "and range",
          "[options]") {
  check_duration_rejected("0ms");
  check_duration_rejected("0");
  auto err = rejected(parse_duration("connect_timeout", "999ms", 1s, 1min));
  CHECK_THAT(err.message, Contains("connect_timeout"));
  CHECK_THAT(err.message, Contains("1s"));
  CHECK_THAT(err.message, Contains("1m"));
}

TEST_CASE("parse_duration rejects a value above the maximum, naming the key "
          "and range",
          "[options]") {
  check_duration_rejected("3600001");
  check_duration_rejected("61m");
  check_duration_rejected("2h");
}

TEST_CASE("parse_duration rejects values too large to represent", "[options]") {
  check_duration_rejected("99999999999999999999999h");
  check_duration_rejected("18446744073709551615h");
  check_duration_rejected("18446744073709551615ms");
  check_duration_rejected("5124095576030431h");
}

TEST_CASE("parse_duration rejects an unknown unit", "[options]") {
  check_duration_rejected("5x");
  check_duration_rejected("5 s");
  check_duration_rejected("5sec");
  check_duration_rejected("5ms5");
}

TEST_CASE("parse_duration rejects empty, negative and fractional input",
          "[options]") {
  check_duration_rejected("");
  check_duration_rejected("-1s");
  check_duration_rejected("1.5s");
  check_duration_rejected("s");
  check_duration_rejected("+5s");
}

// -- format_duration ----------------------------------------------------------

TEST_CASE("format_duration picks the largest exact unit", "[options]") {
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(5s) == "5s");
  CHECK(format_duration(2min) == "2m");
  CHECK(format_duration(1h) == "1h");
  CHECK(format_duration(0ms) == "0ms");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(25h) == "25h");
}

TEST_CASE("format_duration output parses back to the same duration",
          "[options]") {
  for (auto x : {1ms, 999ms, 1000ms, 61000ms, 120000ms, 3600000ms, 5400000ms}) {
    INFO("x = " << x.count() << "ms");
    auto y = parse_duration("k", format_duration(x), 1ms, 24h);
    REQUIRE(y);
    CHECK(*y == x);
  }
}

// -- parse_uint ---------------------------------------------------------------

TEST_CASE("parse_uint reads integers in range including the bounds",
          "[options]") {
  CHECK(*parse_uint("n", "1", 1, 100) == 1);
  CHECK(*parse_uint("n", "42", 1, 100) == 42);
  CHECK(*parse_uint("n", "100", 1, 100) == 100);
  auto max = std::numeric_limits<uint64_t>::max();
  CHECK(*parse_uint("n", "18446744073709551615", 0, max) == max);
}

TEST_CASE("parse_uint rejects out-of-range and malformed input, naming the "
          "key and range",
          "[options]") {
  for (auto text : {"0", "101", "", "abc", "-1", "+5", "1.0", " 5", "5 ",
                    "99999999999999999999999"}) {
    INFO("text: '" << text << "'");
    auto err = rejected(parse_uint("pool_size", text, 1, 100));
    CHECK_THAT(err.message, Contains("'pool_size'"));
    CHECK_THAT(err.message, Contains("between 1 and 100"));
  }
}

// -- parse_size ---------------------------------------------------------------

TEST_CASE("parse_size reads k, m and g as powers of 1024", "[options]") {
  auto max = uint64_t{1} << 40;
  CHECK(*parse_size("s", "64k", 0, max) == 65536);
  CHECK(*parse_size("s", "16m", 0, max) == 16777216);
  CHECK(*parse_size("s", "1g", 0, max) == 1073741824);
  CHECK(*parse_size("s", "1G", 0, max) == 1073741824);
  CHECK(*parse_size("s", "1024", 0, max) == 1024);
  CHECK(*parse_size("s", "0", 0, max) == 0);
}

TEST_CASE("parse_size accepts both bounds", "[options]") {
  CHECK(*parse_size("s", "1k", 1024, 2048) == 1024);
  CHECK(*parse_size("s", "2k", 1024, 2048) == 2048);
}

TEST_CASE("parse_size rejects sizes out of range, naming the key and range",
          "[options]") {
  auto err = rejected(parse_size("max_result_bytes", "1023", 1024, 2048));
  CHECK_THAT(err.message, Contains("'max_result_bytes'"));
  CHECK_THAT(err.message, Contains("1024"));
  CHECK_THAT(err.message, Contains("2048"));
  rejected(parse_size("s", "3k", 1024, 2048));
  rejected(parse_size("s", "2049", 1024, 2048));
}

TEST_CASE("parse_size rejects malformed input and overflow", "[options]") {
  auto max = std::numeric_limits<uint64_t>::max();
  for (auto text : {"", "k", "1t", "1kb", "1.5m", "-1k", "17179869184g",
                    "99999999999999999999999"}) {
    INFO("text: '" << text << "'");
    auto err = rejected(parse_size("buf", text, 0, max));
    CHECK_THAT(err.message, Contains("'buf'"));
  }
}

// -- parse_bool ---------------------------------------------------------------

TEST_CASE("parse_bool reads every spelling of true and false", "[options]") {
  for (auto text : {"true", "TRUE", "True", "1", "yes", "on", "ON"}) {
    INFO("text: " << text);
    auto x = parse_bool("b", text);
    REQUIRE(x);
    CHECK(*x);
  }
  for (auto text : {"false", "FALSE", "0", "no", "off", "Off"}) {
    INFO("text: " << text);
    auto x = parse_bool("b", text);
    REQUIRE(x);
    CHECK_FALSE(*x);
  }
}

TEST_CASE("parse_bool rejects anything else, naming the key", "[options]") {
  for (auto text : {"", "2", "maybe", "yess", " true", "t"}) {
    INFO("text: '" << text << "'");
    auto err = rejected(parse_bool("autocommit", text));
    CHECK_THAT(err.message, Contains("'autocommit'"));
    CHECK_THAT(err.message, Contains("true or false"));
  }
}

// -- parse_double -------------------------------------------------------------

TEST_CASE("parse_double reads numbers in range including the bounds",
          "[options]") {
  CHECK(*parse_double("d", "0.5", 0.0, 1.0) == 0.5);
  CHECK(*parse_double("d", "0", 0.0, 1.0) == 0.0);
  CHECK(*parse_double("d", "1", 0.0, 1.0) == 1.0);
  CHECK(*parse_double("d", "1e-3", 0.0, 1.0) == 0.001);
  CHECK(*parse_double("d", "-2.5", -3.0, 0.0) == -2.5);
}

TEST_CASE("parse_double rejects out-of-range and malformed input, naming the "
          "key",
          "[options]") {
  for (auto text : {"1.5", "-0.1", "", "abc", "0.5x", " 0.5", "inf", "-inf"}) {
    INFO("text: '" << text << "'");
    auto err = rejected(parse_double("jitter", text, 0.0, 1.0));
    CHECK_THAT(err.message, Contains("'jitter'"));
  }
}

TEST_CASE("parse_double rejects NaN", "[options]") {
  for (auto text : {"nan", "NaN", "-nan"}) {
    INFO("text: '" << text << "'");
    rejected(parse_double("jitter", text, 0.0, 1.0));
  }
}

// -- connect_options::from_dsn ------------------------------------------------

TEST_CASE("from_dsn copies the address and credentials", "[options]") {
  auto x = options_ok(base);
  CHECK(x.host == "db.example.com");
  CHECK(x.port == 3307);
  CHECK(x.user == "app");
  CHECK(x.password == "secret");
  CHECK(x.database == "shop");
  CHECK(x.socket.empty());
  CHECK(x.read_timeout == 30000ms);
  CHECK(x.tls == tls_mode::preferred);
  CHECK(x.init_statements.empty());
  CHECK(x.statement_cache_size == 256);
  CHECK(x.pipelining);
}

TEST_CASE("from_dsn reads timeouts with units", "[options]") {
  auto x = options_ok(
    with("read_timeout=5s&connect_timeout=250&write_timeout=2m"));
  CHECK(x.read_timeout == 5000ms);
  CHECK(x.connect_timeout == 250ms);
  CHECK(x.write_timeout == 120000ms);
}

TEST_CASE("from_dsn rejects a bad timeout, naming the key", "[options]") {
  auto err = options_rejected(with("read_timeout=5x"));
  CHECK_THAT(err.message, Contains("read_timeout"));
  CHECK_THAT(err.message, Contains("5x"));
  auto zero = options_rejected(with("connect_timeout=0"));
  CHECK_THAT(zero.message, Contains("connect_timeout"));
}

TEST_CASE("from_dsn reads every TLS mode and file", "[options]") {
  CHECK(options_ok(with("tls=disabled")).tls == tls_mode::disabled);
  CHECK(options_ok(with("tls=preferred")).tls == tls_mode::preferred);
  CHECK(options_ok(with("tls=required")).tls == tls_mode::required);
  auto x = options_ok(with("tls=verify_identity&tls_ca=%2Fetc%2Fca.pem"
                           "&tls_cert=c.pem&tls_key=k.pem&tls_cipher=AES"));
  CHECK(x.tls == tls_mode::verify_identity);
  CHECK(x.tls_ca == "/etc/ca.pem");
  CHECK(x.tls_cert == "c.pem");
  CHECK(x.tls_key == "k.pem");
  CHECK(x.tls_cipher == "AES");
  auto y = options_ok(with("tls=verify_ca&tls_capath=%2Fetc%2Fssl"));
  CHECK(y.tls == tls_mode::verify_ca);
  CHECK(y.tls_capath == "/etc/ssl");
}

TEST_CASE("from_dsn rejects tls=verify_ca without a CA", "[options]") {
  auto err = options_rejected(with("tls=verify_ca"));
  CHECK_THAT(err.message, Contains("verify_ca"));
  CHECK_THAT(err.message, Contains("tls_ca"));
  auto identity = options_rejected(with("tls=verify_identity&tls_cert=c.pem"));
  CHECK_THAT(identity.message, Contains("verify_identity"));
}

TEST_CASE("from_dsn rejects an unknown TLS mode, naming the accepted ones",
          "[options]") {
  auto err = options_rejected(with("tls=bogus"));
  CHECK_THAT(err.message, Contains("bogus"));
  CHECK_THAT(err.message, Contains("'tls'"));
  for (auto mode : {"disabled", "preferred", "required", "verify_ca",
                    "verify_identity"})
    CHECK_THAT(err.message, Contains(mode));
}

TEST_CASE("from_dsn rejects an unknown option, naming it, when no list is "
          "given",
          "[options]") {
  auto err = options_rejected(with("read_timeout=5s&frobnicate=1"));
  CHECK_THAT(err.message, Contains("frobnicate"));
}

TEST_CASE("from_dsn collects unknown options when a list is given",
          "[options]") {
  auto d = parse_dsn_ok(
    with("pool_size=8&read_timeout=5s&checkout_timeout=1s"));
  std::vector<std::string> unknown;
  auto x = connect_options::from_dsn(d, &unknown);
  REQUIRE(x);
  CHECK(unknown == std::vector<std::string>{"pool_size", "checkout_timeout"});
  CHECK(x->read_timeout == 5000ms);
}

TEST_CASE("from_dsn still rejects a bad known option when collecting unknown "
          "ones",
          "[options]") {
  auto d = parse_dsn_ok(with("pool_size=8&tls=bogus"));
  std::vector<std::string> unknown;
  rejected(connect_options::from_dsn(d, &unknown));
}

TEST_CASE("from_dsn collects init statements in order", "[options]") {
  auto x = options_ok(with("init1=SET%20time_zone%3D'%2B00%3A00'"
                           "&init2=SET%20NAMES%20utf8mb4"));
  CHECK(x.init_statements
        == std::vector<std::string>{"SET time_zone='+00:00'",
                                    "SET NAMES utf8mb4"});
  auto single = options_ok(with("init=SELECT%201"));
  CHECK(single.init_statements == std::vector<std::string>{"SELECT 1"});
}

TEST_CASE("from_dsn treats init followed by other than digits as an unknown "
          "option",
          "[options]") {
  auto err = options_rejected(with("initx=SELECT%201"));
  CHECK_THAT(err.message, Contains("initx"));
}

TEST_CASE("from_dsn reads the statement cache size and result limit",
          "[options]") {
  auto x = options_ok(with("statement_cache_size=16&max_result_bytes=64m"));
  CHECK(x.statement_cache_size == 16);
  CHECK(x.max_result_bytes == 64u << 20);
}

TEST_CASE("from_dsn turns pipelining off and rejects a value that is no "
          "boolean",
          "[options]") {
  CHECK_FALSE(options_ok(with("pipelining=off")).pipelining);
  CHECK(options_ok(with("pipelining=on")).pipelining);
  auto err = options_rejected(with("pipelining=sometimes"));
  CHECK_THAT(err.message, Contains("pipelining"));
}

TEST_CASE("from_dsn rejects a statement cache size of zero", "[options]") {
  auto err = options_rejected(with("statement_cache_size=0"));
  CHECK_THAT(err.message, Contains("statement_cache_size"));
}

TEST_CASE("from_dsn rejects a charset that is not a plain name", "[options]") {
  CHECK(options_ok(with("charset=latin1")).charset == "latin1");
  auto err = options_rejected(with("charset=utf8%3BDROP"));
  CHECK_THAT(err.message, Contains("charset"));
}

TEST_CASE("from_dsn refuses character sets in which a backslash or a "
          "backtick can end a multibyte character",
          "[options][security]") {
  auto cs = GENERATE(as<std::string>{}, "gbk", "GBK", "gb18030", "big5",
                     "sjis", "cp932");
  auto e = options_rejected(with("charset=" + cs));
  CHECK(e.code == troupe::errc::invalid_argument);
  CHECK_THAT(e.message, Catch::Contains("utf8mb4"));
}

TEST_CASE("from_dsn accepts ASCII-safe character sets", "[options]") {
  auto cs = GENERATE(as<std::string>{}, "utf8mb4", "utf8mb3", "latin1",
                     "ascii", "ujis");
  CHECK(options_ok(with("charset=" + cs)).charset == cs);
}
