#include "troupe/dsn.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "troupe/error.hpp"

using Catch::Matchers::Contains;
using troupe::dsn;
using troupe::errc;
using troupe::parse_dsn;

namespace {

// Parses a DSN that must be valid; fails the test with the error otherwise.
dsn parse_ok(std::string_view text) {
  INFO("DSN: " << text);
  auto result = parse_dsn(text);
  if (!result)
    FAIL("unexpected error: " << troupe::info(result.error()).message);
  return std::move(*result);
}

// Parses a DSN that must be invalid and returns the decoded error.
troupe::error_info parse_bad(std::string_view text) {
  INFO("DSN: " << text);
  auto result = parse_dsn(text);
  if (result)
    FAIL("parsed although invalid: " << to_string(*result, true));
  auto err = troupe::info(result.error());
  CHECK(err.code == errc::invalid_argument);
  CHECK(err.is_troupe);
  CHECK_THAT(err.message, Contains("invalid DSN"));
  return err;
}

using option_list = std::vector<std::pair<std::string, std::string>>;

// Field by field, so that a failure names the field that differs.
void check_same(const dsn& x, const dsn& y) {
  CHECK(x.scheme == y.scheme);
  CHECK(x.user == y.user);
  CHECK(x.password == y.password);
  CHECK(x.host == y.host);
  CHECK(x.port == y.port);
  CHECK(x.socket == y.socket);
  CHECK(x.database == y.database);
  CHECK(x.options == y.options);
}

} // namespace

// -- valid forms --------------------------------------------------------------

TEST_CASE("parse_dsn reads every part of a full DSN", "[dsn]") {
  auto x = parse_ok("mariadb://app:secret@db.example.com:3307/shop"
                    "?connect_timeout=5&tls=required");
  CHECK(x.scheme == "mariadb");
  CHECK(x.user == "app");
  CHECK(x.password == "secret");
  CHECK(x.host == "db.example.com");
  CHECK(x.port == 3307);
  CHECK(x.socket.empty());
  CHECK_FALSE(x.uses_socket());
  CHECK(x.database == "shop");
  CHECK(x.options
        == option_list{{"connect_timeout", "5"}, {"tls", "required"}});
}

TEST_CASE("parse_dsn accepts a user without a password", "[dsn]") {
  auto x = parse_ok("mariadb://app@localhost/shop");
  CHECK(x.user == "app");
  CHECK(x.password.empty());
  CHECK(x.host == "localhost");
  CHECK(x.database == "shop");
}

TEST_CASE("parse_dsn accepts an empty password after ':'", "[dsn]") {
  auto x = parse_ok("mariadb://app:@localhost");
  CHECK(x.user == "app");
  CHECK(x.password.empty());
}

TEST_CASE("parse_dsn accepts a DSN without user info", "[dsn]") {
  auto x = parse_ok("mysql://10.0.0.7/shop");
  CHECK(x.scheme == "mysql");
  CHECK(x.user.empty());
  CHECK(x.password.empty());
  CHECK(x.host == "10.0.0.7");
  CHECK(x.port == 3306);
  CHECK(x.database == "shop");
}

TEST_CASE("parse_dsn defaults the port to 3306 for mariadb and mysql",
          "[dsn]") {
  CHECK(parse_ok("mariadb://u:p@host/db").port == 3306);
  CHECK(parse_ok("mysql://u:p@host").port == 3306);
}

TEST_CASE("parse_dsn defaults the port to 6001 for matrixone", "[dsn]") {
  auto x = parse_ok("matrixone://dump:111@127.0.0.1/mo");
  CHECK(x.scheme == "matrixone");
  CHECK(x.port == 6001);
  CHECK(parse_ok("matrixone://h:3306").port == 3306);
}

TEST_CASE("parse_dsn reads schemes case-insensitively and stores them "
          "lower-case",
          "[dsn]") {
  CHECK(parse_ok("MariaDB://h").scheme == "mariadb");
  CHECK(parse_ok("MYSQL://h").scheme == "mysql");
  CHECK(parse_ok("MatrixOne://h").scheme == "matrixone");
  CHECK(parse_ok("MatrixOne://h").port == 6001);
}

TEST_CASE("parse_dsn accepts a DSN without a database", "[dsn]") {
  auto x = parse_ok("mariadb://u:p@host:3307");
  CHECK(x.host == "host");
  CHECK(x.port == 3307);
  CHECK(x.database.empty());
  CHECK(parse_ok("mariadb://u:p@host/").database.empty());
  auto y = parse_ok("mariadb://host?a=1");
  CHECK(y.database.empty());
  CHECK(y.options == option_list{{"a", "1"}});
  CHECK(parse_ok("mariadb://host/?a=1").options == option_list{{"a", "1"}});
}

TEST_CASE("parse_dsn reads IPv6 addresses in brackets", "[dsn]") {
  auto x = parse_ok("mariadb://u:p@[::1]:3307/db");
  CHECK(x.host == "::1");
  CHECK(x.port == 3307);
  CHECK(x.database == "db");
  auto y = parse_ok("mariadb://[2001:db8::17]/db");
  CHECK(y.host == "2001:db8::17");
  CHECK(y.port == 3306);
  CHECK(parse_ok("mariadb://[::ffff:192.0.2.1]").host == "::ffff:192.0.2.1");
  // RFC 6874: the zone's '%' is written %25.
  CHECK(parse_ok("mariadb://[fe80::1%25eth0]:3307").host == "fe80::1%eth0");
}

TEST_CASE("parse_dsn reads a percent-encoded host starting with '/' as a "
          "unix socket",
          "[dsn]") {
  auto x = parse_ok("mariadb://u:p@%2Frun%2Fmysqld%2Fmysqld.sock/db");
  CHECK(x.uses_socket());
  CHECK(x.socket == "/run/mysqld/mysqld.sock");
  CHECK(x.host.empty());
  CHECK(x.database == "db");
  CHECK(x.port == 3306);
  // Lower-case hex works too.
  CHECK(parse_ok("mariadb://%2ftmp%2fm.sock").socket == "/tmp/m.sock");
}

TEST_CASE("parse_dsn consumes the socket option into the socket", "[dsn]") {
  auto x = parse_ok("mariadb://u:p@localhost/db"
                    "?connect_timeout=5&socket=/run/mysqld/mysqld.sock&x=y");
  CHECK(x.uses_socket());
  CHECK(x.socket == "/run/mysqld/mysqld.sock");
  CHECK(x.host.empty());
  CHECK(x.database == "db");
  CHECK(x.option("socket") == nullptr);
  CHECK(x.options == option_list{{"connect_timeout", "5"}, {"x", "y"}});
  auto y = parse_ok("mariadb://u@/db?socket=%2Ftmp%2Fm.sock");
  CHECK(y.socket == "/tmp/m.sock");
  CHECK(y.host.empty());
  CHECK(y.options.empty());
  CHECK(parse_ok("mariadb:///db?socket=/tmp/m.sock").socket == "/tmp/m.sock");
}

TEST_CASE("parse_dsn keeps options in order and decodes them", "[dsn]") {
  auto x = parse_ok("mariadb://h/db?zeta=1&alpha=2&m%20id=a%26b%3Dc"
                    "&plus=a+b&eq=a=b&empty=");
  CHECK(x.options
        == option_list{{"zeta", "1"},
                       {"alpha", "2"},
                       {"m id", "a&b=c"},
                       {"plus", "a+b"}, // '+' is not a space
                       {"eq", "a=b"},
                       {"empty", ""}});
  REQUIRE(x.option("alpha") != nullptr);
  CHECK(*x.option("alpha") == "2");
  REQUIRE(x.option("empty") != nullptr);
  CHECK(x.option("empty")->empty());
  CHECK(x.option("missing") == nullptr);
  // A raw '/', ':' or '?' is fine inside a value.
  auto y = parse_ok("mariadb://h?ssl_ca=/etc/ca.pem&url=a:b?c");
  CHECK(*y.option("ssl_ca") == "/etc/ca.pem");
  CHECK(*y.option("url") == "a:b?c");
  // A bare '?' means no options.
  CHECK(parse_ok("mariadb://h/db?").options.empty());
}

TEST_CASE("parse_dsn decodes percent-encoded passwords with reserved "
          "characters",
          "[dsn]") {
  CHECK(parse_ok("mariadb://u:p%40ss%23%25%3A@h").password == "p@ss#%:");
  CHECK(parse_ok("mariadb://u:a%2Fb%3Fc%26d@h/db").password == "a/b?c&d");
  CHECK(parse_ok("mariadb://u:%20lead%20@h").password == " lead ");
  CHECK(parse_ok("mariadb://u:p%C3%A4ss%E2%82%AC@h").password
        == "p\xC3\xA4ss\xE2\x82\xAC"); // "päss€" in UTF-8
  CHECK(parse_ok("mariadb://u:nul%00byte@h").password
        == std::string{"nul\0byte", 8});
  auto x = parse_ok("mariadb://j%C3%BCrgen%40corp:pw@h");
  CHECK(x.user == "j\xC3\xBCrgen@corp");
  CHECK(x.password == "pw");
}

TEST_CASE("parse_dsn splits user info at the last '@' and the first ':'",
          "[dsn]") {
  auto x = parse_ok("mariadb://u:p@ss@host/db");
  CHECK(x.user == "u");
  CHECK(x.password == "p@ss");
  CHECK(x.host == "host");
  auto y = parse_ok("mariadb://u:a:b:c@host");
  CHECK(y.user == "u");
  CHECK(y.password == "a:b:c");
  auto z = parse_ok("mariadb://:only-password@host");
  CHECK(z.user.empty());
  CHECK(z.password == "only-password");
}

TEST_CASE("parse_dsn decodes the database name", "[dsn]") {
  CHECK(parse_ok("mariadb://h/my%20db").database == "my db");
  CHECK(parse_ok("mariadb://h/caf%C3%A9").database == "caf\xC3\xA9");
}

// -- rendering ----------------------------------------------------------------

TEST_CASE("percent_encode keeps only unreserved characters", "[dsn]") {
  using troupe::percent_encode;
  CHECK(percent_encode("") == "");
  CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percent_encode("p@ss#%:/ ?&=+") == "p%40ss%23%25%3A%2F%20%3F%26%3D%2B");
  CHECK(percent_encode("p\xC3\xA4ss") == "p%C3%A4ss");
  CHECK(percent_encode(std::string{"\0\x7f", 2}) == "%00%7F");
}

TEST_CASE("to_string redacts the password unless asked not to", "[dsn]") {
  auto x = parse_ok("mariadb://app:s3cret@db:3307/shop?a=1");
  auto safe = to_string(x);
  CHECK(safe == "mariadb://app:***@db:3307/shop?a=1");
  CHECK_THAT(safe, !Contains("s3cret"));
  CHECK(to_string(x, false) == safe);
  CHECK(to_string(x, true) == "mariadb://app:s3cret@db:3307/shop?a=1");
  // No password, nothing to redact.
  CHECK(to_string(parse_ok("mariadb://app@db")) == "mariadb://app@db");
  CHECK(to_string(parse_ok("mariadb://db/x")) == "mariadb://db/x");
}

TEST_CASE("to_string renders the default port implicitly and sockets in the "
          "host slot",
          "[dsn]") {
  CHECK(to_string(parse_ok("mariadb://h:3306")) == "mariadb://h");
  CHECK(to_string(parse_ok("matrixone://h:6001")) == "matrixone://h");
  CHECK(to_string(parse_ok("matrixone://h:3306")) == "matrixone://h:3306");
  CHECK(to_string(parse_ok("mariadb://u@localhost/db?socket=/tmp/m.sock"))
        == "mariadb://u@%2Ftmp%2Fm.sock/db");
  CHECK(to_string(parse_ok("mariadb://[::1]:3307")) == "mariadb://[::1]:3307");
}

TEST_CASE("parse_dsn(to_string(x, true)) returns x", "[dsn]") {
  auto text = GENERATE(as<std::string>{},
    "mariadb://app:secret@db.example.com:3307/shop?connect_timeout=5",
    "mysql://u@h",
    "mariadb://h",
    "matrixone://dump:111@127.0.0.1/mo",
    "matrixone://dump:111@127.0.0.1:7001/mo",
    "mariadb://u:p%40ss%23%25%3A%2F%3F%26%3D%2B%20@h/db",
    "mariadb://u:p%C3%A4ss%E2%82%AC%00%FF@h",
    "mariadb://u:p@ss:w@rd@h",
    "mariadb://:pw@h",
    "mariadb://j%C3%BCrgen%40corp@h/caf%C3%A9",
    "mariadb://u:p@[::1]:3307/db",
    "mariadb://[fe80::1%25eth0]/db",
    "mariadb://u:p@%2Frun%2Fmysqld%2Fmysqld.sock/db?a=1",
    "mariadb://u:p@localhost/db?b=2&socket=/run/my.sock&a=1",
    "mariadb://u@/db?socket=relative.sock",
    "mariadb://h/db?z=1&a=a%26b%3Dc&plus=a+b&empty=&k%20ey=v%2Fw");
  INFO("DSN: " << text);
  auto x = parse_ok(text);
  auto rendered = to_string(x, true);
  INFO("rendered: " << rendered);
  check_same(parse_ok(rendered), x);
  // Rendering is stable once normalized.
  CHECK(to_string(parse_ok(rendered), true) == rendered);
}

TEST_CASE("parse_dsn(to_string(x, true)) returns a hand-built x", "[dsn]") {
  dsn x;
  x.scheme = "mysql";
  x.user = "we:ird@user";
  const char password[] = "all \x01\x7f bytes: @#%:/?&=+[]\0";
  x.password = std::string{password, sizeof(password) - 1};
  x.host = "db-1.internal";
  x.port = 13306;
  x.options = {{"k&", "v="}, {"socket2", "/x"}};
  x.database = "my db";
  auto rendered = to_string(x, true);
  INFO("rendered: " << rendered);
  check_same(parse_ok(rendered), x);
}

TEST_CASE("address_of renders host and port, IPv6 in brackets, or the socket",
          "[dsn]") {
  using troupe::address_of;
  CHECK(address_of(parse_ok("mariadb://u:p@db.example.com:3307/x"))
        == "db.example.com:3307");
  CHECK(address_of(parse_ok("mariadb://127.0.0.1")) == "127.0.0.1:3306");
  CHECK(address_of(parse_ok("mariadb://[::1]")) == "[::1]:3306");
  CHECK(address_of(parse_ok("matrixone://[::1]")) == "[::1]:6001");
  CHECK(address_of(parse_ok("mariadb://%2Frun%2Fm.sock"))
        == "unix:/run/m.sock");
  CHECK(address_of(parse_ok("mariadb://localhost?socket=/tmp/m.sock"))
        == "unix:/tmp/m.sock");
}

// -- invalid input ------------------------------------------------------------

TEST_CASE("parse_dsn rejects an empty string", "[dsn]") {
  CHECK_THAT(parse_bad("").message, Contains("empty"));
}

TEST_CASE("parse_dsn rejects a DSN without a scheme", "[dsn]") {
  for (auto text : {"localhost:3306/db", "db.example.com", "mariadb:/h",
                    "mariadb//h", "://h", "mariadb:h:3306"}) {
    INFO("DSN: " << text);
    auto err = parse_bad(text);
    CHECK_THAT(err.message, Contains("missing scheme") && Contains("://"));
  }
  // What precedes the ':' might be "user:password": never echoed.
  auto err = parse_bad("root:s3cret@db/x");
  CHECK_THAT(err.message, Contains("missing scheme"));
  CHECK_THAT(err.message, !Contains("s3cret") && !Contains("root"));
}

TEST_CASE("parse_dsn rejects an unknown scheme", "[dsn]") {
  auto err = parse_bad("postgres://u:p@h/db");
  CHECK_THAT(err.message,
             Contains("unknown scheme 'postgres' (expected mariadb, mysql or "
                      "matrixone)"));
  CHECK_THAT(parse_bad("maria-db://h").message,
             Contains("unknown scheme 'maria-db'"));
}

TEST_CASE("parse_dsn rejects bad ports", "[dsn]") {
  SECTION("letters") {
    CHECK_THAT(parse_bad("mariadb://u:p@h:abc/db").message,
               Contains("port 'abc'") && Contains("not a decimal number")
                 && Contains("offset 16"));
    CHECK_THAT(parse_bad("mariadb://u@h:33o6").message, Contains("port '33o6'"));
    // Without user info the "port" may be a password missing its '@'.
    CHECK_THAT(parse_bad("mariadb://h:33o6").message,
               Contains("port at offset 12") && !Contains("33o6"));
    CHECK_THAT(parse_bad("mariadb://u@h:-1").message, Contains("port '-1'"));
  }
  SECTION("zero") {
    CHECK_THAT(parse_bad("mariadb://u@h:0/db").message,
               Contains("port '0' out of range 1-65535"));
  }
  SECTION("too large") {
    CHECK_THAT(parse_bad("mariadb://u@h:65536").message,
               Contains("port '65536' out of range 1-65535"));
    CHECK_THAT(parse_bad("mariadb://u@h:99999/db").message,
               Contains("port '99999' out of range 1-65535"));
    CHECK_THAT(parse_bad("mariadb://u@h:18446744073709551617").message,
               Contains("out of range 1-65535"));
  }
  SECTION("empty after ':'") {
    CHECK_THAT(parse_bad("mariadb://u@h:/db").message,
               Contains("empty port after ':'") && Contains("offset 13"));
    CHECK_THAT(parse_bad("mariadb://[::1]:").message,
               Contains("empty port"));
  }
  SECTION("the boundaries are accepted") {
    CHECK(parse_ok("mariadb://h:1").port == 1);
    CHECK(parse_ok("mariadb://h:65535").port == 65535);
    CHECK(parse_ok("mariadb://h:00080").port == 80);
  }
}

TEST_CASE("parse_dsn never puts the password into a port error", "[dsn]") {
  auto err = parse_bad("mariadb://app:s3cret@db:99999/x");
  CHECK_THAT(err.message, Contains("port") && !Contains("s3cret"));
  err = parse_bad("mariadb://app:s3cret@db:x1/x");
  CHECK_THAT(err.message, Contains("port") && !Contains("s3cret"));
  // Without its '@', "app:s3cret" reads as host "app" and port "s3cret".
  err = parse_bad("mariadb://app:s3cret");
  CHECK_THAT(err.message, Contains("port") && Contains("'@'"));
  CHECK_THAT(err.message, !Contains("s3cret"));
  err = parse_bad("mariadb://app:123456/db");
  CHECK_THAT(err.message, Contains("out of range") && !Contains("123456"));
}

TEST_CASE("parse_dsn rejects bad percent escapes", "[dsn]") {
  SECTION("non-hex digit") {
    CHECK_THAT(parse_bad("mariadb://h/d%G1b").message,
               Contains("bad percent escape '%G1'")
                 && Contains("database name") && Contains("offset 13"));
    CHECK_THAT(parse_bad("mariadb://us%zzer@h").message,
               Contains("bad percent escape '%zz'") && Contains("user"));
    CHECK_THAT(parse_bad("mariadb://h?k%G1=v").message,
               Contains("bad percent escape '%G1'") && Contains("option key"));
    CHECK_THAT(parse_bad("mariadb://h%G1").message,
               Contains("bad percent escape '%G1'") && Contains("host"));
  }
  SECTION("truncated") {
    CHECK_THAT(parse_bad("mariadb://u:p@h/db?a=%4").message,
               Contains("bad percent escape '%4'")
                 && Contains("value of option 'a'") && Contains("offset 21"));
    CHECK_THAT(parse_bad("mariadb://h/db%").message,
               Contains("bad percent escape '%'"));
    CHECK_THAT(parse_bad("mariadb://h/%4?a=1").message,
               Contains("bad percent escape '%4'") && Contains("offset 12"));
  }
  SECTION("inside the password, without echoing any of it") {
    auto err = parse_bad("mariadb://app:s3cret%G1@h/db");
    CHECK_THAT(err.message, Contains("bad percent escape")
                              && Contains("password") && Contains("offset 20"));
    CHECK_THAT(err.message, !Contains("s3cret") && !Contains("%G1"));
    err = parse_bad("mariadb://app:s3cret%4@h/db");
    CHECK_THAT(err.message, Contains("bad percent escape") && Contains("password"));
    CHECK_THAT(err.message, !Contains("s3cret") && !Contains("%4@"));
    err = parse_bad("mariadb://app:100%s3cret@h/db");
    CHECK_THAT(err.message, !Contains("s3cret") && !Contains("%s3"));
  }
}

TEST_CASE("parse_dsn rejects an unencoded '#' and says how to encode it",
          "[dsn]") {
  auto err = parse_bad("mariadb://app:s3c#ret@h/db");
  CHECK_THAT(err.message, Contains("'#'") && Contains("offset 17")
                            && Contains("must be percent-encoded as %23"));
  CHECK_THAT(err.message, !Contains("s3c") && !Contains("ret"));
  CHECK_THAT(parse_bad("mariadb://h/db#frag").message, Contains("%23"));
}

TEST_CASE("parse_dsn rejects spaces and control characters", "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://h/my db").message,
             Contains("space") && Contains("offset 14") && Contains("%20"));
  CHECK_THAT(parse_bad(" mariadb://h").message,
             Contains("space") && Contains("offset 0"));
  CHECK_THAT(parse_bad("mariadb://h/db\n").message,
             Contains("control character byte 0x0A") && Contains("offset 14"));
  CHECK_THAT(parse_bad("mariadb://u:pa\tss@h").message,
             Contains("control character byte 0x09") && Contains("offset 14"));
  CHECK_THAT(parse_bad(std::string_view{"mariadb://h\0", 12}).message,
             Contains("control character byte 0x00"));
  CHECK_THAT(parse_bad("mariadb://h/db\x7f").message,
             Contains("control character byte 0x7F"));
}

TEST_CASE("parse_dsn rejects a duplicate option, naming it", "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://h/db?a=1&b=2&a=3").message,
             Contains("duplicate option 'a'") && Contains("offset 23"));
  // Duplicates are found after decoding.
  CHECK_THAT(parse_bad("mariadb://h/db?ab=1&a%62=2").message,
             Contains("duplicate option 'a%62'"));
  CHECK_THAT(parse_bad("mariadb://localhost/db?socket=/a&socket=/b").message,
             Contains("duplicate option 'socket'"));
}

TEST_CASE("parse_dsn rejects an option without '='", "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://h/db?a=1&verbose").message,
             Contains("option 'verbose'") && Contains("has no value")
               && Contains("key=value") && Contains("offset 19"));
}

TEST_CASE("parse_dsn rejects an empty option key or an empty option", "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://h/db?=v").message,
             Contains("empty option key") && Contains("offset 15"));
  CHECK_THAT(parse_bad("mariadb://h/db?a=1&&b=2").message,
             Contains("empty option") && Contains("offset 19"));
  CHECK_THAT(parse_bad("mariadb://h/db?a=1&").message,
             Contains("empty option"));
}

TEST_CASE("parse_dsn rejects a DSN without a host unless it names a socket",
          "[dsn]") {
  for (auto text : {"mariadb://", "mariadb:///db", "mariadb://u:p@/db",
                    "mariadb://u:p@:3306/db", "mariadb://?a=1"}) {
    INFO("DSN: " << text);
    CHECK_THAT(parse_bad(text).message, Contains("missing host"));
  }
  CHECK_THAT(parse_bad("mariadb://u:p@/db").message, Contains("offset 14"));
}

TEST_CASE("parse_dsn rejects an unclosed bracket and malformed IPv6 addresses",
          "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://u:p@[::1/db").message,
             Contains("unclosed '['") && Contains("offset 14"));
  CHECK_THAT(parse_bad("mariadb://[::1").message, Contains("unclosed '['"));
  CHECK_THAT(parse_bad("mariadb://[]").message,
             Contains("invalid IPv6 address"));
  CHECK_THAT(parse_bad("mariadb://[zz::1]").message,
             Contains("invalid IPv6 address 'zz::1'"));
  CHECK_THAT(parse_bad("mariadb://[127.0.0.1]").message,
             Contains("invalid IPv6 address"));
  CHECK_THAT(parse_bad("mariadb://[fe80::1%eth0]").message,
             Contains("bad percent escape"));
  CHECK_THAT(parse_bad("mariadb://[::1]x").message,
             Contains("unexpected 'x'") && Contains("after the IPv6 address"));
  // Without brackets, the colons of an IPv6 address are ambiguous.
  CHECK_THAT(parse_bad("mariadb://::1/db").message,
             Contains("unexpected ':'") && Contains("brackets"));
  CHECK_THAT(parse_bad("mariadb://u@fe80::1:3306").message,
             Contains("brackets"));
}

TEST_CASE("parse_dsn rejects invalid characters in a host name", "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://db!1/x").message,
             Contains("invalid character '!' in the host")
               && Contains("offset 12"));
  CHECK_THAT(parse_bad("mariadb://db%21/x").message,
             Contains("invalid character '!' in the host"));
  CHECK_THAT(parse_bad("mariadb://a,b/x").message,
             Contains("invalid character ','"));
}

TEST_CASE("parse_dsn rejects a raw '/' or '?' in a password without "
          "echoing it",
          "[dsn]") {
  // The password's '@' then lands after the host: reject, never guess.
  for (auto text : {"mariadb://app:s3/cret@h/db", "mariadb://app:s3?cret@h/db",
                    "mariadb://app:s3/cret@h", "mariadb://h/db?email=a@b"}) {
    INFO("DSN: " << text);
    auto err = parse_bad(text);
    CHECK_THAT(err.message, Contains("unencoded '@'") && Contains("%40")
                              && Contains("%2F"));
    CHECK_THAT(err.message, !Contains("s3") && !Contains("cret"));
  }
}

TEST_CASE("parse_dsn rejects a database name with '/'", "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://h/a/b").message,
             Contains("database name contains '/'") && Contains("offset 13"));
  CHECK_THAT(parse_bad("mariadb://h/a%2Fb").message,
             Contains("database name") && Contains("'/'"));
}

TEST_CASE("parse_dsn rejects a socket option that conflicts with the host",
          "[dsn]") {
  CHECK_THAT(parse_bad("mariadb://db.example.com/x?socket=/tmp/m.sock").message,
             Contains("conflicts with host 'db.example.com'"));
  CHECK_THAT(parse_bad("mariadb://%2Ftmp%2Fa.sock/x?socket=/tmp/b.sock").message,
             Contains("option 'socket'") && Contains("already names a socket"));
  CHECK_THAT(parse_bad("mariadb://localhost/x?socket=").message,
             Contains("option 'socket'") && Contains("empty"));
}
