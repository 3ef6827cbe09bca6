// Deadlocks, the retry helpers, the blocking facade's scoped transactions,
// and owners on another node.

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "troupe/client.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

struct retry_fixture : test::actor_fixture {
  test::scratch_database db{"retry"};

  retry_fixture() {
    db.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB");
    db.run("INSERT INTO t VALUES (1, 0), (2, 0)");
  }

  // Locks `first`, waits, then locks `second`: run against its mirror image
  // it deadlocks.
  static transaction_script crossing(int first, int second, uint32_t attempts) {
    transaction_script x;
    x.statements = {
      statement{"UPDATE t SET v = v + 1 WHERE id = ?", {first}},
      statement{"SELECT SLEEP(0.4)"},
      statement{"UPDATE t SET v = v + 1 WHERE id = ?", {second}},
    };
    x.max_attempts = attempts;
    return x;
  }

  int value_of(int id) {
    return *db.run(fmt::format("SELECT v FROM t WHERE id = {}", id))
              .scalar<int>();
  }
};

} // namespace

TEST_CASE_METHOD(retry_fixture,
                 "two deadlocking transaction scripts both commit with "
                 "retries, and the retry count is visible",
                 "[retry]") {
  auto engine = spawn(config_for(db.dsn()));
  caf::scoped_actor a{sys};
  caf::scoped_actor b{sys};
  auto ha = a->request(engine, 60s, transaction_atom::value, crossing(1, 2, 5));
  auto hb = b->request(engine, 60s, transaction_atom::value, crossing(2, 1, 5));
  caf::expected<transaction_outcome> ra{make_error(errc::internal, "none")};
  caf::expected<transaction_outcome> rb{make_error(errc::internal, "none")};
  ha.receive([&](transaction_outcome& x) { ra = std::move(x); },
             [&](caf::error& e) { ra = std::move(e); });
  hb.receive([&](transaction_outcome& x) { rb = std::move(x); },
             [&](caf::error& e) { rb = std::move(e); });
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra->results.size() == 3);
  CHECK(ra->attempts + rb->attempts >= 3); // one of them was retried
  CHECK(value_of(1) == 2);
  CHECK(value_of(2) == 2);
}

TEST_CASE_METHOD(retry_fixture,
                 "without retries the deadlock loser gets 1213/40001 and its "
                 "changes are rolled back",
                 "[retry]") {
  auto engine = spawn(config_for(db.dsn()));
  caf::scoped_actor a{sys};
  caf::scoped_actor b{sys};
  auto ha = a->request(engine, 60s, transaction_atom::value, crossing(1, 2, 1));
  auto hb = b->request(engine, 60s, transaction_atom::value, crossing(2, 1, 1));
  std::vector<caf::error> errors;
  int ok = 0;
  ha.receive([&](transaction_outcome&) { ++ok; },
             [&](caf::error& e) { errors.push_back(e); });
  hb.receive([&](transaction_outcome&) { ++ok; },
             [&](caf::error& e) { errors.push_back(e); });
  REQUIRE(ok == 1);
  REQUIRE(errors.size() == 1);
  auto e = info(errors[0]);
  CHECK(e.server_code == 1213);
  CHECK(e.sqlstate == "40001");
  CHECK(value_of(1) == 1); // only the winner's two increments
  CHECK(value_of(2) == 1);
}

TEST_CASE_METHOD(retry_fixture,
                 "the blocking client's transaction commits on success, rolls "
                 "back on an error or an exception, and retries deadlocks",
                 "[retry][client]") {
  auto c = client::connect(sys, config_for(db.dsn()));
  REQUIRE(c);
  auto done = c->transaction([](transaction& tx) -> caf::error {
    auto r = tx.execute("UPDATE t SET v = 5 WHERE id = 1");
    return r ? caf::error{} : r.error();
  });
  REQUIRE(done);
  CHECK(*done == 1);
  CHECK(value_of(1) == 5);
  auto refused = c->transaction([](transaction& tx) -> caf::error {
    tx.execute("UPDATE t SET v = 6 WHERE id = 1");
    return make_error(errc::invalid_argument, "changed my mind");
  });
  REQUIRE_FALSE(refused);
  CHECK_THAT(info(refused.error()).message, Catch::Contains("changed my mind"));
  CHECK(value_of(1) == 5);
  CHECK_THROWS_AS(c->transaction([](transaction& tx) -> caf::error {
    tx.execute("UPDATE t SET v = 7 WHERE id = 1");
    throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  CHECK(value_of(1) == 5);
  // Two facades deadlocking: the helper retries the loser.
  auto other = client::connect(sys, config_for(db.dsn()));
  REQUIRE(other);
  auto crossing_unit = [](int first, int second) {
    return [first, second](transaction& tx) -> caf::error {
      for (auto id : {first, -1, second}) {
        auto r = id < 0 ? tx.query("SELECT SLEEP(0.4)")
                        : tx.execute("UPDATE t SET v = v + 1 WHERE id = ?",
                                     {id});
        if (!r)
          return r.error();
      }
      return {};
    };
  };
  auto fa = std::async(std::launch::async, [&] {
    return c->transaction(crossing_unit(1, 2), {}, retry_policy{5});
  });
  auto fb = std::async(std::launch::async, [&] {
    return other->transaction(crossing_unit(2, 1), {}, retry_policy{5});
  });
  auto ra = fa.get();
  auto rb = fb.get();
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(*ra + *rb >= 3);
  CHECK(value_of(1) == 7);
  CHECK(value_of(2) == 2);
}

TEST_CASE_METHOD(retry_fixture,
                 "when a remote owner's node goes away its transaction is "
                 "rolled back",
                 "[session][network]") {
  auto cfg = config_for(db.dsn());
  cfg.pool.max_size = 1;
  auto engine = spawn(cfg);
  auto port = sys.middleman().publish(engine, 0, "127.0.0.1", true);
  REQUIRE(port);
  {
    caf::actor_system_config other_cfg;
    caf::actor_system other{test::test_config(other_cfg)};
    auto remote = other.middleman().remote_actor<engine_actor>("127.0.0.1",
                                                                *port);
    REQUIRE(remote);
    caf::scoped_actor owner{other};
    caf::expected<session_actor> s{make_error(errc::internal, "none")};
    owner->request(*remote, 30s, session_atom::value, session_options{})
      .receive([&](session_actor& x) { s = std::move(x); },
               [&](caf::error& e) { s = std::move(e); });
    REQUIRE(s);
    bool ok = false;
    owner->request(*s, 30s, begin_atom::value, transaction_options{})
      .receive([&](const result&) { ok = true; }, [](caf::error&) {});
    REQUIRE(ok);
    ok = false;
    owner->request(*s, 30s, query_atom::value,
                   statement{"UPDATE t SET v = 999 WHERE id = 1"})
      .receive([&](const result&) { ok = true; }, [](caf::error&) {});
    REQUIRE(ok);
    // The owner's node shuts down here without committing.
  }
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.leased == 0 && x.sessions == 0 && x.idle == 1;
  });
  CHECK(st.size == 1);
  CHECK(value_of(1) == 0);
  auto conn = test::connect(db.options());
  REQUIRE(conn->query("SET SESSION innodb_lock_wait_timeout = 1"));
  CHECK(conn->execute("UPDATE t SET v = 1 WHERE id = ?", {1}));
}
