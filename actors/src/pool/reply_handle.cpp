#include "pool/reply_handle.hpp"

#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>

#include "pool/reactor.hpp"
#include "troupe/error.hpp"

namespace troupe::detail {

reply_handle& reply_handle::operator=(reply_handle&& other) noexcept {
  if (this != &other) {
    if (pending())
      deliver_error(make_error(errc::internal, "reply replaced unanswered"));
    self_ = std::move(other.self_);
    sender_ = std::move(other.sender_);
    mid_ = other.mid_;
    stages_ = std::move(other.stages_);
  }
  return *this;
}

reply_handle::~reply_handle() {
  if (pending())
    deliver_error(make_error(errc::shutting_down,
                             "the request was dropped without an answer "
                             "(the engine is shutting down)"));
}

reply_handle reply_handle::take(caf::local_actor* self) {
  reply_handle out;
  auto* element = self->current_mailbox_element();
  if (element == nullptr || !element->mid.is_request()
      || element->mid.is_answered())
    return out;
  out.self_ = caf::actor_cast<caf::strong_actor_ptr>(self);
  out.sender_ = std::move(element->sender);
  out.mid_ = element->mid;
  out.stages_ = std::move(element->stages);
  element->mid.mark_as_answered();
  return out;
}

void reply_handle::deliver(caf::message msg) {
  // Mirrors response_promise::deliver_impl, with no execution context so
  // that any thread may call it.
  if (!stages_.empty()) {
    auto next = std::move(stages_.back());
    stages_.pop_back();
    next->enqueue(caf::make_mailbox_element(std::move(sender_), mid_,
                                            std::move(stages_), std::move(msg)),
                  local_unit());
    stages_.clear();
    sender_ = nullptr;
    return;
  }
  if (sender_) {
    auto dest = std::move(sender_);
    sender_ = nullptr;
    dest->enqueue(std::move(self_), mid_.response_id(), std::move(msg),
                  local_unit());
  }
}

void reply_handle::deliver_error(caf::error err) {
  deliver(caf::make_message(std::move(err)));
}

} // namespace troupe::detail
