#include "mariadb/codec.hpp"

#include <charconv>
#include <cstring>
#include <initializer_list>
#include <optional>

#include <fmt/format.h>

namespace troupe::mariadb::detail {

namespace {

constexpr unsigned binary_charset = 63;

bool is_binary(const MYSQL_FIELD& f) {
  return f.charsetnr == binary_charset;
}

bool is_json(const MYSQL_FIELD& f) {
#if MYSQL_VERSION_ID >= 100400 || defined(MARIADB_FIELD_ATTR_FORMAT_NAME)
  MARIADB_CONST_STRING attr{nullptr, 0};
  if (mariadb_field_attr(&attr, &f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0
      && attr.length == 4 && std::memcmp(attr.str, "json", 4) == 0)
    return true;
#endif
  return f.type == MYSQL_TYPE_JSON;
}

} // namespace

// MariaDB's data types that travel as another type (INET4, INET6, UUID as
// strings), named in the extended metadata; unknown otherwise.
column_type data_type_named(std::string_view name) {
  if (name == "inet4")
    return column_type::inet4;
  if (name == "inet6")
    return column_type::inet6;
  if (name == "uuid")
    return column_type::uuid;
  return column_type::unknown;
}

namespace {

column_type type_of(const MYSQL_FIELD& f) {
#if MYSQL_VERSION_ID >= 100400 || defined(MARIADB_FIELD_ATTR_DATA_TYPE_NAME)
  MARIADB_CONST_STRING attr{nullptr, 0};
  if (mariadb_field_attr(&attr, &f, MARIADB_FIELD_ATTR_DATA_TYPE_NAME) == 0
      && attr.str != nullptr)
    if (auto t = data_type_named({attr.str, attr.length});
        t != column_type::unknown)
      return t;
#endif
  switch (f.type) {
    case MYSQL_TYPE_NULL:
      return column_type::null;
    case MYSQL_TYPE_TINY:
      return column_type::tinyint;
    case MYSQL_TYPE_SHORT:
      return column_type::smallint;
    case MYSQL_TYPE_INT24:
      return column_type::mediumint;
    case MYSQL_TYPE_LONG:
      return column_type::int_;
    case MYSQL_TYPE_LONGLONG:
      return column_type::bigint;
    case MYSQL_TYPE_YEAR:
      return column_type::year;
    case MYSQL_TYPE_FLOAT:
      return column_type::float_;
    case MYSQL_TYPE_DOUBLE:
      return column_type::double_;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
      return column_type::decimal;
    case MYSQL_TYPE_BIT:
      return column_type::bit;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      return column_type::date;
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
      return column_type::time;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
      return column_type::datetime;
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2:
      return column_type::timestamp;
    case MYSQL_TYPE_ENUM:
      return column_type::enum_;
    case MYSQL_TYPE_SET:
      return column_type::set;
    case MYSQL_TYPE_JSON:
      return column_type::json;
    case MYSQL_TYPE_GEOMETRY:
      return column_type::geometry;
    case MYSQL_TYPE_STRING:
      if (f.flags & ENUM_FLAG)
        return column_type::enum_;
      if (f.flags & SET_FLAG)
        return column_type::set;
      return is_binary(f) ? column_type::binary : column_type::char_;
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR:
      return is_binary(f) ? column_type::varbinary : column_type::varchar;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
      if (is_json(f))
        return column_type::json;
      return is_binary(f) ? column_type::blob : column_type::text;
    default:
      return column_type::unknown;
  }
}

uint32_t flags_of(const MYSQL_FIELD& f) {
  uint32_t out = 0;
  if (f.flags & NOT_NULL_FLAG)
    out |= flag_not_null;
  if (f.flags & PRI_KEY_FLAG)
    out |= flag_primary_key;
  if (f.flags & UNIQUE_KEY_FLAG)
    out |= flag_unique_key;
  if (f.flags & MULTIPLE_KEY_FLAG)
    out |= flag_multiple_key;
  if (f.flags & UNSIGNED_FLAG)
    out |= flag_unsigned;
  if (f.flags & ZEROFILL_FLAG)
    out |= flag_zerofill;
  if (f.flags & BINARY_FLAG)
    out |= flag_binary;
  if (f.flags & AUTO_INCREMENT_FLAG)
    out |= flag_auto_increment;
  return out;
}

std::string str(const char* p, unsigned len) {
  return p ? std::string{p, len} : std::string{};
}

template <class T>
bool parse_int(std::string_view s, T& out) {
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

// Parses exactly `n` digits at `pos`.
bool digits(std::string_view s, size_t pos, size_t n, uint32_t& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    out = out * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  return true;
}

// Parses an optional ".ffffff" fraction at `pos` (1..6 digits) into
// microseconds; `pos` must be the end or a '.'.
bool fraction(std::string_view s, size_t pos, uint32_t& micros) {
  micros = 0;
  if (pos == s.size())
    return true;
  if (s[pos] != '.')
    return false;
  size_t n = s.size() - pos - 1;
  if (n == 0 || n > 6)
    return false;
  uint32_t x = 0;
  if (!digits(s, pos + 1, n, x))
    return false;
  for (size_t i = n; i < 6; ++i)
    x *= 10;
  micros = x;
  return true;
}

bool parse_date(std::string_view s, date& out) {
  uint32_t y, m, d;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 0, 4, y)
      || !digits(s, 5, 2, m) || !digits(s, 8, 2, d))
    return false;
  out = date{static_cast<uint16_t>(y), static_cast<uint8_t>(m),
             static_cast<uint8_t>(d)};
  return true;
}

bool parse_datetime(std::string_view s, datetime& out) {
  date d;
  if (!parse_date(s, d))
    return false;
  out = datetime{d.year, d.month, d.day, 0, 0, 0, 0};
  if (s.size() == 10)
    return true;
  uint32_t h, mi, se, us;
  if (s.size() < 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':'
      || !digits(s, 11, 2, h) || !digits(s, 14, 2, mi)
      || !digits(s, 17, 2, se) || !fraction(s, 19, us))
    return false;
  out.hour = static_cast<uint8_t>(h);
  out.minute = static_cast<uint8_t>(mi);
  out.second = static_cast<uint8_t>(se);
  out.microsecond = us;
  return true;
}

bool parse_time(std::string_view s, time_value& out) {
  out = time_value{};
  size_t pos = 0;
  if (!s.empty() && s[0] == '-') {
    out.negative = true;
    pos = 1;
  }
  auto colon = s.find(':', pos);
  if (colon == std::string_view::npos || colon == pos)
    return false;
  uint32_t h;
  if (!parse_int(s.substr(pos, colon - pos), h))
    return false;
  uint32_t mi, se, us;
  if (s.size() < colon + 6 || s[colon + 3] != ':'
      || !digits(s, colon + 1, 2, mi) || !digits(s, colon + 4, 2, se)
      || !fraction(s, colon + 6, us))
    return false;
  out.hours = h;
  out.minutes = static_cast<uint8_t>(mi);
  out.seconds = static_cast<uint8_t>(se);
  out.microseconds = us;
  return true;
}

} // namespace

column to_column(const MYSQL_FIELD& f) {
  column c;
  c.name = str(f.name, f.name_length);
  c.org_name = str(f.org_name, f.org_name_length);
  c.table = str(f.table, f.table_length);
  c.org_table = str(f.org_table, f.org_table_length);
  c.database = str(f.db, f.db_length);
  c.type = type_of(f);
  c.flags = flags_of(f);
  c.length = f.length;
  c.decimals = static_cast<uint8_t>(f.decimals);
  c.charset = static_cast<uint16_t>(f.charsetnr);
  return c;
}

decode_kind decode_kind_of(const MYSQL_FIELD& f) {
  switch (type_of(f)) {
    case column_type::null:
      return decode_kind::null;
    case column_type::tinyint:
    case column_type::smallint:
    case column_type::mediumint:
    case column_type::int_:
    case column_type::bigint:
    case column_type::year:
      return (f.flags & UNSIGNED_FLAG) ? decode_kind::uint64
                                       : decode_kind::int64;
    case column_type::float_:
      return decode_kind::float32;
    case column_type::double_:
      return decode_kind::float64;
    case column_type::decimal:
      return decode_kind::decimal;
    case column_type::date:
      return decode_kind::date;
    case column_type::time:
      return decode_kind::time;
    case column_type::datetime:
    case column_type::timestamp:
      return decode_kind::datetime;
    case column_type::bit:
    case column_type::binary:
    case column_type::varbinary:
    case column_type::blob:
    case column_type::geometry:
      return decode_kind::bytes;
    case column_type::json:
    case column_type::enum_:
    case column_type::set:
    case column_type::inet4:
    case column_type::inet6:
    case column_type::uuid:
    case column_type::char_:
    case column_type::varchar:
    case column_type::text:
      return decode_kind::string;
    case column_type::unknown:
      break;
  }
  return is_binary(f) ? decode_kind::bytes : decode_kind::string;
}

double widen_float(float x) {
  return static_cast<double>(x);
}

bool decode_text(decode_kind kind, std::string_view s, value& out) {
  switch (kind) {
    case decode_kind::null:
      out = null;
      return true;
    case decode_kind::int64: {
      int64_t x;
      if (!parse_int(s, x))
        return false;
      out = x;
      return true;
    }
    case decode_kind::uint64: {
      uint64_t x;
      if (!parse_int(s, x))
        return false;
      out = x;
      return true;
    }
    case decode_kind::float32:
    case decode_kind::float64: {
      double x;
      auto res = std::from_chars(s.data(), s.data() + s.size(), x);
      if (res.ec != std::errc{} || res.ptr != s.data() + s.size())
        return false;
      out = x;
      return true;
    }
    case decode_kind::decimal:
      out = decimal{std::string{s}};
      return true;
    case decode_kind::date: {
      date d;
      if (s.size() != 10 || !parse_date(s, d))
        return false;
      out = d;
      return true;
    }
    case decode_kind::time: {
      time_value t;
      if (!parse_time(s, t))
        return false;
      out = t;
      return true;
    }
    case decode_kind::datetime: {
      datetime dt;
      if (!parse_datetime(s, dt))
        return false;
      out = dt;
      return true;
    }
    case decode_kind::string:
      out = std::string{s};
      return true;
    case decode_kind::bytes:
      out = bytes(s.begin(), s.end());
      return true;
  }
  return false;
}

value from_mysql_time(decode_kind kind, const MYSQL_TIME& t) {
  switch (kind) {
    case decode_kind::date:
      return date{static_cast<uint16_t>(t.year), static_cast<uint8_t>(t.month),
                  static_cast<uint8_t>(t.day)};
    case decode_kind::time:
      return time_value{t.neg != 0, t.day * 24 + t.hour,
                  static_cast<uint8_t>(t.minute),
                  static_cast<uint8_t>(t.second),
                  static_cast<uint32_t>(t.second_part)};
    default:
      return datetime{static_cast<uint16_t>(t.year),
                      static_cast<uint8_t>(t.month),
                      static_cast<uint8_t>(t.day),
                      static_cast<uint8_t>(t.hour),
                      static_cast<uint8_t>(t.minute),
                      static_cast<uint8_t>(t.second),
                      static_cast<uint32_t>(t.second_part)};
  }
}

bool sends_negative(const time_value& t) {
  return t.negative
         && (t.hours != 0 || t.minutes != 0 || t.seconds != 0
             || t.microseconds != 0);
}

namespace {

struct field_limit {
  const char* name;
  uint64_t value;
  uint64_t max;
};

// The first field over its maximum (a copy: the list's array ends with the
// full expression that built it).
std::optional<field_limit>
first_over(std::initializer_list<field_limit> fields) {
  for (const auto& f : fields)
    if (f.value > f.max)
      return f;
  return std::nullopt;
}

} // namespace

caf::error check_temporal_params(const std::vector<value>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    std::optional<field_limit> bad;
    const char* kind = nullptr;
    if (auto d = p.get_if<date>()) {
      kind = "date";
      bad = first_over({{"year", d->year, 9999},
                        {"month", d->month, 12},
                        {"day", d->day, 31}});
    } else if (auto t = p.get_if<time_value>()) {
      kind = "time";
      bad = first_over({{"hours", t->hours, 838},
                        {"minutes", t->minutes, 59},
                        {"seconds", t->seconds, 59},
                        {"microseconds", t->microseconds, 999999}});
    } else if (auto dt = p.get_if<datetime>()) {
      kind = "datetime";
      bad = first_over({{"year", dt->year, 9999},
                        {"month", dt->month, 12},
                        {"day", dt->day, 31},
                        {"hour", dt->hour, 23},
                        {"minute", dt->minute, 59},
                        {"second", dt->second, 59},
                        {"microsecond", dt->microsecond, 999999}});
    }
    if (bad)
      return make_error(errc::invalid_argument,
                        fmt::format("parameter {} ({}): the {} is out of "
                                    "range (0-{}); nothing was sent",
                                    i + 1, kind, bad->name, bad->max));
  }
  return {};
}

void to_mysql_time(const value& x, MYSQL_TIME& out) {
  std::memset(&out, 0, sizeof(out));
  if (auto d = x.get_if<date>()) {
    out.year = d->year;
    out.month = d->month;
    out.day = d->day;
    out.time_type = MYSQL_TIMESTAMP_DATE;
  } else if (auto t = x.get_if<time_value>()) {
    out.neg = sends_negative(*t);
    // libmariadb sends the hour as one byte next to a day count.
    out.day = t->hours / 24;
    out.hour = t->hours % 24;
    out.minute = t->minutes;
    out.second = t->seconds;
    out.second_part = t->microseconds;
    out.time_type = MYSQL_TIMESTAMP_TIME;
  } else if (auto dt = x.get_if<datetime>()) {
    out.year = dt->year;
    out.month = dt->month;
    out.day = dt->day;
    out.hour = dt->hour;
    out.minute = dt->minute;
    out.second = dt->second;
    out.second_part = dt->microsecond;
    out.time_type = MYSQL_TIMESTAMP_DATETIME;
  }
}

} // namespace troupe::mariadb::detail
