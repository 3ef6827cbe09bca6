#pragma once

// Helpers for tests that drive async_connection on an event loop.

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>

#include "troupe/event_loop.hpp"
#include "troupe/mariadb/async_connection.hpp"

namespace troupe::test {

/// Runs `start(handler)` on the loop thread and waits (bounded) for the
/// handler's result. Throws when the handler is not called in time.
template <class Start>
caf::expected<result> await_on(event_loop& loop, Start start,
                               std::chrono::milliseconds timeout
                               = std::chrono::seconds{30}) {
  auto p = std::make_shared<std::promise<caf::expected<result>>>();
  auto f = p->get_future();
  loop.post([p, start]() mutable {
    start([p](caf::expected<result> r) { p->set_value(std::move(r)); });
  });
  if (f.wait_for(timeout) != std::future_status::ready)
    throw std::runtime_error("the operation did not complete in time");
  return f.get();
}

/// Runs `fn` on the loop thread and waits for it.
template <class Fn>
void run_on(event_loop& loop, Fn fn) {
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  loop.post([p, fn]() mutable {
    fn();
    p->set_value();
  });
  if (f.wait_for(std::chrono::seconds{30}) != std::future_status::ready)
    throw std::runtime_error("the loop did not run the task in time");
}

} // namespace troupe::test
