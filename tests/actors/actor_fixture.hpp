#pragma once

// A CAF actor system per test case, with troupe's types registered, and
// helpers to run an engine against the test server. Every wait is bounded.

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <catch2/catch.hpp>

#include "scratch.hpp"
#include "test_env.hpp"
#include "troupe/engine.hpp"

namespace troupe::test {

/// TROUPE_TEST_SCHEDULER=reactor runs the tests on troupe's reactor
/// scheduler (see use_reactor); ctest runs the actor tests both ways.
inline bool test_reactor() {
  auto* x = std::getenv("TROUPE_TEST_SCHEDULER");
  return x != nullptr && std::string{x} == "reactor";
}

inline caf::actor_system_config& test_config(caf::actor_system_config& cfg) {
  register_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  if (test_reactor())
    use_reactor(cfg);
  cfg.load<caf::io::middleman>();
  return cfg;
}

struct actor_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{test_config(cfg)};
  caf::scoped_actor self{sys};
  std::vector<engine_actor> engines;

  /// An engine config for `dsn` with small, test-friendly pool settings.
  static engine_config config_for(const troupe::dsn& dsn) {
    auto cfg = engine_config::from_dsn(dsn);
    REQUIRE(cfg);
    cfg->pool.min_size = 1;
    cfg->pool.max_size = 4;
    cfg->pool.checkout_timeout = std::chrono::seconds{10};
    cfg->pool.reconnect_min = std::chrono::milliseconds{50};
    cfg->pool.reconnect_max = std::chrono::milliseconds{500};
    cfg->pool.shutdown_grace = std::chrono::seconds{2};
    cfg->name = "test";
    return std::move(*cfg);
  }

  engine_actor spawn(engine_config cfg) {
    auto engine = spawn_engine(sys, std::move(cfg));
    REQUIRE(engine);
    engines.push_back(*engine);
    return *engine;
  }

  /// Sends a request (to an engine, a session, ...) and waits (bounded)
  /// for the answer.
  template <class R, class Handle, class... Ts>
  caf::expected<R> ask(const Handle& dest, Ts&&... xs) {
    caf::expected<R> out{make_error(errc::internal, "no answer")};
    self->request(dest, std::chrono::seconds{60}, std::forward<Ts>(xs)...)
      .receive([&](R& x) { out = std::move(x); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// Opens a session owned by this fixture's scoped actor.
  session_actor open_session(const engine_actor& engine,
                             session_options opts = {}) {
    auto s = ask<session_actor>(engine, session_atom::value, opts);
    REQUIRE(s);
    return *s;
  }

  /// Hands `s` (owned by this fixture's scoped actor) to `to`, so that
  /// `to` may send it requests while the fixture waits for something else.
  void hand_over(const session_actor& s, caf::scoped_actor& to) {
    REQUIRE(ask<result>(s, hand_over_atom::value,
                        caf::actor_cast<caf::actor>(to)));
  }

  /// Has `from` hand `s` back to this fixture's scoped actor.
  void take_back(const session_actor& s, caf::scoped_actor& from) {
    caf::expected<result> out{make_error(errc::internal, "no answer")};
    from->request(s, std::chrono::seconds{60}, hand_over_atom::value,
                  caf::actor_cast<caf::actor>(self))
      .receive([&](result& r) { out = std::move(r); },
               [&](caf::error& e) { out = std::move(e); });
    REQUIRE(out);
  }

  /// Sends a message to a session and waits (bounded) for its result.
  template <class... Ts>
  caf::expected<result> in(const session_actor& s, Ts&&... xs) {
    return ask<result>(s, std::forward<Ts>(xs)...);
  }

  caf::expected<result> query(const engine_actor& engine, std::string sql,
                              std::vector<value> params = {}) {
    return ask<result>(engine, query_atom::value,
                       statement{std::move(sql), std::move(params)});
  }

  repository_actor repository_of(const engine_actor& engine,
                                 const std::string& table) {
    auto r = ask<repository_actor>(engine, repository_atom::value, table);
    REQUIRE(r);
    return *r;
  }

  pool_status status(const engine_actor& engine) {
    auto st = ask<pool_status>(engine, status_atom::value);
    REQUIRE(st);
    return *st;
  }

  /// Polls the status (bounded) until `pred` holds; returns the last status.
  template <class Pred>
  pool_status wait_for_status(const engine_actor& engine, Pred pred,
                              std::chrono::milliseconds limit
                              = std::chrono::seconds{20}) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto st = status(engine);
      if (pred(st))
        return st;
      if (std::chrono::steady_clock::now() >= deadline) {
        FAIL("condition not reached in time; last status: " << to_string(st));
        return st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }

  /// Requests the pool answered (served or failed).
  uint64_t served(const engine_actor& engine) {
    auto st = status(engine);
    return st.served + st.failed_requests;
  }

  /// `served`, once the count stopped moving and no connection is busy: a
  /// loop reports a finished request to the supervisor after its answer
  /// went out, so the count can lag the answers a little.
  uint64_t settled_served(const engine_actor& engine) {
    auto last = served(engine);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    while (std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
      auto st = status(engine);
      auto now = st.served + st.failed_requests;
      if (now == last && st.busy == 0)
        return now;
      last = now;
    }
    FAIL("the pool's request count did not settle");
    return last;
  }

  caf::expected<dispose_report> dispose(const engine_actor& engine) {
    self->monitor(engine);
    auto report = ask<dispose_report>(engine, dispose_atom::value);
    bool down = false;
    self->receive([&](caf::down_msg& dm) { down = dm.source == engine.address(); },
                  caf::after(std::chrono::seconds{30}) >> [] {});
    CHECK(down);
    return report;
  }

  ~actor_fixture() {
    for (auto& e : engines)
      self->send_exit(e, caf::exit_reason::kill);
  }
};

using handle_t = decltype(std::declval<caf::scoped_actor&>()->request(
  std::declval<engine_actor&>(), std::chrono::seconds{60}, query_atom::value,
  statement{}));

/// Requests to an engine from scoped actors of their own, so that many
/// are in flight at once, as from independent callers.
struct requests {
  caf::actor_system& sys;
  std::vector<std::unique_ptr<caf::scoped_actor>> actors;
  std::vector<handle_t> handles;

  void send(const engine_actor& engine, statement stmt) {
    actors.push_back(std::make_unique<caf::scoped_actor>(sys));
    handles.push_back(
      (*actors.back())->request(engine, std::chrono::seconds{60},
                                query_atom::value, std::move(stmt)));
  }

  caf::expected<result> receive(size_t i) {
    caf::expected<result> out{make_error(errc::internal, "no answer")};
    handles[i].receive([&](result& r) { out = std::move(r); },
                       [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

/// The error code of a failed expected, or ok.
template <class T>
errc code_of(const caf::expected<T>& x) {
  return x ? errc::ok : info(x.error()).code;
}

} // namespace troupe::test
