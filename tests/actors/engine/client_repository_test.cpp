// Repositories through the blocking facade: client::repository in
// autocommit, transaction::repository inside client::transaction.

#include "actor_fixture.hpp"
#include "troupe/client.hpp"

using namespace troupe;
using namespace std::string_literals;

TEST_CASE_METHOD(test::actor_fixture,
                 "client::repository runs typed CRUD calls",
                 "[client][repository]") {
  test::scratch_database db{"client_repo"};
  db.run("CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, name "
         "VARCHAR(10) NOT NULL, score INT NOT NULL DEFAULT 0)");
  auto c = client::connect(sys, config_for(db.dsn()));
  REQUIRE(c);
  auto users = c->repository("users");
  REQUIRE(users);
  auto ada = users->create({{"name", "ada"}});
  REQUIRE(ada);
  auto id = *ada->find("id");
  CHECK(ada->get<int64_t>("score") == 0);
  auto got = users->get({{"id", id}});
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->get<std::string>("name") == "ada"s);
  CHECK(users->exists({{"id", id}}) == true);
  auto up = users->update({{"id", id}}, {{"score", 3}});
  REQUIRE(up);
  REQUIRE(up->has_value());
  CHECK((*up)->get<int64_t>("score") == 3);
  REQUIRE(users->create({{"name", "bob"}}));
  CHECK(users->count() == uint64_t{2});
  auto all = users->page();
  REQUIRE(all);
  CHECK(all->size() == 2);
  auto bobs = users->find({{"name", "bob"}});
  REQUIRE(bobs);
  CHECK(bobs->size() == 1);
  auto schema = users->schema();
  REQUIRE(schema);
  CHECK(schema->primary_key == std::vector<std::string>{"id"});
  CHECK(users->remove({{"id", id}}) == true);
  auto none = users->get({{"id", id}});
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  CHECK(users->remove({{"id", id}}) == false);
  // Bad input and a missing table: typed errors.
  auto bad = users->create({{"name", "much too long"}});
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::invalid_argument);
  auto missing = c->repository("nope");
  REQUIRE(missing);
  auto n = missing->count();
  REQUIRE_FALSE(n);
  CHECK(info(n.error()).code == errc::not_found);
  CHECK_FALSE(c->repository(std::string(70, 'x')));
}

TEST_CASE_METHOD(test::actor_fixture,
                 "transaction::repository commits with the transaction and "
                 "rolls back with it",
                 "[client][repository][session]") {
  test::scratch_database db{"client_repo_tx"};
  db.run("CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)");
  db.run("CREATE TABLE moves (id INT AUTO_INCREMENT PRIMARY KEY, amount INT "
         "NOT NULL)");
  db.run("INSERT INTO accounts VALUES (1, 100), (2, 0)");
  auto c = client::connect(sys, config_for(db.dsn()));
  REQUIRE(c);
  auto move = [&](int amount, bool fail) {
    return c->transaction([&](transaction& tx) -> caf::error {
      auto accounts = tx.repository("accounts");
      auto moves = tx.repository("moves");
      if (!accounts || !moves)
        return !accounts ? accounts.error() : moves.error();
      auto from = accounts->get({{"id", 1}});
      if (!from)
        return from.error();
      auto balance = *(*from)->get<int64_t>("balance");
      if (auto r = accounts->update({{"id", 1}},
                                    {{"balance", balance - amount}});
          !r)
        return r.error();
      if (auto r = moves->create({{"amount", amount}}); !r)
        return r.error();
      if (fail)
        return make_error(errc::invalid_argument, "changed my mind");
      auto to = accounts->update({{"id", 2}}, {{"balance", amount}});
      return to ? caf::error{} : to.error();
    });
  };
  REQUIRE(move(30, false));
  auto failed = move(50, true);
  REQUIRE_FALSE(failed);
  CHECK(info(failed.error()).message == "changed my mind");
  auto accounts = c->repository("accounts");
  auto moves = c->repository("moves");
  REQUIRE(accounts);
  REQUIRE(moves);
  CHECK((*accounts->get({{"id", 1}}))->get<int64_t>("balance") == 70);
  CHECK((*accounts->get({{"id", 2}}))->get<int64_t>("balance") == 30);
  CHECK(moves->count() == uint64_t{1});
}

TEST_CASE_METHOD(test::actor_fixture,
                 "client::repository::create_many writes all rows or none, "
                 "also inside a transaction",
                 "[client][repository][create_many]") {
  test::scratch_database db{"client_many"};
  db.run("CREATE TABLE moves (id INT AUTO_INCREMENT PRIMARY KEY, amount INT "
         "NOT NULL)");
  auto c = client::connect(sys, config_for(db.dsn()));
  REQUIRE(c);
  auto rows = [](int n) {
    std::vector<record> out;
    for (int i = 1; i <= n; ++i)
      out.push_back({{"amount", i}});
    return out;
  };
  auto moves = c->repository("moves");
  REQUIRE(moves);
  auto made = moves->create_many(rows(500));
  REQUIRE(made);
  CHECK(made->count == 500);
  CHECK(made->first_id == 1);
  auto bad = rows(10);
  bad[7].set("amount", "eight"s);
  auto refused = moves->create_many(std::move(bad));
  REQUIRE_FALSE(refused);
  CHECK_THAT(info(refused.error()).message, Catch::StartsWith("row 7: "));
  auto undone = c->transaction([&](transaction& tx) -> caf::error {
    auto in_tx = tx.repository("moves");
    if (!in_tx)
      return in_tx.error();
    if (auto r = in_tx->create_many(rows(100)); !r)
      return r.error();
    return make_error(errc::invalid_argument, "changed my mind");
  });
  REQUIRE_FALSE(undone);
  auto kept = c->transaction([&](transaction& tx) -> caf::error {
    auto in_tx = tx.repository("moves");
    if (!in_tx)
      return in_tx.error();
    auto r = in_tx->create_many(rows(100));
    return r ? caf::error{} : r.error();
  });
  REQUIRE(kept);
  CHECK(moves->count() == uint64_t{600});
}
