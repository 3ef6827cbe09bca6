// Fault suite: the other node is SIGKILLed or SIGSTOPped. An engine on a
// lost node answers every pending request (and a client::attach call) with
// node_down within 2 s; sessions owned from a lost node roll back within
// the heartbeat bound. The other node is troupe_test_peer, a child process.

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <catch2/catch.hpp>

#include "actor_fixture.hpp"
#include "child.hpp"
#include "troupe/client.hpp"
#include "troupe/embedded_server.hpp"
#include "troupe/mariadb/connection.hpp"
#include "troupe/remote.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// Both nodes: a heartbeat every 200 ms, a node silent for 1 s is dropped.
constexpr auto heartbeat = 200ms;
constexpr auto heartbeat_timeout = 1000ms;

long long ms_since(clock_type::time_point t0, clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count();
}

// The answers to requests sent from actors of their own.
struct answers {
  std::mutex mtx;
  std::vector<std::pair<clock_type::time_point, caf::error>> got;

  void record(caf::error err) {
    std::lock_guard<std::mutex> guard{mtx};
    got.emplace_back(clock_type::now(), std::move(err));
  }

  size_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return got.size();
  }

  void wait_for(size_t n, std::chrono::seconds limit) {
    auto until = clock_type::now() + limit;
    while (count() < n && clock_type::now() < until)
      std::this_thread::sleep_for(10ms);
  }
};

// This process: the node that loses the other one.
struct node_fixture {
  std::unique_ptr<embedded_server> server;
  caf::actor_system_config cfg;
  caf::actor_system sys{configure(cfg)};

  static caf::actor_system_config& configure(caf::actor_system_config& c) {
    test::test_config(c);
    REQUIRE_FALSE(use_heartbeat(c, heartbeat, heartbeat_timeout));
    return c;
  }

  node_fixture() {
    auto s = embedded_server::start();
    REQUIRE(s);
    server = std::move(*s);
  }

  std::unique_ptr<test::child_process>
  start_peer(const std::vector<std::string>& args) {
    std::vector<std::string> argv{TROUPE_TEST_PEER};
    argv.insert(argv.end(), args.begin(), args.end());
    auto peer = test::child_process::start(
      argv, {"TROUPE_PEER_DSN=" + to_string(server->dsn(), true)});
    REQUIRE(peer);
    return peer;
  }

  struct engine_node {
    std::unique_ptr<test::child_process> peer;
    engine_actor raw;     // CAF's proxy of the remote engine
    engine_actor guarded; // its guard (guard_remote)
  };

  // Starts an engine node; returns it with handles of its engine.
  engine_node start_engine_node() {
    auto peer = start_peer({"serve", std::to_string(heartbeat.count()),
                            std::to_string(heartbeat_timeout.count())});
    auto port = peer->wait_line("port ", 30s);
    INFO(peer->output());
    REQUIRE(port);
    auto remote = sys.middleman().remote_actor<engine_actor>(
      "127.0.0.1", static_cast<uint16_t>(std::stoi(*port)));
    if (!remote)
      FAIL("remote_actor: " << caf::to_string(remote.error()) << "; peer: "
                            << peer->output());
    auto guarded = guard_remote(sys, *remote);
    REQUIRE(guarded);
    CHECK(guarded->address() != remote->address());
    return {std::move(peer), *remote, *guarded};
  }

  // Statements running on the server (SLEEPs of the remote engine).
  int sleeping() {
    auto opts = mariadb::connect_options::from_dsn(server->dsn());
    REQUIRE(opts);
    auto c = test::connect(*opts);
    auto r = c->query("SELECT COUNT(*) FROM information_schema.processlist "
                      "WHERE info LIKE 'SELECT SLEEP%'");
    REQUIRE(r);
    return static_cast<int>(*r->scalar<int64_t>());
  }

  // Sends `n` SELECT SLEEP(3) to `engine`, each from an actor of its own.
  std::shared_ptr<answers> send_sleeps(const engine_actor& engine, int n) {
    auto out = std::make_shared<answers>();
    for (int i = 0; i < n; ++i)
      sys.spawn([=](caf::event_based_actor* self) {
        self->request(engine, 30s, query_atom::value,
                      statement{"SELECT SLEEP(3)"})
          .then([=](result&) { out->record(caf::none); },
                [=](caf::error& err) { out->record(std::move(err)); });
      });
    return out;
  }

  void wait_sleeping(int n) {
    auto until = clock_type::now() + 20s;
    while (sleeping() < n && clock_type::now() < until)
      std::this_thread::sleep_for(20ms);
    REQUIRE(sleeping() >= n);
  }
};

// Every answer is node_down; returns the latest, in ms after `t0`.
long long check_all_node_down(answers& a, clock_type::time_point t0) {
  std::lock_guard<std::mutex> guard{a.mtx};
  long long latest = 0;
  for (auto& [at, err] : a.got) {
    INFO(to_string(err));
    CHECK(info(err).code == errc::node_down);
    CHECK_THAT(info(err).message, Catch::Contains("may have been applied"));
    latest = std::max(latest, ms_since(t0, at));
  }
  return latest;
}

} // namespace

TEST_CASE_METHOD(node_fixture,
                 "an engine node is SIGKILLed: every pending remote request "
                 "and a client::attach call get node_down within 2 s",
                 "[faults][node]") {
  auto [peer, raw, engine] = start_engine_node();
  auto out = send_sleeps(engine, 20);
  // A blocking client attached to the raw remote handle guards it itself.
  std::atomic<bool> attached_done{false};
  caf::expected<result> attached_answer{make_error(errc::internal, "none")};
  clock_type::time_point attached_at;
  std::thread blocking([&, raw = raw] {
    auto c = client::attach(sys, raw, 30s);
    attached_answer = c.query("SELECT SLEEP(3)");
    attached_at = clock_type::now();
    attached_done = true;
  });
  // The remote pool (4 connections) runs four; the rest wait in its queue:
  // all of them are in flight from here.
  wait_sleeping(4);
  auto t0 = clock_type::now();
  peer->signal(SIGKILL);
  out->wait_for(20, 10s);
  blocking.join();
  REQUIRE(out->count() == 20);
  auto latest = check_all_node_down(*out, t0);
  REQUIRE(attached_done);
  REQUIRE_FALSE(attached_answer);
  CHECK(info(attached_answer.error()).code == errc::node_down);
  latest = std::max(latest, ms_since(t0, attached_at));
  WARN("SIGKILLed engine node: all 21 pending requests answered node_down "
       "within " << latest << " ms");
  CHECK(latest < 2000);
  // The guard exited with node_down as its reason: later requests fail at
  // once, with nothing sent.
  caf::scoped_actor self{sys};
  caf::error later;
  self->request(engine, 30s, ping_atom::value)
    .receive([](ping_info&) {}, [&](caf::error& err) { later = err; });
  CHECK(later == caf::sec::request_receiver_down);
}

TEST_CASE_METHOD(node_fixture,
                 "an engine node is SIGKILLed: pending requests to a "
                 "repository through the guard get node_down within 2 s",
                 "[faults][node][repository]") {
  auto [peer, raw, engine] = start_engine_node();
  auto opts = mariadb::connect_options::from_dsn(server->dsn());
  REQUIRE(opts);
  auto side = test::connect(*opts);
  REQUIRE(side->query("CREATE TABLE locked (id INT PRIMARY KEY)"));
  caf::scoped_actor self{sys};
  repository_actor repo;
  self->request(engine, 30s, repository_atom::value, std::string{"locked"})
    .receive([&](repository_actor& r) { repo = r; },
             [](caf::error& err) { FAIL(to_string(err)); });
  CHECK(repo->node() == sys.node()); // the guard, not CAF's proxy
  // Reflected first, so that the creates below are what waits.
  self->request(repo, 30s, schema_atom::value)
    .receive([](table_schema&) {}, [](caf::error& err) { FAIL(to_string(err)); });
  // Key 5 is held by an open transaction: the creates wait for its lock.
  REQUIRE(side->query("START TRANSACTION"));
  REQUIRE(side->query("INSERT INTO locked VALUES (5)"));
  auto out = std::make_shared<answers>();
  for (int i = 0; i < 6; ++i)
    sys.spawn([=](caf::event_based_actor* a) {
      a->request(repo, 30s, create_atom::value, record{{"id", 5}})
        .then([=](repository_result&) { out->record(caf::none); },
              [=](caf::error& err) { out->record(std::move(err)); });
    });
  auto waiting = [&] {
    auto r = side->query("SELECT COUNT(*) FROM information_schema.processlist "
                         "WHERE info LIKE 'INSERT INTO %locked%'");
    REQUIRE(r);
    return *r->scalar<int64_t>();
  };
  auto until = clock_type::now() + 20s;
  while (waiting() < 4 && clock_type::now() < until)
    std::this_thread::sleep_for(20ms);
  REQUIRE(waiting() >= 4); // the remote pool's four connections
  auto t0 = clock_type::now();
  peer->signal(SIGKILL);
  out->wait_for(6, 10s);
  REQUIRE(out->count() == 6);
  auto latest = check_all_node_down(*out, t0);
  WARN("SIGKILLed engine node: 6 pending repository creates answered "
       "node_down within " << latest << " ms");
  CHECK(latest < 2000);
  // The repository's guard is gone with the node.
  caf::error later;
  self->request(repo, 30s, count_atom::value)
    .receive([](repository_result&) {}, [&](caf::error& err) { later = err; });
  CHECK(later == caf::sec::request_receiver_down);
  REQUIRE(side->query("ROLLBACK"));
}

TEST_CASE_METHOD(node_fixture,
                 "an engine node is SIGSTOPped: pending remote requests get "
                 "node_down within the heartbeat bound",
                 "[faults][node]") {
  auto [peer, raw, engine] = start_engine_node();
  auto out = send_sleeps(engine, 8);
  wait_sleeping(4);
  // The process stops; its TCP connection stays open, only its heartbeats
  // end (and its answers: the SLEEPs finish on the server, unheard).
  auto t0 = clock_type::now();
  peer->signal(SIGSTOP);
  out->wait_for(8, 10s);
  REQUIRE(out->count() == 8);
  auto latest = check_all_node_down(*out, t0);
  WARN("SIGSTOPped engine node (heartbeat " << heartbeat.count()
       << " ms, timeout " << heartbeat_timeout.count()
       << " ms): 8 pending requests answered node_down within " << latest
       << " ms");
  // Dropped after `timeout` of silence, checked every `interval`.
  CHECK(latest < (heartbeat_timeout + 2 * heartbeat).count() + 500);
  peer->signal(SIGCONT);
}

TEST_CASE_METHOD(node_fixture,
                 "a session owned from a lost node rolls back within the "
                 "heartbeat bound, not the idle timeout",
                 "[faults][node]") {
  auto opts = mariadb::connect_options::from_dsn(server->dsn());
  REQUIRE(opts);
  {
    auto c = test::connect(*opts);
    REQUIRE(c->query("CREATE TABLE lock_t (id INT PRIMARY KEY) "
                     "ENGINE=InnoDB"));
    REQUIRE(c->query("INSERT INTO lock_t VALUES (1)"));
  }
  // This node serves the engine; the peer owns a session on it.
  auto cfg = test::actor_fixture::config_for(server->dsn());
  auto engine = spawn_engine(sys, cfg);
  REQUIRE(engine);
  auto port = sys.middleman().publish(*engine, 0, "127.0.0.1", true);
  REQUIRE(port);
  caf::scoped_actor self{sys};
  auto sessions = [&] {
    pool_status st;
    self->request(*engine, 10s, status_atom::value)
      .receive([&](pool_status& x) { st = x; }, [](caf::error&) {});
    return st.sessions;
  };
  // Whether the row is free: a lock attempt that does not wait.
  auto row_free = [&] {
    auto c = test::connect(*opts);
    REQUIRE(c->query("BEGIN"));
    auto r = c->query("SELECT id FROM lock_t WHERE id = 1 FOR UPDATE NOWAIT");
    (void) c->query("ROLLBACK");
    return static_cast<bool>(r);
  };
  auto sig = GENERATE(SIGKILL, SIGSTOP);
  auto peer = start_peer({"lock", std::to_string(*port),
                          std::to_string(heartbeat.count()),
                          std::to_string(heartbeat_timeout.count()),
                          "lock_t"});
  auto locked = peer->wait_line("locked", 30s);
  INFO(peer->output());
  REQUIRE(locked);
  REQUIRE(sessions() == 1);
  REQUIRE_FALSE(row_free());
  auto t0 = clock_type::now();
  peer->signal(sig);
  auto until = t0 + 20s;
  while (!row_free() && clock_type::now() < until)
    std::this_thread::sleep_for(20ms);
  auto took = ms_since(t0, clock_type::now());
  REQUIRE(row_free());
  WARN((sig == SIGKILL ? "SIGKILLed" : "SIGSTOPped")
       << " owner node: its session rolled back (row lock released) after "
       << took << " ms");
  // The idle-in-transaction default (60 s) is not what ended it.
  CHECK(took < (heartbeat_timeout + 2 * heartbeat).count() + 1000);
  auto until_gone = clock_type::now() + 5s;
  while (sessions() != 0 && clock_type::now() < until_gone)
    std::this_thread::sleep_for(10ms);
  CHECK(sessions() == 0);
  peer->signal(SIGCONT);
  self->send_exit(*engine, caf::exit_reason::kill);
}
