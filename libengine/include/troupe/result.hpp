#pragma once

// Results of statements: column metadata, rows of values, and the counters an
// OK packet carries. Serializable with CAF 0.17.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "troupe/value.hpp"

namespace troupe {

/// The SQL type of a column, as declared (refined from the protocol's type
/// with the column's flags and character set).
enum class column_type : uint8_t {
  unknown,
  null,
  tinyint,
  smallint,
  mediumint,
  int_,
  bigint,
  year,
  float_,
  double_,
  decimal,
  bit,
  date,
  time,
  datetime,
  timestamp,
  char_,
  varchar,
  text,
  binary,
  varbinary,
  blob,
  json,
  enum_,
  set,
  geometry,
  /// MariaDB's address and UUID types (values arrive as their text, e.g.
  /// "::1"); older clients see them as char.
  inet4,
  inet6,
  uuid,
};

/// Returns the SQL name of `x`, e.g. "varchar".
std::string to_string(column_type x);

/// Column flags, a subset of the protocol's flags with stable values.
enum column_flag : uint32_t {
  flag_not_null = 1u << 0,
  flag_primary_key = 1u << 1,
  flag_unique_key = 1u << 2,
  flag_multiple_key = 1u << 3,
  flag_unsigned = 1u << 4,
  flag_zerofill = 1u << 5,
  flag_binary = 1u << 6,
  flag_auto_increment = 1u << 7,
};

/// Metadata of one result column.
struct column {
  /// The name (or alias) in the result.
  std::string name;
  /// The column's name in its table, empty for expressions.
  std::string org_name;
  /// The table name (or alias) in the statement.
  std::string table;
  /// The table's real name, empty for expressions.
  std::string org_table;
  /// The database (schema) of the table.
  std::string database;
  column_type type = column_type::unknown;
  /// Bitwise OR of `column_flag`.
  uint32_t flags = 0;
  /// The declared display length in the protocol's units (bytes).
  uint64_t length = 0;
  /// Decimal digits (DECIMAL scale, fractional seconds digits).
  uint8_t decimals = 0;
  /// The character set number (63 = binary).
  uint16_t charset = 0;

  bool nullable() const { return (flags & flag_not_null) == 0; }
  bool is_unsigned() const { return (flags & flag_unsigned) != 0; }
  bool is_primary_key() const { return (flags & flag_primary_key) != 0; }
  bool is_auto_increment() const {
    return (flags & flag_auto_increment) != 0;
  }
};
bool operator==(const column& x, const column& y);
inline bool operator!=(const column& x, const column& y) { return !(x == y); }
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, column& x) {
  return f(caf::meta::type_name("troupe::column"), x.name, x.org_name, x.table,
           x.org_table, x.database, x.type, x.flags, x.length, x.decimals,
           x.charset);
}

class result_set;

/// A view of one row of a result set. Valid while the result set lives.
class row_view {
public:
  row_view(const result_set* set, size_t index) : set_(set), index_(index) {}

  /// The number of cells.
  size_t size() const;

  /// The cell at `i` (precondition: i < size()).
  const value& operator[](size_t i) const;

  /// The cell at `i`, or `errc::not_found` when out of range.
  caf::expected<const value*> at(size_t i) const;

  /// The cell of the column named `name` (first match, case-insensitive),
  /// or `errc::not_found` naming the column.
  caf::expected<const value*> at(std::string_view name) const;

  /// Reads cell `i` as T (see `value::as`), the error names the column.
  template <class T>
  caf::expected<T> get(size_t i) const;

  /// Reads the cell of column `name` as T, the error names the column.
  template <class T>
  caf::expected<T> get(std::string_view name) const;

private:
  caf::error annotate(const caf::error& err, size_t column) const;

  const result_set* set_;
  size_t index_;
};

/// The outcome of one statement (or of one of several result sets of a
/// CALL): columns and rows for statements that return rows, the counters of
/// the OK packet for those that do not.
class result_set {
public:
  result_set() = default;

  const std::vector<column>& columns() const { return columns_; }
  std::vector<column>& columns() { return columns_; }

  /// All cells, row-major: cell (r, c) is cells()[r * columns().size() + c].
  const std::vector<value>& cells() const { return cells_; }
  std::vector<value>& cells() { return cells_; }

  size_t row_count() const {
    return columns_.empty() ? 0 : cells_.size() / columns_.size();
  }
  bool empty() const { return row_count() == 0; }

  /// Row `r` (precondition: r < row_count()).
  row_view row(size_t r) const { return {this, r}; }

  /// The index of the column named `name` (case-insensitive), if any.
  caf::expected<size_t> column_index(std::string_view name) const;

  /// The first cell of the first row as T. `errc::not_found` when there is
  /// no row, `errc::type_mismatch` when it cannot be read as T.
  template <class T>
  caf::expected<T> scalar() const;

  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint32_t warnings = 0;
  /// The server's info string (e.g. "Rows matched: 1  Changed: 1 ...").
  std::string info;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, result_set& x) {
    return f(caf::meta::type_name("troupe::result_set"), x.columns_, x.cells_,
             x.affected_rows, x.last_insert_id, x.warnings, x.info);
  }

  friend bool operator==(const result_set& x, const result_set& y);

private:
  std::vector<column> columns_;
  std::vector<value> cells_;
};

/// The outcome of a statement: one or more result sets. The accessors read
/// the first set, which is the only one for everything but CALL.
class result {
public:
  result() = default;
  explicit result(result_set first) { sets_.push_back(std::move(first)); }

  const std::vector<result_set>& sets() const { return sets_; }
  std::vector<result_set>& sets() { return sets_; }

  /// The first result set (an empty one if there is none).
  const result_set& first() const;

  const std::vector<column>& columns() const { return first().columns(); }
  size_t row_count() const { return first().row_count(); }
  bool empty() const { return first().empty(); }
  row_view row(size_t r) const { return first().row(r); }
  uint64_t affected_rows() const { return first().affected_rows; }
  uint64_t last_insert_id() const { return first().last_insert_id; }
  uint32_t warnings() const { return first().warnings; }
  const std::string& info() const { return first().info; }

  /// See `result_set::scalar`.
  template <class T>
  caf::expected<T> scalar() const {
    return first().scalar<T>();
  }

  /// An estimate of the memory the result holds, in bytes.
  size_t memory_size() const;

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, result& x) {
    return f(caf::meta::type_name("troupe::result"), x.sets_);
  }

  friend bool operator==(const result& x, const result& y) {
    return x.sets_ == y.sets_;
  }

private:
  std::vector<result_set> sets_;
};

// -- template implementations -------------------------------------------------

template <class T>
caf::expected<T> row_view::get(size_t i) const {
  auto cell = at(i);
  if (!cell)
    return std::move(cell.error());
  auto x = (*cell)->template as<T>();
  if (!x)
    return annotate(x.error(), i);
  return x;
}

template <class T>
caf::expected<T> row_view::get(std::string_view name) const {
  auto idx = set_->column_index(name);
  if (!idx)
    return std::move(idx.error());
  return get<T>(*idx);
}

template <class T>
caf::expected<T> result_set::scalar() const {
  if (empty())
    return make_error(errc::not_found, "scalar(): the result has no rows");
  return row(0).get<T>(0);
}

} // namespace troupe
