// Units of work and nested transactions through the blocking facade:
// client::unit_of_work over several repositories, transaction::nested.

#include <future>
#include <stdexcept>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "troupe/client.hpp"

using namespace troupe;
using namespace std::string_literals;

namespace {

struct uow_fixture : test::actor_fixture {
  test::scratch_database db{"uow"};
  caf::expected<client> c{make_error(errc::internal, "not connected")};

  uow_fixture() {
    db.run("CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(10) NOT "
           "NULL)");
    db.run("CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, user_id "
           "INT NOT NULL, total INT NOT NULL)");
    db.run("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what "
           "VARCHAR(20) NOT NULL)");
    c = client::connect(sys, config_for(db.dsn()));
    REQUIRE(c);
  }

  int64_t rows(const char* table) {
    return db.scalar(fmt::format("SELECT COUNT(*) FROM {}", table));
  }
};

} // namespace

TEST_CASE_METHOD(uow_fixture,
                 "a unit of work over three repositories commits all of "
                 "them, or none when the third fails, naming the failure",
                 "[client][uow]") {
  auto run = [&](const char* what) {
    return c->unit_of_work([&](unit_of_work& uow) {
      uow.repo("users").create({{"id", 1}, {"name", "ada"}});
      uow.repo("orders").create({{"user_id", 1}, {"total", 30}});
      uow.repo("audit").create({{"what", what}});
    });
  };
  SECTION("all") {
    auto done = run("order");
    REQUIRE(done);
    CHECK(*done == 1);
    CHECK(rows("users") == 1);
    CHECK(rows("orders") == 1);
    CHECK(rows("audit") == 1);
  }
  SECTION("none") {
    auto failed = run("a text longer than twenty");
    REQUIRE_FALSE(failed);
    auto x = info(failed.error());
    CHECK(x.code == errc::invalid_argument);
    CHECK_THAT(x.message, Catch::StartsWith("operation 3 of the unit of work "
                                            "(create on 'audit') failed: "));
    CHECK(rows("users") == 0);
    CHECK(rows("orders") == 0);
    CHECK(rows("audit") == 0);
  }
}

TEST_CASE_METHOD(uow_fixture,
                 "after a failed operation the unit sends nothing more and "
                 "reports the first failure",
                 "[client][uow][errors]") {
  std::vector<std::string> ops;
  bool later_refused = false;
  auto failed = c->unit_of_work([&](unit_of_work& uow) {
    uow.repo("users").create({{"id", 1}, {"name", "ada"}});
    uow.repo("users").create({{"id", 1}, {"name", "bob"}}); // duplicate
    auto later = uow.repo("orders").create({{"user_id", 1}, {"total", 5}});
    later_refused = !later
                    && info(later.error()).code == errc::transaction_aborted;
    ops = uow.operations();
  });
  REQUIRE_FALSE(failed);
  CHECK(info(failed.error()).server_code == 1062);
  CHECK_THAT(info(failed.error()).message,
             Catch::StartsWith("operation 2 of the unit of work (create on "
                               "'users') failed"));
  CHECK(later_refused);
  CHECK(ops == std::vector<std::string>{"create on 'users'",
                                        "create on 'users'"});
  CHECK(rows("users") == 0);
  CHECK(rows("orders") == 0);
  // An impossible table name fails the unit too.
  auto bad = c->unit_of_work(
    [](unit_of_work& uow) { uow.repo(std::string(70, 'x')).count(); });
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::invalid_argument);
}

TEST_CASE_METHOD(uow_fixture,
                 "an exception in a unit of work rolls it back and is "
                 "rethrown",
                 "[client][uow][errors]") {
  CHECK_THROWS_AS(c->unit_of_work([](unit_of_work& uow) {
    uow.repo("users").create({{"id", 1}, {"name", "ada"}});
    throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  CHECK(rows("users") == 0);
  // The client serves on.
  REQUIRE(c->unit_of_work([](unit_of_work& uow) {
    uow.repo("users").create({{"id", 2}, {"name", "bob"}});
  }));
  CHECK(rows("users") == 1);
}

TEST_CASE_METHOD(uow_fixture,
                 "two units of work that deadlock are retried until both "
                 "commit",
                 "[client][uow][retry]") {
  db.run("INSERT INTO users VALUES (1, 'a'), (2, 'b')");
  auto other = client::connect(sys, config_for(db.dsn()));
  REQUIRE(other);
  // Each locks one row, waits, then the other's: one of them deadlocks.
  auto crossing = [](int first, int second) {
    return [first, second](unit_of_work& uow) {
      uow.repo("users").update({{"id", first}}, {{"name", "x"}});
      uow.transaction().query("SELECT SLEEP(0.4)");
      uow.repo("users").update({{"id", second}}, {{"name", "y"}});
      uow.repo("audit").create({{"what", fmt::format("{}->{}", first,
                                                      second)}});
    };
  };
  auto fa = std::async(std::launch::async, [&] {
    return c->unit_of_work(crossing(1, 2), {}, retry_policy{5});
  });
  auto fb = std::async(std::launch::async, [&] {
    return other->unit_of_work(crossing(2, 1), {}, retry_policy{5});
  });
  auto ra = fa.get();
  auto rb = fb.get();
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(*ra + *rb >= 3); // the loser ran again
  CHECK(rows("audit") == 2);
}

TEST_CASE_METHOD(uow_fixture,
                 "transaction::nested keeps an inner part that succeeds and "
                 "undoes one that fails or throws, the outer goes on",
                 "[client][nested]") {
  auto done = c->transaction([](transaction& tx) -> caf::error {
    if (auto r = tx.execute("INSERT INTO users VALUES (1, 'outer')"); !r)
      return r.error();
    auto kept = tx.nested([](transaction& in) -> caf::error {
      auto r = in.execute("INSERT INTO users VALUES (2, 'kept')");
      return r ? caf::error{} : r.error();
    });
    if (kept)
      return kept;
    auto undone = tx.nested([](transaction& in) -> caf::error {
      in.execute("INSERT INTO users VALUES (3, 'undone')");
      auto dup = in.execute("INSERT INTO users VALUES (1, 'dup')");
      return dup ? caf::error{} : dup.error();
    });
    if (info(undone).server_code != 1062)
      return make_error(errc::internal, "the inner failure did not come back");
    try {
      tx.nested([](transaction& in) -> caf::error {
        in.execute("INSERT INTO users VALUES (4, 'thrown')");
        throw std::runtime_error("inner boom");
      });
    } catch (const std::runtime_error&) {
      // handled here: the outer transaction goes on
    }
    auto r = tx.execute("INSERT INTO users VALUES (5, 'after')");
    return r ? caf::error{} : r.error();
  });
  REQUIRE(done);
  auto ids = db.run("SELECT GROUP_CONCAT(id ORDER BY id) FROM users");
  CHECK(ids.scalar<std::string>() == "1,2,5"s);
}
