#include "troupe/value.hpp"

#include <cmath>

#include <fmt/format.h>

namespace troupe {

bool operator==(const date& x, const date& y) {
  return x.year == y.year && x.month == y.month && x.day == y.day;
}

bool operator==(const time_value& x, const time_value& y) {
  return x.negative == y.negative && x.hours == y.hours
         && x.minutes == y.minutes && x.seconds == y.seconds
         && x.microseconds == y.microseconds;
}

bool operator==(const datetime& x, const datetime& y) {
  return x.year == y.year && x.month == y.month && x.day == y.day
         && x.hour == y.hour && x.minute == y.minute && x.second == y.second
         && x.microsecond == y.microsecond;
}

std::string to_string(value_kind x) {
  switch (x) {
    case value_kind::null:
      return "null";
    case value_kind::int64:
      return "int64";
    case value_kind::uint64:
      return "uint64";
    case value_kind::float64:
      return "double";
    case value_kind::decimal:
      return "decimal";
    case value_kind::string:
      return "string";
    case value_kind::bytes:
      return "bytes";
    case value_kind::date:
      return "date";
    case value_kind::time:
      return "time";
    case value_kind::datetime:
      return "datetime";
  }
  return "unknown";
}

std::string to_string(const date& x) {
  return fmt::format("{:04}-{:02}-{:02}", x.year, x.month, x.day);
}

std::string to_string(const time_value& x) {
  auto out = fmt::format("{}{:02}:{:02}:{:02}", x.negative ? "-" : "", x.hours,
                         x.minutes, x.seconds);
  if (x.microseconds != 0)
    out += fmt::format(".{:06}", x.microseconds);
  return out;
}

std::string to_string(const datetime& x) {
  auto out = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", x.year, x.month,
                         x.day, x.hour, x.minute, x.second);
  if (x.microsecond != 0)
    out += fmt::format(".{:06}", x.microsecond);
  return out;
}

namespace {

std::string quote_for_display(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  for (char c : s) {
    switch (c) {
      case '\'':
        out += "\\'";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  out += '\'';
  return out;
}

struct display_visitor {
  using result_type = std::string;
  std::string operator()(null_t) const { return "NULL"; }
  std::string operator()(int64_t x) const { return std::to_string(x); }
  std::string operator()(uint64_t x) const { return std::to_string(x); }
  std::string operator()(double x) const { return fmt::format("{}", x); }
  std::string operator()(const decimal& x) const { return x.text; }
  std::string operator()(const std::string& x) const {
    return quote_for_display(x);
  }
  std::string operator()(const bytes& x) const {
    std::string out = "0x";
    for (auto b : x)
      out += fmt::format("{:02x}", b);
    return out;
  }
  std::string operator()(const date& x) const { return to_string(x); }
  std::string operator()(const time_value& x) const { return to_string(x); }
  std::string operator()(const datetime& x) const { return to_string(x); }
};

} // namespace

std::string to_string(const value& x) {
  display_visitor f;
  return caf::visit(f, x.data());
}

namespace detail {

caf::error mismatch(value_kind have, const char* want) {
  if (have == value_kind::null)
    return make_error(errc::type_mismatch,
                      fmt::format("value is NULL, cannot read it as {}", want));
  return make_error(errc::type_mismatch,
                    fmt::format("cannot read a {} value as {}",
                                to_string(have), want));
}

caf::error out_of_range(int64_t have, const char* want) {
  return make_error(errc::type_mismatch,
                    fmt::format("cannot read the int64 value {} as {} (out "
                                "of range)",
                                have, want));
}

caf::error out_of_range(uint64_t have, const char* want) {
  return make_error(errc::type_mismatch,
                    fmt::format("cannot read the uint64 value {} as {} (out "
                                "of range)",
                                have, want));
}

caf::expected<int64_t> as_int64(const value& x, const char* want) {
  if (auto p = x.get_if<int64_t>())
    return *p;
  if (auto p = x.get_if<uint64_t>()) {
    if (*p > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return out_of_range(*p, want);
    return static_cast<int64_t>(*p);
  }
  return mismatch(x.kind(), want);
}

caf::expected<uint64_t> as_uint64(const value& x, const char* want) {
  if (auto p = x.get_if<uint64_t>())
    return *p;
  if (auto p = x.get_if<int64_t>()) {
    if (*p < 0)
      return out_of_range(*p, want);
    return static_cast<uint64_t>(*p);
  }
  return mismatch(x.kind(), want);
}

} // namespace detail

} // namespace troupe
