// A session answers its owner only: another actor in the same program (or a
// peer node) cannot read, extend, commit or end someone else's transaction.

#include <chrono>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using test::code_of;

namespace {

struct owner_fixture : test::actor_fixture {
  test::scratch_database db{"owner"};
  engine_actor engine;

  owner_fixture() {
    db.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB");
    db.run("INSERT INTO t VALUES (1, 10)");
    auto cfg = config_for(db.dsn());
    cfg.pool.min_size = 1;
    cfg.pool.max_size = 2;
    engine = spawn(cfg);
  }

  int rows() {
    return *db.run("SELECT COUNT(*) FROM t").scalar<int>();
  }

  /// Sends a message to `s` from `who` and waits (bounded) for the answer.
  template <class... Ts>
  caf::expected<result> from(caf::scoped_actor& who, const session_actor& s,
                             Ts&&... xs) {
    caf::expected<result> out{make_error(errc::internal, "no answer")};
    who->request(s, 30s, std::forward<Ts>(xs)...)
      .receive([&](result& r) { out = std::move(r); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

} // namespace

TEST_CASE_METHOD(owner_fixture,
                 "another actor's messages to a session get not_owner and "
                 "change nothing",
                 "[session][security]") {
  auto s = open_session(engine);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"INSERT INTO t VALUES (2, 20)"}));

  caf::scoped_actor intruder{sys};
  // It cannot read the owner's uncommitted row, add its own, or end the
  // transaction in any way.
  auto read = from(intruder, s, query_atom::value,
                   statement{"SELECT COUNT(*) FROM t"});
  CHECK(code_of(read) == errc::not_owner);
  CHECK(code_of(from(intruder, s, execute_atom::value,
                     statement{"INSERT INTO t VALUES (3, 30)"}))
        == errc::not_owner);
  CHECK(code_of(from(intruder, s, savepoint_atom::value, std::string{"x"}))
        == errc::not_owner);
  CHECK(code_of(from(intruder, s, commit_atom::value)) == errc::not_owner);
  CHECK(code_of(from(intruder, s, rollback_atom::value)) == errc::not_owner);
  CHECK(code_of(from(intruder, s, begin_atom::value, transaction_options{}))
        == errc::not_owner);
  CHECK(code_of(from(intruder, s, close_atom::value)) == errc::not_owner);
  CHECK(code_of(from(intruder, s, hand_over_atom::value,
                     caf::actor_cast<caf::actor>(intruder)))
        == errc::not_owner);
  // Anonymous messages get nowhere either.
  caf::anon_send(s, commit_atom::value);

  // The owner's transaction is intact: its rollback undoes its insert, and
  // nothing of the intruder's was ever written.
  auto mine = in(s, query_atom::value, statement{"SELECT COUNT(*) FROM t"});
  REQUIRE(mine);
  CHECK(mine->scalar<int>() == 2);
  REQUIRE(in(s, rollback_atom::value));
  CHECK(rows() == 1);
}

TEST_CASE_METHOD(owner_fixture,
                 "a session handed over answers its new owner only, and "
                 "rolls back when that owner dies",
                 "[session][security]") {
  auto s = open_session(engine);
  auto next = std::make_unique<caf::scoped_actor>(sys);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, query_atom::value, statement{"INSERT INTO t VALUES (2, 20)"}));
  REQUIRE(in(s, hand_over_atom::value, caf::actor_cast<caf::actor>(*next)));
  // The former owner is now a stranger.
  CHECK(code_of(in(s, commit_atom::value)) == errc::not_owner);
  // The new owner goes on with the same transaction...
  auto seen = from(*next, s, query_atom::value,
                   statement{"SELECT COUNT(*) FROM t"});
  REQUIRE(seen);
  CHECK(seen->scalar<int>() == 2);
  REQUIRE(from(*next, s, query_atom::value,
               statement{"INSERT INTO t VALUES (3, 30)"}));
  // ...and when it dies, the session rolls back and gives its connection
  // back, as for any owner.
  next.reset();
  wait_for_status(engine, [](const pool_status& st) {
    return st.sessions == 0 && st.leased == 0;
  });
  CHECK(rows() == 1);
}

TEST_CASE_METHOD(owner_fixture,
                 "a session handed over commits for its new owner",
                 "[session]") {
  auto s = open_session(engine);
  caf::scoped_actor next{sys};
  REQUIRE(in(s, hand_over_atom::value, caf::actor_cast<caf::actor>(next)));
  auto began = from(next, s, begin_atom::value, transaction_options{});
  INFO((began ? std::string{"ok"} : render(began.error())));
  REQUIRE(began);
  REQUIRE(from(next, s, query_atom::value,
               statement{"INSERT INTO t VALUES (2, 20)"}));
  REQUIRE(from(next, s, commit_atom::value));
  CHECK(rows() == 2);
  CHECK(code_of(in(s, hand_over_atom::value, caf::actor{}))
        == errc::not_owner);
  CHECK(code_of(from(next, s, hand_over_atom::value, caf::actor{}))
        == errc::invalid_argument);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "sessions beyond max_sessions are refused with overloaded "
                 "until one closes",
                 "[session][security]") {
  test::scratch_database db{"caps"};
  auto cfg = config_for(db.dsn());
  cfg.pool.max_sessions = 3;
  auto engine = spawn(cfg);
  std::vector<session_actor> open;
  for (int i = 0; i < 3; ++i)
    open.push_back(open_session(engine));
  auto fourth = ask<session_actor>(engine, session_atom::value,
                                   session_options{});
  REQUIRE_FALSE(fourth);
  CHECK(code_of(fourth) == errc::overloaded);
  CHECK_THAT(info(fourth.error()).message, Catch::Contains("max_sessions"));
  REQUIRE(in(open.back(), close_atom::value));
  wait_for_status(engine, [](const pool_status& st) {
    return st.sessions == 2;
  });
  CHECK(ask<session_actor>(engine, session_atom::value, session_options{}));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "caller-chosen timeouts above max_timeout are refused and "
                 "change nothing",
                 "[pool][session][security]") {
  test::scratch_database db{"caps"};
  auto cfg = config_for(db.dsn());
  cfg.pool.max_timeout = 2s;
  auto engine = spawn(cfg);
  session_options idle;
  idle.idle_timeout_ms = 2001;
  auto s1 = ask<session_actor>(engine, session_atom::value, idle);
  CHECK(code_of(s1) == errc::invalid_argument);
  session_options checkout;
  checkout.checkout_timeout_ms = 3600 * 1000;
  auto s2 = ask<session_actor>(engine, session_atom::value, checkout);
  CHECK(code_of(s2) == errc::invalid_argument);
  CHECK_THAT(info(s2.error()).message, Catch::Contains("max_timeout"));
  CHECK(status(engine).sessions == 0);
  auto r = ask<result>(engine, query_atom::value,
                       statement{"SELECT 1", {}, 2001});
  CHECK(code_of(r) == errc::invalid_argument);
  // At the bound itself, both are accepted.
  idle.idle_timeout_ms = 2000;
  CHECK(ask<session_actor>(engine, session_atom::value, idle));
  CHECK(ask<result>(engine, query_atom::value, statement{"SELECT 1", {}, 2000}));
}
