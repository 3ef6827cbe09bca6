#include "troupe/mariadb/connection.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string.h> // explicit_bzero
#include <fstream>
#include <mutex>
#include <new>

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "mariadb/auth_guard.hpp"
#include "mariadb/codec.hpp"
#include "mariadb/wire.hpp"
#include "troupe/event_loop.hpp"
#include "troupe/option_parsing.hpp"
#include "troupe/sql.hpp"

namespace troupe::mariadb {

using detail::decode_kind;

// -- enums ----------------------------------------------------------------------

std::string to_string(tls_mode x) {
  switch (x) {
    case tls_mode::disabled:
      return "disabled";
    case tls_mode::preferred:
      return "preferred";
    case tls_mode::required:
      return "required";
    case tls_mode::verify_ca:
      return "verify_ca";
    case tls_mode::verify_identity:
      return "verify_identity";
  }
  return "unknown";
}

std::string to_string(flavour x) {
  switch (x) {
    case flavour::unknown:
      return "unknown";
    case flavour::mariadb:
      return "mariadb";
    case flavour::mysql:
      return "mysql";
    case flavour::matrixone:
      return "matrixone";
  }
  return "unknown";
}

// -- connect_options ------------------------------------------------------------

std::string connect_options::address() const {
  if (!socket.empty())
    return "unix:" + socket;
  if (host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string connect_options::describe() const {
  auto out = user.empty() ? address() : fmt::format("{}@{}", user, address());
  if (!database.empty())
    out += "/" + database;
  return out;
}

caf::expected<connect_options>
connect_options::from_dsn(const dsn& x, std::vector<std::string>* unknown) {
  using std::chrono::milliseconds;
  connect_options out;
  out.host = x.host;
  out.port = x.port;
  out.socket = x.socket;
  out.user = x.user;
  out.database = x.database;
  auto timeout = [&](const std::string& key, const std::string& val,
                     milliseconds& dst) -> caf::error {
    auto d = parse_duration(key, val, milliseconds{1}, milliseconds{86400000});
    if (!d)
      return std::move(d.error());
    dst = *d;
    return {};
  };
  for (const auto& [key, val] : x.options) {
    caf::error err;
    if (key == "connect_timeout") {
      err = timeout(key, val, out.connect_timeout);
    } else if (key == "read_timeout") {
      err = timeout(key, val, out.read_timeout);
    } else if (key == "write_timeout") {
      err = timeout(key, val, out.write_timeout);
    } else if (key == "charset") {
      bool ok = !val.empty() && val.size() <= 32
                && std::all_of(val.begin(), val.end(), [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                            || (c >= '0' && c <= '9') || c == '_';
                   });
      auto lower = val;
      for (auto& c : lower)
        if (c >= 'A' && c <= 'Z')
          c = static_cast<char>(c - 'A' + 'a');
      if (!ok)
        err = make_error(errc::invalid_argument,
                         fmt::format("invalid value '{}' for 'charset': "
                                     "expected a character set name",
                                     val));
      else if (lower == "gbk" || lower == "gb18030" || lower == "big5"
               || lower == "sjis" || lower == "cp932")
        // In these a character's second byte can be 0x5C ('\\') or 0x60
        // ('`'): text the server splits differently than the client would
        // let a name or a string literal end early.
        err = make_error(errc::invalid_argument,
                         fmt::format("'charset={}' is refused: in it a "
                                     "backslash or a backtick can be the "
                                     "second byte of a character, which "
                                     "breaks quoting; use utf8mb4",
                                     val));
      else
        out.charset = val;
    } else if (key == "tls" || key == "ssl_mode") {
      static const std::pair<const char*, tls_mode> modes[] = {
        {"disabled", tls_mode::disabled},
        {"preferred", tls_mode::preferred},
        {"required", tls_mode::required},
        {"verify_ca", tls_mode::verify_ca},
        {"verify_identity", tls_mode::verify_identity},
      };
      auto i = std::find_if(std::begin(modes), std::end(modes),
                            [&](const auto& m) { return val == m.first; });
      if (i == std::end(modes))
        err = make_error(errc::invalid_argument,
                         fmt::format("invalid value '{}' for '{}': expected "
                                     "disabled, preferred, required, "
                                     "verify_ca or verify_identity",
                                     val, key));
      else
        out.tls = i->second;
    } else if (key == "tls_ca") {
      out.tls_ca = val;
    } else if (key == "tls_capath") {
      out.tls_capath = val;
    } else if (key == "tls_cert") {
      out.tls_cert = val;
    } else if (key == "tls_key") {
      out.tls_key = val;
    } else if (key == "tls_cipher") {
      out.tls_cipher = val;
    } else if (key == "cleartext_auth" || key == "get_server_public_key") {
      auto b = parse_bool(key, val);
      if (!b)
        err = std::move(b.error());
      else
        (key == "cleartext_auth" ? out.cleartext_auth
                                 : out.get_server_public_key) = *b;
    } else if (key == "server_public_key") {
      if (val.empty())
        err = make_error(errc::invalid_argument,
                         "'server_public_key' needs a file name");
      else
        out.server_public_key = val;
    } else if (key == "init" || (key.size() > 4 && key.compare(0, 4, "init") == 0
                                 && std::all_of(key.begin() + 4, key.end(),
                                                [](char c) {
                                                  return std::isdigit(
                                                    static_cast<unsigned char>(
                                                      c));
                                                }))) {
      out.init_statements.push_back(val);
    } else if (key == "statement_cache_size") {
      auto n = parse_uint(key, val, 1, 65536);
      if (!n)
        err = std::move(n.error());
      else
        out.statement_cache_size = *n;
    } else if (key == "pipelining") {
      auto b = parse_bool(key, val);
      if (!b)
        err = std::move(b.error());
      else
        out.pipelining = *b;
    } else if (key == "password_file" || key == "password_env") {
      // Read by resolve_password below, once every other option is valid.
    } else if (key == "max_result_bytes") {
      auto n = parse_size(key, val, 1024, uint64_t{1} << 40);
      if (!n)
        err = std::move(n.error());
      else
        out.max_result_bytes = *n;
    } else if (unknown != nullptr) {
      unknown->push_back(key);
    } else {
      err = make_error(errc::invalid_argument,
                       fmt::format("unknown DSN option '{}'", key));
    }
    if (err)
      return err;
  }
  if ((out.tls == tls_mode::verify_ca || out.tls == tls_mode::verify_identity)
      && out.tls_ca.empty() && out.tls_capath.empty())
    return make_error(errc::invalid_argument,
                      fmt::format("tls={} needs tls_ca or tls_capath",
                                  to_string(out.tls)));
  auto password = resolve_password(x);
  if (!password)
    return std::move(password.error());
  out.password = std::move(*password);
  return out;
}

// -- connection internals ---------------------------------------------------------

enum class connection::step : uint8_t {
  idle,
  connect,
  query,
  fetch_row,
  free_result,
  next_result,
  close_evicted,
  prepare,
  execute,
  stmt_fetch,
  stmt_next,
  ping,
  reset,
};

namespace {

// Which libmariadb call is in flight; `call_cont` resumes it.
enum call : int {
  no_call,
  call_connect,
  call_real_query,
  call_fetch_row,
  call_free_result,
  call_next_result,
  call_stmt_prepare,
  call_stmt_execute,
  call_stmt_fetch,
  call_stmt_next_result,
  call_stmt_close,
  call_ping,
  call_reset,
};

// Variable-length cells up to this size are read through the bound buffer;
// longer ones are fetched straight into their destination.
constexpr unsigned long inline_buffer_size = 512;

std::once_flag library_init_flag;

unsigned to_seconds(std::chrono::milliseconds x) {
  auto s = (x.count() + 999) / 1000;
  return s < 1 ? 1u : static_cast<unsigned>(s);
}

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

/// One cached prepared statement with its result binding.
struct connection::statement {
  /// The cache key: the default database when prepared, '\x01', the SQL.
  /// Unqualified names resolve against the database at prepare time, so a
  /// statement prepared under another database is another statement.
  std::string key;
  MYSQL_STMT* handle = nullptr;
  unsigned param_count = 0;

  // Pipelining: whether the statement qualifies (a SELECT that reads no
  // user variable or named lock), how its result columns travel (from its
  // last execution through libmariadb; empty before), and whether an
  // answer read by the pipeline changed its metadata, which libmariadb then
  // never saw: such a statement is closed and prepared again before use.
  bool pipelinable = false;
  std::vector<detail::wire_column> wire_cols;
  bool stale = false;
  // The result columns the pipeline last received (when the server sent new
  // metadata to it): the server skips sending them again, so later answers
  // are described with these. Empty: libmariadb's fields are current.
  std::vector<column> wire_columns;

  // Result binding, rebuilt when the decoding of a result changes.
  std::vector<decode_kind> kinds;
  std::vector<MYSQL_BIND> binds;
  struct slot {
    union {
      int64_t i;
      double d;
      float f;
      MYSQL_TIME t;
    };
    std::vector<char> buf;
    unsigned long length = 0;
    my_bool is_null = 0;
    my_bool error = 0;
  };
  std::vector<slot> slots;

  // Parameter binding, rebuilt for every execution.
  std::vector<MYSQL_BIND> param_binds;
  struct param_slot {
    union {
      int64_t i;
      uint64_t u;
      double d;
      MYSQL_TIME t;
    };
    unsigned long length = 0;
  };
  std::vector<param_slot> param_slots;

  ~statement() {
    if (handle != nullptr)
      mysql_stmt_close(handle);
  }
};

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
  if (closing_ && call_ == call_stmt_close) {
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

// -- error mapping -------------------------------------------------------------------

caf::error connection::classify(unsigned code, const char* sqlstate,
                                const char* message, bool connecting) {
  std::string state = sqlstate ? sqlstate : "";
  std::string msg = message ? message : "";
  if (connecting) {
    broken_ = true;
    if (code == CR_PLUGIN_NOT_ALLOWED) {
      auto name = detail::requested_auth_plugin(mysql_);
      if (name.empty() && options_.tls == tls_mode::required)
        // The greeting offered neither TLS nor plugin authentication, so
        // the guard never ran: refused before anything was sent.
        return make_error(errc::connect_failed,
                          fmt::format("cannot connect to {}: tls=required "
                                      "but the server does not offer TLS; "
                                      "nothing was sent to it",
                                      options_.address()),
                          static_cast<uint16_t>(code), state, true);
      return make_error(errc::auth_failed,
                        fmt::format("cannot connect to {}: the server asked "
                                    "for authentication method '{}', which "
                                    "is not allowed on this connection: "
                                    "without TLS it would expose the "
                                    "password (use tls=required or "
                                    "verify_*, server_public_key=FILE, or "
                                    "opt in with cleartext_auth=true or "
                                    "get_server_public_key=true)",
                                    options_.address(),
                                    name.empty() ? "?" : name),
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
  if (code == 1969 || code == 3024) // max_statement_time / max_execution_time
    return make_error(errc::query_timeout, msg, static_cast<uint16_t>(code),
                      state, false);
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
    case call_connect:
      return mysql_real_connect_cont(&ret_mysql_, mysql_, events);
    case call_real_query:
      return mysql_real_query_cont(&ret_int_, mysql_, events);
    case call_fetch_row:
      return mysql_fetch_row_cont(&ret_row_, res_, events);
    case call_free_result:
      return mysql_free_result_cont(res_, events);
    case call_next_result:
      return mysql_next_result_cont(&ret_int_, mysql_, events);
    case call_stmt_prepare:
      return mysql_stmt_prepare_cont(&ret_int_, stmt_->handle, events);
    case call_stmt_execute:
      return mysql_stmt_execute_cont(&ret_int_, stmt_->handle, events);
    case call_stmt_fetch:
      return mysql_stmt_fetch_cont(&ret_int_, stmt_->handle, events);
    case call_stmt_next_result:
      return mysql_stmt_next_result_cont(&ret_int_, stmt_->handle, events);
    case call_stmt_close:
      return mysql_stmt_close_cont(&ret_bool_, closing_->handle, events);
    case call_ping:
      return mysql_ping_cont(&ret_int_, mysql_, events);
    case call_reset:
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

void connection::finish(caf::error err) {
  if (op_ == op_kind::query || op_ == op_kind::execute)
    track_session_state();
  in_setup_ = false;
  error_ = std::move(err);
  op_ = op_kind::none;
  step_ = step::idle;
  call_ = no_call;
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

size_t connection::effective_max_packet() const {
  // A packet larger than the whole result may be cannot be kept anyway;
  // the slack lets a row somewhat over the limit be read and discarded
  // (result_too_large, the connection stays usable) instead of dropping the
  // connection.
  constexpr size_t slack = size_t{16} << 20;
  return std::min(options_.max_allowed_packet,
                  options_.max_result_bytes + slack);
}

// What a result set and its columns keep in memory besides the rows.
static size_t retained_bytes(const result_set& rs) {
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

// -- connect ---------------------------------------------------------------------------

// Which authentication methods the server may ask for, by TLS mode (see
// auth_guard.hpp and docs/security.md):
// - verify_ca, verify_identity: libmariadb refuses before authenticating
//   when TLS is not negotiated or the server is not the one named: any.
// - required: the guard refuses before anything is sent when the server
//   offers no TLS; then any.
// - preferred: the guard learns whether TLS came up; without it, only
//   methods that do not expose the password (or the DSN's opt-ins).
// - disabled: the same, decided here (a local socket counts as protected).
caf::error connection::restrict_authentication() {
  static constexpr const char* any = "mysql_native_password,client_ed25519,"
                                     "caching_sha2_password,sha256_password,"
                                     "mysql_clear_password,dialog";
  if (options_.tls == tls_mode::verify_ca
      || options_.tls == tls_mode::verify_identity)
    return {};
  auto* m = mysql_;
  std::string plain = "mysql_native_password,client_ed25519";
  if (!options_.server_public_key.empty()) {
    // libmariadb asks the server for its key when it cannot read the file:
    // make sure it can.
    std::ifstream key{options_.server_public_key};
    std::string first;
    if (!key || !std::getline(key, first)
        || first.rfind("-----BEGIN PUBLIC KEY-----", 0) != 0)
      return make_error(errc::invalid_argument,
                        "server_public_key: cannot read a PEM public key "
                        "from the file named");
    mysql_options(m, MYSQL_SERVER_PUBLIC_KEY,
                  options_.server_public_key.c_str());
  }
  if (!options_.server_public_key.empty() || options_.get_server_public_key)
    plain += ",caching_sha2_password,sha256_password";
  if (options_.cleartext_auth)
    plain += ",mysql_clear_password,dialog";
  bool local = !options_.socket.empty();
  if (options_.tls == tls_mode::disabled) {
    mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, local ? any : plain.c_str());
    return {};
  }
  if (!detail::register_auth_guard(m))
    return make_error(errc::internal,
                      fmt::format("cannot register the authentication "
                                  "guard: {}",
                                  mysql_error(m)));
  detail::auth_policy policy;
  policy.require_tls = options_.tls == tls_mode::required;
  policy.with_tls = any;
  policy.without_tls = plain;
  // Before the guard runs, allow only what is safe if it never does.
  std::string initial = detail::auth_guard_name;
  if (!policy.require_tls)
    initial += "," + (local ? std::string{any} : plain);
  detail::set_auth_policy(m, std::move(policy));
  mysql_optionsv(m, MYSQL_DEFAULT_AUTH, detail::auth_guard_name);
  mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, initial.c_str());
  return {};
}

int connection::start_connect() {
  if (mysql_ != nullptr || op_ != op_kind::none) {
    finish(make_error(errc::internal, "connect on a used connection object"));
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  broken_ = false;
  if (!options_.database.empty())
    if (auto q = sql::quote_identifier(options_.database); !q) {
      finish(make_error(errc::invalid_argument,
                        "the database name: " + troupe::info(q.error()).message));
      return 0;
    }
  mysql_ = mysql_init(nullptr);
  if (mysql_ == nullptr)
    throw std::bad_alloc{};
  op_ = op_kind::connect;
  auto* m = mysql_;
  mysql_options(m, MYSQL_OPT_NONBLOCK, nullptr);
  unsigned ct = to_seconds(options_.connect_timeout);
  unsigned rt = to_seconds(options_.read_timeout);
  unsigned wt = to_seconds(options_.write_timeout);
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rt);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &wt);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, options_.charset.c_str());
  unsigned long max_packet = effective_max_packet();
  mysql_options(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
  my_bool off = 0;
  mysql_options(m, MYSQL_OPT_RECONNECT, &off); // reconnects are the pool's job
  unsigned local_infile = 0; // LOAD DATA LOCAL lets a server read client files
  mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &local_infile);
  unsigned protocol = options_.socket.empty() ? MYSQL_PROTOCOL_TCP
                                              : MYSQL_PROTOCOL_SOCKET;
  mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
  if (options_.tls != tls_mode::disabled) {
    auto opt = [](const std::string& s) {
      return s.empty() ? nullptr : s.c_str();
    };
    mysql_ssl_set(m, opt(options_.tls_key), opt(options_.tls_cert),
                  opt(options_.tls_ca), opt(options_.tls_capath),
                  opt(options_.tls_cipher));
    // mysql_ssl_set asked for TLS (use_ssl): with `preferred` libmariadb
    // uses it when the server offers it and goes on in plain text when not.
    // (MYSQL_OPT_SSL_ENFORCE=0 here would switch TLS off altogether.)
    my_bool verify = options_.tls == tls_mode::verify_ca
                     || options_.tls == tls_mode::verify_identity;
    mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  if (auto err = restrict_authentication(); err) {
    finish(std::move(err));
    return 0;
  }
  step_ = step::connect;
  call_ = call_connect;
  auto opt_str = [](const std::string& s) {
    return s.empty() ? nullptr : s.c_str();
  };
  int status = mysql_real_connect_start(
    &ret_mysql_, m, options_.socket.empty() ? options_.host.c_str() : nullptr,
    options_.user.c_str(), options_.password.c_str(),
    opt_str(options_.database), options_.socket.empty() ? options_.port : 0,
    opt_str(options_.socket), CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS);
  return run(status);
}

void connection::read_server_info() {
  info_.version = mysql_get_server_info(mysql_);
  info_.version_number = static_cast<uint32_t>(mysql_get_server_version(mysql_));
  info_.thread_id = mysql_thread_id(mysql_);
  if (info_.version.find("MatrixOne") != std::string::npos)
    info_.kind = flavour::matrixone;
  else if (info_.version.find("MariaDB") != std::string::npos)
    info_.kind = flavour::mariadb;
  else
    info_.kind = flavour::mysql;
  unsigned long ext = 0;
  if (mariadb_get_infov(mysql_, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES,
                        &ext)
      == 0)
    info_.bulk_operations = (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32))
                            != 0;
  // libmariadb asks for both whenever the server offers them (MariaDB only).
  unsigned long caps = 0;
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps);
  bool mariadb_ext = !(caps & CLIENT_MYSQL);
  cache_metadata_ = mariadb_ext
                    && (ext & (MARIADB_CLIENT_CACHE_METADATA >> 32)) != 0;
  extended_metadata_ = mariadb_ext
                       && (ext & (MARIADB_CLIENT_EXTENDED_METADATA >> 32)) != 0;
  // The pipeline decodes the classic protocol: EOF packets, no compression.
  unsigned long client = 0;
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_CLIENT_CAPABILITIES, &client);
  constexpr unsigned long deprecate_eof = 1ul << 24; // not in libmariadb 3.3
  wire_capable_ = !(client & deprecate_eof) && !(client & CLIENT_COMPRESS);
  // The metadata cache is asked for by libmariadb 3.3 and later (the one we
  // build against); an older one loaded at run time would not, and the
  // answers would look different: no pipelining then. MatrixOne's protocol
  // is untested with pipelining: libmariadb only.
  if (cache_metadata_ && mysql_get_client_version() < 30300)
    wire_capable_ = false;
  if (info_.kind == flavour::matrixone)
    wire_capable_ = false;
  auto cipher = mysql_get_ssl_cipher(mysql_);
  info_.tls_cipher = cipher ? cipher : "";
}

// -- text protocol ------------------------------------------------------------------------

int connection::start_query(std::string sql) {
  if (op_ != op_kind::none || !connected()) {
    error_ = make_error(errc::internal, connected() ? "connection busy"
                                                    : "not connected");
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  result_bytes_ = 0;
  too_large_ = false;
  op_ = op_kind::query;
  return run(begin_text(std::move(sql)));
}

int connection::begin_text(std::string sql) {
  sql_ = std::move(sql);
  step_ = step::query;
  call_ = call_real_query;
  return mysql_real_query_start(&ret_int_, mysql_, sql_.data(), sql_.size());
}

// Helpers return the status of the call they started; 0 means that call
// completed at once (then `advance` processes it) or the operation finished.
int connection::run(int status) {
  if (status != 0 || op_ == op_kind::none)
    return status;
  return advance();
}

void connection::finish_ok_set() {
  result_set rs;
  auto affected = mysql_affected_rows(mysql_);
  rs.affected_rows = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
  rs.last_insert_id = mysql_insert_id(mysql_);
  rs.warnings = mysql_warning_count(mysql_);
  if (auto info = mysql_info(mysql_))
    rs.info = info;
  keep_set(std::move(rs));
}

// Keeps a result set if the result's budget (max_result_bytes) allows its
// metadata and info string; a set beyond it is dropped, and the statement
// ends with result_too_large.
void connection::keep_set(result_set rs) {
  if (add_bytes(retained_bytes(rs)))
    result_.sets().push_back(std::move(rs));
}

// Starts a result set whose rows follow. Over the budget its rows are read
// and dropped; it then takes the place of the last set instead of adding
// one, so that a server sending set after set cannot grow the memory.
void connection::start_row_set(result_set rs) {
  add_bytes(retained_bytes(rs));
  if (too_large_ && !result_.sets().empty())
    result_.sets().back() = std::move(rs);
  else
    result_.sets().push_back(std::move(rs));
}

// Runs after the text query (or a next_result) succeeded: starts reading the
// rows of the current result set, or records an OK packet.
int connection::text_after_query() {
  if (mysql_field_count(mysql_) == 0) {
    finish_ok_set();
    return text_after_next();
  }
  res_ = mysql_use_result(mysql_);
  if (res_ == nullptr) {
    finish(connection_error(false));
    return 0;
  }
  result_set rs;
  auto n = mysql_num_fields(res_);
  auto* fields = mysql_fetch_fields(res_);
  text_kinds_.clear();
  for (unsigned i = 0; i < n; ++i) {
    rs.columns().push_back(detail::to_column(fields[i]));
    text_kinds_.push_back(static_cast<uint8_t>(detail::decode_kind_of(fields[i])));
  }
  start_row_set(std::move(rs));
  step_ = step::fetch_row;
  call_ = call_fetch_row;
  return mysql_fetch_row_start(&ret_row_, res_);
}

// Runs after a row was fetched (or the end / an error was reached).
int connection::text_after_fetch() {
  if (ret_row_ != nullptr) {
    auto& rs = result_.sets().back();
    auto n = text_kinds_.size();
    auto* lengths = mysql_fetch_lengths(res_);
    size_t row_bytes = 0;
    for (size_t i = 0; i < n; ++i)
      row_bytes += lengths[i] + sizeof(value);
    if (add_bytes(row_bytes)) {
      for (size_t i = 0; i < n; ++i) {
        value v;
        if (ret_row_[i] != nullptr
            && !detail::decode_text(static_cast<decode_kind>(text_kinds_[i]),
                                    std::string_view{ret_row_[i], lengths[i]},
                                    v)) {
          // Keep reading so the connection stays in sync; report at the end.
          if (!error_)
            error_ = make_error(errc::internal,
                                fmt::format("cannot decode the value of column "
                                            "'{}' ({})",
                                            rs.columns()[i].name,
                                            to_string(rs.columns()[i].type)));
        }
        rs.cells().push_back(std::move(v));
      }
    } else {
      rs.cells().clear();
    }
    return next_fetch();
  }
  if (mysql_errno(mysql_) != 0) {
    auto err = connection_error(false);
    res_->handle = nullptr;
    mysql_free_result(res_);
    res_ = nullptr;
    finish(std::move(err));
    return 0;
  }
  result_.sets().back().warnings = mysql_warning_count(mysql_);
  step_ = step::free_result;
  call_ = call_free_result;
  return mysql_free_result_start(res_);
}

// Runs when a result set is complete: moves to the next one or finishes.
int connection::text_after_next() {
  if (mysql_more_results(mysql_)) {
    step_ = step::next_result;
    call_ = call_next_result;
    return mysql_next_result_start(&ret_int_, mysql_);
  }
  // The statement is complete.
  if (in_setup_) {
    // A session setup statement: its result is not the caller's.
    const auto& item = setup_[setup_index_];
    if (item.probe)
      if (auto wt = result_.scalar<uint64_t>())
        info_.wait_timeout = static_cast<uint32_t>(*wt);
    if (item.tracker)
      tracking_ = true;
    result_ = result{};
    return next_setup();
  }
  if (too_large_) {
    result_ = result{};
    finish(make_error(errc::result_too_large,
                      fmt::format("the result exceeded max_result_bytes ({} "
                                  "bytes); its rows were read and discarded",
                                  options_.max_result_bytes)));
    return 0;
  }
  finish(std::move(error_));
  return 0;
}

// -- session setup ----------------------------------------------------------------------------

// The statements that prepare a fresh (or reset) session: the user's init
// statements, state-change tracking (so the pool knows when a session needs a
// reset before reuse) and, after connecting, reading wait_timeout.
int connection::begin_setup(bool after_connect) {
  setup_.clear();
  // COM_RESET_CONNECTION keeps the current database: return to ours.
  if (!after_connect && !options_.database.empty())
    // (start_connect checked that the name quotes.)
    setup_.push_back({"USE " + *sql::quote_identifier(options_.database),
                      true, false, false});
  for (const auto& x : options_.init_statements)
    setup_.push_back({x, true, false, false});
  setup_.push_back(
    {"SET SESSION session_track_state_change = 1", false, false, true});
  if (after_connect)
    setup_.push_back({"SELECT @@SESSION.wait_timeout", false, true, false});
  in_setup_ = true;
  setup_index_ = 0;
  return begin_text(setup_[0].sql);
}

int connection::next_setup() {
  if (++setup_index_ < setup_.size())
    return begin_text(setup_[setup_index_].sql);
  in_setup_ = false;
  state_changed_ = false;
  finish();
  return 0;
}

// Notes whether the statement that just ended changed the session's state.
// The server flags changes in the status of OK packets, but not for
// statements returning rows (`SELECT @v := 1`, `SELECT GET_LOCK(...)`) nor
// for table locks; those are judged by the statement's text
// (`sql::statement_traits::session_state`).
void connection::track_session_state() {
  if (mysql_ == nullptr)
    return;
  if ((mysql_->server_status & SERVER_SESSION_STATE_CHANGED) != 0
      || sql::classify(sql_).session_state)
    state_changed_ = true;
}

// -- prepared statements --------------------------------------------------------------------

int connection::start_execute(std::string sql, std::vector<value> params) {
  if (op_ != op_kind::none || !connected()) {
    error_ = make_error(errc::internal, connected() ? "connection busy"
                                                    : "not connected");
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  result_bytes_ = 0;
  too_large_ = false;
  retried_prepare_ = false;
  op_ = op_kind::execute;
  sql_ = std::move(sql);
  params_ = std::move(params);
  return run(begin_prepared());
}

int connection::evict_one() {
  closing_ = std::move(lru_.back());
  lru_.pop_back();
  cache_.erase(closing_->key);
  ++stats_.statements_evicted;
  step_ = step::close_evicted;
  call_ = call_stmt_close;
  return mysql_stmt_close_start(&ret_bool_, closing_->handle);
}

// The cache key of `sql` into key_ (reusing its buffer): the default
// database, '\x01', the SQL (see `statement::key`).
void connection::set_cache_key(const std::string& sql) {
  key_.clear();
  if (mysql_->db != nullptr)
    key_ = mysql_->db; // kept current by libmariadb's session tracking
  key_ += '\x01';
  key_ += sql;
}

// Finds the statement in the cache or prepares it (evicting first when the
// cache is full).
int connection::begin_prepared() {
  set_cache_key(sql_);
  if (auto i = cache_.find(key_); i != cache_.end()) {
    if ((*i->second)->stale) {
      // libmariadb holds outdated metadata for it: prepare it afresh.
      lru_.splice(lru_.end(), lru_, i->second);
      return evict_one();
    }
    lru_.splice(lru_.begin(), lru_, i->second);
    stmt_ = lru_.front().get();
    ++stats_.statement_cache_hits;
    return prepared_execute();
  }
  if (!lru_.empty() && lru_.size() >= options_.statement_cache_size)
    return evict_one();
  auto st = std::make_unique<statement>();
  st->key = key_;
  st->handle = mysql_stmt_init(mysql_);
  if (st->handle == nullptr) {
    finish(make_error(errc::internal, "mysql_stmt_init failed"));
    return 0;
  }
  lru_.push_front(std::move(st));
  stmt_ = lru_.front().get();
  step_ = step::prepare;
  call_ = call_stmt_prepare;
  return mysql_stmt_prepare_start(&ret_int_, stmt_->handle, sql_.data(),
                                  sql_.size());
}

int connection::prepared_after_prepare() {
  if (ret_int_ != 0) {
    auto code = mysql_stmt_errno(stmt_->handle);
    auto err = statement_error(stmt_->handle);
    // The failed statement was never prepared: closing it sends nothing.
    lru_.pop_front();
    stmt_ = nullptr;
    if (code == ER_MAX_PREPARED_STMT_COUNT_REACHED && !lru_.empty()
        && !retried_prepare_) {
      // The server-wide statement limit is reached: give back all of ours and
      // try once more.
      retried_prepare_ = true;
      evict_all_ = true;
      return evict_one();
    }
    finish(std::move(err));
    return 0;
  }
  stmt_->param_count = mysql_stmt_param_count(stmt_->handle);
  {
    auto traits = sql::classify(sql_);
    auto upper = sql_;
    for (auto& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    stmt_->pipelinable = traits.keyword == "SELECT" && !traits.opaque
                         && sql_.find('@') == std::string::npos
                         && upper.find("GET_LOCK") == std::string::npos;
  }
  cache_.emplace(stmt_->key, lru_.begin());
  ++stats_.statements_prepared;
  return prepared_execute();
}

int connection::prepared_execute() {
  auto& st = *stmt_;
  if (params_.size() != st.param_count) {
    finish(make_error(errc::invalid_argument,
                      fmt::format("the statement has {} parameter(s) but {} "
                                  "value(s) were given",
                                  st.param_count, params_.size())));
    return 0;
  }
  static char empty_buffer[1] = {0};
  st.param_binds.assign(params_.size(), MYSQL_BIND{});
  st.param_slots.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& b = st.param_binds[i];
    auto& s = st.param_slots[i];
    const auto& p = params_[i];
    switch (p.kind()) {
      case value_kind::null:
        b.buffer_type = MYSQL_TYPE_NULL;
        break;
      case value_kind::int64:
        s.i = *p.get_if<int64_t>();
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &s.i;
        break;
      case value_kind::uint64:
        s.u = *p.get_if<uint64_t>();
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &s.u;
        b.is_unsigned = 1;
        break;
      case value_kind::float64:
        s.d = *p.get_if<double>();
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = &s.d;
        break;
      case value_kind::decimal:
      case value_kind::string:
      case value_kind::bytes: {
        const char* data;
        size_t size;
        if (auto x = p.get_if<std::string>()) {
          data = x->data();
          size = x->size();
          b.buffer_type = MYSQL_TYPE_STRING;
        } else if (auto x = p.get_if<decimal>()) {
          data = x->text.data();
          size = x->text.size();
          b.buffer_type = MYSQL_TYPE_NEWDECIMAL;
        } else {
          auto& bs = *p.get_if<bytes>();
          data = reinterpret_cast<const char*>(bs.data());
          size = bs.size();
          b.buffer_type = MYSQL_TYPE_BLOB;
        }
        // A null buffer pointer would be sent as NULL.
        b.buffer = size == 0 ? empty_buffer : const_cast<char*>(data);
        s.length = static_cast<unsigned long>(size);
        b.buffer_length = s.length;
        b.length = &s.length;
        break;
      }
      case value_kind::date:
      case value_kind::time:
      case value_kind::datetime:
        detail::to_mysql_time(p, s.t);
        b.buffer_type = p.kind() == value_kind::date   ? MYSQL_TYPE_DATE
                        : p.kind() == value_kind::time ? MYSQL_TYPE_TIME
                                                       : MYSQL_TYPE_DATETIME;
        b.buffer = &s.t;
        break;
    }
  }
  if (!st.param_binds.empty()
      && mysql_stmt_bind_param(st.handle, st.param_binds.data()) != 0) {
    finish(statement_error(st.handle));
    return 0;
  }
  step_ = step::execute;
  call_ = call_stmt_execute;
  return mysql_stmt_execute_start(&ret_int_, st.handle);
}

// Runs after execute (or stmt_next_result) succeeded: records an OK packet or
// binds the result columns and starts fetching rows.
int connection::prepared_after_execute() {
  auto& st = *stmt_;
  auto* h = st.handle;
  auto n = mysql_stmt_field_count(h);
  if (n == 0) {
    result_set rs;
    auto affected = mysql_stmt_affected_rows(h);
    rs.affected_rows = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
    rs.last_insert_id = mysql_stmt_insert_id(h);
    rs.warnings = mysql_warning_count(mysql_);
    if (auto info = mysql_info(mysql_))
      rs.info = info;
    keep_set(std::move(rs));
    return prepared_after_next();
  }
  // How a pipelined execution decodes its rows, from the latest metadata.
  st.wire_cols.resize(n);
  for (unsigned i = 0; i < n; ++i)
    st.wire_cols[i] = detail::to_wire_column(h->fields[i]);
  // The metadata may differ from the last execution (ALTER TABLE, the sets
  // of a CALL): always describe the columns from the current fields.
  result_set rs;
  rs.columns().reserve(n);
  for (unsigned i = 0; i < n; ++i)
    rs.columns().push_back(detail::to_column(h->fields[i]));
  // Rebuild the buffers only when the decoding changes.
  bool same = st.kinds.size() == n;
  for (unsigned i = 0; same && i < n; ++i)
    same = st.kinds[i] == detail::decode_kind_of(h->fields[i]);
  if (!same) {
    st.kinds.clear();
    st.binds.assign(n, MYSQL_BIND{});
    st.slots.clear();
    st.slots.resize(n);
    for (unsigned i = 0; i < n; ++i) {
      auto kind = detail::decode_kind_of(h->fields[i]);
      st.kinds.push_back(kind);
      auto& b = st.binds[i];
      auto& s = st.slots[i];
      b.is_null = &s.is_null;
      b.error = &s.error;
      b.length = &s.length;
      switch (kind) {
        case decode_kind::null:
        case decode_kind::int64:
        case decode_kind::uint64:
          b.buffer_type = MYSQL_TYPE_LONGLONG;
          b.buffer = &s.i;
          b.is_unsigned = kind == decode_kind::uint64;
          break;
        case decode_kind::float32:
          b.buffer_type = MYSQL_TYPE_FLOAT;
          b.buffer = &s.f;
          break;
        case decode_kind::float64:
          b.buffer_type = MYSQL_TYPE_DOUBLE;
          b.buffer = &s.d;
          break;
        case decode_kind::date:
          b.buffer_type = MYSQL_TYPE_DATE;
          b.buffer = &s.t;
          break;
        case decode_kind::time:
          b.buffer_type = MYSQL_TYPE_TIME;
          b.buffer = &s.t;
          break;
        case decode_kind::datetime:
          b.buffer_type = MYSQL_TYPE_DATETIME;
          b.buffer = &s.t;
          break;
        case decode_kind::decimal:
        case decode_kind::string:
        case decode_kind::bytes:
          s.buf.resize(inline_buffer_size);
          b.buffer_type = MYSQL_TYPE_BLOB;
          b.buffer = s.buf.data();
          b.buffer_length = inline_buffer_size;
          break;
      }
    }
  }
  // libmariadb resets its copy of the bindings after next_result and when a
  // statement may return several sets: bind every time (a copy, no I/O).
  if (mysql_stmt_bind_result(h, st.binds.data()) != 0) {
    finish(statement_error(h));
    return 0;
  }
  start_row_set(std::move(rs));
  step_ = step::stmt_fetch;
  call_ = call_stmt_fetch;
  return mysql_stmt_fetch_start(&ret_int_, h);
}

int connection::prepared_after_fetch() {
  auto& st = *stmt_;
  auto* h = st.handle;
  if (ret_int_ == 0 || ret_int_ == MYSQL_DATA_TRUNCATED) {
    auto& rs = result_.sets().back();
    auto n = st.kinds.size();
    size_t row_bytes = 0;
    for (size_t i = 0; i < n; ++i)
      row_bytes += sizeof(value) + (st.slots[i].is_null ? 0 : st.slots[i].length);
    if (add_bytes(row_bytes)) {
      for (size_t i = 0; i < n; ++i) {
        auto& s = st.slots[i];
        if (s.is_null) {
          rs.cells().emplace_back();
          continue;
        }
        switch (st.kinds[i]) {
          case decode_kind::null:
            rs.cells().emplace_back();
            break;
          case decode_kind::int64:
            rs.cells().emplace_back(s.i);
            break;
          case decode_kind::uint64:
            rs.cells().emplace_back(static_cast<uint64_t>(s.i));
            break;
          case decode_kind::float32:
            rs.cells().emplace_back(detail::widen_float(s.f));
            break;
          case decode_kind::float64:
            rs.cells().emplace_back(s.d);
            break;
          case decode_kind::date:
          case decode_kind::time:
          case decode_kind::datetime:
            rs.cells().push_back(detail::from_mysql_time(st.kinds[i], s.t));
            break;
          case decode_kind::decimal:
          case decode_kind::string:
          case decode_kind::bytes: {
            std::string text;
            if (s.length <= inline_buffer_size) {
              text.assign(s.buf.data(), s.length);
            } else {
              // Too long for the bound buffer: fetch it straight into place
              // (no I/O, the row is already in memory).
              text.resize(s.length);
              MYSQL_BIND b{};
              unsigned long len = 0;
              b.buffer_type = MYSQL_TYPE_BLOB;
              b.buffer = text.data();
              b.buffer_length = s.length;
              b.length = &len;
              if (mysql_stmt_fetch_column(h, &b, static_cast<unsigned>(i), 0)
                  != 0) {
                if (!error_)
                  error_ = statement_error(h);
              }
            }
            if (st.kinds[i] == decode_kind::string)
              rs.cells().emplace_back(std::move(text));
            else if (st.kinds[i] == decode_kind::decimal)
              rs.cells().emplace_back(decimal{std::move(text)});
            else
              rs.cells().emplace_back(bytes(text.begin(), text.end()));
            break;
          }
        }
      }
    } else {
      rs.cells().clear();
    }
    return next_fetch();
  }
  if (ret_int_ != MYSQL_NO_DATA) {
    finish(statement_error(h));
    return 0;
  }
  result_.sets().back().warnings = mysql_warning_count(mysql_);
  return prepared_after_next();
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
    call_ = call_fetch_row;
    return mysql_fetch_row_start(&ret_row_, res_);
  }
  call_ = call_stmt_fetch;
  return mysql_stmt_fetch_start(&ret_int_, stmt_->handle);
}

int connection::prepared_after_next() {
  if (mysql_stmt_more_results(stmt_->handle)) {
    step_ = step::stmt_next;
    call_ = call_stmt_next_result;
    return mysql_stmt_next_result_start(&ret_int_, stmt_->handle);
  }
  if (too_large_) {
    result_ = result{};
    finish(make_error(errc::result_too_large,
                      fmt::format("the result exceeded max_result_bytes ({} "
                                  "bytes); its rows were read and discarded",
                                  options_.max_result_bytes)));
    return 0;
  }
  finish(std::move(error_));
  return 0;
}

// -- pipelining ------------------------------------------------------------------------------

struct connection::wire_call {
  enum class state : uint8_t { first, columns, columns_eof, rows };
  statement* st = nullptr;
  state at = state::first;
  uint64_t columns_left = 0;
  // Column layouts while the answer's own metadata arrives.
  std::vector<detail::wire_column> fresh;
  result res;
  size_t bytes = 0;
  bool too_large = false;
  caf::error err;
  // The server status after this answer (while it is taken, the connection
  // reports it, not that of answers read after it).
  uint16_t status = 0;
  bool has_status = false;
};

bool connection::pipeline_send(const std::string& sql,
                               const std::vector<value>& params) {
  if (!options_.pipelining || !connected() || op_ != op_kind::none
      || !wire_capable_ || !info_.tls_cipher.empty()
      || mysql_->status != MYSQL_STATUS_READY
      || (mysql_->server_status & SERVER_MORE_RESULTS_EXIST))
    return false;
  set_cache_key(sql);
  auto i = cache_.find(key_);
  if (i == cache_.end())
    return false;
  auto& st = **i->second;
  if (!st.pipelinable || st.stale || st.wire_cols.empty()
      || st.param_count != params.size())
    return false;
  if (!detail::encode_execute(static_cast<uint32_t>(st.handle->stmt_id),
                              params, wire_out_))
    return false;
  lru_.splice(lru_.begin(), lru_, i->second);
  ++stats_.statement_cache_hits;
  ++stats_.executions_pipelined;
  auto c = std::make_unique<wire_call>();
  c->st = &st;
  wire_.push_back(std::move(c));
  return true;
}

int connection::pipeline_write() {
  while (wire_out_pos_ < wire_out_.size() && !broken_) {
    auto n = ::send(socket(), wire_out_.data() + wire_out_pos_,
                    wire_out_.size() - wire_out_pos_,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      wire_out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return io_write;
    wire_lost(fmt::format("sending failed: {}",
                          n < 0 ? std::strerror(errno) : "nothing written"));
    return 0;
  }
  wire_out_.clear();
  wire_out_pos_ = 0;
  return 0;
}

void connection::pipeline_read() {
  // Up to 256 KiB per call: a long result gives the loop back in between.
  char buf[64 * 1024];
  for (int round = 0; round < 4 && !broken_; ++round) {
    auto n = ::recv(socket(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      wire_lost(n == 0 ? "the server closed it" : std::strerror(errno));
      return;
    }
    // Usually every packet arrives whole: decode straight from the buffer
    // and keep only an incomplete tail.
    std::string_view in{buf, static_cast<size_t>(n)};
    bool stashed = wire_in_pos_ < wire_in_.size();
    if (stashed) {
      wire_in_.append(buf, static_cast<size_t>(n));
      in = std::string_view{wire_in_}.substr(wire_in_pos_);
    }
    size_t used_total = 0;
    while (!broken_) {
      std::string_view payload;
      bool continues = false;
      auto used = detail::next_packet(in.substr(used_total), payload,
                                      continues);
      if (used == 0)
        break;
      used_total += used;
      if (wire_done_ == wire_.size()) {
        wire_lost("the server sent data nobody asked for");
        return;
      }
      if (continues || !wire_joined_.empty()) {
        wire_joined_.append(payload);
        if (wire_joined_.size() > effective_max_packet()) {
          wire_lost("a packet exceeds max_result_bytes + 16 MiB (or "
                    "max_allowed_packet)");
          return;
        }
        if (continues)
          continue;
        payload = wire_joined_;
      }
      bool ok = wire_packet(payload);
      wire_joined_.clear();
      if (!ok) {
        wire_lost("malformed answer to a pipelined execution");
        return;
      }
    }
    if (stashed) {
      wire_in_pos_ += used_total;
      if (wire_in_pos_ == wire_in_.size()) {
        wire_in_.clear();
        wire_in_pos_ = 0;
      } else if (wire_in_pos_ >= sizeof(buf)) {
        // Keep only the incomplete packet, not everything read before it.
        wire_in_.erase(0, wire_in_pos_);
        wire_in_pos_ = 0;
      }
    } else if (used_total < in.size()) {
      wire_in_.assign(in.substr(used_total));
      wire_in_pos_ = 0;
    }
    if (static_cast<size_t>(n) < sizeof(buf))
      return;
  }
}

// One packet of the answer to the oldest unfinished call. False when it
// makes no sense at this point (the connection is then out of sync).
bool connection::wire_packet(std::string_view payload) {
  using state = wire_call::state;
  auto& c = *wire_[wire_done_];
  auto head = payload.empty() ? 0 : static_cast<uint8_t>(payload.front());
  auto note_status = [this, &c](uint16_t status, uint16_t warnings) {
    c.status = status;
    c.has_status = true;
    mysql_->server_status = status;
    mysql_->warning_count = warnings;
    if (status & SERVER_SESSION_STATE_CHANGED)
      state_changed_ = true;
  };
  auto& sets = c.res.sets();
  if (head == 0xFF && (c.at == state::first || c.at == state::rows)) {
    // The statement failed (before or while sending rows): it alone.
    detail::err_packet e;
    if (!detail::parse_err(payload, e))
      return false;
    wire_finish(c, classify(e.code, e.sqlstate.c_str(), e.message.c_str(),
                            false));
    return true;
  }
  switch (c.at) {
    case state::first: {
      if (head == 0x00) {
        detail::ok_packet ok;
        if (!detail::parse_ok(payload, ok,
                              (mysql_->server_capabilities
                               & CLIENT_SESSION_TRACKING)
                                != 0))
          return false;
        result_set rs;
        rs.affected_rows = ok.affected_rows;
        rs.last_insert_id = ok.last_insert_id;
        rs.warnings = ok.warnings;
        rs.info = std::move(ok.info);
        if (wire_charge(c, retained_bytes(rs)))
          sets.push_back(std::move(rs));
        note_status(ok.status, ok.warnings);
        if (!(ok.status & SERVER_MORE_RESULTS_EXIST))
          wire_finish(c, {});
        return true;
      }
      if (head == 0xFB) // LOCAL INFILE request: never for a SELECT
        return false;
      uint64_t n = 0;
      uint64_t follows = 1;
      constexpr uint64_t max_columns = 4096; // MariaDB's limit per table
      if (!detail::read_lenenc(payload, n) || n == 0 || n > max_columns)
        return false;
      if (cache_metadata_) {
        if (payload.empty())
          return false;
        follows = static_cast<uint8_t>(payload.front());
      }
      // Over the budget a new set takes the place of the last one (its rows
      // are read and dropped), as in the libmariadb path.
      if (c.too_large && !sets.empty())
        sets.back() = result_set{};
      else
        sets.emplace_back();
      auto& cols = sets.back().columns();
      cols.reserve(n);
      if (follows) {
        c.fresh.clear();
        c.fresh.reserve(n);
        c.columns_left = n;
        c.at = state::columns;
        return true;
      }
      // Unchanged since the server last sent them: to the pipeline (an
      // earlier answer) or to libmariadb.
      auto& st = *c.st;
      if (n != st.wire_cols.size())
        return false;
      if (!st.wire_columns.empty()) {
        cols = st.wire_columns;
      } else {
        auto* h = st.handle;
        if (h->fields == nullptr || mysql_stmt_field_count(h) != n)
          return false;
        for (unsigned i = 0; i < n; ++i)
          cols.push_back(detail::to_column(h->fields[i]));
      }
      wire_charge(c, retained_bytes(sets.back()));
      c.at = state::columns_eof;
      return true;
    }
    case state::columns: {
      column col;
      detail::wire_column wc;
      if (!detail::parse_column(payload, extended_metadata_, col, wc))
        return false;
      sets.back().columns().push_back(std::move(col));
      c.fresh.push_back(wc);
      if (--c.columns_left == 0) {
        c.at = state::columns_eof;
        // From now on the statement's answers look like this, also those of
        // executions already on the wire (the server will not send these
        // again). libmariadb never saw them: the statement is prepared
        // afresh before libmariadb runs it next.
        c.st->wire_cols = std::move(c.fresh);
        c.fresh.clear();
        c.st->wire_columns = sets.back().columns();
        if (cache_metadata_)
          c.st->stale = true;
        wire_charge(c, retained_bytes(sets.back()));
      }
      return true;
    }
    case state::columns_eof:
      if (!detail::is_eof(payload))
        return false;
      c.at = state::rows;
      return true;
    case state::rows: {
      auto& rs = sets.back();
      if (detail::is_eof(payload)) {
        uint16_t warnings = 0, status = 0;
        if (!detail::parse_eof(payload, warnings, status))
          return false;
        rs.warnings = warnings;
        note_status(status, warnings);
        if (status & SERVER_MORE_RESULTS_EXIST)
          c.at = state::first;
        else
          wire_finish(c, {});
        return true;
      }
      if (c.too_large)
        return true; // read and discarded
      if (!detail::decode_row(payload, c.st->wire_cols, rs.cells(), c.bytes))
        return false;
      wire_charge(c, 0);
      return true;
    }
  }
  return false;
}

// Counts `n` more bytes against the pipelined answer's budget; past it the
// rows kept so far are dropped (the rest is read and dropped too). False once
// over the budget.
bool connection::wire_charge(wire_call& c, size_t n) {
  c.bytes += n;
  if (!c.too_large && c.bytes > options_.max_result_bytes) {
    c.too_large = true;
    for (auto& s : c.res.sets())
      s.cells().clear();
  }
  return !c.too_large;
}

void connection::wire_finish(wire_call& c, caf::error err) {
  if (!err && c.too_large)
    err = make_error(errc::result_too_large,
                     fmt::format("the result exceeded max_result_bytes ({} "
                                 "bytes); its rows were read and discarded",
                                 options_.max_result_bytes));
  // A fatal error (the connection was killed, the server shuts down): the
  // answers behind it will never come.
  if (broken_ && !wire_error_)
    wire_error_ = make_error(errc::connection_lost,
                             fmt::format("connection to {} lost: {}",
                                         options_.address(),
                                         troupe::info(err).message),
                             true);
  c.err = std::move(err);
  ++wire_done_;
}

caf::expected<result> connection::pipeline_take() {
  auto c = std::move(wire_.front());
  wire_.pop_front();
  --wire_done_;
  // Until the next answer is taken, the transaction flag is this answer's.
  // When all are taken it is the last one's, as the server left it.
  if (c->has_status)
    mysql_->server_status = c->status;
  if (c->err)
    return std::move(c->err);
  return std::move(c->res);
}

void connection::wire_lost(std::string_view why) {
  pipeline_fail(make_error(errc::connection_lost,
                           fmt::format("connection to {} lost: {}",
                                       options_.address(), why),
                           true));
}

void connection::pipeline_fail(caf::error err) {
  broken_ = true;
  if (!wire_error_)
    wire_error_ = std::move(err);
}

// -- ping and reset ---------------------------------------------------------------------------

int connection::start_ping() {
  if (op_ != op_kind::none || !connected()) {
    error_ = make_error(errc::connection_lost, "not connected", true);
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  op_ = op_kind::ping;
  step_ = step::ping;
  call_ = call_ping;
  return run(mysql_ping_start(&ret_int_, mysql_));
}

int connection::start_reset() {
  if (op_ != op_kind::none || !connected()) {
    error_ = make_error(errc::connection_lost, "not connected", true);
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  op_ = op_kind::reset;
  step_ = step::reset;
  call_ = call_reset;
  return run(mysql_reset_connection_start(&ret_int_, mysql_));
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
          finish(statement_error(stmt_->handle));
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

// -- sync_connection ---------------------------------------------------------------------------

sync_connection::sync_connection(connect_options options)
  : conn_(std::move(options)) {
}

caf::expected<result> sync_connection::wait(int status) {
  while (status != 0) {
    if (status & io_yield) {
      status = conn_.resume(0);
      continue;
    }
    pollfd p{};
    p.fd = conn_.socket();
    if (status & io_read)
      p.events |= POLLIN;
    if (status & io_write)
      p.events |= POLLOUT;
    int timeout = (status & io_timeout) ? static_cast<int>(conn_.timeout_ms())
                                        : -1;
    int n = ::poll(&p, 1, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return make_error(errc::internal,
                        fmt::format("poll failed: {}", std::strerror(errno)));
    }
    int events = 0;
    if (n == 0) {
      events = io_timeout;
    } else {
      if (p.revents & (POLLIN | POLLHUP | POLLERR))
        events |= io_read;
      if (p.revents & POLLOUT)
        events |= io_write;
    }
    status = conn_.resume(events);
  }
  return conn_.take_result();
}

caf::expected<std::unique_ptr<sync_connection>>
sync_connection::open(connect_options options) {
  std::unique_ptr<sync_connection> out{new sync_connection(std::move(options))};
  auto res = out->wait(out->conn_.start_connect());
  if (!res)
    return std::move(res.error());
  return out;
}

caf::expected<result> sync_connection::query(std::string sql) {
  return wait(conn_.start_query(std::move(sql)));
}

caf::expected<result> sync_connection::execute(std::string sql,
                                               std::vector<value> params) {
  return wait(conn_.start_execute(std::move(sql), std::move(params)));
}

caf::error sync_connection::ping() {
  auto res = wait(conn_.start_ping());
  return res ? caf::error{} : std::move(res.error());
}

caf::error sync_connection::reset() {
  auto res = wait(conn_.start_reset());
  return res ? caf::error{} : std::move(res.error());
}

caf::error kill_query(const connect_options& options, uint64_t thread_id) {
  auto opts = options;
  opts.init_statements.clear();
  auto conn = sync_connection::open(std::move(opts));
  if (!conn)
    return std::move(conn.error());
  // The id is a number we format ourselves: nothing user-supplied is spliced.
  auto res = (*conn)->query(fmt::format("KILL QUERY {}", thread_id));
  if (!res)
    return std::move(res.error());
  return {};
}

} // namespace troupe::mariadb
