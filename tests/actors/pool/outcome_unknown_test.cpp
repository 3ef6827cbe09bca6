// A requester that stops waiting has not seen a failure: the statement may
// still run and be applied. These tests make the caller give up (or the
// driver drop the connection) while the statement runs, check the caller
// gets an error saying the outcome is unknown, and then that the statement
// did take effect, so "may have been applied" is the truth.

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "troupe/client.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

struct outcome_fixture : test::actor_fixture {
  test::scratch_database db{"outcome"};

  outcome_fixture() {
    db.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB");
    db.run("INSERT INTO t VALUES (1, 0)");
  }

  int count(int id) {
    return *db.run(fmt::format("SELECT COUNT(*) FROM t WHERE id = {}", id))
              .scalar<int>();
  }

  int value_of(int id) {
    return *db.run(fmt::format("SELECT v FROM t WHERE id = {}", id))
              .scalar<int>();
  }

  /// Polls (bounded) until `pred` holds; returns whether it did.
  template <class Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  /// A connection that inserted row `id` in an open transaction: another
  /// INSERT of that key waits for its lock (on the server; nothing sleeps)
  /// until it rolls back.
  std::unique_ptr<mariadb::sync_connection> hold_key(int id) {
    auto holder = test::connect(db.options());
    REQUIRE(holder->query("START TRANSACTION"));
    REQUIRE(holder->query(fmt::format("INSERT INTO t VALUES ({}, -1)", id)));
    return holder;
  }

  /// True while a statement whose text contains `marker` runs on the server.
  bool running(const std::string& marker) {
    auto n = db.run(fmt::format("SELECT COUNT(*) FROM "
                                "information_schema.processlist WHERE info "
                                "LIKE '%{}%' AND info NOT LIKE '%processlist%'",
                                marker));
    return *n.scalar<int>() > 0;
  }
};

} // namespace

TEST_CASE_METHOD(outcome_fixture,
                 "a client that stops waiting for an INSERT gets "
                 "outcome_unknown and the row is inserted all the same",
                 "[client][outcome]") {
  auto engine = spawn(config_for(db.dsn()));
  // A connection is ready, so the short waits below are spent running.
  wait_for_status(engine, [](const pool_status& p) { return p.idle >= 1; });
  auto c = client::attach(sys, engine, 100ms);
  // The INSERT cannot finish before the holder lets go of the key, which it
  // does only after the client gave up.
  auto holder = hold_key(2);
  auto r = c.execute("INSERT INTO t VALUES (?, ?)", {2, 20});
  REQUIRE_FALSE(r);
  auto x = info(r.error());
  CHECK(x.code == errc::outcome_unknown);
  CHECK(x.is_troupe);
  CHECK_FALSE(x.fatal); // no connection was harmed
  CHECK_THAT(x.message, Catch::Contains("may have been applied")
                          && Catch::Contains("not known to have failed"));
  // What the error says is true: the statement goes on and commits.
  REQUIRE(eventually([&] { return running("INSERT INTO t VALUES"); }));
  CHECK(count(2) == 0);
  REQUIRE(holder->query("ROLLBACK"));
  CHECK(eventually([&] { return count(2) == 1; }));
  CHECK(value_of(2) == 20);
  // The client is still usable, and requests that change nothing work.
  CHECK(c.status());
}

TEST_CASE_METHOD(outcome_fixture,
                 "a statement past read_timeout gets outcome_unknown, fatal, "
                 "and runs on to completion on the server",
                 "[session][outcome]") {
  auto cfg = config_for(db.dsn());
  cfg.connection.read_timeout = 300ms;
  auto engine = spawn(cfg);
  session_options opts;
  opts.autocommit = true;
  auto s = open_session(engine, opts);
  // Another connection holds row 1's lock: the statement waits on the
  // server, nothing sleeps.
  auto holder = test::connect(db.options());
  REQUIRE(holder->query("START TRANSACTION"));
  REQUIRE(holder->query("UPDATE t SET v = 1 WHERE id = 1"));
  auto r = in(s, execute_atom::value,
              statement{"UPDATE t SET v = v + 100 WHERE id = 1"});
  REQUIRE_FALSE(r);
  auto x = info(r.error());
  CHECK(x.code == errc::outcome_unknown);
  CHECK(x.fatal); // the driver dropped the connection
  CHECK_THAT(x.message, Catch::Contains("read_timeout")
                          && Catch::Contains("may still run"));
  // The server still runs it: it waits for the lock, then applies it.
  REQUIRE(eventually([&] { return running("v + 100"); }));
  REQUIRE(holder->query("COMMIT"));
  CHECK(eventually([&] { return value_of(1) == 101; }));
  REQUIRE(in(s, close_atom::value));
}

TEST_CASE_METHOD(outcome_fixture,
                 "inside client::transaction a statement without an answer in "
                 "time abandons the transaction and nothing is committed",
                 "[client][outcome]") {
  auto engine = spawn(config_for(db.dsn()));
  // A connection is ready, so the short waits below are spent running.
  wait_for_status(engine, [](const pool_status& p) { return p.idle >= 1; });
  auto c = client::attach(sys, engine, 200ms);
  auto holder = hold_key(3);
  caf::error seen;
  caf::error after;
  auto tries = c.transaction([&](troupe::transaction& tx) -> caf::error {
    auto r = tx.execute("INSERT INTO t VALUES (?, ?)", {3, 30});
    if (!r)
      seen = r.error();
    // Later calls fail at once, nothing is sent.
    auto next = tx.execute("INSERT INTO t VALUES (4, 40)");
    if (!next)
      after = next.error();
    return caf::error{}; // ignores the errors: still must not commit
  });
  REQUIRE_FALSE(tries);
  CHECK(info(tries.error()).code == errc::transaction_aborted);
  CHECK(info(seen).code == errc::transaction_aborted);
  CHECK_THAT(info(seen).message, Catch::Contains("nothing was committed"));
  CHECK(info(after).code == errc::transaction_aborted);
  // Let the statement run to its end; then the session rolls back and
  // closes.
  REQUIRE(eventually([&] { return running("INSERT INTO t VALUES"); }));
  REQUIRE(holder->query("ROLLBACK"));
  CHECK(eventually([&] { return !running("INSERT INTO t VALUES"); }));
  auto st = wait_for_status(engine, [](const pool_status& p) {
    return p.leased == 0 && p.sessions == 0;
  });
  CHECK(st.leased == 0);
  CHECK(count(3) == 0);
  CHECK(count(4) == 0);
}

TEST_CASE_METHOD(outcome_fixture,
                 "a statement the server cancels (max_statement_time) is "
                 "statement_timeout and was not applied",
                 "[pool][outcome]") {
  auto engine = spawn(config_for(db.dsn()));
  auto holder = hold_key(7);
  // The INSERT waits for the holder's lock until the server stops it.
  auto r = query(engine,
                 "SET STATEMENT max_statement_time = 0.3 FOR "
                 "INSERT INTO t VALUES (?, 42)",
                 {7});
  REQUIRE_FALSE(r);
  auto x = info(r.error());
  CHECK(x.code == errc::statement_timeout);
  CHECK(x.server_code == 1969);
  CHECK_FALSE(x.fatal);
  // Once the holder rolls back, the key is free: had the INSERT been
  // applied (or still be waiting), row 7 would be there with v = 42.
  REQUIRE(holder->query("ROLLBACK"));
  CHECK(count(7) == 0);
  // The connection stays usable.
  CHECK(query(engine, "SELECT 1"));
}
