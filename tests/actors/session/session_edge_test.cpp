// Edge cases of sessions and the pool around transactions: deadlocks inside
// sessions, sessions dying while they wait, transactions sneaking into the
// pool, shutdown by exit message, and the circuit with leased connections.

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "troupe/embedded_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

struct edge_fixture : test::actor_fixture {
  test::scratch_database db{"edge"};

  edge_fixture() {
    db.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB");
    db.run("INSERT INTO t VALUES (1, 0), (2, 0)");
  }

  int scalar(const std::string& sql) {
    return *db.run(sql).scalar<int>();
  }
};

} // namespace

TEST_CASE_METHOD(edge_fixture,
                 "after a deadlock inside a session nothing more runs outside "
                 "the transaction and commit cannot succeed",
                 "[session][edge]") {
  auto engine = spawn(config_for(db.dsn()));
  auto a = open_session(engine);
  auto b = open_session(engine);
  REQUIRE(in(a, begin_atom::value, transaction_options{}));
  REQUIRE(in(b, begin_atom::value, transaction_options{}));
  REQUIRE(in(a, query_atom::value, statement{"UPDATE t SET v = 1 WHERE id = 1"}));
  REQUIRE(in(b, query_atom::value, statement{"UPDATE t SET v = 2 WHERE id = 2"}));
  // a waits for b's row; b then asks for a's row: a deadlock.
  caf::scoped_actor other{sys};
  hand_over(a, other); // only a session's owner may send it anything
  auto pending = other->request(a, 60s, query_atom::value,
                                statement{"UPDATE t SET v = 1 WHERE id = 2"});
  // Wait (bounded) until a's update runs on the server, blocked on b's row.
  auto admin = test::connect();
  bool blocked = false;
  for (int i = 0; i < 500 && !blocked; ++i) {
    auto r = admin->query("SELECT COUNT(*) FROM information_schema.processlist "
                          "WHERE info = 'UPDATE t SET v = 1 WHERE id = 2'");
    REQUIRE(r);
    blocked = r->scalar<int>() == 1;
    if (!blocked)
      std::this_thread::sleep_for(10ms);
  }
  REQUIRE(blocked);
  auto rb = in(b, query_atom::value, statement{"UPDATE t SET v = 2 WHERE id = 1"});
  caf::expected<result> ra{make_error(errc::internal, "none")};
  pending.receive([&](result& r) { ra = std::move(r); },
                  [&](caf::error& e) { ra = std::move(e); });
  take_back(a, other);
  REQUIRE(ra.engaged() != rb.engaged()); // exactly one lost
  auto& loser = ra ? b : a;
  auto& winner = ra ? a : b;
  auto lost = ra ? rb.error() : ra.error();
  CHECK(info(lost).code == errc::transaction_aborted);
  CHECK(info(lost).server_code == 1213);
  CHECK(info(lost).sqlstate == "40001");
  // The loser's next statement and its commit are refused, not run in
  // autocommit.
  auto next = in(loser, query_atom::value,
                 statement{"INSERT INTO t VALUES (3, 100)"});
  CHECK(test::code_of(next) == errc::transaction_aborted);
  CHECK(test::code_of(in(loser, commit_atom::value)) == errc::transaction_aborted);
  REQUIRE(in(winner, commit_atom::value));
  CHECK(scalar("SELECT COUNT(*) FROM t WHERE id = 3") == 0);
  CHECK(scalar("SELECT v FROM t WHERE id = 1") == scalar("SELECT v FROM t WHERE id = 2"));
  // A new transaction may begin at once after an aborted one.
  auto c = open_session(engine);
  REQUIRE(in(c, begin_atom::value, transaction_options{}));
  REQUIRE(in(c, query_atom::value, statement{"UPDATE t SET v = 9 WHERE id = 1"}));
  // A second begin nests (session_nested_test.cpp): two rollbacks end it.
  REQUIRE(in(c, begin_atom::value, transaction_options{}));
  REQUIRE(in(c, rollback_atom::value));
  REQUIRE(in(c, rollback_atom::value));
}

TEST_CASE_METHOD(edge_fixture,
                 "a session that dies while waiting for a connection does not "
                 "strand one",
                 "[session][edge]") {
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  auto engine = spawn(cfg);
  auto holder = open_session(engine);
  REQUIRE(in(holder, begin_atom::value, transaction_options{}));
  // Another owner's begin waits for the only connection; then it dies.
  auto waiting_owner = sys.spawn([e = engine](caf::event_based_actor* a) {
    a->request(e, 30s, session_atom::value, session_options{})
      .then([=](session_actor s) {
        a->request(s, 30s, begin_atom::value, transaction_options{})
          .then([](const result&) {}, [](caf::error&) {});
      });
  });
  wait_for_status(engine, [](const pool_status& s) { return s.waiting == 1; });
  self->send_exit(waiting_owner, caf::exit_reason::kill);
  wait_for_status(engine, [](const pool_status& s) { return s.sessions == 1; });
  REQUIRE(in(holder, commit_atom::value));
  // The connection comes back to the pool, not to the dead session.
  auto ok = query(engine, "SELECT 1");
  REQUIRE(ok);
  auto st = wait_for_status(engine, [](const pool_status& s) {
    return s.leased == 0 && s.idle == 1;
  });
  CHECK(st.waiting == 0);
}

TEST_CASE_METHOD(edge_fixture,
                 "the pool refuses transaction control and rolls back a "
                 "transaction a procedure left open",
                 "[pool][edge]") {
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  auto engine = spawn(cfg);
  for (auto sql : {"START TRANSACTION", "BEGIN", "SET autocommit = 0", "COMMIT"}) {
    INFO(sql);
    auto r = query(engine, sql);
    CHECK(test::code_of(r) == errc::invalid_argument);
  }
  db.run("CREATE PROCEDURE leaves_open() BEGIN START TRANSACTION; "
         "INSERT INTO t VALUES (10, 10); END");
  REQUIRE(query(engine, "CALL leaves_open()"));
  // Another requester on the same (only) connection: its write must be its
  // own, committed, and the procedure's must be gone.
  REQUIRE(query(engine, "INSERT INTO t VALUES (?, ?)", {11, 11}));
  auto clean = query(engine, "SELECT @@in_transaction");
  REQUIRE(clean);
  CHECK(clean->scalar<int>() == 0);
  CHECK(scalar("SELECT COUNT(*) FROM t WHERE id = 10") == 0);
  CHECK(scalar("SELECT COUNT(*) FROM t WHERE id = 11") == 1);
}

TEST_CASE_METHOD(edge_fixture,
                 "an exit message shuts the engine down like dispose",
                 "[pool][edge]") {
  auto engine = spawn(config_for(db.dsn()));
  REQUIRE(query(engine, "SELECT 1"));
  caf::scoped_actor client{sys};
  auto running = client->request(engine, 30s, query_atom::value,
                                 statement{"SELECT SLEEP(0.3)"});
  // Running, not queued: the pool may learn that "SELECT 1" is done only
  // after its answer arrived, and then queue the sleep behind it.
  wait_for_status(engine, [](const pool_status& s) {
    return s.busy == 1 && s.waiting == 0;
  });
  self->monitor(engine);
  self->send_exit(engine, caf::exit_reason::user_shutdown);
  bool ok = false;
  running.receive([&](const result&) { ok = true; }, [](caf::error&) {});
  CHECK(ok); // the running statement finished within the grace period
  bool down = false;
  self->receive([&](caf::down_msg& dm) { down = dm.source == engine.address(); },
                caf::after(10s) >> [] {});
  CHECK(down);
}

TEST_CASE_METHOD(edge_fixture,
                 "a session silent right after begin is rolled back after its "
                 "idle timeout",
                 "[session][edge]") {
  auto engine = spawn(config_for(db.dsn()));
  session_options opts;
  opts.idle_timeout_ms = 300;
  auto s = open_session(engine, opts);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  wait_for_status(engine, [](const pool_status& x) { return x.leased == 0; });
  CHECK(test::code_of(in(s, query_atom::value, statement{"SELECT 1"}))
        == errc::transaction_aborted);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a connect failure while the other connection is leased does "
                 "not open the circuit",
                 "[pool][edge]") {
  // A server that allows one connection per account: the pool's second
  // connect fails. (Its own server: the shared one's account may not create
  // users with limits.)
  embedded_server_options opts;
  opts.extra_args = {"--max-user-connections=1"};
  auto server = embedded_server::start(opts);
  REQUIRE(server);
  auto cfg = config_for((*server)->dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 2;
  cfg.pool.checkout_timeout = 10s;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 1; });
  auto s = open_session(engine);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  caf::scoped_actor client{sys};
  auto waiting = client->request(engine, 60s, query_atom::value,
                                 statement{"SELECT 42"});
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.failed >= 1;
  });
  CHECK_FALSE(st.circuit_open);
  REQUIRE(in(s, commit_atom::value));
  caf::expected<result> r{make_error(errc::internal, "none")};
  waiting.receive([&](result& x) { r = std::move(x); },
                  [&](caf::error& e) { r = std::move(e); });
  REQUIRE(r);
  CHECK(r->scalar<int>() == 42);
}
