// troupe-bench, modes on the engine: N requester actors, each sending its
// next request when the last answer arrived, over a pool of M connections.
//
// - "actors": point selects (sysbench's statement) to the engine.
// - "repository": get by primary key from the engine's repository of
//   sbtest1, which coalesces concurrent lookups into `WHERE id IN (...)`.
// - "create_many": the bulk modes' rows (bulk.cpp) in one create_many to
//   the repository of bulk_items.

#include <atomic>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "bench.hpp"
#include "troupe/engine.hpp"

namespace troupe::bench {

namespace {

using clock = std::chrono::steady_clock;

struct shared_run {
  std::mutex mtx;
  recorder* rec;
  clock::time_point deadline;
  std::atomic<int> running{0};
  std::promise<void> all_done;
};

struct requester_state {
  std::vector<std::pair<clock::duration, bool>> samples;
};

// Sends requests one after another until the deadline: `ask(self, id,
// done)` sends the request for row `id` and calls `done(ok)` once with its
// answer.
template <class Ask>
caf::behavior requester(caf::stateful_actor<requester_state>* self, Ask ask,
                        std::shared_ptr<shared_run> run, int table_size) {
  auto next = std::make_shared<std::function<void()>>();
  *next = [self, ask, run, table_size, next] {
    if (clock::now() >= run->deadline) {
      {
        std::lock_guard<std::mutex> guard{run->mtx};
        for (auto& [d, ok] : self->state.samples)
          run->rec->add(d, ok);
      }
      if (--run->running == 0)
        run->all_done.set_value();
      // Break the self-reference last: it destroys this closure, so only
      // locals may be used afterwards.
      auto me = self;
      auto keep = next;
      *keep = nullptr;
      me->quit();
      return;
    }
    auto sent = clock::now();
    ask(self, random_id(table_size), [self, sent, next](bool ok) {
      self->state.samples.emplace_back(clock::now() - sent, ok);
      (*next)();
    });
  };
  return {[next](caf::atom_value) { (*next)(); }};
}

// Runs opts.requesters requesters (see `requester`) for opts.seconds and
// measures them as `mode`.
template <class Ask>
measurement run_requesters(caf::actor_system& sys, const options& opts,
                           const char* mode, Ask ask) {
  recorder rec{opts, mode, opts.connections, opts.requesters};
  auto run = std::make_shared<shared_run>();
  run->rec = &rec;
  run->running = opts.requesters;
  auto done = run->all_done.get_future();
  std::vector<caf::actor> requesters;
  for (int i = 0; i < opts.requesters; ++i)
    requesters.push_back(sys.spawn(requester<Ask>, ask, run, opts.table_size));
  rec.start();
  run->deadline = clock::now() + std::chrono::seconds{opts.seconds};
  for (auto& r : requesters)
    caf::anon_send(r, caf::atom("go"));
  done.wait();
  return rec.finish();
}

[[noreturn]] void fail(const caf::error& err) {
  std::cerr << "troupe-bench: " << render(err) << "\n";
  std::exit(2);
}

// Builds the actor system and the engine every engine mode uses (pool of
// opts.connections, connected), calls `body(sys, self, engine)` and
// disposes of the engine afterwards.
template <class Body>
measurement with_engine(const options& opts, Body body) {
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.set("scheduler.max-threads", opts.scheduler_threads);
  if (opts.scheduler_policy == "reactor")
    use_reactor(cfg);
  else
    cfg.set("scheduler.policy", caf::atom_from_string(opts.scheduler_policy));
  if (opts.moderate_poll_attempts >= 0)
    cfg.set("work-stealing.moderate-poll-attempts",
            static_cast<size_t>(opts.moderate_poll_attempts));
  if (opts.aggressive_poll_attempts >= 0)
    cfg.set("work-stealing.aggressive-poll-attempts",
            static_cast<size_t>(opts.aggressive_poll_attempts));
  if (opts.moderate_sleep_us > 0)
    cfg.set("work-stealing.moderate-sleep-duration",
            caf::timespan{std::chrono::microseconds{opts.moderate_sleep_us}});
  caf::actor_system sys{cfg};
  auto ecfg = engine_config::from_dsn(opts.target);
  if (!ecfg)
    fail(ecfg.error());
  ecfg->pool.min_size = opts.connections;
  ecfg->pool.max_size = opts.connections;
  ecfg->pool.max_waiters = static_cast<size_t>(opts.requesters) * 2;
  ecfg->pool.checkout_timeout = std::chrono::seconds{60};
  ecfg->name = "bench";
  ecfg->io_threads = static_cast<size_t>(opts.io_threads);
  ecfg->pool.pipeline_depth = static_cast<size_t>(opts.pipeline_depth);
  auto engine = spawn_engine(sys, *ecfg);
  if (!engine)
    fail(engine.error());
  caf::scoped_actor self{sys};
  // Wait until the pool is full, so the run measures queries, not connects.
  for (int i = 0; i < 500; ++i) {
    pool_status st;
    self->request(*engine, std::chrono::seconds{5}, status_atom::value)
      .receive([&](const pool_status& x) { st = x; }, [](caf::error&) {});
    if (st.idle == static_cast<uint32_t>(opts.connections))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  auto m = body(sys, self, *engine);
  self->request(*engine, std::chrono::seconds{30}, dispose_atom::value)
    .receive([](const dispose_report&) {}, [](caf::error&) {});
  return m;
}

// True when `r` is exactly the row with primary key `id`.
bool is_row(const repository_result& r, int64_t id) {
  if (r.rows.size() != 1)
    return false;
  auto got = r.rows.front().get<int64_t>("id");
  return got && *got == id;
}

} // namespace

measurement run_actors(const options& opts) {
  return with_engine(opts, [&](caf::actor_system& sys, caf::scoped_actor&,
                               const engine_actor& engine) {
    return run_requesters(
      sys, opts, "actors", [engine](auto* req, int64_t id, auto done) {
        req
          ->request(engine, caf::infinite, query_atom::value,
                    statement{point_select_sql, {id}})
          .then([done](const result& r) { done(r.row_count() == 1); },
                [done](caf::error&) { done(false); });
      });
  });
}

measurement run_repository(const options& opts) {
  return with_engine(opts, [&](caf::actor_system& sys, caf::scoped_actor& self,
                               const engine_actor& engine) {
    // The repository, and one get so that its reflection of the table is
    // not measured.
    repository_actor repo;
    self->request(engine, std::chrono::seconds{30}, repository_atom::value,
                  std::string{"sbtest1"})
      .receive([&](const repository_actor& x) { repo = x; },
               [](caf::error& e) { fail(e); });
    self->request(repo, std::chrono::seconds{30}, get_atom::value,
                  record{{"id", int64_t{1}}})
      .receive(
        [](const repository_result& r) {
          if (!is_row(r, 1))
            fail(make_error(errc::not_found,
                            "the warm-up get of id 1 did not return that row"));
        },
        [](caf::error& e) { fail(e); });
    return run_requesters(
      sys, opts, "repository", [repo](auto* req, int64_t id, auto done) {
        req
          ->request(repo, caf::infinite, get_atom::value, record{{"id", id}})
          .then([done, id](const repository_result& r) { done(is_row(r, id)); },
                [done](caf::error&) { done(false); });
      });
  });
}

measurement run_create_many(const options& opts) {
  prepare_bulk_table(opts);
  return with_engine(opts, [&](caf::actor_system&, caf::scoped_actor& self,
                               const engine_actor& engine) {
    repository_actor repo;
    self->request(engine, std::chrono::seconds{30}, repository_atom::value,
                  std::string{"bulk_items"})
      .receive([&](const repository_actor& x) { repo = x; },
               [](caf::error& e) { fail(e); });
    // Reflected before the clock starts.
    self->request(repo, std::chrono::seconds{30}, schema_atom::value)
      .receive([](const table_schema&) {}, [](caf::error& e) { fail(e); });
    std::vector<record> rows;
    rows.reserve(static_cast<size_t>(opts.bulk_rows));
    for (auto& r : make_bulk_rows(opts.bulk_rows))
      rows.push_back({{"k", int64_t{r.k}},
                      {"c", std::move(r.c)},
                      {"pad", std::move(r.pad)}});
    recorder rec{opts, "create_many", opts.connections, 1};
    rec.start();
    auto t0 = clock::now();
    bool ok = false;
    self
      ->request(repo, std::chrono::minutes{5}, create_many_atom::value,
                std::move(rows))
      .receive(
        [&](const repository_result& r) {
          ok = r.count == static_cast<uint64_t>(opts.bulk_rows);
          rec.add_rows(clock::now() - t0, r.count);
        },
        [&](caf::error& e) {
          std::cerr << "troupe-bench: create_many failed: " << render(e)
                    << "\n";
        });
    auto m = rec.finish();
    if (!ok || !check_bulk_table(opts, opts.bulk_rows))
      m.errors = 1;
    return m;
  });
}

} // namespace troupe::bench
