// A login the server refuses is `auth_failed`, at once, to every caller:
// never disguised as `database_unreachable`, never retried in a storm.
// Runs on a private server of its own, so that the server's count of failed
// logins (Aborted_connects) is this test's alone.

#include <chrono>
#include <string>

#include "actor_fixture.hpp"
#include "troupe/embedded_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using test::code_of;

namespace {

int64_t aborted_connects(const dsn& server) {
  auto opts = mariadb::connect_options::from_dsn(server);
  REQUIRE(opts);
  auto admin = test::connect(*opts);
  auto r = admin->query("SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM "
                        "information_schema.GLOBAL_STATUS WHERE "
                        "VARIABLE_NAME = 'ABORTED_CONNECTS'");
  REQUIRE(r);
  auto n = r->scalar<int64_t>();
  REQUIRE(n);
  return *n;
}

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "a wrong password fails requests with auth_failed at once "
                 "and the pool does not retry it in a loop",
                 "[pool][auth]") {
  auto server = embedded_server::start();
  REQUIRE(server);
  auto good = (*server)->dsn();
  auto before = aborted_connects(good);

  auto wrong = good;
  wrong.password = "not-the-password";
  auto cfg = config_for(wrong);
  cfg.pool.min_size = 2;
  cfg.pool.max_size = 4;
  cfg.pool.checkout_timeout = 20s;
  cfg.pool.reconnect_min = 50ms;
  cfg.pool.reconnect_max = 30s;
  auto engine = spawn(cfg);

  // The first request does not wait out its 20 s checkout timeout.
  auto t0 = std::chrono::steady_clock::now();
  auto first = query(engine, "SELECT 1");
  REQUIRE(code_of(first) == errc::auth_failed);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  auto x = info(first.error());
  CHECK(x.server_code == 1045);
  CHECK(x.sqlstate == "28000");
  CHECK(x.message.find("not-the-password") == std::string::npos);

  auto st = status(engine);
  CHECK(st.last_connect_code == errc::auth_failed);
  CHECK(st.circuit_open);
  CHECK(st.last_connect_error.find("not-the-password") == std::string::npos);

  // Callers keep asking for a second: each is told auth_failed, and the
  // pool opens no new connection attempts for them (reconnect_min is 50 ms:
  // a backoff that ignored the cause would have tried five more times).
  auto until = std::chrono::steady_clock::now() + 1500ms;
  int answers = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto r = query(engine, "SELECT 1");
    CHECK(code_of(r) == errc::auth_failed);
    ++answers;
  }
  CHECK(answers > 10);
  st = status(engine);
  CHECK(st.failed <= cfg.pool.min_size);
  CHECK(aborted_connects(good) - before <= int64_t(cfg.pool.min_size));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "an unknown database is connect_failed, not auth_failed",
                 "[pool][auth]") {
  test::scratch_database db{"auth"};
  auto d = db.dsn();
  d.database = db.name() + "_missing";
  auto cfg = config_for(d);
  auto engine = spawn(cfg);
  auto r = query(engine, "SELECT 1");
  REQUIRE_FALSE(r);
  CHECK(code_of(r) == errc::database_unreachable);
  CHECK(status(engine).last_connect_code == errc::connect_failed);
}
