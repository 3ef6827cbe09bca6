// The pool supervisor against the real server: concurrency, back-pressure,
// deadlines, failures and shutdown.

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// Counts the server sessions of `user` other than `admin`'s own.
int sessions_of(mariadb::sync_connection& admin, const std::string& db) {
  auto res = admin.execute("SELECT COUNT(*) FROM information_schema.processlist "
                           "WHERE db = ? AND id <> CONNECTION_ID()",
                           {db});
  REQUIRE(res);
  return *res->scalar<int>();
}

struct requester_state {
  int remaining = 0;
  int correct = 0;
  int wrong = 0;
};

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "2000 concurrent requesters over a pool of 4 all get correct "
                 "answers and the pool never exceeds 4",
                 "[pool]") {
  test::scratch_database db{"crowd"};
  auto cfg = config_for(db.dsn());
  cfg.pool.max_waiters = 5000;
  cfg.pool.checkout_timeout = 60s;
  auto engine = spawn(cfg);
  constexpr int requesters = 2000;
  constexpr int per_requester = 3;
  std::atomic<int> correct{0};
  std::atomic<int> wrong{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < requesters; ++i) {
    sys.spawn([=, &correct, &wrong, &finished](caf::event_based_actor* a) {
      // Each requester sends its queries one after another.
      auto step = std::make_shared<std::function<void(int)>>();
      *step = [=, &correct, &wrong, &finished](int k) {
        if (k == per_requester) {
          ++finished;
          *step = nullptr;
          return;
        }
        a->request(engine, 60s, query_atom::value,
                   statement{"SELECT ? * 10 + ?", {i, k}})
          .then(
            [=, &correct, &wrong](const result& r) {
              if (r.scalar<int64_t>() == int64_t{i} * 10 + k)
                ++correct;
              else
                ++wrong;
              (*step)(k + 1);
            },
            [=, &wrong](caf::error&) {
              ++wrong;
              (*step)(k + 1);
            });
      };
      (*step)(0);
    });
  }
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (finished < requesters && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(finished == requesters);
  CHECK(correct == requesters * per_requester);
  CHECK(wrong == 0);
  // The pool counts a request when its connection's report arrives, which
  // can be after the requester got the answer.
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.served >= uint64_t{requesters * per_requester};
  });
  CHECK(st.peak_size <= 4);
  CHECK(st.size <= 4);
  CHECK(st.served == uint64_t{requesters * per_requester});
  CHECK(st.waiting == 0);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a full queue refuses at once with overloaded and a passed "
                 "deadline fails with checkout_timeout",
                 "[pool]") {
  test::scratch_database db{"pressure"};
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  cfg.pool.max_waiters = 2;
  cfg.pool.checkout_timeout = 500ms;
  auto engine = spawn(cfg);
  // Occupy the only connection.
  caf::scoped_actor occupier{sys};
  [[maybe_unused]] auto busy = occupier->request(engine, 30s, query_atom::value,
                                statement{"SELECT SLEEP(3)"});
  wait_for_status(engine, [](const pool_status& s) { return s.busy == 1; });
  // Two requests wait (one with its own short deadline)...
  caf::scoped_actor waiter1{sys};
  caf::scoped_actor waiter2{sys};
  auto t0 = std::chrono::steady_clock::now();
  auto h1 = waiter1->request(engine, 30s, query_atom::value,
                             statement{"SELECT 1"});
  auto h2 = waiter2->request(engine, 30s, query_atom::value,
                             statement{"SELECT 2", {}, 200});
  wait_for_status(engine, [](const pool_status& s) { return s.waiting == 2; });
  // ...so the third is refused at once.
  auto t1 = std::chrono::steady_clock::now();
  auto refused = query(engine, "SELECT 3");
  CHECK(test::code_of(refused) == errc::overloaded);
  CHECK(std::chrono::steady_clock::now() - t1 < 1s);
  CHECK_THAT(info(refused.error()).message, Catch::Contains("max_waiters"));
  // The waiters' deadlines pass while the connection stays busy.
  caf::expected<result> r1{make_error(errc::internal, "none")};
  caf::expected<result> r2{make_error(errc::internal, "none")};
  h2.receive([&](result& r) { r2 = std::move(r); },
             [&](caf::error& e) { r2 = std::move(e); });
  h1.receive([&](result& r) { r1 = std::move(r); },
             [&](caf::error& e) { r1 = std::move(e); });
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(test::code_of(r2) == errc::checkout_timeout);
  CHECK(test::code_of(r1) == errc::checkout_timeout);
  CHECK(waited < 2500ms); // the 500 ms deadline, not the 3 s statement
  CHECK_THAT(info(r1.error()).message, Catch::Contains("pool size 1/1"));
  auto st = status(engine);
  CHECK(st.overloaded == 1);
  CHECK(st.timed_out == 2);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "a killed pooled connection fails its request with "
                 "connection_lost and is replaced",
                 "[pool]") {
  test::scratch_database db{"killed"};
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 2;
  cfg.pool.max_size = 2;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 2; });
  auto admin = test::connect();
  caf::scoped_actor victim{sys};
  auto pending = victim->request(engine, 30s, query_atom::value,
                                 statement{"SELECT SLEEP(20), CONNECTION_ID()"});
  // Find the server thread running the sleep and kill its connection.
  auto thread = test::running_thread(*admin, "SELECT SLEEP(20)%");
  REQUIRE(thread != 0);
  REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", thread)));
  caf::expected<result> lost{make_error(errc::internal, "none")};
  pending.receive([&](result& r) { lost = std::move(r); },
                  [&](caf::error& e) { lost = std::move(e); });
  REQUIRE_FALSE(lost);
  CHECK(info(lost.error()).code == errc::connection_lost);
  CHECK(info(lost.error()).fatal);
  // The next requests succeed, and the status shows the replacement.
  for (int i = 0; i < 5; ++i) {
    auto ok = query(engine, "SELECT ?", {i});
    REQUIRE(ok);
    CHECK(ok->scalar<int>() == i);
  }
  auto st = wait_for_status(engine, [](const pool_status& s) {
    return s.reconnects >= 1 && s.size == 2;
  });
  CHECK(st.closed >= 1);
  CHECK(st.opened >= 3);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "an idle connection closed by the server is replaced before "
                 "a request uses it",
                 "[pool]") {
  test::scratch_database db{"idleclose"};
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 1; });
  // (A session variable such as wait_timeout set through the pool would not
  // survive the request: the pool resets such a session. The server closes
  // this one with KILL instead.)
  auto id = query(engine, "SELECT CONNECTION_ID()");
  REQUIRE(id);
  auto first = *id->scalar<uint64_t>();
  auto before = status(engine);
  auto admin = test::connect();
  REQUIRE(admin->query(fmt::format("KILL CONNECTION {}", first)));
  // The pool notices the closed idle socket by itself and opens a new one.
  auto st = wait_for_status(engine, [&](const pool_status& s) {
    return s.closed > before.closed && s.opened > before.opened && s.idle == 1;
  });
  CHECK(st.reconnects >= 1);
  auto ok = query(engine, "SELECT CONNECTION_ID()");
  REQUIRE(ok);
  CHECK(*ok->scalar<uint64_t>() != first); // a fresh session
  CHECK(status(engine).failed_requests == before.failed_requests);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "dispose answers running and queued requests, exits, and "
                 "leaves no session on the server",
                 "[pool]") {
  test::scratch_database db{"dispose"};
  auto cfg = config_for(db.dsn());
  cfg.pool.min_size = 2;
  cfg.pool.max_size = 2;
  cfg.pool.shutdown_grace = 1s;
  auto engine = spawn(cfg);
  wait_for_status(engine, [](const pool_status& s) { return s.idle == 2; });
  auto admin = test::connect();
  CHECK(sessions_of(*admin, db.name()) == 2);
  // The statement that finishes within the grace period waits for a row lock
  // the test holds, so it cannot finish before dispose starts (a timed
  // statement could, on a loaded machine, and free its connection early).
  // (Qualified names: no helper connection may sit in the database, where
  // the final check counts the engine's sessions.)
  auto lk = fmt::format("`{}`.lk", db.name());
  REQUIRE(admin->query(fmt::format("CREATE TABLE {} (id INT PRIMARY KEY) "
                                   "ENGINE=InnoDB",
                                   lk)));
  REQUIRE(admin->query(fmt::format("INSERT INTO {} VALUES (1)", lk)));
  auto locker = test::connect();
  REQUIRE(locker->query("BEGIN"));
  REQUIRE(locker->query(fmt::format("SELECT id FROM {} WHERE id = 1 FOR UPDATE",
                                    lk)));
  // One statement finishes within the grace period, one does not, two wait.
  std::vector<std::unique_ptr<caf::scoped_actor>> clients;
  using handle = decltype((*clients.front())
                            ->request(engine, 60s, query_atom::value,
                                      statement{}));
  std::vector<handle> handles;
  std::vector<std::string> sql{"SELECT id FROM lk WHERE id = 1 FOR UPDATE",
                               "SELECT SLEEP(30)", "SELECT 1", "SELECT 2"};
  for (const auto& s : sql) {
    clients.push_back(std::make_unique<caf::scoped_actor>(sys));
    handles.push_back((*clients.back())
                        ->request(engine, 60s, query_atom::value, statement{s}));
    if (handles.size() == 2)
      wait_for_status(engine, [](const pool_status& s) { return s.busy == 2; });
  }
  wait_for_status(engine, [](const pool_status& s) {
    return s.busy == 2 && s.waiting == 2;
  });
  auto t0 = std::chrono::steady_clock::now();
  caf::scoped_actor disposer{sys};
  disposer->monitor(engine);
  auto disposing = disposer->request(engine, 60s, dispose_atom::value);
  // Dispose has started (the queue is cancelled); now let the first
  // statement finish inside the grace period.
  wait_for_status(engine, [](const pool_status& s) { return s.waiting == 0; });
  REQUIRE(locker->query("COMMIT"));
  caf::expected<dispose_report> report{make_error(errc::internal, "none")};
  disposing.receive([&](dispose_report& r) { report = std::move(r); },
                    [&](caf::error& e) { report = std::move(e); });
  bool down = false;
  disposer->receive(
    [&](caf::down_msg& dm) { down = dm.source == engine.address(); },
    caf::after(30s) >> [] {});
  CHECK(down);
  REQUIRE(report);
  CHECK(report->cancelled == 2);
  CHECK(report->finished == 1);
  CHECK(report->aborted == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  // Every requester got an answer.
  std::vector<errc> codes;
  for (auto& h : handles) {
    errc code = errc::internal;
    h.receive([&](result&) { code = errc::ok; },
              [&](caf::error& e) { code = info(e).code; });
    codes.push_back(code);
  }
  CHECK(codes[0] == errc::ok);
  CHECK(codes[1] != errc::ok);
  CHECK(codes[1] != errc::internal);
  CHECK(codes[2] == errc::shutting_down);
  CHECK(codes[3] == errc::shutting_down);
  // No session is left (the server drops them as their sockets close).
  for (int i = 0; i < 200 && sessions_of(*admin, db.name()) > 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(sessions_of(*admin, db.name()) == 0);
  // New requests after dispose are refused: the engine is gone.
  caf::expected<result> late{make_error(errc::internal, "none")};
  self->request(engine, 2s, query_atom::value, statement{"SELECT 1"})
    .receive([&](result& r) { late = std::move(r); },
             [&](caf::error& e) { late = std::move(e); });
  CHECK_FALSE(late);
}

TEST_CASE_METHOD(test::actor_fixture,
                 "bad requests get typed errors and leave the pool healthy",
                 "[pool]") {
  test::scratch_database db{"badreq"};
  auto engine = spawn(config_for(db.dsn()));
  CHECK(test::code_of(query(engine, "")) == errc::invalid_argument);
  auto syntax = query(engine, "SELEKT 1");
  CHECK(test::code_of(syntax) == errc::server_error);
  CHECK(info(syntax.error()).server_code == 1064);
  CHECK(test::code_of(query(engine, "SELECT ?", {})) == errc::server_error);
  CHECK(test::code_of(query(engine, "SELECT ? + ?", {1})) == errc::invalid_argument);
  auto ok = query(engine, "SELECT 'fine'");
  REQUIRE(ok);
  // Counted when the connection's report arrives, which can be after the
  // requester got the answer.
  auto st = wait_for_status(engine, [](const pool_status& x) {
    return x.failed_requests >= 4;
  });
  CHECK(st.closed == 0);
  auto ping = ask<ping_info>(engine, ping_atom::value);
  REQUIRE(ping);
  CHECK_THAT(ping->server_version, Catch::Contains("MariaDB"));
}
