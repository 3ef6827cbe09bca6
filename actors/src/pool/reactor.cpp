// troupe's reactor scheduler: a CAF 0.17 scheduler policy whose workers
// each drive an event loop. A worker runs actors while it has any, polls its
// loop between them (every few actors, and whenever its queue runs dry), and
// when there is nothing to do it waits in epoll instead of on a condition
// variable: I/O completions, posted tasks and newly scheduled actors all end
// that wait. Replies to I/O are scheduled on the worker that read them, so a
// request and its answer stay on one thread and nobody is woken up for them.

#include "pool/reactor.hpp"

#include <atomic>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/double_ended_queue.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>

#include "troupe/engine.hpp"

namespace troupe::detail {

namespace {

thread_local caf::execution_unit* current_unit = nullptr;

// Actors run between two polls of the loop while the queue is never empty.
constexpr size_t poll_every = 8;
// How long an idle worker waits in epoll before it looks for work to steal.
constexpr int idle_wait_ms = 10;

class reactor_policy : public caf::policy::unprofiled {
public:
  using queue_type = caf::detail::double_ended_queue<caf::resumable>;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {
      // nop
    }
    std::atomic<size_t> next_worker{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*)
      : loop(make_driven_epoll_loop("troupe-reactor")),
        rng(std::random_device{}()) {
      // nop
    }
    // Each worker is built from a copy of one prototype: every worker gets
    // its own loop.
    worker_data(const worker_data&)
      : loop(make_driven_epoll_loop("troupe-reactor")),
        rng(std::random_device{}()) {
      // nop
    }
    ~worker_data() {
      if (loop)
        loop->stop();
    }
    queue_type queue;
    std::shared_ptr<driven_loop> loop;
    std::atomic<bool> sleeping{false};
    std::minstd_rand rng;
    size_t since_poll = 0;
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    auto n = self->num_workers();
    auto w = self->worker_by_id(self->data().next_worker++ % n);
    w->external_enqueue(job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    auto& d = self->data();
    d.queue.append(job);
    // Pairs with the worker's store to `sleeping` before it checks the
    // queue (both sequentially consistent): one of them sees the other.
    if (d.sleeping.load())
      d.loop->wake();
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    self->data().queue.prepend(job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    self->data().queue.append(job);
  }

  template <class Worker>
  caf::resumable* try_steal(Worker* self) {
    auto p = self->parent();
    auto n = p->num_workers();
    if (n < 2)
      return nullptr;
    auto victim = std::uniform_int_distribution<size_t>{0, n - 2}(
      self->data().rng);
    if (victim >= self->id())
      ++victim;
    return p->worker_by_id(victim)->data().queue.take_tail();
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& d = self->data();
    current_unit = self;
    if (++d.since_poll >= poll_every) {
      d.since_poll = 0;
      d.loop->run_once(0);
    }
    for (;;) {
      if (auto job = d.queue.take_head())
        return job;
      if (auto job = try_steal(self))
        return job;
      // Dry: wait in the loop. Ready I/O ends the wait at once (one system
      // call either way) and schedules its actors here.
      d.since_poll = 0;
      d.sleeping.store(true);
      if (d.queue.empty())
        d.loop->run_once(idle_wait_ms);
      d.sleeping.store(false);
    }
  }

  template <class Worker>
  void before_shutdown(Worker* self) {
    // The actors are gone; run what was posted to this worker's loop on its
    // own thread (it releases what it holds) and refuse new tasks.
    self->data().loop->stop();
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    for (auto job = self->data().queue.take_head(); job != nullptr;
         job = self->data().queue.take_head())
      f(job);
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator*, UnaryFunction) {
    // nop
  }
};

using reactor_coordinator = caf::scheduler::coordinator<reactor_policy>;

} // namespace

std::vector<std::shared_ptr<event_loop>> reactor_loops(caf::actor_system& sys) {
  std::vector<std::shared_ptr<event_loop>> out;
  auto* c = dynamic_cast<reactor_coordinator*>(&sys.scheduler());
  if (c == nullptr)
    return out;
  for (size_t i = 0; i < c->num_workers(); ++i)
    out.push_back(c->worker_by_id(i)->data().loop);
  return out;
}

caf::execution_unit* local_unit() {
  return current_unit;
}

} // namespace troupe::detail

namespace troupe {

namespace {

// Messages an actor may handle before its worker moves on (CAF's default is
// unlimited).
constexpr size_t reactor_max_throughput = 100;

} // namespace

void use_reactor(caf::actor_system_config& cfg) {
  cfg.load<detail::reactor_coordinator>();
  // A worker polls its loop between actors; an actor whose mailbox keeps
  // filling must not hold the worker (and its connections' I/O) for long.
  if (!caf::get_if<size_t>(&cfg, "scheduler.max-throughput"))
    cfg.set("scheduler.max-throughput", reactor_max_throughput);
}

} // namespace troupe
