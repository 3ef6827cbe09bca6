// Health timers against a real server: idle connections are pinged well
// within the server's wait_timeout, so the server never closes one; and
// connections are recycled after max_lifetime, shortened by the jitter so
// that connections opened together do not all close together.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

namespace {

using steady = std::chrono::steady_clock;

// One server connection as an observer saw it in the process list.
struct sighting {
  steady::time_point first_seen;
  // The first look that did not find it (not set while it is open).
  std::optional<steady::time_point> gone;
};

std::set<uint64_t> pooled_ids(mariadb::sync_connection& admin,
                              const std::string& db) {
  auto r = admin.execute("SELECT id FROM information_schema.processlist "
                         "WHERE db = ? AND id <> CONNECTION_ID()",
                         {db});
  REQUIRE(r);
  std::set<uint64_t> out;
  for (size_t i = 0; i < r->row_count(); ++i)
    out.insert(*r->row(i).get<uint64_t>(0));
  return out;
}

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "connections are recycled after max_lifetime, at times "
                 "spread by the jitter",
                 "[pool][health]") {
  // Four connections opened together, each to be recycled after 3 s minus
  // up to half of it (lifetime_jitter 0.5): their lifetimes are drawn from
  // 1.5 to 3 s, so they do not all close at once. The pool sits idle, so
  // nothing but the lifetime closes a connection (idle_timeout and the ping
  // interval are far longer).
  constexpr auto lifetime = 3000ms;
  constexpr double jitter = 0.5;
  test::scratch_database db{"lifetime"};
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 4;
  cfg.pool.max_size = 4;
  cfg.pool.max_lifetime = lifetime;
  cfg.pool.lifetime_jitter = jitter;
  // An observer outside the pool watches its connections come and go in
  // the server's process list, from before the pool opens them.
  auto admin = test::connect(db.options());
  REQUIRE(pooled_ids(*admin, db.name()).empty());
  auto engine = spawn(cfg);
  std::map<uint64_t, sighting> seen;
  std::vector<std::chrono::milliseconds> lifetimes;
  // Eight lifetimes: the four first connections and the first four of
  // their replacements to close.
  constexpr size_t wanted = 8;
  auto deadline = steady::now() + 30s;
  // The longest time between two looks: a sighting's time is off by at
  // most that much (a busy machine can stall this loop for seconds, and
  // then every connection that went meanwhile is seen gone at once).
  std::chrono::milliseconds max_gap{0};
  auto last_look = steady::now();
  while (lifetimes.size() < wanted && steady::now() < deadline) {
    auto ids = pooled_ids(*admin, db.name());
    auto now = steady::now();
    max_gap = std::max(max_gap, std::chrono::duration_cast<
                                  std::chrono::milliseconds>(now - last_look));
    last_look = now;
    for (auto id : ids)
      seen.try_emplace(id, sighting{now, std::nullopt});
    for (auto& [id, x] : seen) {
      if (x.gone || ids.count(id) > 0)
        continue;
      x.gone = now;
      lifetimes.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(now
                                                              - x.first_seen));
    }
    std::this_thread::sleep_for(20ms);
  }
  std::string observed;
  for (auto x : lifetimes)
    observed += std::to_string(x.count()) + " ms ";
  INFO("lifetimes observed: " << observed << "; longest gap between looks "
                               << max_gap.count() << " ms");
  REQUIRE(lifetimes.size() >= wanted); // connections were recycled at all
  // Each lived about its drawn lifetime: not less than the shortest the
  // jitter allows, and not much beyond max_lifetime (the pool looks every
  // 50 ms; the observer's looks blur both ends by up to the longest gap
  // between them, about 20 ms on a quiet machine).
  auto blur = 2 * max_gap.count();
  auto shortest_allowed = static_cast<int64_t>(lifetime.count()
                                               * (1 - jitter))
                          - 200 - blur;
  for (auto x : lifetimes) {
    CHECK(x.count() >= shortest_allowed);
    CHECK(x.count() <= (lifetime + 1000ms).count() + blur);
  }
  // Spread: without jitter every lifetime would be max_lifetime, give or
  // take a tick and the observer's blur (about 100 ms). Eight lifetimes
  // drawn from a 1.5 s range all fall within 300 ms of each other with a
  // probability below 1e-4.
  // (A stalled observer sees many go at once: the spread is then judged
  // only when its looks stayed close together.)
  auto [shortest, longest]
    = std::minmax_element(lifetimes.begin(), lifetimes.end());
  if (max_gap < 100ms)
    CHECK((*longest - *shortest).count() >= 300);
  else
    WARN("the observer stalled for " << max_gap.count()
                                     << " ms: spread not judged");
  // The pool stayed whole and replaced every connection it recycled.
  auto st = wait_for_status(engine, [](const pool_status& s) {
    return s.idle == 4 && s.opened >= 4 + wanted;
  });
  CHECK(st.closed >= wanted);
  CHECK(st.failed == 0);
  auto r = query(engine, "SELECT 1");
  REQUIRE(r);
}
