#include "troupe/mariadb/async_connection.hpp"

#include <fmt/format.h>

#include "troupe/option_parsing.hpp"

namespace troupe::mariadb {

std::shared_ptr<async_connection>
async_connection::make(event_loop& loop, connect_options options) {
  return std::shared_ptr<async_connection>{
    new async_connection(loop, std::move(options))};
}

async_connection::async_connection(event_loop& loop, connect_options options)
  : loop_(loop), conn_(std::move(options)) {
}

async_connection::~async_connection() {
  // The owner drops the last reference on the loop thread (or after the loop
  // stopped), so unwatching here is safe. Nobody waits forever for an
  // operation that was queued when the owner let go.
  auto rest = std::move(queue_);
  queue_.clear();
  auto sent = std::move(wire_);
  wire_.clear();
  unwatch();
  auto err = make_error(errc::shutting_down,
                        "the connection was destroyed before the request "
                        "finished",
                        true);
  for (auto& h : sent)
    h(err);
  for (auto& y : rest)
    y.done(err);
}

void async_connection::connect(handler h) {
  enqueue(op{op_kind::connect, {}, {}, std::move(h)});
}

void async_connection::query(std::string sql, handler h) {
  enqueue(op{op_kind::query, std::move(sql), {}, std::move(h)});
}

void async_connection::execute(std::string sql, std::vector<value> params,
                               handler h, size_t sets) {
  // Several parameter sets are never pipelined: the pipeline sends one.
  if (sets <= 1 && try_pipeline(sql, params, h))
    return;
  enqueue(op{op_kind::execute, std::move(sql), std::move(params), std::move(h),
             sets});
}

bool async_connection::try_pipeline(const std::string& sql,
                                    const std::vector<value>& params,
                                    handler& h) {
  if (closed_ || running_ || !queue_.empty() || conn_.broken()
      || !conn_.pipeline_send(sql, params))
    return false;
  wire_.push_back(std::move(h));
  pump_wire();
  return true;
}

void async_connection::ping(handler h) {
  enqueue(op{op_kind::ping, {}, {}, std::move(h)});
}

void async_connection::reset(handler h) {
  enqueue(op{op_kind::reset, {}, {}, std::move(h)});
}

void async_connection::on_broken(std::function<void(caf::error)> f) {
  on_broken_ = std::move(f);
}

bool async_connection::idle() const {
  return !closed_ && !running_ && queue_.empty() && wire_.empty()
         && conn_.connected();
}

size_t async_connection::pending() const {
  return queue_.size() + wire_.size();
}

void async_connection::enqueue(op x) {
  if (closed_ || conn_.broken()) {
    auto h = std::move(x.done);
    h(make_error(errc::connection_lost,
                 fmt::format("connection to {} is closed; the request was not "
                             "sent",
                             conn_.options().address()),
                 true));
    return;
  }
  queue_.push_back(std::move(x));
  if (!running_ && wire_.empty())
    start_next();
}

void async_connection::start_next() {
  // A handler of an operation that completes right here may drop the last
  // reference of the owner.
  auto keep = shared_from_this();
  while (!running_ && !queue_.empty() && !closed_) {
    auto& x = queue_.front();
    if (x.kind == op_kind::execute && x.sets <= 1
        && conn_.pipeline_send(x.sql, x.params)) {
      // Pipelined (behind others sent the same way): no waiting here.
      wire_.push_back(std::move(x.done));
      queue_.pop_front();
      continue;
    }
    if (!wire_.empty())
      break; // libmariadb runs it once every answer due has arrived
    running_ = true;
    int status = 0;
    switch (x.kind) {
      case op_kind::connect:
        status = conn_.start_connect();
        break;
      case op_kind::query:
        status = conn_.start_query(std::move(x.sql));
        break;
      case op_kind::execute:
        status = conn_.start_execute(std::move(x.sql), std::move(x.params),
                                     x.sets);
        break;
      case op_kind::ping:
        status = conn_.start_ping();
        break;
      case op_kind::reset:
        status = conn_.start_reset();
        break;
    }
    if (status != 0) {
      wait_for(status);
      return;
    }
    // Finished synchronously (common under load): complete and go on with
    // the next one instead of waiting for an event that will never come.
    complete();
  }
  if (!wire_.empty())
    pump_wire();
  else if (!running_ && queue_.empty())
    watch_idle();
}

void async_connection::wait_for(int status) {
  if (status & io_yield) {
    // Let the loop run other connections, then go on decoding. The socket
    // is paused meanwhile: a read event must not resume the operation twice.
    if (fd_ >= 0)
      loop_.watch(fd_, 0, this);
    yielding_ = true;
    auto token = ++yield_token_;
    std::weak_ptr<async_connection> weak = weak_from_this();
    loop_.post([weak, token] {
      auto self = weak.lock();
      if (self && self->yielding_ && self->yield_token_ == token) {
        self->yielding_ = false;
        self->on_io(0);
      }
    });
    return;
  }
  int fd = conn_.socket();
  // While connecting, libmariadb may close a socket and open the next one
  // (another address of the host) under the same number: register afresh.
  if (fd != fd_ || !conn_.connected()) {
    unwatch();
    fd_ = fd;
  }
  if (fd_ >= 0)
    loop_.watch(fd_, status & (io_read | io_write), this);
  if (timer_ != 0) {
    loop_.cancel(timer_);
    timer_ = 0;
  }
  if (status & io_timeout) {
    std::weak_ptr<async_connection> weak = weak_from_this();
    timer_ = loop_.schedule(std::chrono::milliseconds{conn_.timeout_ms()},
                            [weak] {
                              if (auto self = weak.lock()) {
                                self->timer_ = 0;
                                self->on_io(io_timeout);
                              }
                            });
  }
}

void async_connection::on_io(int events) {
  // While yielding only the posted continuation (events == 0) may resume:
  // hang-ups are reported even for a paused socket.
  if (closed_ || (yielding_ && events != 0))
    return;
  if (!running_ && !wire_.empty()) {
    on_wire(events);
    return;
  }
  if (!running_) {
    // Readable while idle: the server closed the connection (or sent an
    // error right before closing it). Nothing of ours is lost.
    auto keep = shared_from_this();
    auto reason = make_error(errc::connection_lost,
                             fmt::format("server closed the idle connection to "
                                         "{}",
                                         conn_.options().address()),
                             true);
    close(reason);
    if (auto f = std::move(on_broken_))
      f(reason);
    return;
  }
  if (timer_ != 0 && !(events & io_timeout)) {
    loop_.cancel(timer_);
    timer_ = 0;
  }
  int status = conn_.resume(events);
  if (status != 0) {
    wait_for(status);
    return;
  }
  auto keep = shared_from_this(); // a handler may drop the owner's reference
  complete();
  start_next();
}

void async_connection::complete() {
  auto keep = shared_from_this();
  auto x = std::move(queue_.front());
  queue_.pop_front();
  running_ = false;
  auto res = conn_.take_result();
  if (conn_.broken()) {
    // Operations queued behind the failed one were never sent.
    auto err = res ? make_error(errc::connection_lost, "connection broken",
                                true)
                   : res.error();
    auto rest = std::move(queue_);
    queue_.clear();
    unwatch();
    closed_ = true;
    conn_.close();
    auto not_sent = not_sent_error(err);
    x.done(std::move(res));
    for (auto& y : rest)
      y.done(not_sent);
    return;
  }
  x.done(std::move(res));
}

// For the requests queued behind one that broke the connection.
caf::error async_connection::not_sent_error(const caf::error& cause) const {
  return make_error(errc::connection_lost,
                    fmt::format("connection to {} broke before the request "
                                "was sent: {}",
                                conn_.options().address(),
                                troupe::info(cause).message),
                    true);
}

void async_connection::watch_idle() {
  if (closed_ || !conn_.connected())
    return;
  int fd = conn_.socket();
  if (fd != fd_) {
    unwatch();
    fd_ = fd;
  }
  if (fd_ >= 0)
    loop_.watch(fd_, io_read, this);
}

void async_connection::unwatch() {
  if (timer_ != 0) {
    loop_.cancel(timer_);
    timer_ = 0;
  }
  if (wire_timer_ != 0) {
    loop_.cancel(wire_timer_);
    wire_timer_ = 0;
  }
  if (fd_ >= 0) {
    // libmariadb closes its socket itself when the connection fails (and
    // while connecting, before it tries the next address): the number is
    // then no longer ours to hand to epoll_ctl.
    if (conn_.socket() == fd_)
      loop_.unwatch(fd_);
    else
      loop_.forget(fd_);
    fd_ = -1;
  }
}

void async_connection::close(caf::error reason) {
  if (closed_ && queue_.empty())
    return;
  closed_ = true;
  yielding_ = false;
  unwatch();
  conn_.close();
  running_ = false;
  if (!reason)
    reason = make_error(errc::connection_lost,
                        fmt::format("connection to {} closed",
                                    conn_.options().address()),
                        true);
  auto rest = std::move(queue_);
  queue_.clear();
  auto sent = std::move(wire_);
  wire_.clear();
  for (auto& h : sent)
    h(reason);
  for (auto& y : rest)
    y.done(reason);
}

// -- pipelined executions ------------------------------------------------------

// Writes what is queued and waits for the answers (and for writability
// while bytes are left).
void async_connection::pump_wire() {
  if (closed_ || wire_.empty())
    return;
  auto status = conn_.pipeline_write();
  if (conn_.broken()) {
    fail_wire();
    return;
  }
  int fd = conn_.socket();
  if (fd != fd_) {
    unwatch();
    fd_ = fd;
  }
  loop_.watch(fd_, io_read | (status & io_write), this);
  // A pipeline that starts anew counts as progress: a timer left from an
  // earlier one must not end it early. Sends behind unanswered requests do
  // not count: only the server's answers keep a busy pipeline alive.
  if (wire_.size() == 1)
    ++wire_progress_;
  arm_wire_timer();
}

void async_connection::on_wire(int events) {
  auto keep = shared_from_this(); // a handler may drop the owner's reference
  if ((events & io_write) && conn_.pipeline_writing())
    conn_.pipeline_write();
  if (events & io_read)
    conn_.pipeline_read();
  ++wire_progress_;
  deliver_wire();
}

// Calls the handlers of the answers that arrived, in order. False when a
// handler closed the connection.
bool async_connection::hand_out_answers() {
  while (conn_.pipeline_ready() > 0 && !closed_) {
    auto h = std::move(wire_.front());
    wire_.pop_front();
    h(conn_.pipeline_take());
  }
  return !closed_;
}

// Hands out the answers that arrived, in order; then goes on with the
// pipeline, with what libmariadb runs, or waits idle.
void async_connection::deliver_wire() {
  if (!hand_out_answers())
    return;
  if (conn_.broken()) {
    fail_wire();
    return;
  }
  if (!wire_.empty()) {
    loop_.watch(fd_, io_read | (conn_.pipeline_writing() ? io_write : 0), this);
    return;
  }
  if (!running_ && !queue_.empty())
    start_next();
  else if (!running_)
    watch_idle();
}

// The connection broke with answers due: they will never come. The requests
// were sent and may have run (they are SELECTs, but tell the truth).
void async_connection::fail_wire() {
  auto keep = shared_from_this();
  // Answers that arrived complete before the break are answers.
  if (!hand_out_answers())
    return;
  auto err = conn_.pipeline_error();
  if (!err)
    err = make_error(errc::connection_lost,
                     fmt::format("connection to {} lost", conn_.options().address()),
                     true);
  auto sent = std::move(wire_);
  wire_.clear();
  auto rest = std::move(queue_);
  queue_.clear();
  closed_ = true;
  unwatch();
  conn_.close();
  auto not_sent = not_sent_error(err);
  for (auto& h : sent)
    h(err);
  for (auto& y : rest)
    y.done(not_sent);
}

void async_connection::arm_wire_timer() {
  if (wire_timer_ != 0)
    return;
  wire_seen_ = wire_progress_;
  std::weak_ptr<async_connection> weak = weak_from_this();
  wire_timer_ = loop_.schedule(conn_.options().read_timeout, [weak] {
    if (auto self = weak.lock()) {
      self->wire_timer_ = 0;
      self->on_wire_timer();
    }
  });
}

void async_connection::on_wire_timer() {
  if (closed_ || wire_.empty())
    return;
  if (wire_progress_ != wire_seen_) {
    arm_wire_timer();
    return;
  }
  conn_.pipeline_fail(
    make_error(errc::outcome_unknown,
               fmt::format("no answer from {} within read_timeout {}; the "
                           "connection was dropped but the statement may "
                           "still run on the server",
                           conn_.options().address(),
                           format_duration(conn_.options().read_timeout)),
               true));
  deliver_wire();
}

void kill_async(event_loop& loop, const connect_options& options,
                uint64_t thread_id, bool whole_connection,
                std::function<void(caf::error)> done) {
  auto opts = options;
  opts.init_statements.clear();
  auto side = async_connection::make(loop, std::move(opts));
  // The id is a number we format: nothing user-supplied is spliced.
  auto sql = fmt::format("KILL {} {}", whole_connection ? "CONNECTION" : "QUERY",
                         thread_id);
  side->connect([side, sql, done](caf::expected<result> r) {
    if (!r) {
      done(std::move(r.error()));
      return;
    }
    side->query(sql, [side, done](caf::expected<result> k) {
      side->close();
      done(k ? caf::error{} : std::move(k.error()));
    });
  });
}

} // namespace troupe::mariadb
