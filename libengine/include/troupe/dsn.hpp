#pragma once

// Data source names: where a server is and how to log in.
//
//   mariadb://user:password@host:port/database?key=value&key=value
//   mariadb://user:password@[::1]:3306/database
//   mariadb://user:password@localhost/database?socket=/run/mysqld/mysqld.sock
//   mariadb://user:password@%2Frun%2Fmysqld%2Fmysqld.sock/database
//
// Schemes: `mariadb`, `mysql` and `matrixone` (all speak the MySQL protocol;
// the scheme is a hint of the flavour, the server's handshake decides).
// User, password, host, database and option values are percent-decoded, so a
// password may contain any byte as %XX (e.g. `p%40ss%23` for `p@ss#`).
// A host that starts with '/' after decoding is a unix socket path.
// Options (the query string) are kept in order for the layers that consume
// them (driver: timeouts, TLS; pool: sizes, deadlines); each layer rejects
// what it does not know.
//
// The password need not be in the text (where `ps`, shell histories and
// config dumps see it): option `password_file=/path` reads it from a file
// that only its owner may access, `password_env=NAME` from an environment
// variable; `resolve_password` does that, once, when the driver's options
// are built from the DSN.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "troupe/secret.hpp"

namespace troupe {

/// A parsed data source name.
struct dsn {
  /// "mariadb", "mysql" or "matrixone".
  std::string scheme = "mariadb";
  std::string user;
  secret_string password;
  /// Host name or address; empty when `socket` is set.
  std::string host;
  /// TCP port, 3306 when the DSN does not say (6001 for matrixone).
  uint16_t port = 3306;
  /// Unix socket path, empty for TCP.
  std::string socket;
  /// The default database, may be empty.
  std::string database;
  /// Decoded query-string options, in order. Keys are unique.
  std::vector<std::pair<std::string, std::string>> options;

  /// Returns the value of option `key`, or nullptr.
  const std::string* option(std::string_view key) const;

  /// True when the DSN names a unix socket.
  bool uses_socket() const { return !socket.empty(); }
};

/// Parses a DSN. Errors are `errc::invalid_argument` with a message naming
/// the problem and its position (never the password).
caf::expected<dsn> parse_dsn(std::string_view text);

/// Renders a DSN with the password replaced by "***" (safe for logs). With
/// `with_password`, renders it percent-encoded so that `parse_dsn` returns an
/// equal DSN.
std::string to_string(const dsn& x, bool with_password = false);

/// Percent-encodes everything but unreserved characters (RFC 3986).
std::string percent_encode(std::string_view text);

/// Human-readable address: "host:port" or "unix:/path".
std::string address_of(const dsn& x);

/// Renders DSN text for a log or a config dump: as `to_string(x)` (password
/// "***") when it parses, else a placeholder, since where the password of
/// an invalid DSN ends is not known.
std::string redact_dsn(std::string_view text);

/// Returns the password of `x` from wherever the DSN says it is: the DSN
/// itself (`user:password@`), the file named by option `password_file`
/// (read now; one trailing newline removed; it must be a regular file that
/// neither group nor others may access, like ssh's keys), or the environment
/// variable named by option `password_env`. Without any of these: empty.
/// Errors are `errc::invalid_argument` naming the option (never the
/// password): more than one source, a file that is missing, unreadable, not
/// regular, accessible by others, empty, larger than 4 KiB or with more than
/// one line, an unset or empty variable.
caf::expected<secret_string> resolve_password(const dsn& x);

} // namespace troupe
