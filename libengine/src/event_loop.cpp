#include "troupe/event_loop.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace troupe {

io_handler::~io_handler() = default;

event_loop::~event_loop() = default;

namespace {

/// An epoll event loop: epoll for sockets, an eventfd for posted tasks and
/// wake-ups, an ordered map for timers. Runs on its own thread (`threaded`)
/// or is driven by its owner through run_once.
class epoll_loop final : public driven_loop {
public:
  epoll_loop(std::string name, bool threaded) : name_(std::move(name)) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0)
      throw std::runtime_error(std::string{"epoll_create1: "}
                               + std::strerror(errno));
    evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (evfd_ < 0) {
      ::close(epfd_);
      throw std::runtime_error(std::string{"eventfd: "} + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wakeup_key;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
    events_.resize(256);
    if (threaded)
      thread_ = std::thread{[this] { run(); }};
  }

  ~epoll_loop() override {
    stop();
    ::close(evfd_);
    ::close(epfd_);
  }

  bool post(task t) override {
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_)
        return false;
      // The loop thread itself looks at the posted tasks before it waits.
      wake = posted_.empty() && !in_loop_thread();
      posted_.push_back(std::move(t));
    }
    if (wake)
      this->wake();
    return true;
  }

  void wake() override {
    uint64_t one = 1;
    // A full eventfd counter (impossible in practice) still wakes the loop.
    [[maybe_unused]] auto n = ::write(evfd_, &one, sizeof(one));
  }

  void run_once(int timeout_ms) override {
    if (loop_thread_.load() != std::this_thread::get_id())
      loop_thread_ = std::this_thread::get_id();
    iterate(timeout_ms);
  }

  void watch(int fd, int events, io_handler* h) override {
    uint32_t mask = 0;
    if (events & io_read)
      mask |= EPOLLIN;
    if (events & io_write)
      mask |= EPOLLOUT;
    auto i = watched_.find(fd);
    if (i == watched_.end()) {
      entry e{h, mask, ++generation_};
      epoll_event ev{};
      ev.events = mask;
      ev.data.u64 = key(fd, e.generation);
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        spdlog::error("{}: epoll_ctl(ADD, fd {}) failed: {}", name_, fd,
                      std::strerror(errno));
        return;
      }
      watched_.emplace(fd, e);
      return;
    }
    i->second.handler = h;
    if (i->second.mask == mask)
      return;
    i->second.mask = mask;
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = key(fd, i->second.generation);
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0)
      return;
    // The descriptor was closed and reopened under the same number without
    // an unwatch: the kernel forgot it, register it again.
    if (errno == ENOENT && epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0)
      return;
    spdlog::error("{}: epoll_ctl(MOD, fd {}) failed: {}", name_, fd,
                  std::strerror(errno));
  }

  void unwatch(int fd) override {
    auto i = watched_.find(fd);
    if (i == watched_.end())
      return;
    watched_.erase(i);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  }

  void forget(int fd) override {
    watched_.erase(fd);
  }

  timer_id schedule(clock::duration delay, task t) override {
    auto id = ++next_timer_;
    auto when = clock::now() + delay;
    timers_.emplace(std::make_pair(when, id), std::move(t));
    timer_index_.emplace(id, when);
    return id;
  }

  void cancel(timer_id id) override {
    auto i = timer_index_.find(id);
    if (i == timer_index_.end())
      return;
    timers_.erase(std::make_pair(i->second, id));
    timer_index_.erase(i);
  }

  bool in_loop_thread() const override {
    return std::this_thread::get_id() == loop_thread_.load();
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_)
        return;
      stopped_ = true;
    }
    if (thread_.joinable()) {
      wake();
      thread_.join();
      return;
    }
    // Driven: nobody runs the loop any more; the tasks posted before stop
    // run here (they release what they hold), the handlers are forgotten.
    loop_thread_ = std::this_thread::get_id();
    for (;;) {
      std::vector<task> batch;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (posted_.empty())
          break;
        batch.swap(posted_);
      }
      for (auto& t : batch)
        t();
    }
    watched_.clear();
    timers_.clear();
    timer_index_.clear();
  }

  size_t watched_count() const override {
    // Read on the loop thread by design; a racy read elsewhere is only a hint.
    return watched_.size();
  }

private:
  static constexpr uint64_t wakeup_key = ~uint64_t{0};

  struct entry {
    io_handler* handler;
    uint32_t mask;
    uint32_t generation;
  };

  // Events carry fd and generation, so an event for a descriptor that was
  // unwatched (and maybe reused) earlier in the same batch is dropped.
  static uint64_t key(int fd, uint32_t generation) {
    return (static_cast<uint64_t>(generation) << 32)
           | static_cast<uint32_t>(fd);
  }

  void run() {
    loop_thread_ = std::this_thread::get_id();
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    while (iterate(-1)) {
      // next iteration
    }
    watched_.clear();
    timers_.clear();
    timer_index_.clear();
  }

  // One iteration: wait (at most `max_timeout_ms`, -1 for no limit, and not
  // past the next timer or while tasks are posted), dispatch I/O events, run
  // due timers and posted tasks. Returns false once stopped and drained.
  bool iterate(int max_timeout_ms) {
    int timeout = next_timeout_ms();
    if (max_timeout_ms >= 0 && (timeout < 0 || timeout > max_timeout_ms))
      timeout = max_timeout_ms;
    int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()),
                       timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::critical("{}: epoll_wait failed: {}", name_,
                       std::strerror(errno));
      return false;
    }
    bool posted = false;
    for (int i = 0; i < n; ++i) {
      auto k = events_[i].data.u64;
      if (k == wakeup_key) {
        posted = true;
        continue;
      }
      int fd = static_cast<int>(k & 0xffffffffu);
      auto generation = static_cast<uint32_t>(k >> 32);
      auto w = watched_.find(fd);
      if (w == watched_.end() || w->second.generation != generation)
        continue;
      int ev = 0;
      if (events_[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        ev |= io_read;
      if (events_[i].events & EPOLLOUT)
        ev |= io_write;
      w->second.handler->on_io(ev);
    }
    run_due_timers();
    if (posted) {
      uint64_t count;
      [[maybe_unused]] auto r = ::read(evfd_, &count, sizeof(count));
    }
    // Run posted tasks; stop only after draining what came before stop().
    bool stopping;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      batch_.swap(posted_);
      stopping = stopped_;
    }
    for (auto& t : batch_)
      t();
    batch_.clear();
    if (stopping) {
      std::lock_guard<std::mutex> guard{mtx_};
      if (posted_.empty())
        return false;
    }
    return true;
  }

  int next_timeout_ms() const {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!posted_.empty() || stopped_)
        return 0;
    }
    if (timers_.empty())
      return -1;
    auto delta = timers_.begin()->first.first - clock::now();
    if (delta <= clock::duration::zero())
      return 0;
    // Round up so a timer never fires early.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(delta).count();
    return ms > 3600000 ? 3600000 : static_cast<int>(ms);
  }

  void run_due_timers() {
    auto now = clock::now();
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
      auto i = timers_.begin();
      auto t = std::move(i->second);
      timer_index_.erase(i->first.second);
      timers_.erase(i);
      t();
    }
  }

  std::string name_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_{};
  mutable std::mutex mtx_;
  std::vector<task> posted_;
  std::vector<task> batch_;
  std::vector<epoll_event> events_;
  bool stopped_ = false;
  std::unordered_map<int, entry> watched_;
  uint32_t generation_ = 0;
  std::map<std::pair<clock::time_point, timer_id>, task> timers_;
  std::unordered_map<timer_id, clock::time_point> timer_index_;
  timer_id next_timer_ = 0;
};

} // namespace

std::unique_ptr<event_loop> make_epoll_loop(std::string name) {
  return std::make_unique<epoll_loop>(std::move(name), true);
}

std::unique_ptr<driven_loop> make_driven_epoll_loop(std::string name) {
  return std::make_unique<epoll_loop>(std::move(name), false);
}

} // namespace troupe
