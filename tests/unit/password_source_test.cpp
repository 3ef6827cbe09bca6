// Where a DSN's password comes from: the DSN text, `password_file`,
// `password_env`; and that no error or rendering shows it.

#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "temp_dir.hpp"
#include "troupe/dsn.hpp"
#include "troupe/error.hpp"
#include "troupe/mariadb/connection.hpp"

using Catch::Matchers::Contains;
using troupe::errc;
using troupe::mariadb::connect_options;
using troupe::test::env_var;
using troupe::test::temp_dir;

namespace {

// Distinctive, so that finding it in a message cannot be a coincidence.
const std::string secret = "Zq7-pw-K3x9";

troupe::dsn parse_ok(const std::string& text) {
  INFO("DSN: " << text);
  auto x = troupe::parse_dsn(text);
  if (!x)
    FAIL("unexpected DSN error: " << troupe::render(x.error()));
  return std::move(*x);
}

std::string resolved_ok(const std::string& dsn_text) {
  INFO("DSN: " << dsn_text);
  auto pw = troupe::resolve_password(parse_ok(dsn_text));
  if (!pw)
    FAIL("unexpected error: " << troupe::render(pw.error()));
  return *pw;
}

// The message of a resolution that must fail with invalid_argument; checks
// that it shows no password.
std::string rejected(const std::string& dsn_text) {
  INFO("DSN: " << dsn_text);
  auto pw = troupe::resolve_password(parse_ok(dsn_text));
  if (pw)
    FAIL("accepted although invalid");
  auto err = troupe::info(pw.error());
  CHECK(err.is_troupe);
  CHECK(err.code == errc::invalid_argument);
  CHECK_THAT(err.message, !Contains(secret));
  return err.message;
}

std::string with_file(const std::string& path) {
  return "mariadb://app@db.example.com/shop?password_file="
         + troupe::percent_encode(path);
}

std::string with_env(const std::string& name) {
  return "mariadb://app@db.example.com/shop?password_env=" + name;
}

// An environment variable name no one else uses.
std::string var_name(std::string_view what) {
  return "TROUPE_TEST_PW_" + std::string{what} + "_"
         + std::to_string(::getpid());
}

} // namespace

// -- happy paths --------------------------------------------------------------

TEST_CASE("resolve_password returns the DSN's own password, or none",
          "[password]") {
  CHECK(resolved_ok("mariadb://app:" + secret + "@db/shop") == secret);
  CHECK(resolved_ok("mariadb://app@db/shop").empty());
}

TEST_CASE("resolve_password reads a private file and drops one trailing "
          "newline",
          "[password]") {
  temp_dir dir;
  CHECK(resolved_ok(with_file(dir.write("plain", secret, 0600))) == secret);
  CHECK(resolved_ok(with_file(dir.write("newline", secret + "\n", 0600)))
        == secret);
  CHECK(resolved_ok(with_file(dir.write("crlf", secret + "\r\n", 0400)))
        == secret);
  // Spaces are part of the password.
  CHECK(resolved_ok(with_file(dir.write("spaces", " " + secret + " \n", 0600)))
        == " " + secret + " ");
}

TEST_CASE("resolve_password reads an environment variable", "[password]") {
  auto name = var_name("SET");
  env_var var{name, secret.c_str()};
  CHECK(resolved_ok(with_env(name)) == secret);
}

TEST_CASE("from_dsn takes the password from password_file and treats the "
          "option as its own",
          "[password]") {
  temp_dir dir;
  auto x = parse_ok(with_file(dir.write("pw", secret + "\n", 0600))
                    + "&max_size=3");
  std::vector<std::string> unknown;
  auto opts = connect_options::from_dsn(x, &unknown);
  REQUIRE(opts);
  CHECK(opts->password == secret);
  CHECK(unknown == std::vector<std::string>{"max_size"});
  // Without a list of unknown keys it is not "unknown" either.
  auto alone = connect_options::from_dsn(
    parse_ok(with_file(dir.path() + "/pw")));
  REQUIRE(alone);
  CHECK(alone->password == secret);
}

TEST_CASE("from_dsn takes the password from password_env", "[password]") {
  auto name = var_name("OPTS");
  env_var var{name, secret.c_str()};
  auto opts = connect_options::from_dsn(parse_ok(with_env(name)));
  REQUIRE(opts);
  CHECK(opts->password == secret);
}

// -- unhappy paths: files -----------------------------------------------------

TEST_CASE("resolve_password refuses a file that group or others may read",
          "[password]") {
  temp_dir dir;
  for (mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0620}}) {
    INFO("mode " << std::oct << mode);
    auto msg = rejected(with_file(dir.write("shared", secret, mode)));
    CHECK_THAT(msg, Contains("password_file"));
    CHECK_THAT(msg, Contains("group or others"));
    CHECK_THAT(msg, Contains("chmod 600"));
  }
}

TEST_CASE("resolve_password reports a missing file, naming the option",
          "[password]") {
  temp_dir dir;
  auto msg = rejected(with_file(dir.path() + "/no-such-file"));
  CHECK_THAT(msg, Contains("password_file"));
  CHECK_THAT(msg, Contains("no-such-file"));
  CHECK_THAT(msg, Contains("No such file"));
}

TEST_CASE("resolve_password reports a file it cannot read", "[password]") {
  // Opens fine, is a regular file of mode 0600, and read() fails (EIO at
  // address 0): a read error that even root gets.
  auto msg = rejected(with_file("/proc/self/mem"));
  CHECK_THAT(msg, Contains("cannot read password_file"));
  if (::geteuid() != 0) {
    // Permission bits do not stop root, so only others can check this one.
    temp_dir dir;
    auto denied = rejected(with_file(dir.write("locked", secret, 0200)));
    CHECK_THAT(denied, Contains("Permission denied"));
  }
}

TEST_CASE("resolve_password refuses what is not a regular file",
          "[password]") {
  temp_dir dir;
  CHECK_THAT(rejected(with_file(dir.path())), Contains("not a regular file"));
  auto fifo = dir.track("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Must not block waiting for a writer.
  CHECK_THAT(rejected(with_file(fifo)), Contains("not a regular file"));
}

TEST_CASE("resolve_password refuses an empty, multi-line or oversized file",
          "[password]") {
  temp_dir dir;
  CHECK_THAT(rejected(with_file(dir.write("empty", "", 0600))),
             Contains("is empty"));
  CHECK_THAT(rejected(with_file(dir.write("newline", "\n", 0600))),
             Contains("is empty"));
  CHECK_THAT(rejected(with_file(dir.write("two", secret + "\nmore\n", 0600))),
             Contains("more than one line"));
  CHECK_THAT(rejected(with_file(dir.write("nul", secret + '\0' + "x", 0600))),
             Contains("NUL"));
  CHECK_THAT(rejected(with_file(dir.write("big", std::string(5000, 'x'),
                                          0600))),
             Contains("larger than 4096 bytes"));
}

TEST_CASE("resolve_password refuses an empty password_file option",
          "[password]") {
  CHECK_THAT(rejected("mariadb://app@db/shop?password_file="),
             Contains("'password_file' is empty"));
}

// -- unhappy paths: environment -----------------------------------------------

TEST_CASE("resolve_password reports an unset variable, naming it",
          "[password]") {
  auto name = var_name("UNSET");
  env_var var{name, nullptr};
  auto msg = rejected(with_env(name));
  CHECK_THAT(msg, Contains(name));
  CHECK_THAT(msg, Contains("password_env"));
  CHECK_THAT(msg, Contains("not set"));
}

TEST_CASE("resolve_password refuses an empty variable or variable name",
          "[password]") {
  auto name = var_name("EMPTY");
  env_var var{name, ""};
  CHECK_THAT(rejected(with_env(name)), Contains("is empty"));
  CHECK_THAT(rejected("mariadb://app@db/shop?password_env="),
             Contains("'password_env' is empty"));
}

// -- unhappy paths: more than one source --------------------------------------

TEST_CASE("resolve_password refuses a DSN that gives the password two ways",
          "[password]") {
  temp_dir dir;
  auto file = dir.write("pw", secret, 0600);
  auto name = var_name("BOTH");
  env_var var{name, secret.c_str()};
  auto encoded = troupe::percent_encode(file);
  auto both = rejected("mariadb://app@db/shop?password_file=" + encoded
                       + "&password_env=" + name);
  CHECK_THAT(both, Contains("password_file"));
  CHECK_THAT(both, Contains("password_env"));
  CHECK_THAT(rejected("mariadb://app:" + secret
                      + "@db/shop?password_file=" + encoded),
             Contains("a password in the DSN, password_file"));
  CHECK_THAT(rejected("mariadb://app:" + secret + "@db/shop?password_env="
                      + name),
             Contains("a password in the DSN, password_env"));
}

TEST_CASE("from_dsn fails on a bad password source and on a bad option "
          "before reading the file",
          "[password]") {
  temp_dir dir;
  auto shared = dir.write("shared", secret, 0644);
  auto bad_file = connect_options::from_dsn(parse_ok(with_file(shared)));
  REQUIRE_FALSE(bad_file);
  CHECK(troupe::info(bad_file.error()).code == errc::invalid_argument);
  CHECK_THAT(troupe::info(bad_file.error()).message, Contains("chmod 600"));
  auto bad_option = connect_options::from_dsn(
    parse_ok(with_file(shared) + "&read_timeout=soon"));
  REQUIRE_FALSE(bad_option);
  CHECK_THAT(troupe::info(bad_option.error()).message,
             Contains("read_timeout"));
}

// -- renderings ---------------------------------------------------------------

TEST_CASE("redact_dsn hides the password of a valid DSN and all of an "
          "invalid one",
          "[password]") {
  auto ok = troupe::redact_dsn("mariadb://app:" + secret + "@db:3307/shop");
  CHECK(ok == "mariadb://app:***@db:3307/shop");
  // A raw '/' in the password makes the DSN invalid: nothing of it is shown.
  auto bad = troupe::redact_dsn("mariadb://app:" + secret + "/x@db/shop");
  CHECK_THAT(bad, !Contains(secret));
  CHECK_THAT(bad, !Contains("app"));
  CHECK_THAT(bad, Contains("invalid DSN"));
}

TEST_CASE("connect_options::describe names user, address and database, "
          "never the password",
          "[password]") {
  connect_options x;
  x.host = "db.example.com";
  x.port = 3307;
  x.user = "app";
  x.password = secret;
  x.database = "shop";
  CHECK(x.describe() == "app@db.example.com:3307/shop");
  x.socket = "/run/mysqld/mysqld.sock";
  x.database.clear();
  CHECK(x.describe() == "app@unix:/run/mysqld/mysqld.sock");
  x.user.clear();
  CHECK(x.describe() == "unix:/run/mysqld/mysqld.sock");
}
