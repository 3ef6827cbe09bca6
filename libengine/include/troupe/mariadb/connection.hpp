#pragma once

// The MariaDB driver: one server connection as a non-blocking state machine
// over MariaDB Connector/C's non-blocking API (`mysql_*_start/_cont`).
//
// `connection` never waits. Each operation starts with `start_*`, which
// returns 0 when the operation finished at once, or a mask of `io_events`
// (read, write, timeout) to wait for; then the driver of the connection waits
// for those events and calls `resume(events)` until it returns 0, and reads
// the outcome with `take_result`. Two drivers exist: `sync_connection` below
// (poll(2) on the calling thread; for tools, tests, and side connections) and
// `async_connection` (an event loop; what the actors use).
//
// Statements with parameters always use server-side prepared statements; the
// parameters are bound, never spliced into SQL text. Prepared statements are
// cached per connection (LRU; evicted statements are closed on the server).

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "troupe/secret.hpp"
#include "troupe/dsn.hpp"
#include "troupe/result.hpp"
#include "troupe/value.hpp"

struct st_mysql;
struct st_mysql_stmt;
struct st_mysql_res;

namespace troupe::mariadb {

/// How the connection uses TLS.
enum class tls_mode : uint8_t {
  /// Never use TLS.
  disabled,
  /// Use TLS when the server offers it, without verifying the server.
  preferred,
  /// Fail unless TLS is used, before anything is sent to the server; do not
  /// verify the server's certificate.
  required,
  /// Require TLS and verify the server's certificate against `tls_ca`.
  verify_ca,
  /// As verify_ca, and check that the certificate names the host.
  verify_identity,
};

std::string to_string(tls_mode x);

/// Which server the connection talks to (from the handshake's version).
enum class flavour : uint8_t { unknown, mariadb, mysql, matrixone };

std::string to_string(flavour x);

/// Everything needed to open a connection. `from_dsn` fills it from a DSN.
struct connect_options {
  std::string host = "127.0.0.1";
  uint16_t port = 3306;
  /// Unix socket path; when set, `host` and `port` are ignored.
  std::string socket;
  std::string user;
  secret_string password;
  std::string database;
  /// Connection character set.
  std::string charset = "utf8mb4";
  /// Bound on establishing the connection (TCP, TLS, authentication).
  std::chrono::milliseconds connect_timeout{10000};
  /// Bound on waiting for the server's answer. A statement running longer
  /// fails with `errc::outcome_unknown` (fatal) and the connection is
  /// dropped; the statement may still run on the server and be applied.
  std::chrono::milliseconds read_timeout{30000};
  /// Bound on sending a request.
  std::chrono::milliseconds write_timeout{30000};
  tls_mode tls = tls_mode::preferred;
  std::string tls_ca;
  std::string tls_capath;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_cipher;
  /// Without TLS (or a local socket) the server may not ask for an
  /// authentication method that sends the password itself
  /// (`mysql_clear_password`, `dialog`) unless this is set.
  bool cleartext_auth = false;
  /// Without TLS (or a local socket), `caching_sha2_password` and
  /// `sha256_password` need the server's RSA key: from `server_public_key`,
  /// or, when this is set, from the server itself (which an impersonating
  /// server answers with its own key). Neither: those methods are refused.
  bool get_server_public_key = false;
  /// PEM file with the server's RSA public key (see above).
  std::string server_public_key;
  /// Statements run right after connecting (e.g. "SET time_zone='+00:00'").
  std::vector<std::string> init_statements;
  /// Prepared statements kept per connection (least recently used go first).
  size_t statement_cache_size = 256;
  /// Results larger than this (decoded) fail with `errc::result_too_large`.
  size_t max_result_bytes = size_t{256} << 20;
  /// The largest packet the client accepts from the server.
  size_t max_allowed_packet = size_t{1} << 30;
  /// Send executions of cached SELECT statements without waiting for the
  /// answers before them (see `connection::can_pipeline`). Off: every
  /// statement goes through libmariadb, one at a time.
  bool pipelining = true;

  /// Fills the options from a DSN. Recognised query options:
  /// `connect_timeout`, `read_timeout`, `write_timeout` (milliseconds, or
  /// with a unit: `500ms`, `5s`, `2m`), `charset`, `tls` (disabled,
  /// preferred, required, verify_ca, verify_identity), `tls_ca`,
  /// `tls_capath`, `tls_cert`, `tls_key`, `tls_cipher`, `cleartext_auth`,
  /// `get_server_public_key` (true, false), `server_public_key`, `init` (one
  /// statement; may be repeated as init1, init2, ...),
  /// `statement_cache_size`, `max_result_bytes`, `pipelining` (on, off),
  /// `password_file`, `password_env` (see `resolve_password`: the file or
  /// variable is read here, once). Keys the driver does not know
  /// are appended to `unknown` when given, and are an error otherwise.
  static caf::expected<connect_options>
  from_dsn(const dsn& x, std::vector<std::string>* unknown = nullptr);

  /// "host:port" or "unix:/path", for messages.
  std::string address() const;

  /// "user@host:port/database" (or "user@unix:/path/database"), for logs:
  /// names what a connection uses, never the password.
  std::string describe() const;
};

/// What the server told us at connect time.
struct server_info {
  flavour kind = flavour::unknown;
  /// The version string, e.g. "10.11.6-MariaDB-0+deb12u1".
  std::string version;
  /// major * 10000 + minor * 100 + patch.
  uint32_t version_number = 0;
  /// The server's id for this connection (for KILL).
  uint64_t thread_id = 0;
  /// The server supports bulk array binding (`STMT_ATTR_ARRAY_SIZE`).
  bool bulk_operations = false;
  /// The session's `wait_timeout` in seconds, 0 when unknown.
  uint32_t wait_timeout = 0;
  /// The largest packet the server accepts (`max_allowed_packet`), 0 when
  /// unknown. Statements larger than this are refused before they are sent.
  uint64_t max_allowed_packet = 0;
  /// The TLS cipher in use, empty without TLS.
  std::string tls_cipher;
};

/// Counters, for tests and status.
struct connection_stats {
  uint64_t statements_prepared = 0;
  uint64_t statements_evicted = 0;
  uint64_t statement_cache_hits = 0;
  /// Executions sent by the pipeline instead of libmariadb.
  uint64_t executions_pipelined = 0;
};

/// One server connection as a state machine. See the file comment.
/// Not thread-safe: one thread at a time drives it.
class connection {
public:
  explicit connection(connect_options options);
  ~connection();

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // -- operations: each returns 0 (done) or the io_events to wait for ------
  // (`io_yield`: resume with 0 after letting other work run)

  /// Connects, runs the init statements, reads `wait_timeout`.
  int start_connect();

  /// Runs SQL text with the text protocol (no parameters).
  int start_query(std::string sql);

  /// Runs a statement as a prepared statement with bound parameters.
  ///
  /// With `sets` above 1, `params` holds that many parameter sets of
  /// `params.size() / sets` values each, row after row, and the statement
  /// runs once per set in one operation: as one bulk execution
  /// (COM_STMT_BULK_EXECUTE, MariaDB's array binding) when the server
  /// supports it and each parameter's values share one wire type (NULLs
  /// anywhere; signed and unsigned integers mix when one type holds them
  /// all), else one execution after another. The answer is one OK result:
  /// affected rows summed, the id generated for the first set, warnings
  /// summed. A statement that returns rows is refused (`invalid_argument`,
  /// nothing executed). A bulk execution is one statement: when a set fails,
  /// none stays (InnoDB). One after another, the sets before a failing one
  /// were applied (in autocommit, committed; the error says how many): run
  /// it in a transaction for all or nothing either way.
  int start_execute(std::string sql, std::vector<value> params,
                    size_t sets = 1);

  /// Checks that the server answers.
  int start_ping();

  /// Resets the session (COM_RESET_CONNECTION): rolls back, drops
  /// temporary tables, user variables and prepared statements.
  int start_reset();

  /// Continues the running operation after `events` (io_events) happened.
  int resume(int events);

  // -- pipelining: executions sent without waiting for earlier answers -----
  // libmariadb sends a command and reads its answer before the next one.
  // Executions of a prepared SELECT that ran here before may instead be
  // written straight to the socket, several in a row, and their answers
  // decoded as they arrive (binary protocol, in order). Only while no
  // operation of the above runs; none may start while answers are due.

  /// Queues an execution of `sql` for sending, if it qualifies: pipelining
  /// on, connected without TLS, no operation running, the statement a cached
  /// SELECT that ran once through libmariadb, reads no user variable or
  /// named lock (those change the session's state), and its request fits
  /// one packet. False (nothing queued) otherwise: use `start_execute`.
  bool pipeline_send(const std::string& sql, const std::vector<value>& params);

  /// Writes what is queued. Returns io_write while some is left, else 0. A
  /// failed write breaks the connection.
  int pipeline_write();

  /// Reads and decodes what arrived (up to a bounded amount per call).
  /// Afterwards `pipeline_ready()` answers are ready in order. A closed socket
  /// or malformed data breaks the connection.
  void pipeline_read();

  /// The number of answers that can be taken.
  size_t pipeline_ready() const { return wire_done_; }

  /// The oldest finished answer. Precondition: pipeline_ready() > 0.
  caf::expected<result> pipeline_take();

  /// True while bytes wait to be written.
  bool pipeline_writing() const { return wire_out_pos_ < wire_out_.size(); }

  /// Ends the pipeline with `err` (e.g. a timeout): the connection breaks;
  /// every answer due fails with `err`.
  void pipeline_fail(caf::error err);

  /// The error the pipeline broke with (after broken()).
  caf::error pipeline_error() const { return wire_error_; }

  /// The outcome of the finished operation (empty result for connect, ping
  /// and reset). Call once after an operation finished.
  caf::expected<result> take_result();

  // -- state -----------------------------------------------------------------

  /// True while an operation runs.
  bool busy() const { return op_ != op_kind::none; }

  /// True after a fatal error: the connection must be closed.
  bool broken() const { return broken_; }

  /// True after a successful connect and until closed or broken.
  bool connected() const { return connected_ && !broken_; }

  /// The socket to wait on, -1 before connecting.
  int socket() const;

  /// How long to wait when `io_timeout` was requested, in milliseconds.
  unsigned timeout_ms() const;

  /// True when the server reported an open transaction.
  bool in_transaction() const;

  /// True when a statement since the last connect or reset changed the
  /// session's state (variables, temporary tables, current database, ...),
  /// as reported by the server's state-change tracking: the session must be
  /// reset before someone else uses it. Servers without tracking never
  /// report a change: check `session_tracking` and reset anyway.
  bool session_state_changed() const { return state_changed_; }

  /// True when the server tracks session state changes for us.
  bool session_tracking() const { return tracking_; }

  const server_info& info() const { return info_; }
  const connect_options& options() const { return options_; }
  const connection_stats& stats() const { return stats_; }

  /// The largest packet the client reads: max_allowed_packet, but at most
  /// max_result_bytes + 16 MiB (a larger packet could not be kept anyway).
  size_t effective_max_packet() const;

  /// The number of cached prepared statements.
  size_t cached_statements() const { return cache_.size(); }

  /// Closes the connection (sends COM_QUIT when possible). Idempotent.
  void close();

private:
  enum class op_kind : uint8_t { none, connect, query, execute, ping, reset };
  enum class step : uint8_t;
  struct statement;

  int run(int status);
  int advance();
  int call_cont(int events);
  int begin_text(std::string sql);
  int text_after_query();
  int text_after_fetch();
  int text_after_next();
  void set_cache_key(const std::string& sql);
  int begin_prepared();
  int prepared_after_prepare();
  int prepared_execute();
  int bulk_execute();
  bool choose_bulk_types();
  caf::error set_error(caf::error err) const;
  int prepared_after_execute();
  int prepared_after_fetch();
  int prepared_after_next();
  int finish_statement();
  caf::error too_large_error() const;
  int evict_one();
  int next_fetch();
  void finish(caf::error err = {});
  caf::error connection_error(bool connecting);
  caf::error restrict_authentication();
  caf::error check_request_size(const std::string& sql,
                                const std::vector<value>* params) const;
  caf::error statement_error(st_mysql_stmt* stmt);
  caf::error classify(unsigned code, const char* sqlstate, const char* message,
                      bool connecting);
  bool add_bytes(size_t n);
  void keep_set(result_set rs);
  void start_row_set(result_set rs);
  void read_server_info();
  void finish_ok_set();
  void drop_statement_cache();
  int begin_setup(bool after_connect);
  int next_setup();
  void track_session_state();
  struct wire_call;
  bool wire_packet(std::string_view payload);
  bool wire_charge(wire_call& c, size_t n);
  void wire_finish(wire_call& c, caf::error err);
  void wire_lost(std::string_view why);

  connect_options options_;
  st_mysql* mysql_ = nullptr;
  server_info info_;
  connection_stats stats_;
  bool connected_ = false;
  bool broken_ = false;
  bool timed_out_ = false;

  op_kind op_ = op_kind::none;
  step step_;
  int call_ = 0;

  // Outcome of the running operation.
  caf::error error_;
  result result_;
  size_t result_bytes_ = 0;
  bool too_large_ = false;

  // Arguments and out-parameters of the calls in flight.
  std::string sql_;
  std::string key_;
  std::vector<value> params_;
  // Parameter sets of the running execution (start_execute), the one being
  // executed when they go one after another, and whether they go as one
  // bulk execution; the wire type of each parameter in a bulk execution,
  // and the OK results summed so far.
  size_t sets_ = 1;
  size_t set_index_ = 0;
  bool bulk_ = false;
  std::vector<std::pair<int, bool>> bulk_types_;
  result_set sets_done_;
  // The session setup after connect and reset.
  /// What a setup statement's single value is read into.
  enum class probe : uint8_t { none, wait_timeout, max_allowed_packet };
  struct setup_statement {
    std::string sql;
    bool required;
    probe reads;
    bool tracker;
  };
  std::vector<setup_statement> setup_;
  size_t setup_index_ = 0;
  bool in_setup_ = false;
  bool state_changed_ = false;
  bool tracking_ = false;
  int ret_int_ = 0;
  char ret_bool_ = 0;
  st_mysql* ret_mysql_ = nullptr;
  char** ret_row_ = nullptr;
  st_mysql_res* res_ = nullptr;

  // Prepared statements: LRU list (front = most recent) and index by SQL.
  std::list<std::unique_ptr<statement>> lru_;
  std::unordered_map<std::string, std::list<std::unique_ptr<statement>>::iterator>
    cache_;
  statement* stmt_ = nullptr;
  std::unique_ptr<statement> closing_;
  bool retried_prepare_ = false;
  // Rows decoded since the operation last gave its driver back control.
  unsigned rows_since_yield_ = 0;
  bool yielded_ = false;
  bool evict_all_ = false;
  // How the cells of the current text result set are decoded.
  std::vector<uint8_t> text_kinds_;

  // Pipelined executions: answers due in order, bytes to write, bytes read.
  std::deque<std::unique_ptr<wire_call>> wire_;
  size_t wire_done_ = 0; // finished calls at the front of wire_
  std::string wire_out_;
  size_t wire_out_pos_ = 0;
  std::string wire_in_;
  size_t wire_in_pos_ = 0;
  std::string wire_joined_; // a payload continued over several packets
  caf::error wire_error_;
  bool cache_metadata_ = false;
  bool extended_metadata_ = false;
  bool wire_capable_ = false;
};

/// A connection driven by poll(2) on the calling thread. Every call blocks
/// until the operation finished or its timeout passed. For tools, tests and
/// side connections; never call it on a CAF scheduler thread.
class sync_connection {
public:
  /// Connects. Errors: connect_failed, auth_failed, query_timeout.
  static caf::expected<std::unique_ptr<sync_connection>>
  open(connect_options options);

  caf::expected<result> query(std::string sql);
  /// See connection::start_execute (`sets`: parameter sets in `params`).
  caf::expected<result> execute(std::string sql, std::vector<value> params,
                                size_t sets = 1);
  caf::error ping();
  caf::error reset();

  connection& raw() { return conn_; }

private:
  explicit sync_connection(connect_options options);
  caf::expected<result> wait(int status);
  connection conn_;
};

/// Kills the statement running on the connection with server thread id
/// `thread_id` (KILL QUERY) through a new, short-lived connection. Blocks.
caf::error kill_query(const connect_options& options, uint64_t thread_id);

} // namespace troupe::mariadb
