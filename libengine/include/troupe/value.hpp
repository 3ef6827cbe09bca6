#pragma once

// SQL values: what a cell of a result holds and what a statement parameter is.
//
// A `value` is one of: NULL, a signed or unsigned 64-bit integer, a double, an
// exact decimal (as the server's text), a string (utf8mb4), bytes, a date, a
// time (a signed duration, as MariaDB's TIME is) or a datetime (DATETIME and
// TIMESTAMP, with microseconds). BIT columns arrive as bytes (big-endian, as
// the server sends them), JSON, ENUM and SET as strings; the column metadata
// says which they were.
//
// All types here are serializable with CAF 0.17 (`inspect`), so values and
// results can cross the network.

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/sec.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>
#include <caf/variant.hpp>

#include "troupe/error.hpp"

namespace troupe {

/// SQL NULL.
struct null_t {};
constexpr bool operator==(null_t, null_t) { return true; }
constexpr bool operator!=(null_t, null_t) { return false; }
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, null_t&) {
  return f(caf::meta::type_name("troupe::null"));
}

/// The NULL value.
constexpr null_t null{};

/// An exact decimal number in the server's text form, e.g. "-12.500".
struct decimal {
  std::string text;
};
inline bool operator==(const decimal& x, const decimal& y) {
  return x.text == y.text;
}
inline bool operator!=(const decimal& x, const decimal& y) { return !(x == y); }
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decimal& x) {
  return f(caf::meta::type_name("troupe::decimal"), x.text);
}

/// Raw bytes (BINARY, VARBINARY, BLOB, BIT).
using bytes = std::vector<uint8_t>;

/// A calendar date (DATE). Zero dates ("0000-00-00") are kept as zeros.
struct date {
  uint16_t year = 0;
  uint8_t month = 0;
  uint8_t day = 0;
};
bool operator==(const date& x, const date& y);
inline bool operator!=(const date& x, const date& y) { return !(x == y); }
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, date& x) {
  return f(caf::meta::type_name("troupe::date"), x.year, x.month, x.day);
}

/// A MariaDB TIME (named time_value so that `using namespace troupe` does
/// not clash with ::time): a signed duration of up to 838:59:59.999999.
struct time_value {
  bool negative = false;
  uint32_t hours = 0;
  uint8_t minutes = 0;
  uint8_t seconds = 0;
  uint32_t microseconds = 0;
};
bool operator==(const time_value& x, const time_value& y);
inline bool operator!=(const time_value& x, const time_value& y) { return !(x == y); }
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, time_value& x) {
  return f(caf::meta::type_name("troupe::time_value"), x.negative, x.hours,
           x.minutes, x.seconds, x.microseconds);
}

/// A DATETIME or TIMESTAMP (in the session's time zone), with microseconds.
struct datetime {
  uint16_t year = 0;
  uint8_t month = 0;
  uint8_t day = 0;
  uint8_t hour = 0;
  uint8_t minute = 0;
  uint8_t second = 0;
  uint32_t microsecond = 0;
};
bool operator==(const datetime& x, const datetime& y);
inline bool operator!=(const datetime& x, const datetime& y) {
  return !(x == y);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, datetime& x) {
  return f(caf::meta::type_name("troupe::datetime"), x.year, x.month, x.day,
           x.hour, x.minute, x.second, x.microsecond);
}

/// The kinds a value can hold, in the order of the variant's alternatives.
enum class value_kind : uint8_t {
  null,
  int64,
  uint64,
  float64,
  decimal,
  string,
  bytes,
  date,
  time,
  datetime,
};

/// Returns the name of `x`, e.g. "int64".
std::string to_string(value_kind x);

/// One SQL value: a cell or a statement parameter.
class value {
public:
  using variant_type = caf::variant<null_t, int64_t, uint64_t, double, decimal,
                                    std::string, bytes, date, time_value, datetime>;

  value() = default;
  value(null_t) {}
  value(bool x) : data_(int64_t{x ? 1 : 0}) {}
  /// Any integral type: signed ones become int64, unsigned ones uint64.
  template <class T, class = std::enable_if_t<std::is_integral<T>::value
                                              && !std::is_same<T, bool>::value
                                              && !std::is_same<T, char>::value>>
  value(T x) {
    if constexpr (std::is_signed<T>::value)
      data_ = static_cast<int64_t>(x);
    else
      data_ = static_cast<uint64_t>(x);
  }
  value(double x) : data_(x) {}
  value(float x) : data_(static_cast<double>(x)) {}
  value(decimal x) : data_(std::move(x)) {}
  value(std::string x) : data_(std::move(x)) {}
  value(std::string_view x) : data_(std::string{x}) {}
  value(const char* x) : data_(std::string{x}) {}
  value(bytes x) : data_(std::move(x)) {}
  value(date x) : data_(x) {}
  value(time_value x) : data_(x) {}
  value(datetime x) : data_(x) {}
  template <class T>
  value(const caf::optional<T>& x) {
    if (x)
      *this = value{*x};
  }

  /// Which alternative this value holds.
  value_kind kind() const { return static_cast<value_kind>(data_.index()); }

  bool is_null() const { return kind() == value_kind::null; }

  /// Returns a pointer to the held T, or nullptr when it holds another kind.
  template <class T>
  const T* get_if() const {
    return caf::get_if<T>(&data_);
  }

  /// Reads the value as T. Integers convert between signed and unsigned and
  /// to narrower integer types when the value fits; integers convert to
  /// double; decimals read as strings. `caf::optional<T>` reads NULL as
  /// none. Anything else (including NULL for a non-optional T) returns
  /// `errc::type_mismatch` naming both types.
  template <class T>
  caf::expected<T> as() const;

  const variant_type& data() const { return data_; }
  variant_type& data() { return data_; }

  friend bool operator==(const value& x, const value& y) {
    return x.data_ == y.data_;
  }
  friend bool operator!=(const value& x, const value& y) { return !(x == y); }

  // Serialization: the kind as one byte, then the payload. Doubles travel as
  // their IEEE-754 bits because CAF 0.17's float encoding loses -0.0,
  // denormals and NaN and never returns for infinity. Loading validates the
  // kind instead of throwing like caf::variant does.
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, value& x) {
    if constexpr (Inspector::reads_state)
      return x.save(f);
    else
      return x.load(f);
  }

private:
  template <class Inspector>
  typename Inspector::result_type save(Inspector& f) {
    auto tag = static_cast<uint8_t>(data_.index());
    auto name = caf::meta::type_name("troupe::value");
    switch (kind()) {
      case value_kind::null:
        return f(name, tag);
      case value_kind::int64:
        return f(name, tag, caf::get<int64_t>(data_));
      case value_kind::uint64:
        return f(name, tag, caf::get<uint64_t>(data_));
      case value_kind::float64: {
        uint64_t bits;
        double d = caf::get<double>(data_);
        std::memcpy(&bits, &d, sizeof(bits));
        return f(name, tag, bits);
      }
      case value_kind::decimal:
        return f(name, tag, caf::get<decimal>(data_));
      case value_kind::string:
        return f(name, tag, caf::get<std::string>(data_));
      case value_kind::bytes:
        return f(name, tag, caf::get<bytes>(data_));
      case value_kind::date:
        return f(name, tag, caf::get<date>(data_));
      case value_kind::time:
        return f(name, tag, caf::get<time_value>(data_));
      default:
        return f(name, tag, caf::get<datetime>(data_));
    }
  }

  template <class T, class Inspector>
  caf::error load_as(Inspector& f) {
    T tmp{};
    if (auto err = f(tmp))
      return err;
    data_ = std::move(tmp);
    return caf::none;
  }

  template <class Inspector>
  caf::error load(Inspector& f) {
    uint8_t tag = 0;
    if (auto err = f(caf::meta::type_name("troupe::value"), tag))
      return err;
    switch (static_cast<value_kind>(tag)) {
      case value_kind::null:
        data_ = null_t{};
        return caf::none;
      case value_kind::int64:
        return load_as<int64_t>(f);
      case value_kind::uint64:
        return load_as<uint64_t>(f);
      case value_kind::float64: {
        uint64_t bits = 0;
        if (auto err = f(bits))
          return err;
        double d;
        std::memcpy(&d, &bits, sizeof(d));
        data_ = d;
        return caf::none;
      }
      case value_kind::decimal:
        return load_as<decimal>(f);
      case value_kind::string:
        return load_as<std::string>(f);
      case value_kind::bytes:
        return load_as<bytes>(f);
      case value_kind::date:
        return load_as<date>(f);
      case value_kind::time:
        return load_as<time_value>(f);
      case value_kind::datetime:
        return load_as<datetime>(f);
    }
    return caf::make_error(caf::sec::invalid_argument,
                           "troupe::value: unknown kind tag");
  }

  variant_type data_;
};

/// Renders a value for humans (NULL, numbers, quoted strings, 0x.. bytes,
/// ISO dates). Never used for building SQL.
std::string to_string(const value& x);
std::string to_string(const date& x);
std::string to_string(const time_value& x);
std::string to_string(const datetime& x);

namespace detail {

caf::error mismatch(value_kind have, const char* want);
caf::error out_of_range(int64_t have, const char* want);
caf::error out_of_range(uint64_t have, const char* want);

// "int8", "uint16", ... for messages.
template <class T>
const char* integer_name() {
  constexpr bool s = std::is_signed<T>::value;
  switch (sizeof(T)) {
    case 1:
      return s ? "int8" : "uint8";
    case 2:
      return s ? "int16" : "uint16";
    case 4:
      return s ? "int32" : "uint32";
    default:
      return s ? "int64" : "uint64";
  }
}

template <class T>
constexpr const char* type_label() {
  if constexpr (std::is_same<T, decimal>::value)
    return "decimal";
  else if constexpr (std::is_same<T, bytes>::value)
    return "bytes";
  else if constexpr (std::is_same<T, date>::value)
    return "date";
  else if constexpr (std::is_same<T, time_value>::value)
    return "time";
  else if constexpr (std::is_same<T, datetime>::value)
    return "datetime";
  else
    return "null";
}
caf::expected<int64_t> as_int64(const value& x, const char* want);
caf::expected<uint64_t> as_uint64(const value& x, const char* want);

template <class T>
struct is_caf_optional : std::false_type {};
template <class T>
struct is_caf_optional<caf::optional<T>> : std::true_type {
  using inner = T;
};

} // namespace detail

template <class T>
caf::expected<T> value::as() const {
  if constexpr (detail::is_caf_optional<T>::value) {
    using inner = typename detail::is_caf_optional<T>::inner;
    if (is_null())
      return T{};
    auto x = as<inner>();
    if (!x)
      return std::move(x.error());
    return T{std::move(*x)};
  } else if constexpr (std::is_same<T, value>::value) {
    return *this;
  } else if constexpr (std::is_same<T, bool>::value) {
    auto x = detail::as_int64(*this, "bool");
    if (!x)
      return std::move(x.error());
    return *x != 0;
  } else if constexpr (std::is_integral<T>::value && std::is_signed<T>::value) {
    auto x = detail::as_int64(*this, detail::integer_name<T>());
    if (!x)
      return std::move(x.error());
    if (*x < static_cast<int64_t>(std::numeric_limits<T>::min())
        || *x > static_cast<int64_t>(std::numeric_limits<T>::max()))
      return detail::out_of_range(*x, detail::integer_name<T>());
    return static_cast<T>(*x);
  } else if constexpr (std::is_integral<T>::value) {
    auto x = detail::as_uint64(*this, detail::integer_name<T>());
    if (!x)
      return std::move(x.error());
    if (*x > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      return detail::out_of_range(*x, detail::integer_name<T>());
    return static_cast<T>(*x);
  } else if constexpr (std::is_same<T, double>::value) {
    if (auto p = get_if<double>())
      return *p;
    if (auto p = get_if<int64_t>())
      return static_cast<double>(*p);
    if (auto p = get_if<uint64_t>())
      return static_cast<double>(*p);
    return detail::mismatch(kind(), "double");
  } else if constexpr (std::is_same<T, std::string>::value) {
    if (auto p = get_if<std::string>())
      return *p;
    if (auto p = get_if<decimal>())
      return p->text;
    return detail::mismatch(kind(), "string");
  } else {
    static_assert(std::is_same<T, decimal>::value || std::is_same<T, bytes>::value
                    || std::is_same<T, date>::value || std::is_same<T, time_value>::value
                    || std::is_same<T, datetime>::value || std::is_same<T, null_t>::value,
                  "value::as<T>: T is not a SQL value type");
    if (auto p = get_if<T>())
      return *p;
    return detail::mismatch(kind(), detail::type_label<T>());
  }
}

} // namespace troupe
