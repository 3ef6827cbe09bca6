#pragma once

// What the source files of `connection` share (private to the driver): the
// private types the class declares (its steps, a cached statement, a
// pipelined call) and the ids of libmariadb's calls. Helpers one file alone
// uses stay in that file.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <mysql.h>

#include "mariadb/codec.hpp"
#include "mariadb/wire.hpp"
#include "troupe/mariadb/connection.hpp"
#include "troupe/result.hpp"

namespace troupe::mariadb {

namespace detail {

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

// What a result set and its columns keep in memory besides the rows.
size_t retained_bytes(const result_set& rs);

// One bound parameter's storage (scalars are copied here; strings and bytes
// are referenced where they are).
struct param_slot {
  union {
    int64_t i;
    uint64_t u;
    double d;
    MYSQL_TIME t;
  };
  unsigned long length = 0;
  // A bulk execution's STMT_INDICATOR_* for the current set.
  char indicator = 0;
};

// The parameter sets of a bulk execution: `width` values per set, row after
// row, bound one set at a time into `slots`.
struct bulk_rows {
  const std::vector<value>* params = nullptr;
  param_slot* slots = nullptr;
  size_t width = 0;
};

} // namespace detail

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
  std::vector<detail::decode_kind> kinds;
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
  std::vector<detail::param_slot> param_slots;
  // True while libmariadb's array binding is set on the handle (a bulk
  // execution ran last): cleared before the next single execution.
  bool bulk_armed = false;
  // What a bulk execution reads each set from.
  detail::bulk_rows bulk;

  ~statement() {
    if (handle != nullptr)
      mysql_stmt_close(handle);
  }
};

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

} // namespace troupe::mariadb
