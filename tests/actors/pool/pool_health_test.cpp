// Health timers against a real server: idle connections are pinged well
// within the server's wait_timeout, so the server never closes one.

#include <chrono>
#include <thread>

#include "actor_fixture.hpp"
#include "troupe/embedded_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE_METHOD(test::actor_fixture,
                 "idle connections are pinged within a short wait_timeout "
                 "and the server closes none of them",
                 "[pool][health]") {
  // The server drops connections idle for 2 s; the pool's configured ping
  // interval (10 s) would let that happen. It must ping at half the
  // server's wait_timeout instead.
  embedded_server_options so;
  so.extra_args = {"--wait-timeout=2"};
  auto server = embedded_server::start(so);
  REQUIRE(server);
  auto cfg = config_for((*server)->dsn());
  cfg.pool.min_size = 2;
  cfg.pool.max_size = 2;
  cfg.pool.ping_interval = 10s;
  auto engine = spawn(cfg);
  auto before = wait_for_status(engine, [](const pool_status& s) {
    return s.idle == 2;
  });
  // Let the pool sit idle for more than twice the server's wait_timeout
  // (time must pass here: this is what is under test, not a wait for an
  // event).
  std::this_thread::sleep_for(5s);
  auto after = status(engine);
  CHECK(after.closed == before.closed);
  CHECK(after.reconnects == 0);
  CHECK(after.opened == 2);
  auto r = query(engine, "SELECT @@SESSION.wait_timeout");
  REQUIRE(r);
  CHECK(r->scalar<int>() == 2);
  CHECK(status(engine).opened == 2); // served by a connection from before
}
