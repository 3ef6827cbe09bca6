#pragma once

// The authentication guard: decides, before a byte of authentication leaves
// the client, whether the connection may authenticate at all (TLS when the
// mode requires it) and which authentication plugins the server may then ask
// for (none that expose the password unless TLS or a local socket protects
// it, or the DSN opts in). It does not hold the connect sequence itself
// (connect.cpp) nor any authentication method: the server's methods run
// in libmariadb as before.
//
// How: libmariadb 3.3 offers no hook between reading the server's greeting
// and sending the authentication response. The guard is a client
// authentication plugin named `troupe_tls_guard`, made the connection's
// default (MYSQL_DEFAULT_AUTH), so that it runs first. It checks the greeting,
// then sends an empty response under its own name, which libmariadb sends
// after switching to TLS; the server, which does not know that method, asks
// for the account's real one (one extra round trip per connect), and by then
// the guard has narrowed the connection's allowed plugins
// (MARIADB_OPT_RESTRICTED_AUTH) to what the channel permits. The initial
// allowed list holds only what is safe if the guard is bypassed (a greeting
// without CLIENT_PLUGIN_AUTH): with tls=required, nothing but the guard.

#include <string>

#include <mysql.h>

namespace troupe::mariadb::detail {

/// The guard's name, as sent to the server.
inline constexpr const char* auth_guard_name = "troupe_tls_guard";

/// What one connect may do.
struct auth_policy {
  /// Refuse before sending anything when the server does not offer TLS.
  bool require_tls = false;
  /// Plugins allowed once TLS (or a local socket) protects the connection.
  std::string with_tls;
  /// Plugins allowed otherwise.
  std::string without_tls;
};

/// Registers the guard plugin with libmariadb (once per process); false when
/// libmariadb refused it (the error is then in `m`).
bool register_auth_guard(MYSQL* m);

/// Sets the policy for the next connect on `m` (until `forget_auth_policy`).
void set_auth_policy(MYSQL* m, auth_policy policy);

/// Drops the policy of `m`; call before `mysql_close(m)`.
void forget_auth_policy(MYSQL* m);

} // namespace troupe::mariadb::detail
