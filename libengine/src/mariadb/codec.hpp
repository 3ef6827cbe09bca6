#pragma once

// Conversions between libmariadb's representations and troupe's values
// (private to the driver).

#include <cstdint>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include <mysql.h>

#include "troupe/error.hpp"
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

/// The column type a MariaDB data type name (extended metadata) stands for:
/// inet4, inet6, uuid; unknown for any other name.
column_type data_type_named(std::string_view name);

/// Fills `out` from a date, time or datetime value.
void to_mysql_time(const value& x, MYSQL_TIME& out);

/// Whether a TIME parameter is sent as negative: a negative zero is sent as
/// zero on every path (libmariadb drops its sign, the pipeline must too).
bool sends_negative(const time_value& t);

/// Refuses date, time and datetime parameters outside what the server
/// stores (month 13, hour 24, minute 60, 1,000,000 µs, 839 hours: stored
/// as zero values or clamped, often without an error, if sent). The error
/// names the parameter and the field, never the value.
caf::error check_temporal_params(const std::vector<value>& params);

/// A FLOAT column's value from the binary protocol, widened exactly: the
/// double holds the same number as the stored float (1.1f reads as
/// 1.100000023841858), so writing it back stores the same float (FLT_MAX
/// stays FLT_MAX). The text protocol cannot match it: the server sends a
/// FLOAT in text with 6 significant digits (1.1, 3.40282e38), and those are
/// all the engine has (docs/messages.md, "FLOAT columns").
double widen_float(float x);

} // namespace troupe::mariadb::detail
