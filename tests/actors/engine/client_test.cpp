// The blocking facade.

#include "actor_fixture.hpp"
#include "troupe/client.hpp"

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE_METHOD(test::actor_fixture,
                 "the blocking client connects, queries, pings, reports and "
                 "disconnects",
                 "[client]") {
  test::scratch_database db{"client"};
  auto c = client::connect(sys, config_for(db.dsn()));
  REQUIRE(c);
  REQUIRE(c->execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))"));
  auto ins = c->execute("INSERT INTO t VALUES (?, ?), (?, ?)",
                        {1, "one", 2, "two"});
  REQUIRE(ins);
  CHECK(ins->affected_rows() == 2);
  auto n = c->query("SELECT COUNT(*) FROM t WHERE id > ?", {0});
  REQUIRE(n);
  CHECK(n->scalar<int>() == 2);
  auto row = c->query("SELECT name FROM t WHERE id = ?", {2});
  REQUIRE(row);
  CHECK(row->row(0).get<std::string>("name") == std::string{"two"});
  auto ping = c->ping();
  REQUIRE(ping);
  CHECK(ping->round_trip_us > 0);
  auto st = c->status();
  REQUIRE(st);
  CHECK(st->served >= 4);
  auto bad = c->query("SELECT * FROM missing");
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).server_code == 1146);
  CHECK_FALSE(c->disconnect());
  // After disconnect every call fails at once.
  CHECK(info(c->query("SELECT 1").error()).code == errc::shutting_down);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a client with a bad DSN fails at connect with a clear error",
                 "[client]") {
  auto c = client::connect(sys, "mariadb://u:p@127.0.0.1:3306/db?max_size=x");
  REQUIRE_FALSE(c);
  CHECK(info(c.error()).code == errc::invalid_argument);
  CHECK_THAT(info(c.error()).message, Catch::Contains("max_size"));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a client with a wrong password fails at connect with "
                 "auth_failed",
                 "[client][auth]") {
  test::scratch_database db{"client"};
  auto d = db.dsn();
  d.password = "not-the-password";
  auto cfg = config_for(d);
  cfg.name = "client-auth";
  auto c = client::connect(sys, cfg);
  REQUIRE_FALSE(c);
  auto x = info(c.error());
  CHECK(x.code == errc::auth_failed);
  CHECK(x.server_code == 1045);
  CHECK(x.message.find("not-the-password") == std::string::npos);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a client whose server cannot be reached fails at connect "
                 "with database_unreachable",
                 "[client]") {
  test::scratch_database db{"client"};
  auto d = db.dsn();
  d.host = "127.0.0.1";
  d.socket.clear();
  d.port = 1; // nothing listens there
  auto c = client::connect(sys, config_for(d));
  REQUIRE_FALSE(c);
  CHECK(info(c.error()).code == errc::database_unreachable);
}
