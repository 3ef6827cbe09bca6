#pragma once

// Conversions between libmariadb's representations and troupe's values
// (private to the driver).

#include <cstdint>
#include <string_view>

#include <mysql.h>

#include "troupe/result.hpp"
#include "troupe/value.hpp"

namespace troupe::mariadb::detail {

/// How a column's cells are decoded.
enum class decode_kind : uint8_t {
  null,
  int64,
  uint64,
  float32,
  float64,
  decimal,
  date,
  time,
  datetime,
  string,
  bytes,
};

/// Converts a field's metadata.
column to_column(const MYSQL_FIELD& field);

/// How cells of `field` are decoded.
decode_kind decode_kind_of(const MYSQL_FIELD& field);

/// Decodes a text-protocol cell. Returns false on malformed input.
bool decode_text(decode_kind kind, std::string_view text, value& out);

/// Converts a MYSQL_TIME of the given kind (date, time or datetime).
value from_mysql_time(decode_kind kind, const MYSQL_TIME& t);

/// Fills `out` from a date, time or datetime value.
void to_mysql_time(const value& x, MYSQL_TIME& out);

/// A float widened to the double that prints like the float (1.1f -> 1.1),
/// so both protocols return the same value for FLOAT columns.
double widen_float(float x);

} // namespace troupe::mariadb::detail
