#pragma once

// Small SQL helpers that never build SQL from values: classifying a
// statement by its leading keywords, and validating and quoting identifiers.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace troupe::sql {

/// What a statement does to an open transaction, judged from its leading
/// keywords (comments and whitespace skipped).
struct statement_traits {
  /// The first keyword, upper-case ("SELECT", "CREATE", ...); empty if none.
  std::string keyword;
  /// MariaDB commits the open transaction before running it: DDL (except on
  /// temporary tables), LOCK/UNLOCK TABLES, GRANT, ANALYZE/OPTIMIZE/REPAIR
  /// TABLE, FLUSH, ... A rollback cannot undo it.
  bool implicit_commit = false;
  /// It starts, ends or marks transactions itself (BEGIN, START
  /// TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, SET autocommit, XA):
  /// inside a session, use the session's messages instead.
  bool transaction_control = false;
  /// The statement starts with an executable comment (/*! ... */): its
  /// effect is not judged; sessions treat it like an implicit commit.
  bool opaque = false;
  /// It may leave state behind in the session that outlives the statement
  /// and that the server's state-change tracking does not always report:
  /// session variables and character sets (SET), the current database
  /// (USE), user variables (`@`), table and named locks (LOCK TABLES,
  /// FLUSH ... WITH READ LOCK, GET_LOCK), temporary tables, prepared
  /// statements, HANDLERs, and whatever a procedure or compound statement
  /// does (CALL, BEGIN NOT ATOMIC). Opaque statements count too. The pool
  /// resets a connection after such a statement before anyone else gets it.
  bool session_state = false;
};

/// Classifies `text` (see `statement_traits`).
statement_traits classify(std::string_view text);

/// Checks a name used as an identifier (savepoint, table, column): 1 to 64
/// characters of ASCII letters, digits, '_' and '$', not only digits (the
/// same in every locale). Errors are `errc::invalid_argument` naming `what`
/// and the problem.
caf::error validate_identifier(std::string_view name, std::string_view what);

/// The number of characters of `text` if it is valid UTF-8 (shortest forms
/// only, no surrogates, nothing above U+10FFFF, NUL only when `allow_nul`),
/// else nullopt and, when `bad_at` is given, the offset of the bad byte.
std::optional<size_t> utf8_length(std::string_view text, bool allow_nul,
                                  size_t* bad_at = nullptr);

/// Quotes a name for MariaDB/MySQL: `name`, with backticks doubled. Refuses
/// (`errc::invalid_argument`) an empty name, one longer than 64 characters,
/// and one that is not valid UTF-8 or holds a NUL byte: in a multibyte
/// character set such as gbk, a byte taken for the second half of a
/// character could otherwise close the quotes early (the engine refuses
/// those character sets for the connection as well).
caf::expected<std::string> quote_identifier(std::string_view name);

/// `sql` run with a server-side execution limit (MariaDB):
/// `SET STATEMENT max_statement_time=<seconds> FOR <sql>`, the limit in
/// seconds with millisecond precision (at least 0.001). The server stops
/// the statement at the limit with error 1969 and undoes it.
std::string with_max_statement_time(std::string_view sql,
                                    std::chrono::milliseconds limit);

} // namespace troupe::sql
