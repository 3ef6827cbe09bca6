// Opening and renewing the session: connect (with the restriction of the
// authentication methods), reading the server's info, the session setup and
// its state-change tracking, ping and reset. Not the statements the user runs.

#include "troupe/mariadb/connection.hpp"

#include <fstream>
#include <new>

#include <fmt/format.h>
#include <mysql.h>

#include "mariadb/auth_guard.hpp"
#include "mariadb/connection_internal.hpp"
#include "troupe/sql.hpp"

namespace troupe::mariadb {

// -- connect ---------------------------------------------------------------------------

namespace {

unsigned to_seconds(std::chrono::milliseconds x) {
  auto s = (x.count() + 999) / 1000;
  return s < 1 ? 1u : static_cast<unsigned>(s);
}

} // namespace

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
  call_ = detail::call_connect;
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

// -- session setup ----------------------------------------------------------------------------

// The statements that prepare a fresh (or reset) session: the user's init
// statements, state-change tracking (so the pool knows when a session needs a
// reset before reuse) and, after connecting, reading wait_timeout and
// max_allowed_packet.
int connection::begin_setup(bool after_connect) {
  setup_.clear();
  // COM_RESET_CONNECTION keeps the current database: return to ours.
  if (!after_connect && !options_.database.empty())
    // (start_connect checked that the name quotes.)
    setup_.push_back({"USE " + *sql::quote_identifier(options_.database),
                      true, probe::none, false});
  for (const auto& x : options_.init_statements)
    setup_.push_back({x, true, probe::none, false});
  setup_.push_back({"SET SESSION session_track_state_change = 1", false,
                    probe::none, true});
  if (after_connect) {
    setup_.push_back({"SELECT @@SESSION.wait_timeout", false,
                      probe::wait_timeout, false});
    setup_.push_back({"SELECT @@SESSION.max_allowed_packet", false,
                      probe::max_allowed_packet, false});
  }
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
  call_ = detail::call_ping;
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
  call_ = detail::call_reset;
  return run(mysql_reset_connection_start(&ret_int_, mysql_));
}

} // namespace troupe::mariadb
