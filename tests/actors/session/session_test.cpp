// Sessions and transactions against the real server.

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

struct session_fixture : test::actor_fixture {
  test::scratch_database db{"sess"};
  engine_actor engine;

  session_fixture() {
    db.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB");
    db.run("INSERT INTO t VALUES (1, 10), (2, 20)");
  }

  engine_actor start(size_t max_size = 2) {
    auto cfg = config_for(db.dsn());
    cfg.pool.min_size = 1;
    cfg.pool.max_size = max_size;
    engine = spawn(cfg);
    return engine;
  }

  session_actor open(session_options opts = {}) {
    return open_session(engine, opts);
  }

  int value_of(int id) {
    auto r = db.run(fmt::format("SELECT v FROM t WHERE id = {}", id));
    return *r.scalar<int>();
  }

  // Updates row `id` from a fresh connection with a 1 s lock wait: succeeds
  // only if nobody holds the row's lock.
  caf::expected<result> update_elsewhere(int id, int v) {
    auto conn = test::connect(db.options());
    auto set = conn->query("SET SESSION innodb_lock_wait_timeout = 1");
    REQUIRE(set);
    return conn->execute("UPDATE t SET v = ? WHERE id = ?", {v, id});
  }
};

} // namespace

TEST_CASE_METHOD(session_fixture,
                 "commit makes changes visible to other connections and "
                 "rollback discards them",
                 "[session]") {
  start();
  auto s = open();
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value,
             statement{"UPDATE t SET v = ? WHERE id = 1", {11}}));
  CHECK(value_of(1) == 10); // not visible before commit
  REQUIRE(in(s, commit_atom::value));
  CHECK(value_of(1) == 11);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value,
             statement{"UPDATE t SET v = ? WHERE id = 1", {99}}));
  auto mine = in(s, query_atom::value, statement{"SELECT v FROM t WHERE id = 1"});
  REQUIRE(mine);
  CHECK(mine->scalar<int>() == 99); // the transaction sees its own write
  REQUIRE(in(s, rollback_atom::value));
  CHECK(value_of(1) == 11);
  REQUIRE(in(s, close_atom::value));
  // The connection comes back once it is rolled back and reset (busy until
  // then: waiting only for `leased == 0` and then checking `idle` raced).
  wait_for_status(engine, [](const pool_status& x) {
    return x.leased == 0 && x.sessions == 0 && x.idle >= 1;
  });
}

TEST_CASE_METHOD(session_fixture,
                 "rolling back to a savepoint discards only the inner part",
                 "[session]") {
  start();
  auto s = open();
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 100 WHERE id = 1"}));
  REQUIRE(in(s, savepoint_atom::value, "inner"s));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 200 WHERE id = 2"}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 101 WHERE id = 1"}));
  REQUIRE(in(s, rollback_to_atom::value, "inner"s));
  REQUIRE(in(s, release_atom::value, "inner"s));
  REQUIRE(in(s, commit_atom::value));
  CHECK(value_of(1) == 100);
  CHECK(value_of(2) == 20);
  // Bad savepoint names never reach the server.
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  auto bad = in(s, savepoint_atom::value, "x; DROP TABLE t"s);
  CHECK(test::code_of(bad) == errc::invalid_argument);
  auto missing = in(s, rollback_to_atom::value, "never_made"s);
  CHECK(test::code_of(missing) == errc::server_error);
  REQUIRE(in(s, rollback_atom::value));
}

TEST_CASE_METHOD(session_fixture,
                 "isolation levels and read-only transactions are applied",
                 "[session]") {
  start();
  auto s = open();
  for (auto [level, name] :
       {std::pair{isolation_level::read_committed, "READ COMMITTED"},
        std::pair{isolation_level::serializable, "SERIALIZABLE"},
        std::pair{isolation_level::read_uncommitted, "READ UNCOMMITTED"},
        std::pair{isolation_level::repeatable_read, "REPEATABLE READ"}}) {
    INFO(name);
    transaction_options o;
    o.isolation = level;
    o.consistent_snapshot = true; // starts the InnoDB transaction at once
    REQUIRE(in(s, begin_atom::value, o));
    // InnoDB refreshes information_schema.innodb_trx only when it was not
    // read for 100 ms: poll (bounded) with more than that between reads
    // until it shows this transaction.
    std::string seen;
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (seen != name && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(150ms);
      auto r = in(s, query_atom::value,
                  statement{"SELECT trx_isolation_level FROM "
                            "information_schema.innodb_trx WHERE "
                            "trx_mysql_thread_id = CONNECTION_ID()"});
      REQUIRE(r);
      seen = r->row_count() == 1 ? *r->scalar<std::string>() : "";
    }
    CHECK(seen == name);
    REQUIRE(in(s, commit_atom::value));
  }
  // And the levels behave as they say.
  auto other = test::connect(db.options());
  REQUIRE(other->query("SET SESSION innodb_lock_wait_timeout = 1"));
  auto reread = [&](isolation_level level) {
    transaction_options o;
    o.isolation = level;
    o.consistent_snapshot = true;
    REQUIRE(in(s, begin_atom::value, o));
    auto before = in(s, query_atom::value, statement{"SELECT v FROM t WHERE id = 2"});
    REQUIRE(before);
    REQUIRE(other->query("UPDATE t SET v = v + 1 WHERE id = 2"));
    auto after = in(s, query_atom::value, statement{"SELECT v FROM t WHERE id = 2"});
    REQUIRE(after);
    REQUIRE(in(s, commit_atom::value));
    return *after->scalar<int>() - *before->scalar<int>();
  };
  CHECK(reread(isolation_level::repeatable_read) == 0); // a stable snapshot
  CHECK(reread(isolation_level::read_committed) == 1);  // sees the commit
  transaction_options serializable;
  serializable.isolation = isolation_level::serializable;
  REQUIRE(in(s, begin_atom::value, serializable));
  REQUIRE(in(s, query_atom::value, statement{"SELECT v FROM t WHERE id = 2"}));
  auto blocked = other->query("UPDATE t SET v = 0 WHERE id = 2");
  REQUIRE_FALSE(blocked); // plain reads lock under SERIALIZABLE
  CHECK(info(blocked.error()).server_code == 1205);
  REQUIRE(in(s, commit_atom::value));
  transaction_options ro;
  ro.read_only = true;
  REQUIRE(in(s, begin_atom::value, ro));
  auto write = in(s, query_atom::value, statement{"UPDATE t SET v = 0"});
  REQUIRE_FALSE(write);
  CHECK(info(write.error()).server_code == 1792);
  REQUIRE(in(s, rollback_atom::value));
  CHECK(value_of(1) == 10);
  CHECK(value_of(2) == 22);
}

TEST_CASE_METHOD(session_fixture,
                 "implicit commits and transaction control statements are "
                 "refused inside a transaction unless allowed",
                 "[session]") {
  start();
  auto s = open();
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 1 WHERE id = 1"}));
  auto ddl = in(s, query_atom::value, statement{"CREATE TABLE t2 (a INT)"});
  REQUIRE_FALSE(ddl);
  CHECK(info(ddl.error()).code == errc::invalid_argument);
  CHECK_THAT(info(ddl.error()).message, Catch::Contains("implicitly"));
  auto commit_sql = in(s, query_atom::value, statement{"COMMIT"});
  CHECK(test::code_of(commit_sql) == errc::invalid_argument);
  // Nothing was sent: no table, and the update is still uncommitted.
  auto tables = db.run("SELECT COUNT(*) FROM information_schema.tables WHERE "
                       "table_schema = DATABASE() AND table_name = 't2'");
  CHECK(tables.scalar<int>() == 0);
  CHECK(value_of(1) == 10);
  REQUIRE(in(s, rollback_atom::value));
  CHECK(value_of(1) == 10);
  // Temporary tables do not commit implicitly.
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  CHECK(in(s, query_atom::value, statement{"CREATE TEMPORARY TABLE tmp (a INT)"}));
  REQUIRE(in(s, rollback_atom::value));
  // Allowed explicitly: the DDL commits what came before, the session
  // goes on in a new transaction.
  session_options allow;
  allow.allow_implicit_commit = true;
  auto s2 = open(allow);
  REQUIRE(in(s2, begin_atom::value, transaction_options{}));
  REQUIRE(in(s2, query_atom::value, statement{"UPDATE t SET v = 5 WHERE id = 1"}));
  REQUIRE(in(s2, query_atom::value, statement{"CREATE TABLE t3 (a INT)"}));
  REQUIRE(in(s2, query_atom::value, statement{"UPDATE t SET v = 6 WHERE id = 2"}));
  REQUIRE(in(s2, rollback_atom::value));
  CHECK(value_of(1) == 5);  // committed by the DDL
  CHECK(value_of(2) == 20); // rolled back
}

TEST_CASE_METHOD(session_fixture,
                 "a session refuses statements while no transaction is open: "
                 "before begin, after commit, after rollback and after an "
                 "aborted transaction",
                 "[session]") {
  start();
  auto s = open();
  auto rows = [&] {
    auto n = query(engine, "SELECT COUNT(*) FROM t");
    REQUIRE(n);
    return *n->scalar<int>();
  };
  auto refused = [&](const char* when, int id) {
    INFO(when);
    auto before = rows();
    for (auto atom : {0, 1}) {
      auto stmt = statement{"INSERT INTO t VALUES (?, ?)", {id + atom, 1}};
      auto r = atom == 0 ? in(s, query_atom::value, stmt)
                         : in(s, execute_atom::value, stmt);
      REQUIRE_FALSE(r);
      CHECK(info(r.error()).code == errc::invalid_argument);
      CHECK_THAT(info(r.error()).message,
                 Catch::Contains("no open transaction")
                   && Catch::Contains("send begin")
                   && Catch::Contains("autocommit"));
    }
    CHECK(rows() == before); // nothing reached the server
  };
  refused("before the first begin", 100);
  CHECK(rows() == 2);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"INSERT INTO t VALUES (3, 30)"}));
  REQUIRE(in(s, commit_atom::value));
  CHECK(rows() == 3);
  refused("after commit", 110);
  CHECK(rows() == 3);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"INSERT INTO t VALUES (4, 40)"}));
  REQUIRE(in(s, rollback_atom::value));
  CHECK(rows() == 3);
  refused("after rollback", 120);
  CHECK(rows() == 3);
  // A transaction lost with its connection, then rolled back.
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  auto id = in(s, query_atom::value, statement{"SELECT CONNECTION_ID()"});
  REQUIRE(id);
  auto thread = *id->scalar<uint64_t>();
  auto admin = test::connect();
  REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", thread)));
  // The kill is asynchronous: wait (bounded) until the thread is gone.
  auto gone = [&] {
    auto n = admin->query(fmt::format("SELECT COUNT(*) FROM "
                                      "information_schema.processlist WHERE "
                                      "id = {}",
                                      thread));
    REQUIRE(n);
    return *n->scalar<int>() == 0;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!gone() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE(gone());
  auto lost = in(s, query_atom::value, statement{"INSERT INTO t VALUES (5, 50)"});
  REQUIRE_FALSE(lost);
  CHECK(info(lost.error()).code == errc::transaction_aborted);
  REQUIRE(in(s, rollback_atom::value));
  refused("after an aborted transaction was rolled back", 130);
  CHECK(rows() == 3);
  // commit without a transaction is refused too; a second begin with
  // options of its own as well (a plain one nests).
  CHECK(test::code_of(in(s, commit_atom::value)) == errc::invalid_argument);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  transaction_options serializable;
  serializable.isolation = isolation_level::serializable;
  CHECK(test::code_of(in(s, begin_atom::value, serializable))
        == errc::invalid_argument);
  REQUIRE(in(s, rollback_atom::value));
  CHECK(in(s, rollback_atom::value)); // idempotent
  CHECK(rows() == 3);
}

TEST_CASE_METHOD(session_fixture,
                 "a session opened with autocommit runs statements outside a "
                 "transaction, each committed at once",
                 "[session]") {
  start();
  session_options opts;
  opts.autocommit = true;
  auto s = open(opts);
  auto ins = in(s, execute_atom::value, statement{"INSERT INTO t VALUES (?, ?)", {3, 30}});
  REQUIRE(ins);
  CHECK(ins->affected_rows() == 1);
  // Committed: another connection sees it while the session lives on.
  CHECK(value_of(3) == 30);
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 7 WHERE id = 1"}));
  CHECK(value_of(1) == 7);
  // Transactions still work in such a session, and after commit the
  // session is back in autocommit.
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 8 WHERE id = 1"}));
  CHECK(value_of(1) == 7);
  REQUIRE(in(s, commit_atom::value));
  CHECK(value_of(1) == 8);
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 9 WHERE id = 1"}));
  CHECK(value_of(1) == 9);
  // Transaction control stays refused, by the pool, before anything runs.
  CHECK(test::code_of(in(s, query_atom::value, statement{"BEGIN"}))
        == errc::invalid_argument);
  REQUIRE(in(s, close_atom::value));
}

namespace {

// An owner that opens a session, begins, locks row 1 with an update, sets
// a session variable, reports the session, and then just waits.
caf::behavior lock_holder(caf::event_based_actor* self, engine_actor engine,
                          session_options opts, caf::actor report_to) {
  self->request(engine, 30s, session_atom::value, opts)
    .then([=](session_actor s) {
      self->request(s, 30s, begin_atom::value, transaction_options{})
        .then([=](const result&) {
          self->request(s, 30s, query_atom::value,
                        statement{"UPDATE t SET v = 555 WHERE id = 1"})
            .then([=](const result&) {
              self->request(s, 30s, query_atom::value,
                            statement{"SET @leak = 'yes'"})
                .then([=](const result&) {
                  self->send(report_to, caf::atom("locked"));
                });
            });
        });
    });
  return {[](caf::atom_value) {}};
}

} // namespace

TEST_CASE_METHOD(session_fixture,
                 "when the owner dies mid-transaction the session rolls back, "
                 "releases the locks and returns a clean connection",
                 "[session]") {
  start(1); // one connection: the next request must get the same one
  auto owner = sys.spawn(lock_holder, engine, session_options{},
                         caf::actor_cast<caf::actor>(self));
  bool locked = false;
  self->receive([&](caf::atom_value) { locked = true; },
                caf::after(20s) >> [] {});
  REQUIRE(locked);
  // While the owner lives, the row is locked.
  auto blocked = update_elsewhere(1, 1);
  REQUIRE_FALSE(blocked);
  CHECK(info(blocked.error()).server_code == 1205);
  self->send_exit(owner, caf::exit_reason::kill);
  // Within a second the lock is released and nothing was committed.
  auto t0 = std::chrono::steady_clock::now();
  caf::expected<result> freed{make_error(errc::internal, "none")};
  while (std::chrono::steady_clock::now() - t0 < 10s) {
    freed = update_elsewhere(1, 42);
    if (freed)
      break;
  }
  REQUIRE(freed);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(value_of(1) == 42); // our write; 555 never committed
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.leased == 0 && x.sessions == 0 && x.idle == 1;
  });
  CHECK(st.size == 1);
  auto clean = query(engine, "SELECT @@in_transaction, @leak");
  REQUIRE(clean);
  CHECK(clean->row(0).get<int>(0) == 0);
  CHECK(clean->row(0)[1].is_null());
}

TEST_CASE_METHOD(session_fixture,
                 "an owner that stays silent past the idle timeout gets its "
                 "transaction rolled back",
                 "[session]") {
  start(1);
  session_options opts;
  opts.idle_timeout_ms = 300;
  auto owner = sys.spawn(lock_holder, engine, opts,
                         caf::actor_cast<caf::actor>(self));
  bool locked = false;
  self->receive([&](caf::atom_value) { locked = true; },
                caf::after(20s) >> [] {});
  REQUIRE(locked);
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.leased == 0 && x.idle == 1;
  });
  CHECK(st.sessions == 1); // the owner and its session live on
  REQUIRE(update_elsewhere(1, 43));
  CHECK(value_of(1) == 43);
  auto clean = query(engine, "SELECT @@in_transaction, @leak");
  REQUIRE(clean);
  CHECK(clean->row(0).get<int>(0) == 0);
  CHECK(clean->row(0)[1].is_null());
  self->send_exit(owner, caf::exit_reason::kill);
}

TEST_CASE_METHOD(session_fixture,
                 "a silent owner's session reports transaction_aborted and "
                 "recovers with rollback",
                 "[session]") {
  start();
  session_options opts;
  opts.idle_timeout_ms = 200;
  auto s = open(opts);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 1 WHERE id = 1"}));
  wait_for_status(engine, [](const pool_status& x) { return x.leased == 0; });
  auto late = in(s, query_atom::value, statement{"UPDATE t SET v = 2 WHERE id = 2"});
  CHECK(test::code_of(late) == errc::transaction_aborted);
  CHECK(test::code_of(in(s, commit_atom::value)) == errc::transaction_aborted);
  CHECK(value_of(1) == 10);
  CHECK(value_of(2) == 20);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, rollback_atom::value));
}

TEST_CASE_METHOD(session_fixture,
                 "a connection killed during a transaction aborts it and "
                 "nothing is replayed",
                 "[session]") {
  start();
  auto s = open();
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 77 WHERE id = 1"}));
  auto id = in(s, query_atom::value, statement{"SELECT CONNECTION_ID()"});
  REQUIRE(id);
  auto admin = test::connect();
  REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", *id->scalar<uint64_t>())));
  // The next statement learns the transaction is gone; so does commit.
  caf::expected<result> next{make_error(errc::internal, "none")};
  for (int i = 0; i < 100; ++i) {
    next = in(s, query_atom::value, statement{"UPDATE t SET v = 78 WHERE id = 2"});
    if (!next)
      break;
    std::this_thread::sleep_for(10ms); // the kill is asynchronous
  }
  REQUIRE_FALSE(next);
  CHECK(info(next.error()).code == errc::transaction_aborted);
  CHECK(test::code_of(in(s, commit_atom::value)) == errc::transaction_aborted);
  CHECK(value_of(1) == 10);
  CHECK(value_of(2) == 20);
  // The session is usable again.
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"UPDATE t SET v = 79 WHERE id = 2"}));
  REQUIRE(in(s, commit_atom::value));
  CHECK(value_of(2) == 79);
}

TEST_CASE_METHOD(session_fixture,
                 "a connection killed around COMMIT gives a definite outcome "
                 "or commit_outcome_unknown, never a false one",
                 "[session]") {
  start(4);
  auto admin = test::connect();
  int unknown = 0;
  int definite = 0;
  for (int i = 0; i < 15; ++i) {
    auto s = open();
    REQUIRE(in(s, begin_atom::value, transaction_options{}));
    REQUIRE(in(s, query_atom::value,
               statement{"INSERT INTO t VALUES (?, ?)", {100 + i, i}}));
    auto id = in(s, query_atom::value, statement{"SELECT CONNECTION_ID()"});
    REQUIRE(id);
    auto thread = *id->scalar<uint64_t>();
    // Send COMMIT and kill the connection at (nearly) the same time.
    caf::scoped_actor committer{sys};
    hand_over(s, committer); // only a session's owner may commit
    auto pending = committer->request(s, 30s, commit_atom::value);
    if (i % 3 != 0)
      std::this_thread::sleep_for(std::chrono::microseconds{100 * i});
    admin->query(fmt::format("KILL CONNECTION {}", thread));
    caf::expected<result> outcome{make_error(errc::internal, "none")};
    pending.receive([&](result& r) { outcome = std::move(r); },
                    [&](caf::error& e) { outcome = std::move(e); });
    auto rows = db.run(fmt::format("SELECT COUNT(*) FROM t WHERE id = {}", 100 + i));
    bool committed = *rows.scalar<int>() == 1;
    if (outcome) {
      ++definite;
      CHECK(committed); // success must mean committed
    } else {
      auto code = info(outcome.error()).code;
      if (code == errc::commit_outcome_unknown) {
        ++unknown;
      } else {
        ++definite;
        CHECK_FALSE(committed); // a definite failure must mean not committed
        CHECK(code == errc::transaction_aborted);
      }
    }
    in(s, close_atom::value);
  }
  CHECK(unknown + definite == 15);
}

TEST_CASE_METHOD(session_fixture,
                 "500 concurrent sessions over a pool of 8 increment a "
                 "counter without losing an update",
                 "[session]") {
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 8;
  cfg.pool.max_size = 8;
  cfg.pool.max_waiters = 1000;
  cfg.pool.checkout_timeout = 60s;
  engine = spawn(cfg);
  constexpr int sessions = 500;
  std::atomic<int> committed{0};
  std::atomic<int> failed{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < sessions; ++i) {
    sys.spawn([&, e = engine](caf::event_based_actor* a) {
      auto fail = [&, a](caf::error&) {
        ++failed;
        ++finished;
        a->quit();
      };
      a->request(e, 60s, session_atom::value, session_options{})
        .then([=, &committed, &finished](session_actor s) {
          a->request(s, 60s, begin_atom::value, transaction_options{})
            .then([=, &committed, &finished](const result&) {
              a->request(s, 60s, query_atom::value,
                         statement{"SELECT v FROM t WHERE id = 1 FOR UPDATE"})
                .then([=, &committed, &finished](const result& r) {
                  auto v = *r.scalar<int64_t>();
                  a->request(s, 60s, query_atom::value,
                             statement{"UPDATE t SET v = ? WHERE id = 1", {v + 1}})
                    .then([=, &committed, &finished](const result&) {
                      a->request(s, 60s, commit_atom::value)
                        .then([=, &committed, &finished](const result&) {
                          ++committed;
                          ++finished;
                          a->send(s, close_atom::value);
                          a->quit();
                        }, fail);
                    }, fail);
                }, fail);
            }, fail);
        }, fail);
    });
  }
  auto deadline = std::chrono::steady_clock::now() + 180s;
  while (finished < sessions && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(finished == sessions); // nobody hangs
  CHECK(value_of(1) == 10 + committed.load());
  CHECK(committed == sessions);
  CHECK(failed == 0);
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.leased == 0 && x.sessions == 0;
  });
  CHECK(st.peak_size <= 8);
}
