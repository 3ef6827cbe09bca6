#pragma once

// A private, throw-away MariaDB server for the lifetime of its owner.
//
// `embedded_server::start` creates a fresh data directory in a temporary
// directory (`mariadb-install-db`), starts `mariadbd` on a free loopback port
// and a unix socket, waits until it accepts connections, and creates a
// database and a user. The user may do anything in its database and in
// databases named after it (`<database>_...`) and nothing else: no file
// access (secure_file_priv points into the private directory), no SUPER, no
// GRANT OPTION. Run by root, the server runs as the `mysql` account when it
// exists. The destructor stops the server and removes the directory.
//
// The server never outlives its owning process: a small keeper process sits
// between the owner and `mariadbd`. It holds the read end of a pipe whose
// write end only the owner holds; when the owner exits for any reason
// (including SIGKILL) the keeper sees end-of-file, stops `mariadbd` and
// removes the directory. `mariadbd` itself dies with the keeper
// (PR_SET_PDEATHSIG), and both run in their own process group.
//
// All member functions block (they start processes and wait for them); do not
// call them on a CAF scheduler thread. Not thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include <caf/expected.hpp>

#include "troupe/secret.hpp"
#include "troupe/dsn.hpp"

namespace troupe {

/// Options of `embedded_server::start`.
struct embedded_server_options {
  /// Path of `mariadbd`; empty: search PATH, then /usr/sbin and /usr/libexec.
  std::string mariadbd;
  /// Path of `mariadb-install-db`; empty: search PATH, then /usr/bin.
  std::string install_db;
  /// Where the private directory is created; empty: $TMPDIR, else /tmp.
  /// Run by root, the `mysql` account must be able to traverse it.
  std::string base_dir;
  /// The database to create.
  std::string database = "troupe";
  /// The user to create (from any host; privileges: see the file comment).
  std::string user = "troupe";
  /// The user's password; empty: a random one.
  secret_string password;
  /// The TCP port on 127.0.0.1; 0: pick a free one.
  uint16_t port = 0;
  /// How long to wait for the server to accept connections.
  std::chrono::milliseconds startup_timeout{60000};
  /// Further `mariadbd` options, e.g. "--max-connections=200".
  std::vector<std::string> extra_args;
  /// Grants the user FILE: `LOAD DATA INFILE` and `SELECT … INTO OUTFILE`,
  /// confined by the server's secure_file_priv to `files_dir()` (nothing
  /// else of the host). Off by default; troupe-bench uses it to compare
  /// with LOAD DATA INFILE.
  bool file_privilege = false;
};

/// A running private MariaDB server. Move-only; see the file comment.
class embedded_server {
public:
  /// Starts a server. Errors: `errc::invalid_argument` (bad options, binary
  /// not found), `errc::connect_failed` (the server did not come up in time;
  /// the message includes the tail of its log), `errc::internal` (a system
  /// call failed).
  static caf::expected<std::unique_ptr<embedded_server>>
  start(embedded_server_options options = {});

  /// Stops the server and removes its directory.
  ~embedded_server();

  embedded_server(const embedded_server&) = delete;
  embedded_server& operator=(const embedded_server&) = delete;

  /// The DSN for TCP access (user, password, 127.0.0.1, port, database).
  troupe::dsn dsn() const;

  /// The DSN for access through the unix socket.
  troupe::dsn socket_dsn() const;

  uint16_t port() const;
  const std::string& socket_path() const;

  /// The private directory (data directory, socket, log, pid file).
  const std::string& directory() const;

  /// The one directory the server reads and writes files in
  /// (secure_file_priv), inside `directory()`.
  const std::string& files_dir() const;

  /// The pid of the running `mariadbd`, or 0 while it is stopped.
  pid_t server_pid() const;

  /// The pid of the keeper process.
  pid_t keeper_pid() const;

  /// How long the last start took until the server accepted connections.
  std::chrono::milliseconds startup_time() const;

  /// Stops `mariadbd` (SIGTERM, then SIGKILL after 10 s) but keeps the data;
  /// connections are refused until `restart`.
  caf::error stop();

  /// Starts `mariadbd` again on the same port and socket and waits until it
  /// accepts connections.
  caf::error restart();

  /// Returns true while `mariadbd` runs.
  bool running() const;

  /// The last `lines` lines of the server's error log.
  std::string log_tail(size_t lines = 20) const;

  struct impl;

private:
  explicit embedded_server(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace troupe
