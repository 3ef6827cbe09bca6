// No caller's session state reaches another through the pool: whatever one
// request leaves in its connection's session (variables, the current
// database, the character set, user variables, temporary tables, table and
// named locks) is gone before any other request runs there. The pool resets
// such a connection before it serves anyone else (docs/architecture.md, "No
// state crosses callers").

#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using test::code_of;
using test::requests;

namespace {

constexpr size_t pool_size = 4;

/// One kind of session state: the statement that changes it, and a probe
/// that reads it back on whichever connection runs it. Every probe returns
/// (CONNECTION_ID(), observed value as text) and is bounded: a leaked lock
/// makes it fail with a lock wait timeout instead of hanging.
struct state_case {
  const char* what;
  std::string change;
  std::string probe;
};

std::vector<state_case> cases(const std::string& lock) {
  auto bounded = [](std::string sql) {
    return "SET STATEMENT lock_wait_timeout = 5 FOR " + sql;
  };
  auto probe = [&](std::string expr) {
    return bounded(fmt::format("SELECT CONNECTION_ID(), CAST(({}) AS CHAR)",
                               expr));
  };
  return {
    {"SET SESSION sql_mode", "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
     probe("@@SESSION.sql_mode")},
    {"SET time_zone", "SET time_zone = '+05:00'",
     probe("@@SESSION.time_zone")},
    {"USE", "USE information_schema", probe("DATABASE()")},
    {"SET NAMES", "SET NAMES latin1",
     probe("CONCAT(@@SESSION.character_set_client, '/', "
           "@@SESSION.character_set_results)")},
    {"SET @uservar", "SET @troupe_leak = 42", probe("@troupe_leak")},
    // The temporary table shadows the real one, which has three rows.
    {"CREATE TEMPORARY TABLE", "CREATE TEMPORARY TABLE p2 (a INT)",
     probe("SELECT COUNT(*) FROM p2")},
    // On the locking connection p3 is not locked (1100); on the others p2
    // cannot be read (1205 after lock_wait_timeout).
    {"LOCK TABLES", "LOCK TABLES p2 WRITE",
     probe("(SELECT COUNT(*) FROM p2) + (SELECT COUNT(*) FROM p3)")},
    {"GET_LOCK", fmt::format("SELECT GET_LOCK('{}', 0)", lock),
     probe(fmt::format("IS_FREE_LOCK('{}')", lock))},
  };
}

struct probe_outcome {
  std::set<int64_t> connections;
  std::set<std::string> values;
  std::vector<std::string> errors;
};

/// Sends `n` probes at once, each from its own actor.
void probe_round(caf::actor_system& sys, const engine_actor& engine,
                 const std::string& sql, size_t n, probe_outcome& out) {
  requests reqs{sys};
  for (size_t i = 0; i < n; ++i)
    reqs.send(engine, statement{sql});
  for (size_t i = 0; i < n; ++i) {
    auto r = reqs.receive(i);
    if (!r) {
      out.errors.push_back(render(r.error()));
      continue;
    }
    auto id = r->row(0).get<int64_t>(0);
    auto v = r->row(0).get<caf::optional<std::string>>(1);
    REQUIRE(id);
    REQUIRE(v);
    out.connections.insert(*id);
    out.values.insert(*v ? **v : std::string{"NULL"});
  }
}

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "session state one caller leaves on a pooled connection "
                 "never reaches the callers after it",
                 "[pool][isolation]") {
  test::scratch_database db{"iso"};
  db.run(fmt::format("CREATE TABLE `{}`.p2 (a INT)", db.name()));
  db.run(fmt::format("CREATE TABLE `{}`.p3 (a INT)", db.name()));
  db.run(fmt::format("INSERT INTO `{}`.p2 VALUES (1), (2), (3)", db.name()));
  db.run(fmt::format("INSERT INTO `{}`.p3 VALUES (4)", db.name()));
  auto lock = test::unique_name("troupe_leak_");
  auto all = cases(lock);
  auto index = GENERATE_COPY(range(size_t{0}, all.size()));
  const auto& c = all[index];
  CAPTURE(c.what);

  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = pool_size;
  cfg.pool.max_size = pool_size;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& st) {
    return st.idle == pool_size;
  });

  // What every connection reports before anyone changed anything.
  auto baseline = query(engine, c.probe);
  REQUIRE(baseline);
  auto expected = baseline->row(0).get<caf::optional<std::string>>(1);
  REQUIRE(expected);
  std::string want = *expected ? **expected : std::string{"NULL"};

  auto changed = query(engine, c.change);
  REQUIRE(changed);
  // (The answer can overtake the supervisor's bookkeeping: wait for it.)
  wait_for_status(engine, [](const pool_status& st) { return st.resets >= 1; });

  // Probes from other callers until every connection answered (at least
  // 200 of them): none sees the change, none fails on a leaked lock.
  probe_outcome seen;
  size_t sent = 0;
  while (sent < 200
         || (seen.connections.size() < pool_size && sent < 2000)) {
    probe_round(sys, engine, c.probe, 50, seen);
    sent += 50;
  }
  CHECK(seen.errors.empty());
  for (const auto& e : seen.errors)
    UNSCOPED_INFO(e);
  CHECK(seen.connections.size() == pool_size);
  CHECK(seen.values == std::set<std::string>{want});

  // Nothing holds a lock any more: a connection of our own takes them.
  auto other = test::connect(db.options());
  auto got = other->query(fmt::format("SELECT GET_LOCK('{}', 0)", lock));
  REQUIRE(got);
  CHECK(got->scalar<int64_t>() == int64_t{1});
  CHECK(other->query("SET STATEMENT lock_wait_timeout = 5 FOR "
                     "INSERT INTO p2 VALUES (9)"));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "statements that leave no session state do not reset the "
                 "connection",
                 "[pool][isolation]") {
  test::scratch_database db{"iso"};
  db.run(fmt::format("CREATE TABLE `{}`.t (a INT)", db.name()));
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  auto engine = spawn(cfg);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(query(engine, "INSERT INTO t VALUES (?)", {i}));
    REQUIRE(query(engine, "SELECT COUNT(*), @@SESSION.sql_mode FROM t"));
  }
  REQUIRE(query(engine, "SET @x = 1"));
  // Counted in order: once the reset of the last statement shows, the 40
  // before it would show too.
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.resets >= 1;
  });
  CHECK(st.resets == 1);
  CHECK(st.served == 41);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a failed statement that leaves no state does not reset, "
                 "and a request queued behind a state change never sees it",
                 "[pool][isolation]") {
  test::scratch_database db{"iso"};
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  auto engine = spawn(cfg);
  CHECK(code_of(query(engine, "SELEKT 1")) == errc::server_error);
  // One connection: the probe waits behind the change and runs on the very
  // connection that changed, after its reset.
  requests reqs{sys};
  reqs.send(engine, statement{"SET time_zone = '+07:00'"});
  reqs.send(engine, statement{"SELECT @@SESSION.time_zone"});
  REQUIRE(reqs.receive(0));
  auto tz = reqs.receive(1);
  REQUIRE(tz);
  auto zone = tz->scalar<std::string>();
  REQUIRE(zone);
  CHECK(*zone != "+07:00");
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.served + x.failed_requests == 3;
  });
  CHECK(st.resets == 1);
}
