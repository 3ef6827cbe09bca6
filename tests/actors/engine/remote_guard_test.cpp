// guard_remote in one process: a second actor system is the other node.
// (The node-loss cases need a process to kill: tests/faults/.)

#include <chrono>
#include <thread>

#include "actor_fixture.hpp"
#include "troupe/client.hpp"
#include "troupe/remote.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

// This fixture's system publishes an engine; `other` is the client node.
struct two_nodes : test::actor_fixture {
  test::scratch_database db{"guard"};
  engine_actor engine = spawn(config_for(db.dsn()));
  caf::actor_system_config other_cfg;
  caf::actor_system other{test::test_config(other_cfg)};
  caf::scoped_actor me{other};
  engine_actor guard;
  uint16_t port = 0;

  two_nodes() {
    auto published = sys.middleman().publish(engine, 0, "127.0.0.1", true);
    REQUIRE(published);
    port = *published;
    auto remote = other.middleman().remote_actor<engine_actor>("127.0.0.1",
                                                               port);
    REQUIRE(remote);
    auto g = guard_remote(other, *remote);
    REQUIRE(g);
    guard = *g;
  }

  ~two_nodes() {
    me->send_exit(guard, caf::exit_reason::user_shutdown);
  }

  template <class R, class Handle, class... Ts>
  caf::expected<R> ask_from(caf::scoped_actor& who, const Handle& dest,
                            Ts&&... xs) {
    caf::expected<R> out{make_error(errc::internal, "no answer")};
    who->request(dest, 30s, std::forward<Ts>(xs)...)
      .receive([&](R& x) { out = std::move(x); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  // Creates table items (`id_column`, name) and returns its repository
  // through the guard.
  caf::expected<repository_actor> items_repository(const char* id_column) {
    REQUIRE(query(engine, std::string{"CREATE TABLE items ("} + id_column
                            + ", name VARCHAR(10) NOT NULL)"));
    auto items = ask_from<repository_actor>(me, guard, repository_atom::value,
                                            std::string{"items"});
    REQUIRE(items);
    return items;
  }

  // Creates table t, opens a session through the guard (owned by `me`),
  // begins and inserts `id`.
  caf::expected<session_actor> insert_in_session(int id) {
    REQUIRE(query(engine, "CREATE TABLE t (id INT PRIMARY KEY)"));
    auto s = ask_from<session_actor>(me, guard, session_atom::value,
                                     session_options{});
    REQUIRE(s);
    REQUIRE(ask_from<result>(me, *s, begin_atom::value,
                             transaction_options{}));
    REQUIRE(ask_from<result>(me, *s, execute_atom::value,
                             statement{"INSERT INTO t VALUES (?)", {id}}));
    return s;
  }
};

} // namespace

TEST_CASE("guard_remote leaves a local handle alone and refuses a bad bound",
          "[remote]") {
  test::actor_fixture f;
  test::scratch_database db{"guard_local"};
  auto engine = f.spawn(f.config_for(db.dsn()));
  auto same = guard_remote(f.sys, engine);
  REQUIRE(same);
  CHECK(same->address() == engine.address());
  remote_options bad;
  bad.request_bound = 0ms;
  auto refused = guard_remote(f.sys, engine, bad);
  REQUIRE_FALSE(refused);
  CHECK(info(refused.error()).code == errc::invalid_argument);
}

TEST_CASE("use_heartbeat refuses an interval that is not below the timeout",
          "[remote]") {
  caf::actor_system_config cfg;
  CHECK(info(use_heartbeat(cfg, 0ms, 1s)).code == errc::invalid_argument);
  CHECK(info(use_heartbeat(cfg, 2s, 1s)).code == errc::invalid_argument);
  CHECK(info(use_heartbeat(cfg, 1s, 1s)).code == errc::invalid_argument);
  CHECK_FALSE(use_heartbeat(cfg, 100ms, 1s));
  CHECK(caf::get_or(cfg, "middleman.heartbeat-interval", caf::timespan{0})
        == caf::timespan{100ms});
  CHECK(caf::get_or(cfg, "middleman.connection-timeout", caf::timespan{0})
        == caf::timespan{1s});
}

TEST_CASE_METHOD(two_nodes,
                 "a guarded remote engine answers results and typed errors",
                 "[remote]") {
  CHECK(guard->node() == other.node());
  auto ok = ask_from<result>(me, guard, query_atom::value,
                             statement{"SELECT ? + 1", {41}});
  REQUIRE(ok);
  CHECK(ok->scalar<int64_t>() == 42);
  auto bad = ask_from<result>(me, guard, query_atom::value,
                              statement{"SELECT * FROM no_such_table"});
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).server_code == 1146);
  // The status crosses too; the pool counts a request when its loop
  // reports it, which may come after the answer: wait for both.
  auto counted = [&] {
    auto st = ask_from<pool_status>(me, guard, status_atom::value);
    REQUIRE(st);
    return st->served >= 1 && st->failed_requests >= 1;
  };
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!counted() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  CHECK(counted());
  auto pong = ask_from<ping_info>(me, guard, ping_atom::value);
  CHECK(pong);
}

TEST_CASE_METHOD(two_nodes,
                 "a session through a guard belongs to its owner only, can "
                 "be handed over, and rolls back when its owner dies",
                 "[remote]") {
  auto s = insert_in_session(1);
  // Another actor of the client node cannot use it.
  caf::scoped_actor stranger{other};
  auto refused = ask_from<result>(stranger, *s, execute_atom::value,
                                  statement{"INSERT INTO t VALUES (2)"});
  REQUIRE_FALSE(refused);
  CHECK(info(refused.error()).code == errc::not_owner);
  // Until it is handed over: then the previous owner cannot.
  {
    caf::scoped_actor heir{other};
    REQUIRE(ask_from<result>(me, *s, hand_over_atom::value,
                             caf::actor_cast<caf::actor>(heir)));
    auto old = ask_from<result>(me, *s, query_atom::value,
                                statement{"SELECT 1"});
    REQUIRE_FALSE(old);
    CHECK(info(old.error()).code == errc::not_owner);
    REQUIRE(ask_from<result>(heir, *s, execute_atom::value,
                             statement{"INSERT INTO t VALUES (3)"}));
    // The heir dies with the transaction open: the engine's node rolls
    // it back.
  }
  auto st = wait_for_status(engine,
                            [](const pool_status& x) { return x.sessions == 0; });
  CHECK(st.sessions == 0);
  auto rows = query(engine, "SELECT COUNT(*) FROM t");
  REQUIRE(rows);
  CHECK(rows->scalar<int64_t>() == 0);
}

TEST_CASE_METHOD(two_nodes,
                 "a guarded session commits, and closing it ends its guard",
                 "[remote]") {
  auto s = insert_in_session(7);
  REQUIRE(ask_from<result>(me, *s, commit_atom::value));
  me->monitor(*s);
  REQUIRE(ask_from<result>(me, *s, close_atom::value));
  bool down = false;
  me->receive([&](caf::down_msg& dm) { down = dm.source == s->address(); },
              caf::after(10s) >> [] {});
  CHECK(down);
  auto rows = query(engine, "SELECT COUNT(*) FROM t WHERE id = 7");
  REQUIRE(rows);
  CHECK(rows->scalar<int64_t>() == 1);
}

TEST_CASE_METHOD(two_nodes,
                 "when the remote engine is disposed its guard exits and "
                 "later requests fail at once",
                 "[remote]") {
  me->monitor(guard);
  auto report = ask_from<dispose_report>(me, guard, dispose_atom::value);
  REQUIRE(report);
  caf::error reason;
  bool down = false;
  me->receive(
    [&](caf::down_msg& dm) {
      down = dm.source == guard.address();
      reason = dm.reason;
    },
    caf::after(30s) >> [] {});
  REQUIRE(down);
  auto later = ask_from<result>(me, guard, query_atom::value,
                                statement{"SELECT 1"});
  REQUIRE_FALSE(later);
  CHECK(later.error() == caf::sec::request_receiver_down);
}

TEST_CASE_METHOD(two_nodes,
                 "client::attach guards a remote engine and ends its guard "
                 "on disconnect",
                 "[remote]") {
  auto remote = other.middleman().remote_actor<engine_actor>("127.0.0.1",
                                                             port);
  REQUIRE(remote);
  auto c = client::attach(other, *remote, 30s);
  CHECK(c.engine().address() != remote->address());
  auto r = c.query("SELECT 5");
  REQUIRE(r);
  CHECK(r->scalar<int64_t>() == 5);
  auto guard_of_client = c.engine();
  me->monitor(guard_of_client);
  CHECK_FALSE(c.disconnect());
  bool down = false;
  me->receive(
    [&](caf::down_msg& dm) { down = dm.source == guard_of_client.address(); },
    caf::after(10s) >> [] {});
  CHECK(down);
}

TEST_CASE_METHOD(two_nodes,
                 "a repository through a guard is a local guard of its own "
                 "that answers as the remote one",
                 "[remote][repository]") {
  auto items = items_repository("id INT AUTO_INCREMENT PRIMARY KEY");
  CHECK(items->node() == other.node());
  // One guard per remote repository.
  auto again = ask_from<repository_actor>(me, guard, repository_atom::value,
                                          std::string{"items"});
  REQUIRE(again);
  CHECK(again->address() == items->address());
  auto made = ask_from<repository_result>(me, *items, create_atom::value,
                                          record{{"name", "ada"}});
  REQUIRE(made);
  REQUIRE(made->one() != nullptr);
  auto id = made->one()->get<int64_t>("id");
  REQUIRE(id);
  auto got = ask_from<repository_result>(me, *items, get_atom::value,
                                         record{{"id", *id}});
  REQUIRE(got);
  REQUIRE(got->one() != nullptr);
  CHECK(got->one()->get<std::string>("name") == std::string{"ada"});
  std::vector<record> rows;
  for (int i = 0; i < 1000; ++i)
    rows.push_back({{"name", "n" + std::to_string(i)}});
  auto many = ask_from<repository_result>(me, *items, create_many_atom::value,
                                          std::move(rows));
  REQUIRE(many);
  CHECK(many->count == 1000);
  // Errors cross as they are: validation, and a missing table.
  auto bad = ask_from<repository_result>(me, *items, create_atom::value,
                                         record{{"name", "far too long"}});
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::invalid_argument);
  auto schema = ask_from<table_schema>(me, *items, schema_atom::value);
  REQUIRE(schema);
  CHECK(schema->name == "items");
}

TEST_CASE_METHOD(two_nodes,
                 "a guarded repository works inside a guarded session for "
                 "its owner only",
                 "[remote][repository][session]") {
  auto items = items_repository("id INT PRIMARY KEY");
  auto s = ask_from<session_actor>(me, guard, session_atom::value,
                                   session_options{});
  REQUIRE(s);
  REQUIRE(ask_from<result>(me, *s, begin_atom::value, transaction_options{}));
  REQUIRE(ask_from<repository_result>(me, *items, create_atom::value, *s,
                                      record{{"id", 1}, {"name", "one"}}));
  std::vector<record> rows{{{"id", 2}, {"name", "two"}},
                           {{"id", 3}, {"name", "three"}}};
  auto many = ask_from<repository_result>(me, *items, create_many_atom::value,
                                          *s, std::move(rows));
  REQUIRE(many);
  CHECK(many->count == 2);
  // Inside the transaction the rows are there; outside not yet.
  auto inside = ask_from<repository_result>(me, *items, count_atom::value, *s);
  REQUIRE(inside);
  CHECK(inside->count == 3);
  CHECK(query(engine, "SELECT COUNT(*) FROM items")->scalar<int64_t>() == 0);
  // Nobody else may use the session through the repository.
  caf::scoped_actor stranger{other};
  auto refused = ask_from<repository_result>(stranger, *items,
                                             delete_atom::value, *s,
                                             record{{"id", 1}});
  REQUIRE_FALSE(refused);
  CHECK(info(refused.error()).code == errc::not_owner);
  SECTION("rollback undoes them") {
    REQUIRE(ask_from<result>(me, *s, rollback_atom::value));
    CHECK(query(engine, "SELECT COUNT(*) FROM items")->scalar<int64_t>()
          == 0);
  }
  SECTION("commit keeps them") {
    REQUIRE(ask_from<result>(me, *s, commit_atom::value));
    CHECK(query(engine, "SELECT COUNT(*) FROM items")->scalar<int64_t>()
          == 3);
  }
  REQUIRE(ask_from<result>(me, *s, close_atom::value));
}

TEST_CASE_METHOD(two_nodes,
                 "batch writes, statistics and keyset pages cross the guards, "
                 "with and without a session",
                 "[remote][repository][session]") {
  auto items = items_repository("id INT PRIMARY KEY");
  REQUIRE(query(engine, "INSERT INTO items VALUES (1, 'a'), (2, 'a'), "
                        "(3, 'b'), (4, 'c')"));
  auto up = ask_from<repository_result>(me, *items, update_where_atom::value,
                                        record{{"name", "a"}},
                                        record{{"name", "z"}});
  REQUIRE(up);
  CHECK(up->count == 2);
  auto st = ask_from<field_stats>(me, *items, stats_atom::value,
                                  std::vector<std::string>{"id", "name"});
  REQUIRE(st);
  CHECK(st->rows == 4);
  CHECK(st->find("name")->distinct == 3);
  CHECK(st->find("id")->max == value{4});
  auto page = ask_from<keyset_page>(me, *items, page_after_atom::value,
                                    page_token{}, uint32_t{3});
  REQUIRE(page);
  CHECK(page->rows.size() == 3);
  REQUIRE(page->next);
  auto empty = ask_from<repository_result>(me, *items,
                                           delete_where_atom::value,
                                           record{});
  REQUIRE_FALSE(empty);
  CHECK(info(empty.error()).code == errc::invalid_argument);
  // Inside a guarded session.
  auto s = ask_from<session_actor>(me, guard, session_atom::value,
                                   session_options{});
  REQUIRE(s);
  REQUIRE(ask_from<result>(me, *s, begin_atom::value, transaction_options{}));
  auto gone = ask_from<repository_result>(me, *items, delete_keys_atom::value,
                                          *s,
                                          std::vector<record>{{{"id", 1}},
                                                              {{"id", 7}}});
  REQUIRE(gone);
  CHECK(gone->count == 1);
  auto inside = ask_from<field_stats>(me, *items, stats_atom::value, *s,
                                      std::vector<std::string>{"id"});
  REQUIRE(inside);
  CHECK(inside->rows == 3);
  auto next = ask_from<keyset_page>(me, *items, page_after_atom::value, *s,
                                    *page->next, uint32_t{3});
  REQUIRE(next);
  REQUIRE(next->rows.size() == 1);
  CHECK(next->rows[0].get<int64_t>("id") == 4);
  CHECK_FALSE(next->next);
  REQUIRE(ask_from<result>(me, *s, rollback_atom::value));
  REQUIRE(ask_from<result>(me, *s, close_atom::value));
  CHECK(query(engine, "SELECT COUNT(*) FROM items")->scalar<int64_t>() == 4);
}
