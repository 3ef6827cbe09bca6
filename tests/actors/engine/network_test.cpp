// The engine's messages cross a real CAF network link.

#include <chrono>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

TEST_CASE_METHOD(test::actor_fixture,
                 "a remote node queries a published engine and gets results "
                 "and typed server errors",
                 "[network]") {
  test::scratch_database db{"remote"};
  auto engine = spawn(config_for(db.dsn()));
  auto port = sys.middleman().publish(engine, 0, "127.0.0.1", true);
  REQUIRE(port);
  // A second actor system: another node.
  caf::actor_system_config other_cfg;
  caf::actor_system other{test::test_config(other_cfg)};
  auto remote = other.middleman().remote_actor<engine_actor>("127.0.0.1", *port);
  REQUIRE(remote);
  caf::scoped_actor client{other};
  auto ask = [&](statement stmt) {
    caf::expected<result> out{make_error(errc::internal, "none")};
    client->request(*remote, 30s, query_atom::value, std::move(stmt))
      .receive([&](result& r) { out = std::move(r); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  auto ok = ask({"SELECT ? AS n, ? AS s, NULL AS z, CAST(? AS DECIMAL(10,2)) AS d",
                 {41, "caf\xC3\xA9"s, decimal{"12.50"}}});
  REQUIRE(ok);
  CHECK(ok->row(0).get<int>("n") == 41);
  CHECK(ok->row(0).get<std::string>("s") == "caf\xC3\xA9"s);
  CHECK(ok->row(0)[2].is_null());
  CHECK(ok->row(0)[3] == value{decimal{"12.50"}});
  CHECK(ok->columns()[1].name == "s");
  auto bad = ask({"SELECT * FROM no_such_table"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().category() == caf::atom("troupe"));
  auto e = info(bad.error());
  CHECK(e.code == errc::server_error);
  CHECK(e.server_code == 1146);
  CHECK(e.sqlstate == "42S02");
  CHECK_THAT(e.message, Catch::Contains("no_such_table"));
  // The status crosses too.
  caf::expected<pool_status> st{make_error(errc::internal, "none")};
  client->request(*remote, 30s, status_atom::value)
    .receive([&](pool_status& x) { st = std::move(x); },
             [&](caf::error& err) { st = std::move(err); });
  REQUIRE(st);
  CHECK(st->served >= 1);
}
