// Pipelining (pool.pipeline_depth > 1): requests queued on a connection's
// lane behind a running statement. A statement that blocks must hold up
// nobody, deadlines and dispose must reach the queued requests, and a
// statement that leaves a transaction open must not take the requests
// behind it into that transaction. Blocking statements wait on row locks the
// test holds, so nothing here depends on timing.

#include <chrono>
#include <dirent.h>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using test::code_of;
using test::requests;

namespace {

/// A table of lockable rows; each lock is held by a connection of its own,
/// so that one can be released while the others stay held.
struct row_locks {
  std::string table;
  std::vector<std::unique_ptr<mariadb::sync_connection>> holders;

  row_locks(test::scratch_database& db, int rows) {
    table = fmt::format("`{}`.lk", db.name());
    db.run(fmt::format("CREATE TABLE {} (id INT PRIMARY KEY) ENGINE=InnoDB",
                       table));
    for (int i = 1; i <= rows; ++i) {
      db.run(fmt::format("INSERT INTO {} VALUES ({})", table, i));
      holders.push_back(test::connect());
    }
  }

  void lock(int id) {
    auto& h = *holders[static_cast<size_t>(id - 1)];
    REQUIRE(h.query("BEGIN"));
    REQUIRE(h.query(
      fmt::format("SELECT id FROM {} WHERE id = {} FOR UPDATE", table, id)));
  }

  /// A statement that blocks until `release(id)`.
  std::string waiter(int id) const {
    return fmt::format("SELECT id FROM {} WHERE id = {} FOR UPDATE", table, id);
  }

  void release(int id) {
    REQUIRE(holders[static_cast<size_t>(id - 1)]->query("COMMIT"));
  }
};

engine_config pipelined(const test::scratch_database& db, size_t size,
                        size_t depth) {
  auto cfg = test::actor_fixture::config_for(db.dsn());
  cfg.pool.min_size = size;
  cfg.pool.max_size = size;
  cfg.pool.pipeline_depth = depth;
  return cfg;
}

/// Spawns the engine and blocks each of its connections (all of them open
/// first): connection i runs a statement waiting for row i, which the test
/// holds until `locks.release(i)`. The blocked statements are requests 0..
/// of `reqs`.
engine_actor spawn_blocked(test::actor_fixture& f, const engine_config& cfg,
                           row_locks& locks, requests& reqs) {
  auto engine = f.spawn(cfg);
  auto size = static_cast<uint32_t>(cfg.pool.max_size);
  f.wait_for_status(engine,
                    [size](const pool_status& s) { return s.idle == size; });
  for (uint32_t i = 1; i <= size; ++i) {
    locks.lock(static_cast<int>(i));
    reqs.send(engine, statement{locks.waiter(static_cast<int>(i))});
    f.wait_for_status(engine,
                      [i](const pool_status& s) { return s.busy == i; });
  }
  return engine;
}

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "with pipelining, requests queued behind a blocked statement "
                 "are taken over by a connection that frees up",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_steal"};
  row_locks locks{db, 2};
  requests reqs{sys};
  // Both connections block, then six requests queue on their lanes (three
  // each: the depth is 4).
  auto engine = spawn_blocked(*this, pipelined(db, 2, 4), locks, reqs);
  for (int i = 1; i <= 6; ++i)
    reqs.send(engine, statement{"SELECT ?", {i}});
  auto st = wait_for_status(engine,
                            [](const pool_status& s) { return s.waiting == 6; });
  CHECK(st.size == 2);
  CHECK(st.busy == 2);
  // Only the statement on row 2 goes on; its connection runs its own lane,
  // then takes over the requests queued behind the statement still waiting
  // for row 1. Every one of them must finish while row 1 is held.
  locks.release(2);
  for (size_t i = 2; i < 8; ++i) {
    auto r = reqs.receive(i);
    REQUIRE(r);
    CHECK(*r->scalar<int>() == static_cast<int>(i) - 1);
  }
  CHECK(reqs.receive(1));
  // (Answers go out before the pool's bookkeeping: wait for it.)
  wait_for_status(engine, [](const pool_status& s) {
    return s.busy == 1 && s.idle == 1 && s.waiting == 0;
  });
  locks.release(1);
  CHECK(reqs.receive(0));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "with pipelining, a request queued behind a blocked statement "
                 "fails with checkout_timeout at its deadline",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_deadline"};
  row_locks locks{db, 1};
  requests reqs{sys};
  auto engine = spawn_blocked(*this, pipelined(db, 1, 2), locks, reqs);
  statement quick{"SELECT 1"};
  quick.timeout_ms = 300;
  reqs.send(engine, quick);
  // Answered while the statement in front still waits for its lock.
  auto r = reqs.receive(1);
  REQUIRE_FALSE(r);
  CHECK(code_of(r) == errc::checkout_timeout);
  CHECK(info(r.error()).message.find("behind a running statement")
        != std::string::npos);
  auto st = status(engine);
  CHECK(st.timed_out == 1);
  CHECK(st.waiting == 0);
  locks.release(1);
  CHECK(reqs.receive(0));
  // The connection serves again.
  CHECK(query(engine, "SELECT 2"));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "dispose cancels the requests queued behind running "
                 "statements",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_dispose"};
  row_locks locks{db, 1};
  auto cfg = pipelined(db, 1, 3);
  cfg.pool.shutdown_grace = 20s;
  requests reqs{sys};
  auto engine = spawn_blocked(*this, cfg, locks, reqs);
  reqs.send(engine, statement{"SELECT 1"});
  reqs.send(engine, statement{"SELECT 2"});
  wait_for_status(engine, [](const pool_status& s) { return s.waiting == 2; });
  caf::scoped_actor disposer{sys};
  auto disposing = disposer->request(engine, 60s, dispose_atom::value);
  // The queued requests are answered at once, while the first one runs.
  CHECK(code_of(reqs.receive(1)) == errc::shutting_down);
  CHECK(code_of(reqs.receive(2)) == errc::shutting_down);
  locks.release(1);
  CHECK(reqs.receive(0));
  caf::expected<dispose_report> report{make_error(errc::internal, "none")};
  disposing.receive([&](dispose_report& x) { report = std::move(x); },
                    [&](caf::error& e) { report = std::move(e); });
  REQUIRE(report);
  CHECK(report->cancelled == 2);
  CHECK(report->finished == 1);
  CHECK(report->aborted == 0);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "with pipelining, a statement that leaves a transaction open "
                 "does not take the requests behind it into the transaction",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_tx"};
  row_locks locks{db, 1};
  db.run("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");
  db.run("CREATE PROCEDURE opens() BEGIN START TRANSACTION; "
         "INSERT INTO t VALUES (1); END");
  requests reqs{sys};
  auto engine = spawn_blocked(*this, pipelined(db, 1, 3), locks, reqs);
  // Both queue behind the blocked statement on the one connection.
  reqs.send(engine, statement{"CALL opens()"});
  reqs.send(engine, statement{"INSERT INTO t VALUES (2)"});
  wait_for_status(engine, [](const pool_status& s) { return s.waiting == 2; });
  locks.release(1);
  CHECK(reqs.receive(0));
  CHECK(reqs.receive(1));
  auto ins = reqs.receive(2);
  REQUIRE(ins);
  CHECK(ins->affected_rows() == 1);
  // The insert of the procedure was rolled back; the one behind it was
  // committed on its own (autocommit), not inside that transaction.
  auto check = test::connect(db.options());
  auto rows = check->query("SELECT id FROM t ORDER BY id");
  REQUIRE(rows);
  REQUIRE(rows->row_count() == 1);
  CHECK(*rows->scalar<int>() == 2);
  // And the connection is clean for the next request.
  auto in_tx = query(engine, "SELECT @@in_transaction");
  REQUIRE(in_tx);
  CHECK(*in_tx->scalar<int>() == 0);
}

namespace {

// Threads of this process whose name starts with `prefix`.
int threads_named(const std::string& prefix) {
  int n = 0;
  if (auto* dir = opendir("/proc/self/task")) {
    while (auto* e = readdir(dir)) {
      if (e->d_name[0] == '.')
        continue;
      std::ifstream in{fmt::format("/proc/self/task/{}/comm", e->d_name)};
      std::string name;
      std::getline(in, name);
      if (name.rfind(prefix, 0) == 0)
        ++n;
    }
    closedir(dir);
  }
  return n;
}

} // namespace

TEST_CASE("with use_reactor the engine runs its connections on the CAF "
          "workers and starts no I/O threads of its own",
          "[pool][reactor]") {
  test::scratch_database db{"reactor"};
  for (bool reactor : {false, true}) {
    caf::actor_system_config cfg;
    register_types(cfg);
    cfg.set("scheduler.max-threads", 2);
    if (reactor)
      use_reactor(cfg);
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto ecfg = test::actor_fixture::config_for(db.dsn());
    ecfg.name = reactor ? "rx" : "tx";
    ecfg.io_threads = 2;
    auto engine = spawn_engine(sys, ecfg);
    REQUIRE(engine);
    caf::expected<result> r{make_error(errc::internal, "no answer")};
    self->request(*engine, 30s, query_atom::value, statement{"SELECT ?", {7}})
      .receive([&](result& x) { r = std::move(x); },
               [&](caf::error& e) { r = std::move(e); });
    REQUIRE(r);
    CHECK(*r->scalar<int>() == 7);
    // The engine's own loops are named "<name>-io<N>".
    CHECK(threads_named(ecfg.name + "-io") == (reactor ? 0 : 2));
    self->request(*engine, 30s, dispose_atom::value)
      .receive([](dispose_report&) {}, [](caf::error& e) {
        FAIL("dispose failed: " << render(e));
      });
  }
}

TEST_CASE_METHOD(test::actor_fixture,
                 "requests pipelined onto a connection that is killed all fail "
                 "with connection_lost and are not sent again",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_kill"};
  auto engine = spawn(pipelined(db, 1, 4));
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 1; });
  const std::string sql = "SELECT SLEEP(?), ?";
  // Prepared through libmariadb once; from then on it may be pipelined.
  REQUIRE(query(engine, sql, {0, 0}));
  requests reqs{sys};
  reqs.send(engine, statement{sql, {20, 1}});
  for (int i = 2; i <= 4; ++i)
    reqs.send(engine, statement{sql, {0, i}});
  // Nothing waits in the pool: all four were written to the connection.
  wait_for_status(engine, [](const pool_status& s) {
    return s.busy == 1 && s.waiting == 0;
  });
  auto admin = test::connect();
  auto thread = test::running_thread(*admin, "SELECT SLEEP(%", db.name());
  REQUIRE(thread != 0);
  REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", thread)));
  // Sent means maybe run: none is re-sent on the replacement, each fails.
  for (size_t i = 0; i < 4; ++i) {
    auto r = reqs.receive(i);
    REQUIRE_FALSE(r);
    INFO(render(r.error()));
    CHECK(info(r.error()).code == errc::connection_lost);
  }
  auto after = query(engine, sql, {0, 5});
  REQUIRE(after);
  CHECK(after->row(0)[1] == value{int64_t{5}});
  auto st = wait_for_status(engine,
                            [](const pool_status& s) { return s.opened >= 2; });
  CHECK(st.size == 1);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "with pipeline_depth 8, concurrent point selects ride the "
                 "connections together and each gets its own answer",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_many"};
  db.run(fmt::format("CREATE TABLE `{}`.kv (id INT PRIMARY KEY, v BIGINT)",
                     db.name()));
  db.run(fmt::format("INSERT INTO `{}`.kv SELECT seq, seq * 7 FROM seq_1_to_500",
                     db.name()));
  auto cfg = pipelined(db, 2, 8);
  cfg.pool.max_waiters = 1000;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 2; });
  const std::string sql = "SELECT v, ? FROM kv WHERE id = ?";
  requests reqs{sys};
  for (int i = 1; i <= 500; ++i)
    reqs.send(engine, statement{sql, {i, i}});
  int correct = 0;
  for (size_t i = 0; i < 500; ++i) {
    auto r = reqs.receive(i);
    auto id = static_cast<int64_t>(i + 1);
    if (r && r->row_count() == 1 && r->row(0)[0] == value{id * 7}
        && r->row(0)[1] == value{id})
      ++correct;
  }
  CHECK(correct == 500);
  auto st = wait_for_status(engine, [](const pool_status& s) {
    return s.served >= 500 && s.busy == 0;
  });
  CHECK(st.peak_size == 2);
  // The first execution on each connection prepares the statement; most of
  // the rest find others in flight on their connection.
  CHECK(st.pipelined > 250);
  CHECK(st.pipelined <= 498);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a request that cannot join pipelined ones waits on the lane "
                 "and keeps its deadline",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_join"};
  auto engine = spawn(pipelined(db, 1, 4));
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 1; });
  const std::string slow = "SELECT SLEEP(?)";
  REQUIRE(query(engine, slow, {0}));
  requests reqs{sys};
  reqs.send(engine, statement{slow, {3}});
  wait_for_status(engine, [](const pool_status& s) { return s.busy == 1; });
  // A text query cannot be pipelined: it waits on the lane (not in the
  // driver's queue), where its deadline still applies.
  statement text{"SELECT 1"};
  text.timeout_ms = 300;
  reqs.send(engine, text);
  auto r = reqs.receive(1);
  REQUIRE_FALSE(r);
  CHECK(info(r.error()).code == errc::checkout_timeout);
  CHECK(reqs.receive(0));
  CHECK(query(engine, "SELECT 2"));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a mix of pipelined reads, writes, text queries and failing "
                 "statements at depth 8 loses and duplicates nothing",
                 "[pool][pipeline]") {
  test::scratch_database db{"pipeline_mix"};
  db.run(fmt::format("CREATE TABLE `{}`.kv (id INT PRIMARY KEY, v BIGINT)",
                     db.name()));
  db.run(fmt::format("INSERT INTO `{}`.kv SELECT seq, seq * 3 FROM seq_1_to_100",
                     db.name()));
  db.run(fmt::format("CREATE TABLE `{}`.w (id INT PRIMARY KEY)", db.name()));
  auto cfg = pipelined(db, 2, 8);
  cfg.pool.max_waiters = 1000;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 2; });
  const std::string read = "SELECT v FROM kv WHERE id = ?";
  const std::string fails = "SELECT (SELECT id FROM kv WHERE id > ? % 50)";
  // Each request's kind follows from its number: reads, writes (each id
  // once), text queries and statements failing at run time, interleaved.
  requests reqs{sys};
  constexpr int n = 600;
  for (int i = 0; i < n; ++i) {
    switch (i % 4) {
      case 0:
      case 1:
        reqs.send(engine, statement{read, {i % 100 + 1}});
        break;
      case 2:
        reqs.send(engine, statement{i % 8 == 2 ? "INSERT INTO w VALUES (?)"
                                               : fails,
                                    {i}});
        break;
      default:
        reqs.send(engine, statement{fmt::format("SELECT {}", i)});
        break;
    }
  }
  std::vector<std::string> wrong;
  int inserted = 0;
  for (int i = 0; i < n; ++i) {
    auto r = reqs.receive(static_cast<size_t>(i));
    bool ok = false;
    switch (i % 4) {
      case 0:
      case 1:
        ok = r && r->row(0)[0] == value{int64_t{(i % 100 + 1) * 3}};
        break;
      case 2:
        if (i % 8 == 2) {
          ok = r && r->affected_rows() == 1;
          inserted += r ? 1 : 0;
        } else {
          ok = !r && info(r.error()).server_code == 1242;
        }
        break;
      default:
        ok = r && r->scalar<int>() == i;
        break;
    }
    if (!ok)
      wrong.push_back(fmt::format("request {}: {}", i,
                                  r ? fmt::format("{} row(s)", r->row_count())
                                    : render(r.error())));
  }
  INFO((wrong.empty() ? std::string{} : wrong.front()));
  CHECK(wrong.empty());
  CHECK(inserted == n / 8);
  auto count = test::connect(db.options())->query("SELECT COUNT(*) FROM w");
  REQUIRE(count);
  CHECK(count->scalar<int>() == n / 8);
  auto st = wait_for_status(engine, [](const pool_status& s) {
    return s.busy == 0 && s.waiting == 0;
  });
  CHECK(st.size == 2);
  CHECK(st.pipelined > 0);
  CHECK(st.failed_requests == static_cast<uint64_t>(n / 8));
}
