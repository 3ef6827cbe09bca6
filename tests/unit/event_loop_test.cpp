// The event loops without a server: posted tasks, timers, watched file
// descriptors, wake-ups and stop, for the loop on its own thread and for the
// loop driven by its owner (what the reactor scheduler's workers run).
// Waits are bounded: a missing wake-up fails an assertion instead of hanging.

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "troupe/event_loop.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

struct pipe_fds {
  int fds[2] = {-1, -1};
  pipe_fds() {
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  }
  ~pipe_fds() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int read_end() const { return fds[0]; }
  void put(char c) const { REQUIRE(::write(fds[1], &c, 1) == 1); }
};

struct recording_handler : io_handler {
  std::atomic<int> calls{0};
  std::atomic<int> last_events{0};
  void on_io(int events) override {
    ++calls;
    last_events = events;
  }
};

// Runs `loop` until `done` holds or `limit` passes; true if `done` held.
template <class Pred>
bool drive_until(driven_loop& loop, Pred done,
                 std::chrono::milliseconds limit = 5s) {
  auto deadline = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() >= deadline)
      return false;
    loop.run_once(50);
  }
  return true;
}

} // namespace

TEST_CASE("a threaded loop runs posted tasks in order on its thread",
          "[event_loop]") {
  auto loop = make_epoll_loop("test-loop");
  std::promise<std::vector<int>> result;
  auto order = std::make_shared<std::vector<int>>();
  std::atomic<bool> on_loop{true};
  for (int i = 0; i < 100; ++i)
    REQUIRE(loop->post([&, order, i] {
      if (!loop->in_loop_thread())
        on_loop = false;
      order->push_back(i);
      // A task posted by a task (no eventfd write) still runs.
      if (i == 99)
        loop->post([&, order] { result.set_value(*order); });
    }));
  auto f = result.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  auto got = f.get();
  REQUIRE(got.size() == 100);
  for (int i = 0; i < 100; ++i)
    CHECK(got[static_cast<size_t>(i)] == i);
  CHECK(on_loop);
  CHECK_FALSE(loop->in_loop_thread());
}

TEST_CASE("a threaded loop runs tasks posted before stop, then refuses new "
          "ones",
          "[event_loop]") {
  auto loop = make_epoll_loop("test-loop");
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i)
    REQUIRE(loop->post([&] { ++ran; }));
  loop->stop();
  CHECK(ran == 10);
  CHECK_FALSE(loop->post([&] { ++ran; }));
  CHECK(ran == 10);
}

TEST_CASE("a driven loop runs nothing until driven, then runs posted tasks on "
          "the driving thread",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  std::atomic<int> ran{0};
  std::thread::id where;
  REQUIRE(loop->post([&] {
    ++ran;
    where = std::this_thread::get_id();
  }));
  CHECK(ran == 0);
  loop->run_once(0);
  CHECK(ran == 1);
  CHECK(where == std::this_thread::get_id());
  CHECK(loop->in_loop_thread());
  // A poll with nothing to do returns (and runs nothing).
  loop->run_once(0);
  CHECK(ran == 1);
}

TEST_CASE("a driven loop's wait ends when another thread posts or wakes it",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  loop->run_once(0); // this thread drives it
  std::atomic<bool> ran{false};
  std::thread poster{[&] {
    std::this_thread::sleep_for(20ms); // let the driver block first
    loop->post([&] { ran = true; });
  }};
  auto t0 = clock_type::now();
  while (!ran && clock_type::now() - t0 < 4s)
    loop->run_once(5000);
  poster.join();
  CHECK(ran);
  CHECK(clock_type::now() - t0 < 4s); // ended by the post, not the timeout

  std::thread waker{[&] {
    std::this_thread::sleep_for(20ms);
    loop->wake();
  }};
  t0 = clock_type::now();
  loop->run_once(5000);
  waker.join();
  CHECK(clock_type::now() - t0 < 4s);
}

TEST_CASE("a driven loop does not wait while a task posted on its own thread "
          "is pending",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  std::atomic<int> ran{0};
  REQUIRE(loop->post([&] {
    // Posted on the loop thread: no eventfd write, the next iteration must
    // see it anyway.
    loop->post([&] { ++ran; });
  }));
  loop->run_once(0);
  CHECK(ran == 0);
  auto t0 = clock_type::now();
  loop->run_once(5000);
  CHECK(ran == 1);
  CHECK(clock_type::now() - t0 < 4s);
}

TEST_CASE("a driven loop fires due timers and not cancelled ones",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  loop->run_once(0);
  std::atomic<int> fired{0};
  std::atomic<int> cancelled_fired{0};
  loop->schedule(10ms, [&] { ++fired; });
  auto id = loop->schedule(10ms, [&] { ++cancelled_fired; });
  loop->cancel(id);
  CHECK(drive_until(*loop, [&] { return fired == 1; }));
  loop->run_once(30);
  CHECK(fired == 1);
  CHECK(cancelled_fired == 0);
}

TEST_CASE("a driven loop reports a readable watched descriptor",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  loop->run_once(0);
  pipe_fds p;
  recording_handler h;
  loop->watch(p.read_end(), io_read, &h);
  CHECK(loop->watched_count() == 1);
  loop->run_once(0);
  CHECK(h.calls == 0);
  p.put('x');
  CHECK(drive_until(*loop, [&] { return h.calls > 0; }));
  CHECK((h.last_events & io_read) != 0);
  loop->unwatch(p.read_end());
  CHECK(loop->watched_count() == 0);
  h.calls = 0;
  p.put('y');
  loop->run_once(20);
  CHECK(h.calls == 0);
}

TEST_CASE("stopping a driven loop runs its pending tasks and refuses new ones",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i)
    REQUIRE(loop->post([&] { ++ran; }));
  loop->stop();
  CHECK(ran == 5);
  CHECK_FALSE(loop->post([&] { ++ran; }));
  CHECK(ran == 5);
}

TEST_CASE("a loop forgets a descriptor closed under it without touching the "
          "number, and watches the number again when it is reused",
          "[event_loop]") {
  auto loop = make_driven_epoll_loop("test-driven");
  recording_handler first;
  int number = -1;
  {
    pipe_fds p;
    number = p.read_end();
    loop->watch(number, io_read, &first);
    CHECK(loop->watched_count() == 1);
  } // closed by its owner, as libmariadb closes a failed connection's socket
  loop->forget(number);
  CHECK(loop->watched_count() == 0);
  // The number comes back for a new descriptor (the lowest free one): the
  // new file is watched from scratch and reports to its own handler.
  pipe_fds q;
  REQUIRE(q.read_end() == number);
  recording_handler second;
  loop->watch(q.read_end(), io_read, &second);
  q.put('x');
  CHECK(drive_until(*loop, [&] { return second.calls > 0; }));
  CHECK(first.calls == 0);
  loop->unwatch(q.read_end());
}
