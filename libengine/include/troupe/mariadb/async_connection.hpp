#pragma once

// A `connection` driven by an `event_loop`.
//
// Every member function must be called on the loop thread (post a task to
// get there); completion handlers run on the loop thread too. Operations
// queue and run one after another. While idle, the socket stays watched for
// reads: the server closing the connection (KILL, wait_timeout, shutdown) is
// noticed at once and reported through `on_broken`, before a request uses it.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "troupe/event_loop.hpp"
#include "troupe/mariadb/connection.hpp"

namespace troupe::mariadb {

/// See the file comment.
class async_connection final
  : public io_handler,
    public std::enable_shared_from_this<async_connection> {
public:
  using handler = std::function<void(caf::expected<result>)>;

  /// Creates an unconnected connection driven by `loop`.
  static std::shared_ptr<async_connection> make(event_loop& loop,
                                                connect_options options);

  ~async_connection() override;

  /// Connects; the handler gets an empty result on success.
  void connect(handler h);

  /// Runs SQL text (text protocol).
  void query(std::string sql, handler h);

  /// Runs a prepared statement with bound parameters (`sets`: parameter
  /// sets in `params`, see connection::start_execute).
  void execute(std::string sql, std::vector<value> params, handler h,
               size_t sets = 1);

  /// Checks that the server answers.
  void ping(handler h);

  /// Resets the session (COM_RESET_CONNECTION).
  void reset(handler h);

  /// Sets the function called (once) when the connection breaks while idle.
  void on_broken(std::function<void(caf::error)> f);

  /// Closes the connection. Queued and running operations fail with
  /// `reason` (a fatal connection_lost when empty). Idempotent.
  void close(caf::error reason = {});

  /// True when connected and no operation runs or waits.
  bool idle() const;

  /// True unless the connection is closed or known to be broken: a request
  /// given to it now will at least be sent.
  bool usable() const { return !closed_ && !conn_.broken(); }

  /// The number of operations running or queued.
  size_t pending() const;

  /// Sends an execution straight onto the wire when it qualifies for
  /// pipelining (connection::pipeline_send) and nothing but pipelined
  /// executions is ahead of it. Returns false, leaving `h` untouched and
  /// queuing nothing, otherwise.
  bool try_pipeline(const std::string& sql, const std::vector<value>& params,
                    handler& h);

  /// True while pipelined executions await answers and nothing else is
  /// queued: another qualifying `execute` goes onto the wire right away
  /// instead of waiting for the answers before it.
  bool pipelining() const {
    return !wire_.empty() && queue_.empty() && !running_ && !closed_;
  }

  const connection& raw() const { return conn_; }

private:
  enum class op_kind : uint8_t { connect, query, execute, ping, reset };

  struct op {
    op_kind kind;
    std::string sql;
    std::vector<value> params;
    handler done;
    size_t sets = 1;
  };

  async_connection(event_loop& loop, connect_options options);

  void on_io(int events) override;
  void enqueue(op x);
  void start_next();
  void wait_for(int status);
  void complete();
  void watch_idle();
  void unwatch();
  caf::error not_sent_error(const caf::error& cause) const;
  void pump_wire();
  void on_wire(int events);
  void deliver_wire();
  bool hand_out_answers();
  void fail_wire();
  void arm_wire_timer();
  void on_wire_timer();

  event_loop& loop_;
  connection conn_;
  std::deque<op> queue_;
  bool running_ = false;
  bool closed_ = false;
  int fd_ = -1;
  event_loop::timer_id timer_ = 0;
  uint64_t yield_token_ = 0;
  bool yielding_ = false;
  std::function<void(caf::error)> on_broken_;
  // Handlers of the pipelined executions, in the order of their answers.
  std::deque<handler> wire_;
  // The pipeline's timeout: no byte moved for read_timeout while answers
  // are due. One timer at a time, re-armed while bytes move.
  event_loop::timer_id wire_timer_ = 0;
  uint64_t wire_progress_ = 0;
  uint64_t wire_seen_ = 0;
};

/// Kills a statement (`KILL QUERY`) or a whole session (`KILL CONNECTION`)
/// on the server through a short-lived side connection on `loop`, then calls
/// `done` with the outcome (on the loop thread). Loop thread only. Bounded by
/// the options' connect and read timeouts.
void kill_async(event_loop& loop, const connect_options& options,
                uint64_t thread_id, bool whole_connection,
                std::function<void(caf::error)> done);

} // namespace troupe::mariadb
