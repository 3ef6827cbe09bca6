#pragma once

// Per-test isolation on the shared test server: every test works in its own
// database, created fresh and dropped at the end of the test.

#include <memory>
#include <string>
#include <string_view>

#include "troupe/mariadb/connection.hpp"
#include "troupe/schema.hpp"

namespace troupe::test {

/// Connect options for the test server (no default database).
mariadb::connect_options server_options();

/// Opens a blocking connection to the test server; throws on failure.
std::unique_ptr<mariadb::sync_connection>
connect(const mariadb::connect_options& options = server_options());

/// A session status counter of `conn` (SHOW SESSION STATUS LIKE `name`);
/// throws when there is none.
uint64_t session_status(mariadb::sync_connection& conn, const char* name);

/// Waits (bounded, about 5 s) until the server runs a statement whose text
/// matches the LIKE pattern `info_like` (in database `db` when not empty);
/// returns its server thread id, or 0 when none showed up.
uint64_t running_thread(mariadb::sync_connection& admin,
                        const std::string& info_like,
                        const std::string& db = {});

/// Reflects `table` of database `db` (the connection's current one when
/// empty) over `conn`.
caf::expected<table_schema> reflect(mariadb::sync_connection& conn,
                                    const std::string& db,
                                    const std::string& table);

/// A name unique in this test run: `prefix` + pid + counter.
std::string unique_name(std::string_view prefix);

/// A database name unique in this test run that the test server's account
/// may create: the embedded server's account owns its database and those
/// named after it (`troupe_...`), nothing else.
std::string database_name(std::string_view prefix);

/// A fresh database on the test server, dropped by the destructor.
class scratch_database {
public:
  explicit scratch_database(std::string_view prefix = "t");
  ~scratch_database();

  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  const std::string& name() const { return name_; }

  /// Connect options with this database as the default.
  mariadb::connect_options options() const;

  /// A DSN with this database as the default.
  troupe::dsn dsn() const;

  /// Runs SQL on the admin connection; throws on failure.
  result run(const std::string& sql);

  /// The first cell of `sql`'s result as an integer; throws when there is
  /// none.
  int64_t scalar(const std::string& sql);

private:
  std::string name_;
  std::unique_ptr<mariadb::sync_connection> admin_;
};

} // namespace troupe::test
