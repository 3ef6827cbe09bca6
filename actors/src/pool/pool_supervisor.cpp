// The pool supervisor actor: its state (slots, the waiting queue, counters,
// shutdown) and every handler that changes it. The decisions it acts on
// (backoff, circuit, sizing, idle health, lifetimes, the bounded queue) are
// plain code in pool_policy.hpp; running jobs on a connection is
// job_runner.cpp; sessions are session/. Over 700 lines on purpose: these
// handlers share one state machine (a slot's state moves between them), and
// splitting them across files would split its invariants too.

#include "pool/pool_supervisor.hpp"

#include <algorithm>
#include <deque>
#include <initializer_list>
#include <map>
#include <random>
#include <vector>

#include <caf/all.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pool/connection_actor.hpp"
#include "pool/job_runner.hpp"
#include "pool/pool_policy.hpp"
#include "repository/repository_actor.hpp"
#include "session/session_actor.hpp"
#include "troupe/latency_histogram.hpp"
#include "troupe/option_parsing.hpp"
#include "troupe/sql.hpp"

namespace troupe::detail {

namespace {

using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// Deadlines, health checks and backoff are driven by one periodic tick.
constexpr ms tick_interval{50};

// The MySQL protocol counts statement parameters in 16 bits.
constexpr size_t max_params = 65535;

enum class slot_state {
  connecting,
  idle,
  busy,
  checking,
  /// Leased to a session (a transaction runs on it).
  leased,
  /// Back from a lease, being rolled back and reset.
  returning,
  closing,
};

/// One connection actor, as the supervisor sees it.
struct slot {
  connection_actor handle;
  uint32_t id = 0;
  slot_state state = slot_state::connecting;
  clock::time_point created;
  clock::time_point last_used;
  clock::time_point expires;
  /// Opened to replace a connection that died (counts as a reconnect).
  bool replacement = false;
  /// Reached `ready` once (a failure before that is a connect failure).
  bool was_open = false;
  /// The reconnect round its connect attempt started in (reconnect_policy).
  uint64_t round = 0;
  /// Jobs given to the connection and not done yet (more than one only
  /// when pipelining: see pool_config::pipeline_depth).
  uint32_t inflight = 0;
  /// The event loop driving the connection, and the connection itself (set
  /// on ready): autocommit jobs go straight there.
  size_t loop = 0;
  std::shared_ptr<mariadb::async_connection> conn;
  std::shared_ptr<const job_context> context;
  /// The pool's jobs on this connection: the running one and those queued
  /// behind it (set on ready).
  lane_ptr lane;
  /// The session holding the lease, and since when.
  caf::actor_addr holder;
  clock::time_point leased_at;
};

/// A request waiting for a connection.
struct waiter {
  reply_handle reply;
  statement stmt;
  bool ping = false;
  /// A session's lease request (`holder` gets the connection).
  bool lease = false;
  caf::actor_addr holder;
  clock::time_point enqueued;
  clock::time_point deadline;
};

struct supervisor_state {
  engine_config cfg;
  std::vector<std::shared_ptr<event_loop>> loops;
  std::vector<std::shared_ptr<done_batcher>> batchers;
  std::vector<slot> slots;
  waiter_queue<waiter> queue;
  uint32_t next_id = 1;

  // Recovery.
  std::string last_connect_error;
  /// The last connect error itself (its code, server code and SQLSTATE).
  caf::error last_connect_cause;
  reconnect_policy reconnect;
  uint32_t pending_replacements = 0;
  ms ping_interval{0};

  // Counters (the cumulative fields of pool_status) and timings.
  pool_status totals;
  latency_histogram queue_wait;
  latency_histogram exec;

  // Shutdown.
  bool disposing = false;
  std::vector<reply_handle> dispose_replies;
  dispose_report report;
  clock::time_point dispose_deadline{};
  bool flushing = false;
  size_t pending_flushes = 0;

  // Sessions this engine spawned (they alone may lease).
  std::vector<session_impl_actor> sessions;
  /// The repositories, by table (one per table, spawned on first request).
  std::map<std::string, repository_actor> repositories;

  std::minstd_rand rng{std::random_device{}()};
};

using self_ptr = supervisor_actor::stateful_pointer<supervisor_state>;

double uniform(self_ptr self) {
  return std::uniform_real_distribution<double>{0.0, 1.0}(self->state.rng);
}

size_t count(self_ptr self, slot_state x) {
  auto& v = self->state.slots;
  return static_cast<size_t>(std::count_if(
    v.begin(), v.end(), [x](const slot& s) { return s.state == x; }));
}

slot* find(self_ptr self, uint32_t id) {
  for (auto& s : self->state.slots)
    if (s.id == id)
      return &s;
  return nullptr;
}

// Internal messages are only accepted from the child they claim to come from.
slot* find_sender(self_ptr self, uint32_t id) {
  auto* s = find(self, id);
  if (s == nullptr
      || self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(s->handle))
    return nullptr;
  return s;
}

std::string snapshot(self_ptr self) {
  auto& st = self->state;
  return fmt::format("pool size {}/{} (idle {}, busy {}, connecting {}, "
                     "checking {}), waiting {}",
                     st.slots.size(), st.cfg.pool.max_size,
                     count(self, slot_state::idle),
                     count(self, slot_state::busy),
                     count(self, slot_state::connecting),
                     count(self, slot_state::checking), st.queue.size());
}

std::string with_last_error(self_ptr self, std::string msg) {
  if (!self->state.last_connect_error.empty())
    msg += "; last connect error: " + self->state.last_connect_error;
  return msg;
}

// The error for requests that cannot be served because no connection can be
// opened: `auth_failed` (with the server's code) while the server refuses
// our login — retrying cannot help until someone fixes the credentials —
// and `database_unreachable` otherwise.
caf::error unreachable(self_ptr self, const std::string& what) {
  auto& st = self->state;
  auto cause = info(st.last_connect_cause);
  if (cause.code == errc::auth_failed)
    return make_error(errc::auth_failed,
                      fmt::format("{} refuses the engine's login as '{}': {}",
                                  st.cfg.connection.address(),
                                  st.cfg.connection.user, cause.message),
                      cause.server_code, cause.sqlstate, false);
  return make_error(errc::database_unreachable,
                    with_last_error(self,
                                    fmt::format("database {} unreachable{}",
                                                st.cfg.connection.address(),
                                                what)));
}

// The first caller-chosen timeout (milliseconds, named `prefix` + name)
// above the pool's max_timeout, as invalid_argument; none otherwise.
caf::error over_max_timeout(
  self_ptr self, const char* prefix,
  std::initializer_list<std::pair<const char*, uint32_t>> timeouts) {
  auto limit = self->state.cfg.pool.max_timeout;
  for (auto [name, value] : timeouts)
    if (ms{value} > limit)
      return make_error(errc::invalid_argument,
                        fmt::format("{}{} {} exceeds the pool's max_timeout "
                                    "({})",
                                    prefix, name, value,
                                    format_duration(limit)));
  return {};
}

caf::error shutting_down(self_ptr self) {
  return make_error(errc::shutting_down,
                    fmt::format("engine '{}' is shutting down",
                                self->state.cfg.name));
}

uint64_t micros(clock::duration d) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

void fail(self_ptr self, reply_handle& reply, caf::error err) {
  ++self->state.totals.failed_requests;
  reply.deliver_error(std::move(err));
}

void fail_queue(self_ptr self, const caf::error& err) {
  for (auto& w : self->state.queue.drain())
    fail(self, w.reply, err);
}

void close_slot(self_ptr self, slot& s) {
  if (s.state == slot_state::closing)
    return;
  s.state = slot_state::closing;
  self->send(s.handle, close_atom::value);
}

void open_one(self_ptr self) {
  auto& st = self->state;
  // The loop with the fewest connections drives the new one.
  std::vector<size_t> load(st.loops.size(), 0);
  for (const auto& x : st.slots)
    ++load[x.loop];
  auto loop = static_cast<size_t>(
    std::min_element(load.begin(), load.end()) - load.begin());
  connection_params params;
  params.loop = st.loops[loop];
  params.batcher = st.batchers[loop];
  params.options = st.cfg.connection;
  params.supervisor = caf::actor_cast<supervisor_actor>(self);
  params.id = st.next_id++;
  params.slow_threshold = st.cfg.pool.slow_threshold;
  params.engine_name = st.cfg.name;
  slot s;
  s.id = params.id;
  s.loop = loop;
  s.created = clock::now();
  s.last_used = s.created;
  s.round = st.reconnect.round();
  if (st.pending_replacements > 0) {
    --st.pending_replacements;
    s.replacement = true;
  }
  s.handle = spawn_connection(self, std::move(params));
  st.slots.push_back(std::move(s));
  st.totals.peak_size = std::max<uint32_t>(st.totals.peak_size,
                                           static_cast<uint32_t>(st.slots.size()));
}

// Opens connections for waiting requests and up to min_size, within
// max_size, as the reconnect policy allows (after a failure: one probe at a
// time, no earlier than the backoff).
void grow(self_ptr self) {
  auto& st = self->state;
  if (st.disposing)
    return;
  auto connecting = count(self, slot_state::connecting);
  auto wanted = connections_wanted(st.queue.size(), connecting,
                                   st.slots.size(), st.cfg.pool.min_size);
  auto room = st.cfg.pool.max_size - std::min(st.cfg.pool.max_size,
                                              st.slots.size());
  auto n = st.reconnect.to_open(clock::now(), wanted, room, connecting);
  for (size_t i = 0; i < n; ++i)
    open_one(self);
}

// `n` of the slot's jobs are no longer in flight on it (done, moved to
// another connection, expired or cancelled).
void jobs_left(slot& s, size_t n = 1) {
  s.inflight -= static_cast<uint32_t>(std::min<size_t>(s.inflight, n));
}

// Gives a job to the connection's lane. An idle lane needs the loop to start
// the job; behind a running job it waits on the lane, and the loop starts it
// when the running one completes (no wake-up, no round trip through here).
// If the connection broke meanwhile, the job comes back with `requeue`.
void dispatch_job(self_ptr self, slot& s, job_ptr j) {
  s.state = slot_state::busy;
  ++s.inflight;
  s.last_used = clock::now();
  auto lane = s.lane;
  if (!lane->submit(j))
    return;
  auto& loop = *self->state.loops[s.loop];
  if (!loop.post([conn = s.conn, j = std::move(j), ctx = s.context,
                  lane]() mutable {
        run_job(conn, std::move(j), std::move(ctx), std::move(lane));
      })) {
    // The loop has stopped (the actor system is going down): the dropped
    // job answers shutting_down, and so does anything queued behind it.
    lane->drain();
    lane->next();
  }
}

// Jobs that never reached the server go back to the head of the queue, in
// their order (they are older than anything queued), or fail when the
// engine shuts down.
void take_back(self_ptr self, std::vector<job_ptr> jobs) {
  auto& st = self->state;
  for (auto i = jobs.rbegin(); i != jobs.rend(); ++i) {
    auto& j = *i;
    if (st.disposing) {
      fail(self, j->reply, shutting_down(self));
      continue;
    }
    st.queue.push_front(waiter{std::move(j->reply), std::move(j->stmt),
                               j->ping, false, {}, j->enqueued, j->deadline});
  }
}

void dispatch(self_ptr self, slot& s, waiter&& w) {
  auto now = clock::now();
  if (w.lease) {
    s.state = slot_state::leased;
    s.holder = w.holder;
    s.leased_at = now;
    s.last_used = now;
    self->state.queue_wait.record(micros(now - w.enqueued));
    lease_grant g{s.id, s.handle, s.conn, s.context,
                  self->state.loops[s.loop]};
    w.reply.deliver(caf::make_message(std::move(g)));
    return;
  }
  self->state.queue_wait.record(micros(now - w.enqueued));
  auto j = std::make_shared<job>();
  j->reply = std::move(w.reply);
  j->stmt = std::move(w.stmt);
  j->ping = w.ping;
  j->enqueued = w.enqueued;
  j->deadline = w.deadline;
  set_execution_limit(*j, j->stmt.execution_timeout_ms,
                      self->state.cfg.pool.statement_timeout);
  dispatch_job(self, s, std::move(j));
}

slot* idle_slot(self_ptr self) {
  for (auto& s : self->state.slots)
    if (s.state == slot_state::idle)
      return &s;
  return nullptr;
}

// A busy connection that may take one more job behind its current one. Only
// when the pool cannot grow: a new connection serves a waiting request
// sooner than a running statement that may be slow.
slot* pipeline_slot(self_ptr self) {
  auto& st = self->state;
  auto depth = st.cfg.pool.pipeline_depth;
  if (depth < 2
      || (st.slots.size() < st.cfg.pool.max_size
          && st.reconnect.failures() == 0 && !st.reconnect.circuit_open()))
    return nullptr;
  slot* best = nullptr;
  for (auto& s : self->state.slots)
    if (s.state == slot_state::busy && s.inflight < depth
        && (best == nullptr || s.inflight < best->inflight))
      best = &s;
  return best;
}

// Gives waiting requests to idle connections (oldest first), then, when all
// are busy and pipelining is on, queues them behind running statements on
// the loops so the next one starts without a round trip through here.
void pump(self_ptr self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    auto* s = idle_slot(self);
    if (s == nullptr && !st.disposing && !st.queue.front().lease)
      s = pipeline_slot(self);
    if (s == nullptr)
      break;
    dispatch(self, *s, st.queue.pop_front());
  }
  // A connection that went idle takes over the oldest job waiting behind a
  // running statement elsewhere, so one slow statement holds up nobody.
  if (st.queue.empty() && st.cfg.pool.pipeline_depth > 1 && !st.disposing) {
    while (auto* idle = idle_slot(self)) {
      slot* victim = nullptr;
      size_t most = 0;
      for (auto& x : st.slots) {
        if (x.state != slot_state::busy || !x.lane)
          continue;
        auto n = x.lane->waiting();
        if (n > most) {
          most = n;
          victim = &x;
        }
      }
      if (victim == nullptr)
        break;
      auto j = victim->lane->steal();
      if (!j)
        break;
      jobs_left(*victim);
      dispatch_job(self, *idle, std::move(j));
    }
  }
  grow(self);
}

// Jobs waiting on lanes (behind a running statement).
size_t lane_waiting(self_ptr self) {
  size_t n = 0;
  for (auto& s : self->state.slots)
    if (s.lane)
      n += s.lane->waiting();
  return n;
}

void finish_dispose_if_done(self_ptr self) {
  auto& st = self->state;
  if (!st.disposing || !st.slots.empty() || st.flushing)
    return;
  // Every connection actor has exited and posted the close of its socket to
  // the loop; answer once the loop ran those closes.
  st.flushing = true;
  st.pending_flushes = st.loops.size();
  auto me = caf::actor_cast<caf::actor>(self);
  for (auto& loop : st.loops)
    if (!loop->post([me] { caf::send_as(me, me, flushed_atom::value); }))
      caf::send_as(me, me, flushed_atom::value);
}

void on_flushed(self_ptr self) {
  auto& st = self->state;
  if (--st.pending_flushes > 0)
    return;
  spdlog::info("{}: disposed ({} queued cancelled, {} finished, {} aborted)",
               st.cfg.name, st.report.cancelled, st.report.finished,
               st.report.aborted);
  for (auto& r : st.dispose_replies)
    r.deliver(caf::make_message(st.report));
  st.dispose_replies.clear();
  self->quit();
}

// Admits a request: validates it and answers at once when it cannot run.
void admit(self_ptr self, reply_handle reply, statement stmt, bool ping,
           caf::actor_addr lease_holder = {}) {
  // An asynchronous send (no request) runs too; its outcome goes nowhere.
  auto& st = self->state;
  if (st.disposing) {
    fail(self, reply, shutting_down(self));
    return;
  }
  if (!ping && !lease_holder) {
    if (stmt.sql.empty()) {
      fail(self, reply, make_error(errc::invalid_argument, "empty SQL"));
      return;
    }
    if (stmt.params.size() > max_params) {
      fail(self, reply,
           make_error(errc::invalid_argument,
                      fmt::format("{} parameters; the protocol allows at most "
                                  "{}",
                                  stmt.params.size(), max_params)));
      return;
    }
  }
  if (!ping && !lease_holder)
    if (auto err = over_max_timeout(
          self, "",
          {{"timeout_ms", stmt.timeout_ms},
           {"execution_timeout_ms", stmt.execution_timeout_ms}})) {
      fail(self, reply, std::move(err));
      return;
    }
  if (!ping && !lease_holder) {
    auto traits = sql::classify(stmt.sql);
    if (traits.transaction_control) {
      fail(self, reply,
           make_error(errc::invalid_argument,
                      fmt::format("'{}' controls transactions: the pool runs "
                                  "statements in autocommit on shared "
                                  "connections; open a session for a "
                                  "transaction",
                                  traits.keyword)));
      return;
    }
  }
  if (st.reconnect.circuit_open() && idle_slot(self) == nullptr) {
    fail(self, reply,
         unreachable(self,
                     fmt::format(" (failing fast since {} ms)",
                                 std::chrono::duration_cast<ms>(
                                   clock::now()
                                   - st.reconnect.circuit_since())
                                   .count())));
    return;
  }
  auto now = clock::now();
  auto timeout = stmt.timeout_ms > 0 ? ms{stmt.timeout_ms}
                                     : st.cfg.pool.checkout_timeout;
  waiter w{std::move(reply), std::move(stmt), ping,
           static_cast<bool>(lease_holder), std::move(lease_holder), now,
           now + timeout};
  if (st.queue.empty()) {
    if (auto* s = idle_slot(self)) {
      dispatch(self, *s, std::move(w));
      return;
    }
  }
  if (st.queue.full()) {
    ++st.totals.overloaded;
    fail(self, w.reply,
         make_error(errc::overloaded,
                    fmt::format("{} requests already wait (max_waiters); {}",
                                st.queue.size(), snapshot(self))));
    return;
  }
  st.queue.push_back(std::move(w));
  pump(self);
}

void expire_waiters(self_ptr self, clock::time_point now) {
  for (auto& s : self->state.slots) {
    if (!s.lane)
      continue;
    for (auto& j : s.lane->expire(now)) {
      jobs_left(s);
      ++self->state.totals.timed_out;
      auto waited = std::chrono::duration_cast<ms>(now - j->enqueued).count();
      fail(self, j->reply,
           make_error(errc::checkout_timeout,
                      fmt::format("no connection within {} ms (queued behind "
                                  "a running statement on connection {}); {}",
                                  waited, s.id, snapshot(self))));
    }
  }
  for (auto& w : self->state.queue.expire(now)) {
    ++self->state.totals.timed_out;
    auto waited = std::chrono::duration_cast<ms>(now - w.enqueued).count();
    fail(self, w.reply,
         make_error(errc::checkout_timeout,
                    with_last_error(self,
                                    fmt::format("no connection within {} ms; "
                                                "{}",
                                                waited, snapshot(self)))));
  }
}

void check_health(self_ptr self, clock::time_point now) {
  auto& st = self->state;
  idle_rules rules{st.cfg.pool.min_size, st.cfg.pool.idle_timeout,
                   st.ping_interval};
  for (auto& s : st.slots) {
    if (s.state != slot_state::idle)
      continue;
    switch (judge_idle(now, s.expires, s.last_used, st.slots.size(), rules)) {
      case idle_verdict::keep:
        break;
      case idle_verdict::recycle:
        spdlog::info("{}: recycling connection {} (max_lifetime)",
                     st.cfg.name, s.id);
        close_slot(self, s);
        break;
      case idle_verdict::close_idle:
        spdlog::info("{}: closing idle connection {} (idle_timeout)",
                     st.cfg.name, s.id);
        close_slot(self, s);
        break;
      case idle_verdict::ping:
        s.state = slot_state::checking;
        self->send(s.handle, check_atom::value);
        break;
    }
  }
}

// A lease ends: the connection is rolled back and reset (if the session
// changed its state) before it serves anyone else; `ready` makes it idle.
void give_back(self_ptr self, slot& s, bool busy) {
  s.state = slot_state::returning;
  s.holder = caf::actor_addr{};
  self->send(s.handle, clean_atom::value, busy);
}

void revoke(self_ptr self, slot& s, std::string why) {
  for (auto& x : self->state.sessions)
    if (x.address() == s.holder)
      self->send(x, revoke_atom::value, s.id, std::move(why));
  s.holder = caf::actor_addr{};
}

void on_tick(self_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  expire_waiters(self, now);
  if (!st.disposing) {
    check_health(self, now);
  } else if (now >= st.dispose_deadline) {
    for (auto& s : st.slots) {
      if (s.state == slot_state::busy || s.state == slot_state::leased) {
        ++st.report.aborted;
        if (s.state == slot_state::leased)
          revoke(self, s, "the engine shut down after its grace period");
        s.state = slot_state::closing;
        self->send(s.handle, abort_atom::value);
      }
    }
  }
  if (!st.disposing && st.cfg.pool.max_lease.count() > 0) {
    for (auto& s : st.slots) {
      if (s.state == slot_state::leased
          && now - s.leased_at > st.cfg.pool.max_lease) {
        ++st.totals.reclaimed;
        spdlog::warn("{}: reclaiming connection {} leased by {} for {} ms "
                     "(max_lease {})",
                     st.cfg.name, s.id, caf::to_string(s.holder),
                     std::chrono::duration_cast<ms>(now - s.leased_at).count(),
                     format_duration(st.cfg.pool.max_lease));
        revoke(self, s, fmt::format("the lease was reclaimed after max_lease "
                                    "({})",
                                    format_duration(st.cfg.pool.max_lease)));
        s.state = slot_state::returning;
        self->send(s.handle, clean_atom::value, true);
      }
    }
  }
  pump(self);
  self->delayed_send(self, tick_interval, tick_atom::value);
}

void on_ready(self_ptr self, slot& s, const conn_info& info) {
  auto& st = self->state;
  auto now = clock::now();
  if (s.state == slot_state::connecting) {
    s.was_open = true;
    s.conn = info.conn;
    s.context = info.context;
    s.lane = std::make_shared<job_lane>();
    ++st.totals.opened;
    if (s.replacement)
      ++st.totals.reconnects;
    s.expires = lifetime_end(now, st.cfg.pool.max_lifetime,
                             st.cfg.pool.lifetime_jitter, uniform(self));
    if (info.wait_timeout > 0)
      st.ping_interval = ping_interval_for(st.cfg.pool.ping_interval,
                                           info.wait_timeout);
    st.totals.tls_cipher = info.tls_cipher;
    spdlog::info("{}: connection {} opened to {} (server thread {}, {}) in "
                 "{} ms",
                 st.cfg.name, s.id, st.cfg.connection.address(),
                 info.thread_id,
                 info.tls_cipher.empty() ? std::string{"no TLS"}
                                         : "TLS " + info.tls_cipher,
                 std::chrono::duration_cast<ms>(now - s.created).count());
    if (auto open_for = st.reconnect.on_connected(now))
      spdlog::warn("{}: circuit closed: database {} reachable again after {} "
                   "ms",
                   st.cfg.name, st.cfg.connection.address(),
                   open_for->count());
  } else if (auto open_for = st.reconnect.on_answered(now)) {
    // A check or a returned lease proves the database answers too.
    spdlog::warn("{}: circuit closed: database {} answers again after {} ms",
                 st.cfg.name, st.cfg.connection.address(), open_for->count());
  }
  s.state = slot_state::idle;
  s.last_used = now;
  if (st.disposing)
    close_slot(self, s);
}

void on_done(self_ptr self, slot& s, const done_entry& x) {
  auto& st = self->state;
  st.exec.record(x.exec_us);
  if (x.pipelined)
    ++st.totals.pipelined;
  if (x.how == outcome::ok)
    ++st.totals.served;
  else
    ++st.totals.failed_requests;
  // A session's statement says nothing about the pool's jobs in flight (the
  // connection may already serve the pool again).
  if (!x.pooled)
    return;
  jobs_left(s);
  if (s.state != slot_state::busy)
    return;
  if (x.how == outcome::fatal) {
    s.state = slot_state::closing; // it exits; the down message follows
    return;
  }
  // The loop cleaned the connection before it answered (job_runner.cpp).
  if (x.tx_open)
    spdlog::warn("{}: connection {} had an open transaction after an "
                 "autocommit statement; it was rolled back",
                 st.cfg.name, s.id);
  if (x.state_changed)
    ++st.totals.resets;
  s.last_used = clock::now();
  if (st.disposing)
    ++st.report.finished;
  if (s.inflight > 0)
    return;
  s.state = slot_state::idle;
  if (st.disposing)
    close_slot(self, s);
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto repo = std::find_if(st.repositories.begin(), st.repositories.end(),
                           [&](const auto& kvp) {
                             return kvp.second.address() == dm.source;
                           });
  if (repo != st.repositories.end()) {
    // The next request for its table spawns a new one.
    if (dm.reason && dm.reason != caf::exit_reason::normal)
      spdlog::warn("{}: repository of '{}' exited: {}", st.cfg.name,
                   repo->first, render(dm.reason));
    st.repositories.erase(repo);
    return;
  }
  auto sess = std::find_if(st.sessions.begin(), st.sessions.end(),
                           [&](const session_impl_actor& x) {
                             return x.address() == dm.source;
                           });
  if (sess != st.sessions.end()) {
    st.sessions.erase(sess);
    // Its lease request may still wait: nobody would ever give that back.
    st.queue.remove_if([&](const waiter& w) {
      return w.lease && w.holder == dm.source;
    });
    // A session that died holding a lease: take the connection back.
    for (auto& s : st.slots)
      if (s.state == slot_state::leased && s.holder == dm.source)
        give_back(self, s, true);
    finish_dispose_if_done(self);
    return;
  }
  auto i = std::find_if(st.slots.begin(), st.slots.end(), [&](const slot& s) {
    return s.handle.address() == dm.source;
  });
  if (i == st.slots.end())
    return; // not ours
  auto dead = std::move(*i);
  st.slots.erase(i);
  // Jobs still waiting on its lane never reached the server.
  if (dead.lane)
    take_back(self, dead.lane->drain());
  auto now = clock::now();
  bool clean = !dm.reason || dm.reason == caf::exit_reason::normal;
  if (dead.was_open) {
    ++st.totals.closed;
    if (!clean && !st.disposing) {
      spdlog::warn("{}: connection {} lost: {}", st.cfg.name, dead.id,
                   render(dm.reason));
      ++st.pending_replacements;
      // The others may be dead too (server restart, network): check them
      // before handing them out.
      for (auto& s : st.slots) {
        if (s.state == slot_state::idle) {
          s.state = slot_state::checking;
          self->send(s.handle, check_atom::value);
        }
      }
    } else {
      spdlog::info("{}: connection {} closed", st.cfg.name, dead.id);
    }
  } else if (!st.disposing) {
    ++st.totals.failed;
    st.last_connect_error = render(dm.reason);
    st.last_connect_cause = dm.reason;
    bool refused_login = info(dm.reason).code == errc::auth_failed;
    if (dead.replacement)
      ++st.pending_replacements;
    // Any connection that opened and has not died counts, leased ones
    // included: then the database is reachable.
    auto open = st.slots.size() - count(self, slot_state::connecting);
    auto f = st.reconnect.on_failure(dead.round, now, refused_login,
                                     open == 0, uniform(self));
    if (f.circuit_opened) {
      spdlog::error("{}: circuit opened: database {} unreachable, failing "
                    "requests fast: {}",
                    st.cfg.name, st.cfg.connection.address(),
                    st.last_connect_error);
      fail_queue(self, unreachable(self, ""));
    }
    if (f.counted)
      spdlog::warn("{}: connect to {} failed (attempt {}), next in {} ms: {}",
                   st.cfg.name, st.cfg.connection.address(), f.attempt,
                   f.delay.count(), st.last_connect_error);
    else
      spdlog::info("{}: connect to {} failed too (the same outage, attempt "
                   "{}): {}",
                   st.cfg.name, st.cfg.connection.address(), f.attempt,
                   st.last_connect_error);
  }
  if (!st.disposing && !st.queue.empty())
    pump(self);
  finish_dispose_if_done(self);
}

pool_status make_status(self_ptr self) {
  auto& st = self->state;
  auto x = st.totals;
  x.size = static_cast<uint32_t>(st.slots.size());
  x.idle = static_cast<uint32_t>(count(self, slot_state::idle));
  x.busy = static_cast<uint32_t>(count(self, slot_state::busy));
  x.connecting = static_cast<uint32_t>(count(self, slot_state::connecting));
  x.leased = static_cast<uint32_t>(count(self, slot_state::leased));
  x.sessions = static_cast<uint32_t>(st.sessions.size());
  x.waiting = static_cast<uint32_t>(st.queue.size() + lane_waiting(self));
  x.min_size = static_cast<uint32_t>(st.cfg.pool.min_size);
  x.max_size = static_cast<uint32_t>(st.cfg.pool.max_size);
  x.circuit_open = st.reconnect.circuit_open();
  x.last_connect_error = st.last_connect_error;
  x.last_connect_code = info(st.last_connect_cause).code;
  x.queue_wait_p50 = st.queue_wait.percentile(0.5);
  x.queue_wait_p99 = st.queue_wait.percentile(0.99);
  x.exec_p50 = st.exec.percentile(0.5);
  x.exec_p99 = st.exec.percentile(0.99);
  return x;
}

void on_dispose(self_ptr self, reply_handle reply) {
  auto& st = self->state;
  if (reply.pending())
    st.dispose_replies.push_back(std::move(reply));
  if (st.disposing)
    return;
  st.disposing = true;
  st.dispose_deadline = clock::now() + st.cfg.pool.shutdown_grace;
  st.report.cancelled = st.queue.size();
  fail_queue(self, shutting_down(self));
  for (auto& s : st.slots) {
    if (!s.lane)
      continue;
    for (auto& j : s.lane->drain()) {
      jobs_left(s);
      ++st.report.cancelled;
      fail(self, j->reply, shutting_down(self));
    }
  }
  spdlog::info("{}: disposing: {} queued requests cancelled, {} statements "
               "running, grace {} ms",
               st.cfg.name, st.report.cancelled, count(self, slot_state::busy),
               st.cfg.pool.shutdown_grace.count());
  for (auto& s : st.slots)
    if (s.state != slot_state::busy && s.state != slot_state::leased
        && s.state != slot_state::returning)
      close_slot(self, s);
  finish_dispose_if_done(self);
}

supervisor_actor::behavior_type
supervisor_impl(self_ptr self, engine_config cfg,
                std::vector<std::shared_ptr<event_loop>> loops) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.loops = std::move(loops);
  for (auto& loop : st.loops)
    st.batchers.push_back(std::make_shared<done_batcher>(
      *loop, caf::actor_cast<supervisor_actor>(self)));
  st.ping_interval = st.cfg.pool.ping_interval;
  st.reconnect = reconnect_policy{{st.cfg.pool.reconnect_min,
                                   st.cfg.pool.reconnect_max,
                                   st.cfg.pool.probe_interval}};
  st.queue.set_capacity(st.cfg.pool.max_waiters);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  // An exit message (send_exit) shuts the engine down gracefully, like
  // dispose: running statements get the grace period, nothing hangs.
  self->set_exit_handler([self](caf::exit_msg& em) {
    spdlog::info("{}: exit message ({}): disposing", self->state.cfg.name,
                 caf::to_string(em.reason));
    on_dispose(self, reply_handle{});
  });
  spdlog::info("{}: pool for {} (min {}, max {}, max_waiters {})",
               st.cfg.name, st.cfg.connection.describe(), st.cfg.pool.min_size,
               st.cfg.pool.max_size, st.cfg.pool.max_waiters);
  grow(self);
  self->delayed_send(self, tick_interval, tick_atom::value);
  return {
    [self](query_atom, statement& stmt) -> caf::delegated<result> {
      admit(self, reply_handle::take(self), std::move(stmt), false);
      return {};
    },
    [self](execute_atom, statement& stmt) -> caf::delegated<result> {
      admit(self, reply_handle::take(self), std::move(stmt), false);
      return {};
    },
    [self](ping_atom) -> caf::delegated<ping_info> {
      admit(self, reply_handle::take(self), statement{}, true);
      return {};
    },
    [self](status_atom) { return make_status(self); },
    [self](dispose_atom) -> caf::delegated<dispose_report> {
      on_dispose(self, reply_handle::take(self));
      return {};
    },
    [self](ready_atom, uint32_t id, const conn_info& info) {
      if (auto* s = find_sender(self, id)) {
        on_ready(self, *s, info);
        pump(self);
      }
    },
    [self](done_atom, const done_batch& batch) {
      if (self->current_sender() != self->ctrl())
        return;
      for (const auto& x : batch)
        if (auto* s = find(self, x.id))
          on_done(self, *s, x);
      pump(self);
    },
    [self](session_atom, session_options& opts) -> caf::result<session_actor> {
      auto& st = self->state;
      if (st.disposing)
        return shutting_down(self);
      auto owner = self->current_sender();
      if (!owner)
        return make_error(errc::invalid_argument,
                          "a session needs an owner: request it, do not "
                          "send it anonymously");
      if (st.sessions.size() >= st.cfg.pool.max_sessions) {
        ++st.totals.overloaded;
        return make_error(errc::overloaded,
                          fmt::format("{} sessions are open (max_sessions); "
                                      "close one first",
                                      st.sessions.size()));
      }
      if (auto err = over_max_timeout(
            self, "session_options::",
            {{"idle_timeout_ms", opts.idle_timeout_ms},
             {"checkout_timeout_ms", opts.checkout_timeout_ms}}))
        return err;
      session_params p;
      p.supervisor = caf::actor_cast<supervisor_actor>(self);
      p.owner = std::move(owner);
      p.options = opts;
      p.idle_timeout = st.cfg.pool.idle_in_transaction_timeout;
      p.checkout_timeout = st.cfg.pool.checkout_timeout;
      p.statement_timeout = st.cfg.pool.statement_timeout;
      p.request_timeout = request_bound(st.cfg);
      p.engine_name = st.cfg.name;
      auto session = spawn_session(self, std::move(p));
      st.sessions.push_back(session);
      return caf::actor_cast<session_actor>(session);
    },
    [self](repository_atom,
           std::string& table) -> caf::result<repository_actor> {
      auto& st = self->state;
      if (st.disposing)
        return shutting_down(self);
      if (auto i = st.repositories.find(table); i != st.repositories.end())
        return i->second;
      if (auto q = sql::quote_identifier(table); !q)
        return std::move(q.error());
      if (st.repositories.size() >= 1024)
        return make_error(errc::overloaded,
                          "1024 repositories exist (one per table): no "
                          "more tables");
      repository_params p;
      p.engine = caf::actor_cast<engine_actor>(self);
      p.table = table;
      p.engine_name = st.cfg.name;
      p.request_timeout = request_bound(st.cfg);
      auto repo = spawn_repository(self, std::move(p));
      st.repositories.emplace(std::move(table), repo);
      return repo;
    },
    [self](transaction_atom, transaction_script& script)
      -> caf::delegated<transaction_outcome> {
      auto& st = self->state;
      auto reply = reply_handle::take(self);
      if (st.disposing) {
        fail(self, reply, shutting_down(self));
        return {};
      }
      auto timeout = request_bound(st.cfg);
      spawn_script_runner(self, caf::actor_cast<engine_actor>(self),
                          std::move(script), std::move(reply), timeout);
      return {};
    },
    [self](lease_atom, uint32_t timeout_ms) -> caf::delegated<lease_grant> {
      auto& st = self->state;
      // Before take(): it moves the sender out of the current message.
      auto sender = self->current_sender();
      auto reply = reply_handle::take(self);
      bool known = std::any_of(st.sessions.begin(), st.sessions.end(),
                               [&](const session_impl_actor& x) {
                                 return caf::actor_cast<caf::strong_actor_ptr>(x)
                                        == sender;
                               });
      if (!known) {
        fail(self, reply, make_error(errc::invalid_argument,
                                     "leases are for the engine's sessions"));
        return {};
      }
      statement placeholder;
      placeholder.timeout_ms = timeout_ms;
      admit(self, std::move(reply), std::move(placeholder), false,
            caf::actor_cast<caf::actor_addr>(sender));
      return {};
    },
    [self](requeue_atom, uint32_t id, job_ptr& j) {
      // A job whose connection died before it was sent: first in line again.
      if (self->current_sender() != self->ctrl() || !j)
        return;
      auto& st = self->state;
      if (auto* s = find(self, id); s != nullptr) {
        jobs_left(*s);
        if (s->state == slot_state::busy || s->state == slot_state::idle)
          s->state = slot_state::closing; // dead; its down message follows
      }
      take_back(self, {std::move(j)});
      if (!st.disposing)
        pump(self);
    },
    [self](give_back_atom, uint32_t id, bool busy) {
      auto* s = find(self, id);
      if (s == nullptr || s->state != slot_state::leased
          || caf::actor_cast<caf::actor_addr>(self->current_sender())
               != s->holder)
        return;
      give_back(self, *s, busy);
    },
    [self](tick_atom) {
      if (self->current_sender() == self->ctrl())
        on_tick(self);
    },
    [self](flushed_atom) {
      if (self->current_sender() == self->ctrl() && self->state.flushing)
        on_flushed(self);
    },
  };
}

} // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, engine_config cfg,
                                  std::vector<std::shared_ptr<event_loop>> loops) {
  return sys.spawn(supervisor_impl, std::move(cfg), std::move(loops));
}

} // namespace troupe::detail
