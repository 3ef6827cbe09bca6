// The core of `connection`: construction and close, error mapping, driving
// libmariadb's non-blocking calls, the result budget and the state machine
// (`advance`). The steps of the operations are elsewhere: connect.cpp,
// text_protocol.cpp, prepared_protocol.cpp; the pipeline is in pipeline.cpp.

#include "troupe/mariadb/connection.hpp"

#include <algorithm>
#include <cstring>
#include <string.h> // explicit_bzero
#include <mutex>

#include <fcntl.h>

#include <fmt/format.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "mariadb/auth_guard.hpp"
#include "mariadb/connection_internal.hpp"
#include "troupe/event_loop.hpp"
#include "troupe/option_parsing.hpp"

namespace troupe::mariadb {

// -- connection internals ---------------------------------------------------------

namespace {

std::once_flag library_init_flag;

} // namespace

connection::connection(connect_options options)
  : options_(std::move(options)), step_(step::idle) {
  std::call_once(library_init_flag, [] { mysql_library_init(0, nullptr, nullptr); });
}

connection::~connection() {
  close();
}

int connection::socket() const {
  if (mysql_ == nullptr)
    return -1;
  auto fd = mysql_get_socket(mysql_);
  return fd < 0 ? -1 : static_cast<int>(fd);
}

unsigned connection::timeout_ms() const {
  return mysql_ ? mysql_get_timeout_value_ms(mysql_) : 0;
}

bool connection::in_transaction() const {
  return mysql_ != nullptr && (mysql_->server_status & SERVER_STATUS_IN_TRANS);
}

// Frees our statement objects. Only valid once libmariadb has invalidated
// them (mysql_close, mysql_reset_connection): then closing sends nothing.
void connection::drop_statement_cache() {
  stmt_ = nullptr;
  cache_.clear();
  lru_.clear();
  closing_.reset();
}

void connection::close() {
  if (mysql_ == nullptr)
    return;
  if (res_ != nullptr) {
    res_->handle = nullptr; // never drain rows from a connection being closed
    mysql_free_result(res_);
    res_ = nullptr;
  }
  if (closing_ && call_ == detail::call_stmt_close) {
    // A COM_STMT_CLOSE is suspended mid-write: libmariadb already unlinked
    // the statement, so mysql_close would not invalidate it. Leak the small
    // handle rather than free it twice.
    closing_->handle = nullptr;
  }
  detail::forget_auth_policy(mysql_);
  if (mysql_->passwd != nullptr) // libmariadb's copy, freed as it is
    ::explicit_bzero(mysql_->passwd, std::strlen(mysql_->passwd));
  // Invalidates every statement of this connection (they get no
  // COM_STMT_CLOSE: the server frees them with the session).
  mysql_close(mysql_);
  mysql_ = nullptr;
  drop_statement_cache();
  wire_.clear();
  wire_done_ = 0;
  wire_out_.clear();
  wire_out_pos_ = 0;
  wire_in_.clear();
  wire_in_pos_ = 0;
  wire_joined_.clear();
  connected_ = false;
  op_ = op_kind::none;
  step_ = step::idle;
}

// -- statement end ----------------------------------------------------------------

// Ends a statement whose last result set was read (text or prepared): with
// its error, or result_too_large when rows were dropped over the budget.
int connection::finish_statement() {
  if (too_large_) {
    result_ = result{};
    finish(too_large_error());
    return 0;
  }
  finish(std::move(error_));
  return 0;
}

caf::error connection::too_large_error() const {
  return make_error(errc::result_too_large,
                    fmt::format("the result exceeded max_result_bytes ({} "
                                "bytes); its rows were read and discarded",
                                options_.max_result_bytes));
}

// -- request size -------------------------------------------------------------------

// Refuses a statement the server (or libmariadb) would not accept in one
// packet, before anything is sent: sending it would make the server close
// the connection (1153) with nothing run. The size is an upper bound of the
// larger of the two packets (COM_STMT_PREPARE with the text, COM_STMT_EXECUTE
// with the parameters; COM_QUERY for text).
caf::error connection::check_request_size(const std::string& sql,
                                          const std::vector<value>* params)
  const {
  uint64_t limit = effective_max_packet();
  if (info_.max_allowed_packet > 0)
    limit = std::min<uint64_t>(limit, info_.max_allowed_packet);
  uint64_t size = 1 + sql.size();
  if (params != nullptr) {
    uint64_t exec = 11 + (params->size() + 7) / 8 + 2 * params->size();
    for (const auto& p : *params) {
      exec += 9; // a length prefix
      if (auto* s = p.get_if<std::string>())
        exec += s->size();
      else if (auto* b = p.get_if<bytes>())
        exec += b->size();
      else if (auto* d = p.get_if<decimal>())
        exec += d->text.size();
      else
        exec += 16;
    }
    size = std::max(size, exec);
  }
  if (size <= limit)
    return {};
  return make_error(errc::statement_too_large,
                    fmt::format("the statement with its parameters needs {} "
                                "bytes; {} accepts at most {} "
                                "(max_allowed_packet): it was not sent",
                                size, options_.address(), limit));
}

// -- error mapping -------------------------------------------------------------------

namespace {

bool is_auth_error(unsigned code) {
  switch (code) {
    case ER_ACCESS_DENIED_ERROR:            // 1045
    case ER_DBACCESS_DENIED_ERROR:          // 1044
    case ER_ACCESS_DENIED_NO_PASSWORD_ERROR: // 1698
    case 1251:                              // client does not support auth
    case 1275:                              // old password format
    case 1820:                              // must change password
    case 1862:                              // password expired
    case 2049:                              // old authentication protocol
    case 2059:                              // auth plugin cannot be loaded
      return true;
    default:
      return false;
  }
}

// Client-side errors that leave the connection usable.
bool is_benign_client_error(unsigned code) {
  switch (code) {
    case 2030: // CR_NO_PREPARE_STMT
    case 2031: // CR_PARAMS_NOT_BOUND
    case 2032: // CR_DATA_TRUNCATED
    case 2034: // CR_INVALID_PARAMETER_NO
    case 2035: // CR_INVALID_BUFFER_USE
    case 2036: // CR_UNSUPPORTED_PARAM_TYPE
    case 2050: // CR_FETCH_CANCELED
    case 2051: // CR_NO_DATA
    case 2052: // CR_NO_STMT_METADATA
    case 2053: // CR_NO_RESULT_SET
    case 2054: // CR_NOT_IMPLEMENTED
      return true;
    default:
      return false;
  }
}

// Server errors after which the server closes (or has closed) the session,
// or after which the protocol is out of sync.
bool is_fatal_server_error(unsigned code, const std::string& sqlstate) {
  if (sqlstate.size() == 5 && sqlstate.compare(0, 2, "08") == 0)
    return true; // connection exception class
  switch (code) {
    case 1153: // ER_NET_PACKET_TOO_LARGE
    case 1158: // ER_NET_READ_ERROR
    case 1159: // ER_NET_READ_INTERRUPTED
    case 1160: // ER_NET_ERROR_ON_WRITE
    case 1161: // ER_NET_WRITE_INTERRUPTED
    case 1053: // ER_SERVER_SHUTDOWN
    case 1152: // ER_ABORTING_CONNECTION
    case 1184: // ER_NEW_ABORTING_CONNECTION
    case 1927: // ER_CONNECTION_KILLED
    case 4031: // ER_CLIENT_INTERACTION_TIMEOUT
      return true;
    default:
      return false;
  }
}

} // namespace

caf::error connection::classify(unsigned code, const char* sqlstate,
                                const char* message, bool connecting) {
  std::string state = sqlstate ? sqlstate : "";
  std::string msg = message ? message : "";
  if (connecting) {
    broken_ = true;
    if (code == CR_PLUGIN_NOT_ALLOWED) {
      // Methods are narrowed only where TLS is missing: with tls=required
      // that means the server did not offer it (the guard refused before
      // anything was sent, or never ran because the greeting offered no
      // plugin authentication either). The switch request that named the
      // refused method is gone by now (libmariadb freed its buffer when the
      // connect failed), so the message names the family, not the method.
      if (options_.tls == tls_mode::required)
        return make_error(errc::connect_failed,
                          fmt::format("cannot connect to {}: tls=required "
                                      "but the server does not offer TLS; "
                                      "nothing was sent to it",
                                      options_.address()),
                          static_cast<uint16_t>(code), state, true);
      return make_error(errc::auth_failed,
                        fmt::format("cannot connect to {}: the server asked "
                                    "for an authentication method that is "
                                    "not allowed on this connection because "
                                    "without TLS it would expose the "
                                    "password (mysql_clear_password, "
                                    "dialog, or sha256_password / "
                                    "caching_sha2_password without the "
                                    "server's key); use tls=required or "
                                    "verify_*, server_public_key=FILE, or "
                                    "opt in with cleartext_auth=true or "
                                    "get_server_public_key=true",
                                    options_.address()),
                        static_cast<uint16_t>(code), state, true);
    }
    auto kind = is_auth_error(code) ? errc::auth_failed : errc::connect_failed;
    return make_error(kind,
                      fmt::format("cannot connect to {}: {}",
                                  options_.address(), msg),
                      static_cast<uint16_t>(code), state, true);
  }
  if (timed_out_) {
    // Dropping the connection does not stop the statement on the server: it
    // may still run, or have run, to completion.
    broken_ = true;
    return make_error(errc::outcome_unknown,
                      fmt::format("no answer from {} within read_timeout {}; "
                                  "the connection was dropped but the "
                                  "statement may still run on the server "
                                  "({})",
                                  options_.address(),
                                  format_duration(options_.read_timeout), msg),
                      static_cast<uint16_t>(code), state, true);
  }
  if (code == 1153) {
    // The server refused a packet over its max_allowed_packet before it ran
    // anything, and closes the connection.
    broken_ = true;
    return make_error(errc::statement_too_large,
                      fmt::format("{} refused the statement: larger than its "
                                  "max_allowed_packet; it was not run and the "
                                  "server closed the connection ({})",
                                  options_.address(), msg),
                      static_cast<uint16_t>(code), state, true);
  }
  if (code == 1969 || code == 3024) // max_statement_time / max_execution_time
    return make_error(errc::statement_timeout, msg,
                      static_cast<uint16_t>(code), state, false);
  if (code == CR_NET_PACKET_TOO_LARGE) {
    // One packet (a row, an info string) larger than the client accepts:
    // refused before it was read into memory; the rest of it is still on
    // the wire, so the connection is out of sync.
    broken_ = true;
    return make_error(errc::result_too_large,
                      fmt::format("a packet from {} exceeds {} bytes "
                                  "(max_result_bytes + 16 MiB, at most "
                                  "max_allowed_packet); it was not read and "
                                  "the connection was dropped",
                                  options_.address(), effective_max_packet()),
                      static_cast<uint16_t>(code), state, true);
  }
  bool client_error = code >= 2000 && code < 3000;
  if ((client_error && !is_benign_client_error(code))
      || is_fatal_server_error(code, state)) {
    broken_ = true;
    return make_error(errc::connection_lost,
                      fmt::format("connection to {} lost: {}",
                                  options_.address(), msg),
                      static_cast<uint16_t>(code), state, true);
  }
  return make_error(client_error ? errc::internal : errc::server_error, msg,
                    static_cast<uint16_t>(code), state, false);
}

caf::error connection::connection_error(bool connecting) {
  return classify(mysql_errno(mysql_), mysql_sqlstate(mysql_),
                  mysql_error(mysql_), connecting);
}

caf::error connection::statement_error(MYSQL_STMT* stmt) {
  // An error packet among the rows of an unbuffered fetch (e.g. 1242, a
  // subquery returning several rows) is recorded on the connection only.
  if (mysql_stmt_errno(stmt) == 0 && mysql_errno(mysql_) != 0)
    return connection_error(false);
  return classify(mysql_stmt_errno(stmt), mysql_stmt_sqlstate(stmt),
                  mysql_stmt_error(stmt), false);
}

// -- driving ---------------------------------------------------------------------------

int connection::call_cont(int events) {
  switch (call_) {
    case detail::call_connect:
      return mysql_real_connect_cont(&ret_mysql_, mysql_, events);
    case detail::call_real_query:
      return mysql_real_query_cont(&ret_int_, mysql_, events);
    case detail::call_fetch_row:
      return mysql_fetch_row_cont(&ret_row_, res_, events);
    case detail::call_free_result:
      return mysql_free_result_cont(res_, events);
    case detail::call_next_result:
      return mysql_next_result_cont(&ret_int_, mysql_, events);
    case detail::call_stmt_prepare:
      return mysql_stmt_prepare_cont(&ret_int_, stmt_->handle, events);
    case detail::call_stmt_execute:
      return mysql_stmt_execute_cont(&ret_int_, stmt_->handle, events);
    case detail::call_stmt_fetch:
      return mysql_stmt_fetch_cont(&ret_int_, stmt_->handle, events);
    case detail::call_stmt_next_result:
      return mysql_stmt_next_result_cont(&ret_int_, stmt_->handle, events);
    case detail::call_stmt_close:
      return mysql_stmt_close_cont(&ret_bool_, closing_->handle, events);
    case detail::call_ping:
      return mysql_ping_cont(&ret_int_, mysql_, events);
    case detail::call_reset:
      return mysql_reset_connection_cont(&ret_int_, mysql_, events);
    default:
      return 0;
  }
}

int connection::resume(int events) {
  if (op_ == op_kind::none)
    return 0;
  if (yielded_) {
    yielded_ = false;
    return run(next_fetch());
  }
  if (events & io_timeout)
    timed_out_ = true;
  return run(call_cont(events));
}

// Helpers return the status of the call they started; 0 means that call
// completed at once (then `advance` processes it) or the operation finished.
int connection::run(int status) {
  if (status != 0 || op_ == op_kind::none)
    return status;
  return advance();
}

void connection::finish(caf::error err) {
  if (op_ == op_kind::query || op_ == op_kind::execute)
    track_session_state();
  in_setup_ = false;
  error_ = std::move(err);
  op_ = op_kind::none;
  step_ = step::idle;
  call_ = detail::no_call;
  sql_.clear();
  params_.clear();
  timed_out_ = false;
  yielded_ = false;
  rows_since_yield_ = 0;
}

caf::expected<result> connection::take_result() {
  if (error_) {
    auto err = std::move(error_);
    error_ = caf::error{};
    result_ = result{};
    return err;
  }
  return std::move(result_);
}

// Starts fetching the next row, or yields every few hundred rows so that a
// long result does not hold the driver's thread.
int connection::next_fetch() {
  constexpr unsigned rows_per_slice = 512;
  if (++rows_since_yield_ >= rows_per_slice) {
    rows_since_yield_ = 0;
    yielded_ = true;
    return io_yield;
  }
  if (step_ == step::fetch_row) {
    call_ = detail::call_fetch_row;
    return mysql_fetch_row_start(&ret_row_, res_);
  }
  call_ = detail::call_stmt_fetch;
  return mysql_stmt_fetch_start(&ret_int_, stmt_->handle);
}

// -- the result budget -----------------------------------------------------------------

size_t connection::effective_max_packet() const {
  // A packet larger than the whole result may be cannot be kept anyway;
  // the slack lets a row somewhat over the limit be read and discarded
  // (result_too_large, the connection stays usable) instead of dropping the
  // connection.
  constexpr size_t slack = size_t{16} << 20;
  return std::min(options_.max_allowed_packet,
                  options_.max_result_bytes + slack);
}

size_t detail::retained_bytes(const result_set& rs) {
  size_t n = sizeof(result_set) + rs.info.size();
  for (const auto& c : rs.columns())
    n += sizeof(column) + c.name.size() + c.org_name.size() + c.table.size()
         + c.org_table.size() + c.database.size();
  return n;
}

bool connection::add_bytes(size_t n) {
  result_bytes_ += n;
  if (result_bytes_ > options_.max_result_bytes)
    too_large_ = true;
  return !too_large_;
}

// Keeps a result set if the result's budget (max_result_bytes) allows its
// metadata and info string; a set beyond it is dropped, and the statement
// ends with result_too_large.
void connection::keep_set(result_set rs) {
  if (add_bytes(detail::retained_bytes(rs)))
    result_.sets().push_back(std::move(rs));
}

// Starts a result set whose rows follow. Over the budget its rows are read
// and dropped; it then takes the place of the last set instead of adding
// one, so that a server sending set after set cannot grow the memory.
void connection::start_row_set(result_set rs) {
  add_bytes(detail::retained_bytes(rs));
  if (too_large_ && !result_.sets().empty())
    result_.sets().back() = std::move(rs);
  else
    result_.sets().push_back(std::move(rs));
}

// -- the state machine ------------------------------------------------------------------------

// The call of `step_` completed: process its outcome and start the next call.
// Returns the events to wait for, or 0 when the operation finished.
int connection::advance() {
  for (;;) {
    int status = 0;
    switch (step_) {
      case step::idle:
        return 0;
      case step::connect:
        if (ret_mysql_ == nullptr) {
          finish(connection_error(true));
          return 0;
        }
        connected_ = true;
        if (int fd = socket(); fd >= 0) {
          // Children a host application forks must not keep our sessions
          // (and their locks) alive after we are gone.
          ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
        }
        read_server_info();
        if (options_.tls >= tls_mode::required && info_.tls_cipher.empty()) {
          // Connector/C 3.3 silently falls back to plain text when the server
          // offers no TLS unless the certificate is verified: refuse here.
          broken_ = true;
          finish(make_error(errc::connect_failed,
                            fmt::format("cannot connect to {}: tls={} but the "
                                        "server does not offer TLS",
                                        options_.address(),
                                        to_string(options_.tls)),
                            0, "08000", true));
          return 0;
        }
        status = begin_setup(true);
        if (op_ == op_kind::none)
          return 0;
        if (status != 0)
          return status;
        continue;
      case step::query:
        if (ret_int_ != 0) {
          auto err = connection_error(false);
          if (in_setup_) {
            const auto& item = setup_[setup_index_];
            if (!item.required && !broken_) {
              // A server without the variable (MatrixOne, old MySQL) is
              // still usable.
              result_ = result{};
              status = next_setup();
              break;
            }
            auto x = troupe::info(err);
            err = make_error(errc::connect_failed,
                             fmt::format("init statement #{} failed on {}: {}",
                                         setup_index_ + 1, options_.address(),
                                         x.message),
                             x.server_code, x.sqlstate, true);
            broken_ = true;
          }
          finish(std::move(err));
          return 0;
        }
        status = text_after_query();
        break;
      case step::fetch_row:
        status = text_after_fetch();
        break;
      case step::free_result:
        res_ = nullptr;
        status = text_after_next();
        break;
      case step::next_result:
        if (ret_int_ > 0) {
          finish(connection_error(false));
          return 0;
        }
        status = ret_int_ == 0 ? text_after_query() : text_after_next();
        break;
      case step::close_evicted:
        // mysql_stmt_close freed the handle, whatever it returned.
        closing_->handle = nullptr;
        closing_.reset();
        if (evict_all_ && !lru_.empty()) {
          status = evict_one();
          break;
        }
        evict_all_ = false;
        status = begin_prepared();
        break;
      case step::prepare:
        status = prepared_after_prepare();
        break;
      case step::execute:
        if (ret_int_ != 0) {
          finish(set_error(statement_error(stmt_->handle)));
          return 0;
        }
        status = prepared_after_execute();
        break;
      case step::stmt_fetch:
        status = prepared_after_fetch();
        break;
      case step::stmt_next:
        if (ret_int_ > 0) {
          finish(statement_error(stmt_->handle));
          return 0;
        }
        status = ret_int_ == 0 ? prepared_after_execute()
                               : prepared_after_next();
        break;
      case step::ping:
        finish(ret_int_ != 0 ? connection_error(false) : caf::error{});
        return 0;
      case step::reset:
        if (ret_int_ != 0) {
          finish(connection_error(false));
          return 0;
        }
        // The server dropped our prepared statements, libmariadb invalidated
        // the handles.
        drop_statement_cache();
        // libmariadb does not parse the OK packet of COM_RESET_CONNECTION, so
        // its status flags are stale; a reset session has no transaction.
        mysql_->server_status &= ~SERVER_STATUS_IN_TRANS;
        // The reset also dropped the session settings of the init
        // statements: apply them again.
        status = begin_setup(false);
        break;
    }
    if (op_ == op_kind::none)
      return 0;
    if (status != 0)
      return status;
  }
}

} // namespace troupe::mariadb
