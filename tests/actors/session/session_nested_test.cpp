// Nested transactions: begin inside a transaction opens a level (a
// savepoint the session names); commit and rollback end the innermost
// level; a level whose failure went unhandled aborts the whole transaction.

#include <fmt/format.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::string_literals;

namespace {

struct nested_fixture : test::actor_fixture {
  test::scratch_database db{"nested"};
  engine_actor engine;
  session_actor s;

  nested_fixture() {
    db.run("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB");
    auto cfg = config_for(db.dsn());
    cfg.pool.min_size = 1;
    cfg.pool.max_size = 2;
    engine = spawn(cfg);
    s = open_session(engine);
  }

  caf::expected<result> insert(int id) {
    return in(s, execute_atom::value,
              statement{"INSERT INTO t VALUES (?)", {id}});
  }

  void begin() {
    REQUIRE(in(s, begin_atom::value, transaction_options{}));
  }

  // The ids in t as seen by the session (inside its transaction).
  std::vector<int64_t> seen() {
    auto r = in(s, query_atom::value,
                statement{"SELECT id FROM t ORDER BY id LIMIT ?", {1000}});
    REQUIRE(r);
    std::vector<int64_t> out;
    for (size_t i = 0; i < r->row_count(); ++i)
      out.push_back(*r->row(i).get<int64_t>(0));
    return out;
  }

  // The ids committed (another connection).
  std::vector<int64_t> committed() {
    auto r = db.run("SELECT id FROM t ORDER BY id");
    std::vector<int64_t> out;
    for (size_t i = 0; i < r.row_count(); ++i)
      out.push_back(*r.row(i).get<int64_t>(0));
    return out;
  }

  using ids = std::vector<int64_t>;
};

} // namespace

TEST_CASE_METHOD(nested_fixture,
                 "an inner rollback undoes only the inner level; inner "
                 "commits keep their work for the outer commit",
                 "[session][nested]") {
  begin();
  REQUIRE(insert(1));
  begin(); // level 1
  REQUIRE(insert(2));
  begin(); // level 2
  REQUIRE(insert(3));
  REQUIRE(in(s, rollback_atom::value)); // undoes 3 only
  CHECK(seen() == ids{1, 2});
  begin(); // level 2 again
  REQUIRE(insert(4));
  REQUIRE(in(s, commit_atom::value)); // keeps 4 in level 1
  REQUIRE(in(s, commit_atom::value)); // keeps 2 and 4 in the transaction
  CHECK(committed().empty()); // nothing is committed before the outer commit
  REQUIRE(in(s, commit_atom::value));
  CHECK(committed() == ids{1, 2, 4});
  // The transaction is over: another commit is refused.
  CHECK(test::code_of(in(s, commit_atom::value)) == errc::invalid_argument);
}

TEST_CASE_METHOD(nested_fixture,
                 "rolling back the outer transaction undoes committed inner "
                 "levels too",
                 "[session][nested]") {
  begin();
  REQUIRE(insert(1));
  begin();
  REQUIRE(insert(2));
  REQUIRE(in(s, commit_atom::value));
  REQUIRE(in(s, rollback_atom::value));
  CHECK(committed().empty());
  // The session serves the next transaction.
  begin();
  REQUIRE(insert(5));
  REQUIRE(in(s, commit_atom::value));
  CHECK(committed() == ids{5});
}

TEST_CASE_METHOD(nested_fixture,
                 "a failure handled by rolling its level back leaves the "
                 "outer transaction committable",
                 "[session][nested][errors]") {
  begin();
  REQUIRE(insert(1));
  begin();
  REQUIRE(insert(2));
  auto dup = insert(1); // fails: duplicate key
  REQUIRE_FALSE(dup);
  CHECK(info(dup.error()).server_code == 1062);
  REQUIRE(in(s, rollback_atom::value)); // handled
  CHECK(seen() == ids{1});
  REQUIRE(in(s, commit_atom::value));
  CHECK(committed() == ids{1});
}

TEST_CASE_METHOD(nested_fixture,
                 "an unhandled inner failure poisons the transaction: the "
                 "inner commit and the outer commit fail, nothing is kept",
                 "[session][nested][errors]") {
  begin();
  REQUIRE(insert(1));
  begin();
  begin();
  REQUIRE(insert(2));
  REQUIRE_FALSE(insert(2)); // fails in level 2
  REQUIRE(insert(3));       // the level goes on, still failed
  auto inner = in(s, commit_atom::value);
  REQUIRE_FALSE(inner);
  CHECK(info(inner.error()).code == errc::transaction_aborted);
  CHECK_THAT(info(inner.error()).message,
             Catch::Contains("must be handled by rolling that level back"));
  // Everything after is refused until the transaction ends, a begin too (it
  // may be meant as nested: a new transaction would commit for real).
  CHECK(test::code_of(insert(4)) == errc::transaction_aborted);
  CHECK(test::code_of(in(s, begin_atom::value, transaction_options{}))
        == errc::transaction_aborted);
  auto outer = in(s, commit_atom::value);
  REQUIRE_FALSE(outer);
  CHECK(info(outer.error()).code == errc::transaction_aborted);
  CHECK_THAT(info(outer.error()).message,
             Catch::Contains("nothing was committed"));
  CHECK(committed().empty());
  // The connection went back to the pool, rolled back; the session serves
  // on.
  begin();
  REQUIRE(insert(7));
  REQUIRE(in(s, commit_atom::value));
  CHECK(committed() == ids{7});
}

TEST_CASE_METHOD(nested_fixture,
                 "a nested begin takes no options, and its savepoints never "
                 "collide with the owner's",
                 "[session][nested][errors]") {
  begin();
  transaction_options ro;
  ro.read_only = true;
  CHECK(test::code_of(in(s, begin_atom::value, ro)) == errc::invalid_argument);
  // The owner's own savepoint, between two levels of the session's.
  REQUIRE(insert(1));
  begin();
  REQUIRE(in(s, savepoint_atom::value, "troupe_nested_1"s));
  REQUIRE(insert(2));
  begin();
  REQUIRE(insert(3));
  REQUIRE(in(s, rollback_atom::value)); // the session's level 2
  REQUIRE(in(s, rollback_to_atom::value, "troupe_nested_1"s)); // undoes 2
  CHECK(seen() == ids{1});
  REQUIRE(in(s, commit_atom::value)); // level 1
  REQUIRE(in(s, commit_atom::value));
  CHECK(committed() == ids{1});
}

TEST_CASE_METHOD(nested_fixture,
                 "closing a session inside nested levels rolls everything "
                 "back",
                 "[session][nested]") {
  begin();
  REQUIRE(insert(1));
  begin();
  REQUIRE(insert(2));
  REQUIRE(in(s, close_atom::value));
  CHECK(committed().empty());
  wait_for_status(engine, [](const pool_status& x) { return x.sessions == 0; });
}

TEST_CASE_METHOD(nested_fixture,
                 "a level whose savepoint the owner released cannot be "
                 "rolled back alone: the whole transaction is",
                 "[session][nested][errors]") {
  begin();
  REQUIRE(insert(1));
  REQUIRE(in(s, savepoint_atom::value, "mine"s));
  begin();
  REQUIRE(insert(2));
  // Releasing the owner's savepoint drops every one set after it, the
  // level's too (MariaDB).
  REQUIRE(in(s, release_atom::value, "mine"s));
  auto undo = in(s, rollback_atom::value);
  REQUIRE_FALSE(undo);
  CHECK(info(undo.error()).code == errc::transaction_aborted);
  CHECK_THAT(info(undo.error()).message,
             Catch::Contains("rolling back the nested transaction failed"));
  auto outer = in(s, commit_atom::value);
  REQUIRE_FALSE(outer);
  CHECK(info(outer.error()).code == errc::transaction_aborted);
  CHECK(committed().empty());
}
