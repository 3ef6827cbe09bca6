// The actor part of the demo: an engine (pool supervisor + connection
// actors), many requester actors querying it concurrently, the pool status,
// typed errors, and a clean dispose.

#include "actors_tour.hpp"

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include <caf/all.hpp>

#include <fmt/format.h>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace troupe::demo {

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

void say(const std::string& what) {
  std::cout << "\n== " << what << "\n";
}

// One requester: `n` queries one after another, counting correct answers.
caf::behavior requester(caf::event_based_actor* self, engine_actor engine,
                        int id, int n, std::atomic<int>* correct,
                        std::atomic<int>* failed, std::atomic<int>* finished) {
  auto next = std::make_shared<std::function<void(int)>>();
  *next = [=](int k) {
    if (k == n) {
      ++*finished;
      self->quit();
      // Break the self-reference last: it destroys this closure, so only
      // locals may be used afterwards.
      auto keep = next;
      *keep = nullptr;
      return;
    }
    self
      ->request(engine, 30s, query_atom::value,
                statement{"SELECT ? * 1000 + ? AS v", {id, k}})
      .then(
        [=](const result& r) {
          if (r.scalar<int64_t>() == int64_t{id} * 1000 + k)
            ++*correct;
          else
            ++*failed;
          (*next)(k + 1);
        },
        [=](caf::error&) {
          ++*failed;
          (*next)(k + 1);
        });
  };
  return {[=](caf::atom_value) { (*next)(0); }};
}

} // namespace

int run_actors_tour(caf::actor_system_config& cfg, engine_config ecfg) {
  cfg.set("scheduler.max-threads", 2);
  // CAF's two workers also drive the connections (see use_reactor).
  use_reactor(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  say("the actor engine: a pool supervisor owning connection actors, on "
      "troupe's reactor scheduler (2 CAF workers that also drive the "
      "connections)");
  ecfg.pool.min_size = 2;
  ecfg.pool.max_size = 6;
  ecfg.pool.max_waiters = 1000;
  ecfg.name = "demo";
  auto engine = spawn_engine(sys, ecfg);
  if (!engine) {
    std::cerr << "troupe-demo: " << render(engine.error()) << "\n";
    return 1;
  }
  auto status = [&] {
    pool_status st;
    self->request(*engine, 10s, status_atom::value)
      .receive([&](pool_status& x) { st = std::move(x); },
               [&](caf::error& e) { std::cerr << render(e) << "\n"; });
    return st;
  };
  std::cout << "   pool: min 2, max 6 connections, at most 1000 waiting "
               "requests\n";

  constexpr int requesters = 300;
  constexpr int per_requester = 10;
  say(fmt::format("{} requester actors send {} queries each, concurrently",
                  requesters, per_requester));
  std::atomic<int> correct{0}, failed{0}, finished{0};
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < requesters; ++i)
    caf::anon_send(sys.spawn(requester, *engine, i, per_requester, &correct,
                             &failed, &finished),
                   caf::atom("go"));
  while (finished < requesters
         && std::chrono::steady_clock::now() - t0 < 60s) {
    std::this_thread::sleep_for(100ms);
    auto st = status();
    std::cout << fmt::format("   {:>4} done: {}\n", correct + failed,
                             to_string(st));
    if (finished == requesters)
      break;
  }
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - t0)
                .count();
  std::cout << fmt::format("   {} correct answers, {} errors, in {:.2f} s "
                           "({:.0f} queries/s)\n",
                           correct.load(), failed.load(), took,
                           (correct + failed) / took);
  auto st = status();
  std::cout << fmt::format("   peak pool size {} of max {}; queue wait p99 {} "
                           "us, execution p99 {} us\n",
                           st.peak_size, st.max_size, st.queue_wait_p99,
                           st.exec_p99);

  say("errors are typed, and the pool stays healthy");
  self
    ->request(*engine, 10s, query_atom::value,
              statement{"SELECT * FROM no_such_table"})
    .receive([](const result&) {},
             [](caf::error& e) {
               auto x = info(e);
               std::cout << fmt::format("   {} (server error {}, SQLSTATE {})\n",
                                        render(e), x.server_code, x.sqlstate);
             });
  self->request(*engine, 10s, ping_atom::value)
    .receive(
      [](const ping_info& p) {
        std::cout << fmt::format("   ping: {} us round trip to {}\n",
                                 p.round_trip_us, p.server_version);
      },
      [](caf::error& e) { std::cout << "   ping failed: " << render(e) << "\n"; });

  say("a transaction is a conversation between a session and its connection");
  auto ask = [&](const auto& dest, auto... xs) {
    caf::expected<result> out{make_error(errc::internal, "no answer")};
    self->request(dest, 10s, xs...)
      .receive([&](result& r) { out = std::move(r); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  auto balances = [&] {
    auto r = ask(*engine, query_atom::value,
                 statement{"SELECT GROUP_CONCAT(CONCAT(name, '=', balance) "
                           "ORDER BY id) FROM troupe_accounts"});
    return r ? *r->scalar<std::string>() : render(r.error());
  };
  ask(*engine, query_atom::value,
      statement{"CREATE OR REPLACE TABLE troupe_accounts (id INT PRIMARY KEY, "
                "name VARCHAR(20), balance INT NOT NULL) ENGINE=InnoDB"});
  ask(*engine, query_atom::value,
      statement{"INSERT INTO troupe_accounts VALUES (1, 'alice', 100), "
                "(2, 'bob', 50)"});
  std::cout << "   balances: " << balances() << "\n";
  caf::expected<session_actor> session{make_error(errc::internal, "none")};
  self->request(*engine, 10s, session_atom::value, session_options{})
    .receive([&](session_actor& s) { session = std::move(s); },
             [&](caf::error& e) { session = std::move(e); });
  if (!session) {
    std::cerr << "troupe-demo: " << render(session.error()) << "\n";
    return 1;
  }
  auto step = [&](const std::string& what, caf::expected<result> r) {
    std::cout << fmt::format("   {:<44} -> {}\n", what,
                             r ? "ok" : render(r.error()));
  };
  auto transfer = [&](int amount) {
    return std::vector<statement>{
      {"UPDATE troupe_accounts SET balance = balance - ? WHERE id = 1",
       {amount}},
      {"UPDATE troupe_accounts SET balance = balance + ? WHERE id = 2",
       {amount}}};
  };
  step("begin", ask(*session, begin_atom::value, transaction_options{}));
  for (auto& st : transfer(30))
    step("transfer 30 from alice to bob", ask(*session, query_atom::value, st));
  step("savepoint before_bonus",
       ask(*session, savepoint_atom::value, std::string{"before_bonus"}));
  step("bonus: bob +1000",
       ask(*session, query_atom::value,
           statement{"UPDATE troupe_accounts SET balance = balance + 1000 "
                     "WHERE id = 2"}));
  step("rollback to savepoint before_bonus",
       ask(*session, rollback_to_atom::value, std::string{"before_bonus"}));
  step("DDL inside the transaction is refused",
       ask(*session, query_atom::value,
           statement{"DROP TABLE troupe_accounts"}));
  {
    // Another actor of the same program: the session answers its owner only.
    caf::scoped_actor stranger{sys};
    caf::expected<result> r{make_error(errc::internal, "no answer")};
    stranger->request(*session, 10s, commit_atom::value)
      .receive([&](result& x) { r = std::move(x); },
               [&](caf::error& e) { r = std::move(e); });
    step("another actor tries to commit it", std::move(r));
  }
  step("commit", ask(*session, commit_atom::value));
  std::cout << "   balances after commit: " << balances() << "\n";
  step("begin", ask(*session, begin_atom::value, transaction_options{}));
  for (auto& st : transfer(500))
    step("transfer 500 (more than alice has)",
         ask(*session, query_atom::value, st));
  step("rollback", ask(*session, rollback_atom::value));
  std::cout << "   balances after rollback: " << balances() << "\n";
  step("close the session", ask(*session, close_atom::value));

  say("session state never crosses callers of the pool");
  step("one caller: SET time_zone = '+05:00'",
       ask(*engine, query_atom::value,
           statement{"SET time_zone = '+05:00'"}));
  {
    auto tz = ask(*engine, query_atom::value,
                  statement{"SELECT @@SESSION.time_zone"});
    std::cout << "   the next caller sees time_zone "
              << (tz ? *tz->scalar<std::string>() : render(tz.error()))
              << " (the pool reset that connection before answering)\n";
  }

  say("a statement over its execution timeout is stopped by the server");
  {
    statement slow{"SELECT SLEEP(10)"};
    slow.execution_timeout_ms = 300; // or the pool's statement_timeout
    step("SELECT SLEEP(10) with execution_timeout_ms 300",
         ask(*engine, query_atom::value, std::move(slow)));
    step("the next statement on the pool",
         ask(*engine, query_atom::value, statement{"SELECT 1"}));
  }

  say("an owner that dies mid-transaction: the session rolls back for it");
  auto doomed = sys.spawn([&, e = *engine](caf::event_based_actor* a) {
    auto me = caf::actor_cast<caf::actor>(self);
    a->request(e, 10s, session_atom::value, session_options{})
      .then([=](session_actor s) {
        a->request(s, 10s, begin_atom::value, transaction_options{})
          .then([=](const result&) {
            a->request(s, 10s, query_atom::value,
                       statement{"UPDATE troupe_accounts SET balance = 0"})
              .then([=](const result&) { a->send(me, caf::atom("updated")); });
          });
      });
  });
  self->receive([](caf::atom_value) {}, caf::after(10s) >> [] {});
  std::cout << "   the owner updated every balance to 0 in its transaction; "
               "killing it now\n";
  self->send_exit(doomed, caf::exit_reason::kill);
  for (int i = 0; i < 100 && (status().leased > 0 || status().sessions > 0); ++i)
    std::this_thread::sleep_for(20ms);
  std::cout << "   balances: " << balances() << " (nothing committed); "
            << "leased connections: " << status().leased << "\n";
  ask(*engine, query_atom::value, statement{"DROP TABLE troupe_accounts"});

  say("a repository: typed CRUD on a reflected table, without SQL");
  ask(*engine, query_atom::value,
      statement{"CREATE OR REPLACE TABLE troupe_products (id INT "
                "AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, "
                "price DECIMAL(8,2) NOT NULL DEFAULT 1.00, kind "
                "ENUM('food','drink') NOT NULL DEFAULT 'food')"});
  auto show = [](const record& r) {
    std::string out;
    for (const auto& [name, x] : r.fields())
      out += fmt::format("{}{}={}", out.empty() ? "" : ", ", name,
                         to_string(x));
    return out;
  };
  auto repo_step = [&](const std::string& what,
                       const caf::expected<repository_result>& r) {
    if (!r)
      std::cout << fmt::format("   {:<44} -> {}\n", what, render(r.error()));
    else if (r->one() != nullptr)
      std::cout << fmt::format("   {:<44} -> {}\n", what, show(*r->one()));
    else
      std::cout << fmt::format("   {:<44} -> count {}\n", what, r->count);
  };
  auto on_repo = [&](const repository_actor& r, auto... xs) {
    caf::expected<repository_result> out{make_error(errc::internal, "none")};
    self->request(r, 10s, xs...)
      .receive([&](repository_result& x) { out = std::move(x); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  };
  repository_actor products;
  self->request(*engine, 10s, repository_atom::value, "troupe_products"s)
    .receive([&](repository_actor& r) { products = std::move(r); },
             [](caf::error& e) { std::cerr << render(e) << "\n"; });
  self->request(products, 10s, schema_atom::value)
    .receive(
      [](const table_schema& t) {
        std::string cols;
        for (const auto& c : t.columns)
          cols += fmt::format("{}{} {}", cols.empty() ? "" : ", ", c.name,
                              c.sql_type);
        std::cout << fmt::format("   reflected: {} ({}), primary key {}\n",
                                 t.name, cols, t.primary_key.front());
      },
      [](caf::error& e) { std::cout << "   " << render(e) << "\n"; });
  repo_step("create {name=tea}",
            on_repo(products, create_atom::value, record{{"name", "tea"}}));
  repo_step("create {name=juice, kind=drink, price=2.50}",
            on_repo(products, create_atom::value,
                    record{{"name", "juice"}, {"kind", "drink"},
                           {"price", decimal{"2.50"}}}));
  repo_step("create {name=soup, kind=dessert}",
            on_repo(products, create_atom::value,
                    record{{"name", "soup"}, {"kind", "dessert"}}));
  repo_step("update id 1: price 3.20",
            on_repo(products, update_atom::value, record{{"id", 1}},
                    record{{"price", decimal{"3.20"}}}));
  {
    // Many rows in one call: bulk executions, all or nothing.
    std::vector<record> rows;
    for (int i = 0; i < 10000; ++i)
      rows.push_back({{"name", fmt::format("item {}", i)},
                      {"price", decimal{fmt::format("{}.{:02}", i % 50,
                                                    i % 100)}}});
    auto bad = rows;
    bad[5000].set("kind", "tool");
    auto refused = on_repo(products, create_many_atom::value, std::move(bad));
    std::cout << fmt::format("   {:<44} -> {}\n",
                             "create_many, row 5000 of kind=tool",
                             refused ? std::string{"accepted?"}
                                     : render(refused.error()));
    auto many = on_repo(products, create_many_atom::value, std::move(rows));
    if (many)
      std::cout << fmt::format("   {:<44} -> {} rows, first id {}\n",
                               "create_many of 10,000 rows", many->count,
                               many->first_id);
    else
      std::cout << fmt::format("   {:<44} -> {}\n", "create_many",
                               render(many.error()));
  }
  {
    // Many actors look rows up at once; the repository answers them with
    // a few `WHERE id IN (...)` statements.
    auto before = status().served;
    constexpr int lookups = 200;
    // Shared: a late answer must not outlive what it counts into.
    auto right = std::make_shared<std::atomic<int>>(0);
    auto done = std::make_shared<std::atomic<int>>(0);
    for (int i = 0; i < lookups; ++i)
      sys.spawn([products, right, done,
                 id = 1 + i % 2](caf::event_based_actor* a) {
        a->request(products, 10s, get_atom::value, record{{"id", id}})
          .then(
            [right, done, id](const repository_result& r) {
              if (r.one() && r.one()->get<int64_t>("id") == id)
                ++*right;
              ++*done;
            },
            [done](caf::error&) { ++*done; });
      });
    for (int i = 0; i < 500 && *done < lookups; ++i)
      std::this_thread::sleep_for(10ms);
    std::cout << fmt::format("   {} actors looked up rows at once: {} right "
                             "answers from {} statements\n",
                             lookups, right->load(),
                             status().served - before);
  }
  {
    caf::expected<session_actor> s{make_error(errc::internal, "none")};
    self->request(*engine, 10s, session_atom::value, session_options{})
      .receive([&](session_actor& x) { s = std::move(x); },
               [&](caf::error& e) { s = std::move(e); });
    if (s) {
      step("begin", ask(*s, begin_atom::value, transaction_options{}));
      repo_step("in the session: create {name=cake}",
                on_repo(products, create_atom::value, *s,
                        record{{"name", "cake"}}));
      step("rollback", ask(*s, rollback_atom::value));
      ask(*s, close_atom::value);
    }
  }
  repo_step("count (the cake was rolled back)",
            on_repo(products, count_atom::value));
  repo_step("delete id 2",
            on_repo(products, delete_atom::value, record{{"id", 2}}));

  say("a unit of work: several repositories, one commit (blocking facade)");
  ask(*engine, query_atom::value,
      statement{"CREATE OR REPLACE TABLE troupe_orders (id INT "
                "AUTO_INCREMENT PRIMARY KEY, product VARCHAR(40) NOT NULL, "
                "qty INT NOT NULL)"});
  {
    auto db = client::attach(sys, *engine, 10s);
    auto order = [&](const char* kind) {
      return db.unit_of_work([&](unit_of_work& uow) {
        uow.repo("troupe_products").create({{"name", "bread"}});
        uow.repo("troupe_orders").create({{"product", "bread"}, {"qty", 2}});
        uow.repo("troupe_products").create({{"name", "jam"}, {"kind", kind}});
      });
    };
    auto good = order("food");
    std::cout << fmt::format("   {:<44} -> {}\n",
                             "bread, an order, jam (kind=food)",
                             good ? fmt::format("committed ({} attempt)", *good)
                                  : render(good.error()));
    auto bad = order("tool");
    std::cout << fmt::format("   {:<44} -> {}\n",
                             "bread, an order, jam (kind=tool)",
                             bad ? std::string{"committed?"}
                                 : render(bad.error()));
    auto orders = db.query("SELECT COUNT(*) FROM troupe_orders");
    std::cout << fmt::format("   orders stored: {} (the second unit left "
                             "nothing)\n",
                             orders ? *orders->scalar<int64_t>() : -1);
    db.disconnect();
  }
  ask(*engine, query_atom::value, statement{"DROP TABLE troupe_orders"});
  ask(*engine, query_atom::value, statement{"DROP TABLE troupe_products"});

  say("dispose: running statements finish, every connection is closed");
  self->request(*engine, 30s, dispose_atom::value)
    .receive(
      [](const dispose_report& r) {
        std::cout << fmt::format("   disposed ({} cancelled, {} finished, {} "
                                 "aborted)\n",
                                 r.cancelled, r.finished, r.aborted);
      },
      [](caf::error& e) { std::cout << "   dispose: " << render(e) << "\n"; });
  return failed == 0 && correct == requesters * per_requester ? 0 : 1;
}

} // namespace troupe::demo
