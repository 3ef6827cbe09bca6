#pragma once

// The SQL of a repository's operations, built from a reflected schema:
// identifiers quoted, values bound, every record validated first. An
// operation is a `plan`: one or more statements run in order on one
// connection (in one transaction when there are several), and the shape of
// its answer, read from the results by `read_outcome`.
//
// Rows are read as `SELECT *` (and `RETURNING *`): whole, as the table is
// now, so that a changed table shows (schema_drift).
//
// Rows are always read with at least one bound value (LIMIT ?), so through
// the binary protocol: FLOAT columns come back as the stored float widened
// exactly (the text protocol sends only 6 significant digits, and writing
// that back would change the stored value).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

#include "troupe/record.hpp"
#include "troupe/result.hpp"
#include "troupe/schema.hpp"

namespace troupe {

/// What a repository operation answers: rows (as records, named by the
/// table's columns) and a count.
struct repository_result {
  /// get/update: 0 or 1; create: 1; get_all/find: the page.
  std::vector<record> rows;
  /// count: the rows in the table; delete: rows deleted (0 or 1); exists:
  /// 0 or 1; create/update/create_many: rows written.
  uint64_t count = 0;
  /// create_many: the AUTO_INCREMENT value of the first row written
  /// (generated or given); 0 when the table has no such column. Later rows'
  /// values are not promised consecutive: InnoDB hands out blocks per
  /// statement, so gaps follow each step, and with
  /// innodb_autoinc_lock_mode 2 concurrent inserts interleave.
  uint64_t first_id = 0;

  /// The only row, if any (get, update, create).
  const record* one() const {
    return rows.empty() ? nullptr : &rows.front();
  }

  friend bool operator==(const repository_result& x,
                         const repository_result& y) {
    return x.rows == y.rows && x.count == y.count && x.first_id == y.first_id;
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, repository_result& x) {
  return f(caf::meta::type_name("troupe::repository_result"), x.rows,
           x.count, x.first_id);
}

/// A page of `get_all`.
struct page_request {
  /// Rows at most; 0: `repository_sql::default_limit`. Above
  /// `max_limit`: invalid_argument.
  uint32_t limit = 0;
  uint64_t offset = 0;
  /// Columns to order by (each must exist); empty: the primary key (or no
  /// order for a table without one).
  std::vector<std::string> order_by;
  bool descending = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, page_request& x) {
  return f(caf::meta::type_name("troupe::page_request"), x.limit, x.offset,
           x.order_by, x.descending);
}

/// What `stats_atom` reports of one column, computed by the server.
struct column_stats {
  std::string column;
  /// Non-NULL values.
  uint64_t count = 0;
  /// Distinct non-NULL values (as the column's collation compares them).
  uint64_t distinct = 0;
  uint64_t nulls = 0;
  /// The least and greatest value (NULL when the column holds none), of the
  /// column's kind.
  value min;
  value max;
  /// The mean of a numeric column: a decimal for integer and DECIMAL
  /// columns (exact, as the server computes AVG), a float64 for FLOAT and
  /// DOUBLE; NULL for other columns and when there are no values.
  value avg;

  friend bool operator==(const column_stats& x, const column_stats& y) {
    return x.column == y.column && x.count == y.count
           && x.distinct == y.distinct && x.nulls == y.nulls && x.min == y.min
           && x.max == y.max && x.avg == y.avg;
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, column_stats& x) {
  return f(caf::meta::type_name("troupe::column_stats"), x.column, x.count,
           x.distinct, x.nulls, x.min, x.max, x.avg);
}

/// The answer of `stats_atom`: the table's rows and each column asked for,
/// in the order asked, all read by one statement.
struct field_stats {
  uint64_t rows = 0;
  std::vector<column_stats> columns;

  /// The statistics of `column`, or nullptr.
  const column_stats* find(std::string_view column) const {
    for (const auto& c : columns)
      if (c.column == column)
        return &c;
    return nullptr;
  }

  friend bool operator==(const field_stats& x, const field_stats& y) {
    return x.rows == y.rows && x.columns == y.columns;
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_stats& x) {
  return f(caf::meta::type_name("troupe::field_stats"), x.rows, x.columns);
}

/// Where a keyset page starts: after the row with these primary key values
/// of this table. Opaque to users: take `keyset_page::next` and pass it
/// back. A default-constructed token asks for the first page (of any
/// table). A token naming another table, or whose `after` is not exactly
/// the primary key with valid values, is refused (`invalid_argument`).
struct page_token {
  /// `database.table` of the repository that made it; empty: first page.
  std::string table;
  /// The primary key of the last row of the previous page, in key order.
  record after;

  bool first() const { return table.empty() && after.empty(); }

  friend bool operator==(const page_token& x, const page_token& y) {
    return x.table == y.table && x.after == y.after;
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, page_token& x) {
  return f(caf::meta::type_name("troupe::page_token"), x.table, x.after);
}

/// The answer of `page_after_atom`: rows in primary key order, and where
/// the next page starts (none after the last page).
struct keyset_page {
  std::vector<record> rows;
  caf::optional<page_token> next;

  friend bool operator==(const keyset_page& x, const keyset_page& y) {
    return x.rows == y.rows && x.next == y.next;
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, keyset_page& x) {
  return f(caf::meta::type_name("troupe::keyset_page"), x.rows, x.next);
}

namespace repository_sql {

constexpr uint32_t default_limit = 100;
constexpr uint32_t max_limit = 10000;

/// How to read a plan's answer from its results.
enum class shape : uint8_t {
  /// The rows of the last statement.
  rows,
  /// The rows of the last statement, and the affected rows of the first
  /// as the count (create, update).
  written_rows,
  /// The affected rows of every statement summed (delete, and the batch
  /// updates and deletes).
  affected,
  /// The first cell of the last statement (COUNT(*)).
  scalar,
  /// Whether the last statement returned a row (exists).
  any_row,
  /// The affected rows of every statement summed as the count, the first
  /// statement's generated id as first_id (create_many).
  inserted,
  /// A field_stats from the one row of the last statement (read_stats).
  stats,
  /// A keyset_page from the rows of the last statement (read_keyset).
  keyset,
};

struct plan {
  std::vector<bound_sql> steps;
  shape how = shape::rows;
  /// All or nothing: inside a transaction that goes on, a failing step
  /// undoes the steps before it (a savepoint around them).
  bool atomic = false;
  /// stats: the columns, in the statement's order; keyset: the primary
  /// key. Empty for the other shapes.
  std::vector<std::string> columns;
  /// keyset: the table the next token names (page_token::table), and the
  /// page's size (the statement reads one row more, to know whether a next
  /// page exists).
  std::string table;
  uint32_t limit = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan& x) {
  return f(caf::meta::type_name("troupe::repository_plan"), x.steps, x.how,
           x.atomic, x.columns, x.table, x.limit);
}

/// How `create_many` writes its rows.
struct bulk_options {
  /// MariaDB's array binding: `INSERT ... VALUES (?, ...)` with a parameter
  /// set per row (statement::sets), one bulk execution per step. Without
  /// it: multi-row `INSERT ... VALUES (?, ...), (?, ...), ...` with at most
  /// 65,535 parameters per statement.
  bool array_binding = true;
  /// The most bytes of values per step (estimated as the driver does);
  /// keep it under the server's max_allowed_packet.
  size_t max_step_bytes = size_t{4} << 20;
};

/// How the server writes and reads back a new row.
struct dialect {
  /// INSERT ... RETURNING (MariaDB 10.5+): the row as stored in one
  /// statement. Without it: INSERT, then SELECT by key (LAST_INSERT_ID()
  /// for an auto-increment key) on the same connection.
  bool insert_returning = true;
  /// How create_many writes.
  bulk_options bulk;
};

/// SELECT the row with primary key `key` (validated: exactly the key).
caf::expected<plan> get(const table_schema& t, const record& key);

/// Whether a row with primary key `key` exists.
caf::expected<plan> exists(const table_schema& t, const record& key);

/// The number of rows.
caf::expected<plan> count(const table_schema& t);

/// A page of rows (see page_request).
caf::expected<plan> get_all(const table_schema& t, const page_request& page);

/// Rows whose columns equal `where` (NULL matches NULL), at most `limit`
/// (0: default_limit; above max_limit: invalid_argument).
caf::expected<plan> find(const table_schema& t, const record& where,
                         uint32_t limit);

/// SELECT the rows with the given primary keys (each validated; at most
/// `max_batch` keys): `WHERE pk IN (?, …)`, or `WHERE (a, b) IN ((?, ?), …)`
/// for a composite key, the list padded to a power of two with the last
/// key (so few distinct statements are prepared). Used to answer many
/// concurrent lookups at once.
caf::expected<plan> get_many(const table_schema& t,
                             const std::vector<record>& keys);

/// The most keys `get_many` takes.
constexpr size_t max_batch = 256;

/// INSERT `row` (validated for create) and read it back as stored.
caf::expected<plan> create(const table_schema& t, const record& row,
                           dialect d = {});

/// The most rows `create_many` takes per call.
constexpr size_t max_create_many = 1000000;

/// INSERT `rows` (each validated for create first; an error names the row
/// by its index) in steps of at most `max_step_bytes`, in the given order.
/// Rows naming different columns go in different steps. The plan is atomic
/// and of shape `inserted`. Errors: `invalid_argument` for no rows or more
/// than max_create_many.
caf::expected<plan> create_many(const table_schema& t,
                                std::vector<record> rows,
                                const bulk_options& o = {});

/// UPDATE the row with primary key `key` with `changes` (validated for
/// update) and read it back (by its new key if the key changed).
caf::expected<plan> update(const table_schema& t, const record& key,
                           const record& changes);

/// DELETE the row with primary key `key`.
caf::expected<plan> remove(const table_schema& t, const record& key);

/// The most keys `update_keys` and `delete_keys` take per call (sent in
/// statements of at most `max_batch` keys).
constexpr size_t max_keys = 100000;

/// UPDATE every row whose columns equal `where` (NULL matches NULL) with
/// `changes` (validated for update): `UPDATE … SET … WHERE a = ? AND b IS
/// NULL`. Shape `affected`: the count is the rows changed (MariaDB counts
/// a row whose values stay the same as not affected). Errors:
/// `invalid_argument` for an empty `where` (it would change every row), an
/// unknown or repeated column, a value not valid for its column.
caf::expected<plan> update_where(const table_schema& t, const record& where,
                                 const record& changes);

/// DELETE every row whose columns equal `where` (as update_where; an empty
/// `where` is refused).
caf::expected<plan> delete_where(const table_schema& t, const record& where);

/// UPDATE the rows with the given primary keys (each validated; repeated
/// keys count once) with `changes`: `WHERE pk IN (?, …)` in statements of
/// at most `max_batch` keys; several are one atomic plan. Errors:
/// `invalid_argument` for no keys or more than `max_keys`, a key that is
/// not exactly the primary key (the message starts with `key <index>: `);
/// `unsupported` for a table without a primary key.
caf::expected<plan> update_keys(const table_schema& t,
                                const std::vector<record>& keys,
                                const record& changes);

/// DELETE the rows with the given primary keys (as update_keys).
caf::expected<plan> delete_keys(const table_schema& t,
                                const std::vector<record>& keys);

/// The most columns `stats` takes.
constexpr size_t max_stats_columns = 64;

/// Statistics of `columns` in one statement: `SELECT COUNT(*), COUNT(c),
/// COUNT(DISTINCT c), COUNT(*) - COUNT(c), MIN(c), MAX(c), AVG(c) …` (AVG
/// only for numeric columns, NULL otherwise). Errors: `invalid_argument`
/// for no columns, more than max_stats_columns, an unknown or repeated
/// column.
caf::expected<plan> stats(const table_schema& t,
                          const std::vector<std::string>& columns);

/// A page of at most `limit` rows (0: default_limit; above max_limit:
/// invalid_argument) in primary key order, after `from`: `WHERE (a, b) >
/// (?, ?) ORDER BY a, b LIMIT ?`. Errors: `unsupported` for a table without
/// a primary key; `invalid_argument` for a token of another table or one
/// whose key is not exactly the primary key.
caf::expected<plan> page_after(const table_schema& t, const page_token& from,
                               uint32_t limit);

/// The name a page_token gives `t`: `database.table`.
std::string token_table(const table_schema& t);

/// The answer of `p` from the results of its steps, in order. Errors:
/// `internal` when the results do not fit the plan.
caf::expected<repository_result> read_outcome(const plan& p,
                                              const std::vector<result>& rs);

/// The answer of a plan of shape `stats`. Errors: `internal` when the
/// results do not fit the plan.
caf::expected<field_stats> read_stats(const plan& p,
                                      const std::vector<result>& rs);

/// The answer of a plan of shape `keyset`. Errors: `internal` when the
/// results do not fit the plan.
caf::expected<keyset_page> read_keyset(const plan& p,
                                       const std::vector<result>& rs);

/// True when the columns of `rows` (read with `SELECT *` or `RETURNING *`)
/// are not the visible columns of `t` in order: the table changed since it
/// was reflected.
bool schema_drift(const table_schema& t, const result_set& rows);

/// The rows of `set` as records named by its columns.
std::vector<record> records_of(const result_set& set);

} // namespace repository_sql

} // namespace troupe
