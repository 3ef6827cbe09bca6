#pragma once

// A table's schema, reflected from the server's information_schema: the
// columns in order with their types, defaults and constraints, and the keys.
// Repositories build their SQL and validate records from it.
//
// Reflecting is two statements (`reflect_columns`, `reflect_keys`, values
// bound) and one pure function over their results (`build_table_schema`), so
// that the caller runs the statements wherever it runs statements (a pool, a
// session, a test's connection).
//
// Types the engine does not know are reflected as `column_type::unknown`
// with the server's own type text, and listed by `unsupported_columns`:
// reported, never guessed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "troupe/result.hpp"
#include "troupe/value.hpp"

namespace troupe {

/// A column's default as the server reports it.
struct column_default {
  enum class kind : uint8_t {
    /// No default: an INSERT must give a value (unless the column is
    /// nullable, auto-increment or generated).
    none,
    /// DEFAULT NULL.
    null,
    /// A constant: `text` is its value (strings unquoted and unescaped,
    /// numbers as written), e.g. "abc", "0", "1.50".
    literal,
    /// An expression evaluated by the server, e.g. "current_timestamp()",
    /// "uuid()", "(`a` + 1)": `text` is the expression as shown.
    expression,
  };
  kind what = kind::none;
  std::string text;
};

/// Whether and how a column is computed by the server.
enum class generated_kind : uint8_t {
  no,
  /// Computed when read (VIRTUAL / PERSISTENT is `stored`).
  virtual_column,
  /// Computed when written and stored.
  stored,
};

struct column_schema {
  std::string name;
  /// The engine's type; `unknown` for a type it does not know.
  column_type type = column_type::unknown;
  /// The server's type name (information_schema DATA_TYPE), e.g. "int".
  std::string data_type;
  /// The server's full type (COLUMN_TYPE), e.g. "int(10) unsigned",
  /// "enum('a','b')", "decimal(10,2)".
  std::string sql_type;
  /// Maximum length: characters for text types, bytes for binary types,
  /// bits for BIT; 0 where it does not apply.
  uint64_t max_length = 0;
  /// Digits of exact numerics (DECIMAL) and of integers; 0 otherwise.
  uint32_t precision = 0;
  /// Digits after the point (DECIMAL).
  uint32_t scale = 0;
  /// Fractional second digits of TIME, DATETIME, TIMESTAMP (0-6).
  uint32_t fractional_digits = 0;
  bool is_unsigned = false;
  bool nullable = true;
  column_default default_value;
  bool auto_increment = false;
  /// ON UPDATE CURRENT_TIMESTAMP (or another ON UPDATE expression).
  bool on_update = false;
  generated_kind generated = generated_kind::no;
  /// The expression of a generated column.
  std::string generation_expression;
  /// The members of an ENUM or SET, in order.
  std::vector<std::string> members;
  /// The character set of a text column, e.g. "utf8mb4"; empty otherwise.
  std::string charset;
  /// INVISIBLE (MariaDB): not in `SELECT *`, only when named.
  bool invisible = false;

  /// True when an INSERT may leave the column out: it has a default, is
  /// nullable, auto-increment or generated.
  bool optional_on_insert() const;
};

/// A unique index: its name and columns in index order.
struct unique_key {
  std::string name;
  std::vector<std::string> columns;
};

struct table_schema {
  std::string database;
  std::string name;
  /// In the table's order (ORDINAL_POSITION).
  std::vector<column_schema> columns;
  /// The primary key's columns in key order; empty: the table has none.
  std::vector<std::string> primary_key;
  /// The other unique keys.
  std::vector<unique_key> unique_keys;

  /// The column named `name` (exact), or nullptr.
  const column_schema* column(std::string_view name) const;

  bool has_primary_key() const {
    return !primary_key.empty();
  }

  /// The columns whose type the engine does not know.
  std::vector<std::string> unsupported_columns() const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, column_default& x) {
  return f(caf::meta::type_name("troupe::column_default"), x.what, x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, column_schema& x) {
  return f(caf::meta::type_name("troupe::column_schema"), x.name, x.type,
           x.data_type, x.sql_type, x.max_length, x.precision, x.scale,
           x.fractional_digits, x.is_unsigned, x.nullable, x.default_value,
           x.auto_increment, x.on_update, x.generated,
           x.generation_expression, x.members, x.charset, x.invisible);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unique_key& x) {
  return f(caf::meta::type_name("troupe::unique_key"), x.name, x.columns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, table_schema& x) {
  return f(caf::meta::type_name("troupe::table_schema"), x.database, x.name,
           x.columns, x.primary_key, x.unique_keys);
}

/// A statement to run: SQL text with its values (bound, never spliced).
struct bound_sql {
  std::string sql;
  std::vector<value> params;
  /// Parameter sets in `params` (see `statement::sets`); 0 and 1: one.
  uint32_t sets = 1;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bound_sql& x) {
  return f(caf::meta::type_name("troupe::bound_sql"), x.sql, x.params,
           x.sets);
}

/// Reads the columns of `table` in `database` (the connection's current
/// database when empty). Errors: `invalid_argument` for a name that is not
/// a valid identifier.
caf::expected<bound_sql> reflect_columns(std::string_view database,
                                                 std::string_view table);

/// Reads the primary and unique keys of `table` in `database` (as above).
caf::expected<bound_sql> reflect_keys(std::string_view database,
                                              std::string_view table);

/// Builds the schema from the results of `reflect_columns` and
/// `reflect_keys`. Errors: `not_found` when the table does not exist (no
/// columns), `internal` when a result does not have the expected shape.
caf::expected<table_schema> build_table_schema(std::string_view table,
                                               const result& columns,
                                               const result& keys);

/// The engine's type for an information_schema DATA_TYPE ("int",
/// "varchar", "inet6", ...); `unknown` when it has none.
column_type column_type_of(std::string_view data_type);

/// The members of an ENUM or SET from its COLUMN_TYPE, e.g.
/// "enum('a','it''s')" -> {"a", "it's"}. Errors: `invalid_argument` when
/// `sql_type` is not a well-formed ENUM or SET.
caf::expected<std::vector<std::string>> parse_members(std::string_view sql_type);

/// A column's default from information_schema's COLUMN_DEFAULT (MariaDB
/// 10.2.7+ style: SQL NULL for none, "NULL" for DEFAULT NULL, quoted
/// strings, bare numbers and expressions).
column_default parse_default(const value& column_default);

} // namespace troupe
