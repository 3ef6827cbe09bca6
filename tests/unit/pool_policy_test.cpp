// The pool's decisions without a server, a network or CAF: a fake clock (a
// time point the test moves) drives the reconnect backoff, the circuit,
// idle health, lifetimes and the waiting queue.

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "pool/pool_policy.hpp"

using namespace troupe::detail;
using namespace std::chrono_literals;

namespace {

// The fake clock: an arbitrary origin the tests move by hand.
const pool_time t0 = pool_time{} + std::chrono::hours{1000};

reconnect_policy::settings defaults() {
  return {pool_ms{200}, pool_ms{30000}, pool_ms{30000}};
}

} // namespace

TEST_CASE("a burst of simultaneous connect failures counts as one outage",
          "[pool][policy]") {
  // The recovery defect: a pool of 8 loses its server; all 8 replacement
  // connects fail in the same millisecond. Counted one by one, the backoff
  // reached 2^7 * reconnect_min (14 s and more) after one outage.
  reconnect_policy p{defaults()};
  auto round = p.round();
  REQUIRE(p.to_open(t0, 8, 8, 0) == 8); // no failure yet: open them all
  int counted = 0;
  pool_ms delay{0};
  for (int i = 0; i < 8; ++i) {
    auto f = p.on_failure(round, t0, false, true, 1.0 - 1e-9);
    if (f.counted) {
      ++counted;
      delay = f.delay;
    }
    CHECK(f.attempt == 1);
  }
  CHECK(counted == 1);
  CHECK(p.failures() == 1);
  // The first backoff, not the eighth.
  CHECK(delay <= defaults().min);
  CHECK(p.next_attempt() == t0 + delay);
}

TEST_CASE("failures of later probes each count and double the backoff up to "
          "its cap",
          "[pool][policy]") {
  reconnect_policy p{defaults()};
  auto now = t0;
  std::vector<int64_t> delays;
  for (int i = 0; i < 12; ++i) {
    // Nothing may start before the backoff ends, then exactly one probe.
    if (i > 0) {
      CHECK(p.to_open(p.next_attempt() - 1ms, 5, 5, 0) == 0);
      now = p.next_attempt();
    }
    CHECK(p.to_open(now, 5, 5, 0) == (i == 0 ? 5u : 1u));
    if (i > 0)
      CHECK(p.to_open(now, 5, 5, 1) == 0); // the probe is under way
    // u close to 1: the whole delay (jitter takes up to half of it off).
    auto f = p.on_failure(p.round(), now, false, true, 1.0 - 1e-9);
    REQUIRE(f.counted);
    CHECK(f.attempt == static_cast<uint32_t>(i + 1));
    delays.push_back(f.delay.count());
  }
  std::vector<int64_t> expected = {200,   400,   800,   1600,  3200,  6400,
                                   12800, 25600, 30000, 30000, 30000, 30000};
  for (size_t i = 0; i < delays.size(); ++i) {
    INFO("failure " << i + 1);
    CHECK(delays[i] >= expected[i] - 1);
    CHECK(delays[i] <= expected[i]);
  }
}

TEST_CASE("while the database is unreachable probes come at least every "
          "probe_interval, refused logins still wait reconnect_max",
          "[pool][policy]") {
  // The defaults: found again within about a second of coming back.
  reconnect_policy p{{pool_ms{200}, pool_ms{30000}, pool_ms{1000}}};
  std::vector<int64_t> delays;
  auto now = t0;
  for (int i = 0; i < 6; ++i) {
    auto f = p.on_failure(p.round(), now, false, true, 1.0 - 1e-9);
    delays.push_back(f.delay.count());
    now = p.next_attempt();
  }
  std::vector<int64_t> expected = {200, 400, 800, 1000, 1000, 1000};
  for (size_t i = 0; i < delays.size(); ++i) {
    CHECK(delays[i] >= expected[i] - 1);
    CHECK(delays[i] <= expected[i]);
  }
  auto refused = p.on_failure(p.round(), now, true, true, 1.0 - 1e-9);
  CHECK(refused.delay >= 29999ms);
  // probe_interval never exceeds reconnect_max.
  reconnect_policy q{{pool_ms{50}, pool_ms{300}, pool_ms{1000}}};
  for (int i = 0; i < 5; ++i)
    q.on_failure(q.round(), t0, false, true, 1.0 - 1e-9);
  CHECK(q.on_failure(q.round(), t0, false, true, 1.0 - 1e-9).delay
        <= 300ms);
}

TEST_CASE("jitter takes up to half of the backoff off", "[pool][policy]") {
  reconnect_policy low{defaults()}, high{defaults()};
  auto a = low.on_failure(low.round(), t0, false, true, 0.0);
  auto b = high.on_failure(high.round(), t0, false, true, 1.0 - 1e-9);
  CHECK(a.delay == 100ms);
  CHECK(b.delay >= 199ms);
  CHECK(b.delay <= 200ms);
}

TEST_CASE("a refused login waits the longest backoff at once",
          "[pool][policy]") {
  reconnect_policy p{defaults()};
  auto f = p.on_failure(p.round(), t0, true, true, 1.0 - 1e-9);
  CHECK(f.counted);
  CHECK(f.delay >= 29999ms);
}

TEST_CASE("the circuit opens when nothing is open, half-opens with one probe "
          "at a time, and closes when the database answers",
          "[pool][policy]") {
  reconnect_policy p{defaults()};
  // A failure while other connections are open does not open it.
  auto f = p.on_failure(p.round(), t0, false, false, 0.5);
  CHECK_FALSE(f.circuit_opened);
  CHECK_FALSE(p.circuit_open());
  // One while none is open does.
  auto g = p.on_failure(p.round(), t0 + 1s, false, true, 0.5);
  CHECK(g.circuit_opened);
  CHECK(p.circuit_open());
  CHECK(p.circuit_since() == t0 + 1s);
  // Half-open: even with nobody waiting, one probe at a time after the
  // backoff.
  CHECK(p.to_open(p.next_attempt(), 0, 4, 0) == 1);
  CHECK(p.to_open(p.next_attempt(), 0, 4, 1) == 0);
  // A later failure while open does not "open" it again.
  auto h = p.on_failure(p.round(), p.next_attempt(), false, true, 0.5);
  CHECK_FALSE(h.circuit_opened);
  // A health check that answers closes it (and says for how long it was
  // open) but the outage's backoff stays until a connection opens.
  auto closed_after = p.on_answered(t0 + 5s);
  REQUIRE(closed_after);
  CHECK(*closed_after == 4s);
  CHECK_FALSE(p.circuit_open());
  CHECK(p.failures() == 3);
  CHECK_FALSE(p.on_answered(t0 + 6s)); // already closed
  // A new connection ends the outage: no backoff, all at once again.
  CHECK_FALSE(p.on_connected(t0 + 7s));
  CHECK(p.failures() == 0);
  CHECK(p.to_open(t0 + 7s, 3, 3, 2) == 3);
}

TEST_CASE("an attempt started before the outage was counted does not count "
          "after the recovery either",
          "[pool][policy]") {
  reconnect_policy p{defaults()};
  auto old_round = p.round();
  p.on_failure(old_round, t0, false, true, 0.5);
  p.on_connected(t0 + 1s);
  // A straggler of the old round fails late: nothing changes.
  auto f = p.on_failure(old_round, t0 + 2s, false, false, 0.5);
  CHECK_FALSE(f.counted);
  CHECK(p.failures() == 0);
  CHECK(p.to_open(t0 + 2s, 1, 1, 0) == 1);
}

TEST_CASE("connections wanted: one per uncovered waiter, and up to min_size",
          "[pool][policy]") {
  CHECK(connections_wanted(0, 0, 0, 2) == 2);
  CHECK(connections_wanted(5, 2, 4, 2) == 3);
  CHECK(connections_wanted(1, 3, 4, 2) == 0);
  CHECK(connections_wanted(0, 0, 5, 2) == 0);
  reconnect_policy p{defaults()};
  CHECK(p.to_open(t0, 10, 3, 0) == 3); // max_size leaves room for 3
}

TEST_CASE("idle connections: recycled past their lifetime, closed when idle "
          "above min_size, pinged when unused",
          "[pool][policy]") {
  idle_rules rules{2, 60s, 10s};
  auto expires = t0 + 1h;
  CHECK(judge_idle(t0 + 5s, expires, t0, 3, rules) == idle_verdict::keep);
  CHECK(judge_idle(t0 + 10s, expires, t0, 3, rules) == idle_verdict::ping);
  CHECK(judge_idle(t0 + 60s, expires, t0, 3, rules)
        == idle_verdict::close_idle);
  // At min_size an idle connection stays (and is pinged).
  CHECK(judge_idle(t0 + 60s, expires, t0, 2, rules) == idle_verdict::ping);
  CHECK(judge_idle(t0 + 1h, expires, t0 + 1h, 2, rules)
        == idle_verdict::recycle);
}

TEST_CASE("jittered lifetimes spread connections opened together",
          "[pool][policy]") {
  std::set<int64_t> ends;
  for (int i = 0; i < 10; ++i) {
    auto end = lifetime_end(t0, 30min, 0.1, i / 10.0);
    auto ms = std::chrono::duration_cast<pool_ms>(end - t0).count();
    CHECK(ms <= 30 * 60 * 1000);
    CHECK(ms >= 27 * 60 * 1000); // at most 10 % shorter
    ends.insert(ms);
  }
  CHECK(ends.size() == 10);
  CHECK(lifetime_end(t0, 30min, 0.0, 0.7) == t0 + 30min);
}

TEST_CASE("idle connections are pinged well within the server's wait_timeout",
          "[pool][policy]") {
  CHECK(ping_interval_for(10s, 0) == 10s);      // unknown
  CHECK(ping_interval_for(10s, 28800) == 10s);  // the server's default
  CHECK(ping_interval_for(10s, 4) == 2s);       // half of it
}

namespace {

struct fake_waiter {
  std::string name;
  pool_time deadline;
};

std::vector<std::string> names(const std::vector<fake_waiter>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(x.name);
  return out;
}

} // namespace

TEST_CASE("waiters expire in deadline order, and only those due",
          "[pool][policy]") {
  waiter_queue<fake_waiter> q{10};
  q.push_back({"a", t0 + 5s});
  q.push_back({"b", t0 + 1s});
  q.push_back({"c", t0 + 9s});
  q.push_back({"d", t0 + 3s});
  q.push_back({"e", t0 + 3s});
  CHECK(q.expire(t0).empty());
  CHECK(names(q.expire(t0 + 5s))
        == std::vector<std::string>{"b", "d", "e", "a"});
  REQUIRE(q.size() == 1);
  CHECK(q.front().name == "c");
}

TEST_CASE("the waiting queue is bounded, and requests taken back go first",
          "[pool][policy]") {
  waiter_queue<fake_waiter> q{2};
  q.push_back({"a", t0});
  CHECK_FALSE(q.full());
  q.push_back({"b", t0});
  CHECK(q.full());
  // A request that had a connection and lost it before it was sent is
  // older than everything queued: it goes to the head, over the bound.
  q.push_front({"old", t0});
  CHECK(q.size() == 3);
  CHECK(q.pop_front().name == "old");
  q.remove_if([](const fake_waiter& w) { return w.name == "a"; });
  CHECK(q.size() == 1);
  auto rest = q.drain();
  CHECK(rest.size() == 1);
  CHECK(q.empty());
}
