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

TEST_CASE_METHOD(test::actor_fixture,
                 "client::repository runs batch writes, statistics and "
                 "keyset pages, also inside a transaction",
                 "[client][repository][batch]") {
  test::scratch_database db{"client_orm"};
  db.run("CREATE TABLE scores (id INT PRIMARY KEY, team CHAR(1) NOT NULL, "
         "points INT)");
  db.run("INSERT INTO scores VALUES (1, 'a', 10), (2, 'a', 20), (3, 'b', "
         "NULL), (4, 'b', 40), (5, 'c', 50)");
  auto c = client::connect(sys, config_for(db.dsn()));
  REQUIRE(c);
  auto scores = c->repository("scores");
  REQUIRE(scores);
  auto st = scores->stats({"points", "team"});
  REQUIRE(st);
  CHECK(st->rows == 5);
  CHECK(st->find("points")->count == 4);
  CHECK(st->find("points")->nulls == 1);
  CHECK(st->find("points")->min == value{10});
  CHECK(st->find("points")->max == value{50});
  CHECK(st->find("points")->avg == value{decimal{"30.0000"}});
  CHECK(st->find("team")->distinct == 3);
  CHECK(scores->update_where({{"team", "a"}}, {{"points", 0}}) == uint64_t{2});
  CHECK(scores->update_keys({{{"id", 4}}, {{"id", 9}}}, {{"points", 1}})
        == uint64_t{1});
  auto all = scores->remove_where({});
  REQUIRE_FALSE(all);
  CHECK(info(all.error()).code == errc::invalid_argument);
  // Pages of two: 1-2, 3-4, 5.
  std::vector<int64_t> ids;
  page_token token;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = scores->page_after(token, 2);
    REQUIRE(page);
    for (auto& row : page->rows)
      ids.push_back(*row.get<int64_t>("id"));
    if (!page->next)
      break;
    token = *page->next;
  }
  CHECK(ids == std::vector<int64_t>{1, 2, 3, 4, 5});
  // In a transaction, rolled back with it.
  auto undone = c->transaction([&](transaction& tx) -> caf::error {
    auto in_tx = tx.repository("scores");
    if (!in_tx)
      return in_tx.error();
    auto n = in_tx->remove_keys({{{"id", 1}}, {{"id", 2}}});
    if (!n)
      return n.error();
    if (*n != 2)
      return make_error(errc::internal, "expected 2 deleted");
    auto inside = in_tx->stats({"id"});
    if (!inside)
      return inside.error();
    if (inside->rows != 3)
      return make_error(errc::internal, "expected 3 rows inside");
    auto m = in_tx->remove_where({{"team", "c"}});
    if (!m || *m != 1)
      return make_error(errc::internal, "expected 1 deleted by where");
    return make_error(errc::invalid_argument, "changed my mind");
  });
  REQUIRE_FALSE(undone);
  CHECK(info(undone.error()).message == "changed my mind");
  CHECK(scores->count() == uint64_t{5});
}
