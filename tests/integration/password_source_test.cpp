// A password from a file or an environment variable reaches the real server;
// a wrong one fails as authentication, without showing it.

#include <algorithm>
#include <string>

#include <catch2/catch.hpp>

#include <unistd.h>

#include "scratch.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "troupe/error.hpp"

using namespace troupe;
using Catch::Matchers::Contains;

namespace {

// The test server's DSN without any password source, and its password.
struct credentials {
  troupe::dsn bare;
  std::string password;
};

credentials test_credentials() {
  auto x = test::server_dsn();
  auto pw = resolve_password(x);
  REQUIRE(pw);
  REQUIRE_FALSE(pw->empty());
  x.password.clear();
  x.options.erase(std::remove_if(x.options.begin(), x.options.end(),
                                 [](const auto& kv) {
                                   return kv.first == "password_file"
                                          || kv.first == "password_env";
                                 }),
                  x.options.end());
  return {std::move(x), std::move(*pw)};
}

// Connects with `x` and asks the server who we are.
caf::expected<std::string> current_user(const troupe::dsn& x) {
  auto opts = mariadb::connect_options::from_dsn(x);
  if (!opts)
    return std::move(opts.error());
  auto conn = mariadb::sync_connection::open(*opts);
  if (!conn)
    return std::move(conn.error());
  auto res = (*conn)->query("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)");
  if (!res)
    return std::move(res.error());
  return res->scalar<std::string>();
}

// The error of a connection attempt that must fail; checks that the message
// shows neither password.
error_info failed(const caf::expected<std::string>& user,
                  const std::string& password, const std::string& wrong) {
  REQUIRE_FALSE(user);
  auto err = info(user.error());
  CHECK_THAT(err.message, !Contains(password));
  CHECK_THAT(err.message, !Contains(wrong));
  return err;
}

} // namespace

TEST_CASE("a DSN with password_file connects to the server",
          "[integration][password]") {
  auto [x, pw] = test_credentials();
  test::temp_dir dir;
  x.options.emplace_back("password_file",
                         dir.write("pw", pw + "\n", 0600));
  auto user = current_user(x);
  REQUIRE(user);
  CHECK(*user == x.user);
}

TEST_CASE("a DSN with password_env connects to the server",
          "[integration][password]") {
  auto [x, pw] = test_credentials();
  auto name = "TROUPE_TEST_PW_" + std::to_string(::getpid());
  test::env_var var{name, pw.c_str()};
  x.options.emplace_back("password_env", name);
  auto user = current_user(x);
  REQUIRE(user);
  CHECK(*user == x.user);
}

TEST_CASE("a wrong password from password_file fails authentication without "
          "showing it",
          "[integration][password]") {
  auto [x, pw] = test_credentials();
  const std::string wrong = "Wr0ng-Qx8-pw7";
  test::temp_dir dir;
  x.options.emplace_back("password_file", dir.write("pw", wrong, 0600));
  auto err = failed(current_user(x), pw, wrong);
  CHECK(err.code == errc::auth_failed);
}

TEST_CASE("a password_file others may read is refused before connecting",
          "[integration][password]") {
  auto [x, pw] = test_credentials();
  test::temp_dir dir;
  x.options.emplace_back("password_file", dir.write("pw", pw, 0644));
  auto err = failed(current_user(x), pw, pw);
  CHECK(err.code == errc::invalid_argument);
  CHECK(err.server_code == 0);
  CHECK_THAT(err.message, Contains("password_file"));
}
