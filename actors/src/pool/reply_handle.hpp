#pragma once

// A one-shot reply to a request, deliverable from any thread.
//
// CAF 0.17's response_promise must be delivered on its actor's thread (it
// reads the actor's execution context) and is silently dropped when lost:
// the requester then waits for its timeout, or forever. A reply_handle
// captures the request's sender, id and forwarding stages, can be delivered
// from the event loop thread, and answers `shutting_down` from its destructor
// if nobody answered: a request is never left hanging.

#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>

namespace troupe::detail {

class reply_handle {
public:
  reply_handle() = default;
  reply_handle(reply_handle&&) noexcept = default;
  reply_handle& operator=(reply_handle&& other) noexcept;
  reply_handle(const reply_handle&) = delete;
  reply_handle& operator=(const reply_handle&) = delete;
  ~reply_handle();

  /// Takes over the request `self` is processing (marks it answered, so the
  /// handler must return `caf::delegated<T>` or nothing). Moves the sender
  /// out of the message: read `current_sender()` before calling it.
  static reply_handle take(caf::local_actor* self);

  /// True until delivered (false for asynchronous messages).
  bool pending() const { return static_cast<bool>(sender_) || !stages_.empty(); }

  /// Sends `msg` as the response. Thread-safe; does nothing once delivered.
  void deliver(caf::message msg);

  void deliver_error(caf::error err);

private:
  caf::strong_actor_ptr self_;
  caf::strong_actor_ptr sender_;
  caf::message_id mid_;
  std::vector<caf::strong_actor_ptr> stages_;
};

} // namespace troupe::detail
