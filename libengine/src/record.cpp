#include "troupe/record.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "troupe/error.hpp"
#include "troupe/sql.hpp"

namespace troupe {

namespace {

// Every message names the column and the problem, never the value.
caf::error bad(const column_schema& c, std::string_view problem) {
  return make_error(errc::invalid_argument,
                    fmt::format("column '{}' ({}): {}", c.name, c.sql_type,
                                problem));
}

caf::error wrong_kind(const column_schema& c, const value& x) {
  return bad(c, fmt::format("a {} value does not fit this column",
                            to_string(x.kind())));
}

struct int_range {
  int64_t min;
  uint64_t max;
};

// The range of an integer column; `ok` false for non-integer types.
bool integer_range(const column_schema& c, int_range& out) {
  auto pick = [&](int bits) {
    if (c.is_unsigned) {
      out.min = 0;
      out.max = bits == 64 ? std::numeric_limits<uint64_t>::max()
                           : (uint64_t{1} << bits) - 1;
    } else {
      out.min = bits == 64 ? std::numeric_limits<int64_t>::min()
                           : -(int64_t{1} << (bits - 1));
      out.max = (uint64_t{1} << (bits - 1)) - 1;
    }
    return true;
  };
  switch (c.type) {
    case column_type::tinyint:
      return pick(8);
    case column_type::smallint:
      return pick(16);
    case column_type::mediumint:
      return pick(24);
    case column_type::int_:
      return pick(32);
    case column_type::bigint:
      return pick(64);
    default:
      return false;
  }
}

// An exact number's digits before and after the point, from its text
// ("-12.50" -> 2, 2); false when it is not a plain decimal number.
bool decimal_digits(std::string_view text, size_t& whole, size_t& frac) {
  size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  whole = frac = 0;
  bool dot = false;
  bool leading = true; // leading zeros do not count
  bool any = false;
  for (; i < text.size(); ++i) {
    char ch = text[i];
    if (ch == '.' && !dot) {
      dot = true;
      continue;
    }
    if (ch < '0' || ch > '9')
      return false;
    any = true;
    if (dot) {
      ++frac;
    } else if (!(leading && ch == '0')) {
      leading = false;
      ++whole;
    }
  }
  return any;
}

bool ascii_iequal(std::string_view x, std::string_view y) {
  return x.size() == y.size()
         && std::equal(x.begin(), x.end(), y.begin(), [](char a, char b) {
              return std::tolower(static_cast<unsigned char>(a))
                     == std::tolower(static_cast<unsigned char>(b));
            });
}

bool is_member(const column_schema& c, std::string_view x) {
  return std::any_of(c.members.begin(), c.members.end(),
                     [&](const std::string& m) { return ascii_iequal(m, x); });
}

bool valid_uuid(std::string_view x) {
  auto hex = [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; };
  if (x.size() == 32)
    return std::all_of(x.begin(), x.end(), hex);
  if (x.size() != 36)
    return false;
  for (size_t i = 0; i < x.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? x[i] != '-' : !hex(x[i]))
      return false;
  }
  return true;
}

caf::error check_integer(const column_schema& c, const value& x) {
  int_range r{};
  integer_range(c, r);
  auto out_of_range = [&] { return bad(c, "the number is out of the column's range"); };
  if (auto i = x.get_if<int64_t>()) {
    if (*i < r.min || (*i >= 0 && static_cast<uint64_t>(*i) > r.max))
      return out_of_range();
    return {};
  }
  if (auto u = x.get_if<uint64_t>())
    return *u > r.max ? out_of_range() : caf::error{};
  if (auto d = x.get_if<double>()) {
    if (!std::isfinite(*d) || std::trunc(*d) != *d)
      return bad(c, "a fractional or non-finite number for an integer column");
    if (*d < static_cast<double>(r.min) || *d > static_cast<double>(r.max))
      return out_of_range();
    return {};
  }
  if (auto dec = x.get_if<decimal>()) {
    size_t whole = 0;
    size_t frac = 0;
    if (!decimal_digits(dec->text, whole, frac))
      return bad(c, "the decimal is not a number");
    if (frac > 0 && dec->text.find_first_not_of("0", dec->text.find('.') + 1)
                      != std::string::npos)
      return bad(c, "a fractional number for an integer column");
    auto whole_part = std::string_view{dec->text}.substr(
      0, std::min(dec->text.find('.'), dec->text.size()));
    if (!whole_part.empty() && whole_part[0] == '+')
      whole_part.remove_prefix(1);
    if (whole_part.empty() || whole_part == "-")
      return {}; // ".5"-like forms were refused above; "0." is zero
    const char* end = whole_part.data() + whole_part.size();
    int64_t v = 0;
    if (auto [p, ec] = std::from_chars(whole_part.data(), end, v);
        ec == std::errc{} && p == end)
      return check_integer(c, value{v});
    uint64_t u = 0;
    if (auto [p, ec] = std::from_chars(whole_part.data(), end, u);
        ec == std::errc{} && p == end)
      return check_integer(c, value{u});
    return out_of_range();
  }
  return wrong_kind(c, x);
}

caf::error check_string(const column_schema& c, const value& x) {
  auto s = x.get_if<std::string>();
  if (s == nullptr)
    return wrong_kind(c, x);
  auto chars = sql::utf8_length(*s, true);
  if (!chars)
    return bad(c, "the string is not valid UTF-8");
  // CHAR/VARCHAR count characters; the TEXT types bytes.
  bool by_chars = c.type == column_type::char_
                  || c.type == column_type::varchar;
  auto length = by_chars ? *chars : s->size();
  if (c.max_length > 0 && length > c.max_length)
    return bad(c, fmt::format("the string is longer than the column's {} "
                              "{}",
                              c.max_length, by_chars ? "characters" : "bytes"));
  return {};
}

} // namespace

record& record::set(std::string column, value x) {
  auto i = std::find_if(fields_.begin(), fields_.end(),
                        [&](const field& f) { return f.first == column; });
  if (i != fields_.end())
    i->second = std::move(x);
  else
    fields_.emplace_back(std::move(column), std::move(x));
  return *this;
}

const value* record::find(std::string_view column) const {
  auto i = std::find_if(fields_.begin(), fields_.end(),
                        [&](const field& f) { return f.first == column; });
  return i == fields_.end() ? nullptr : &i->second;
}

caf::error record::missing(std::string_view column) {
  return make_error(errc::not_found,
                    fmt::format("the record has no column '{}'",
                                column.substr(0, 64)));
}

caf::error validate_value(const column_schema& c, const value& x) {
  if (x.is_null()) {
    // NULL asks for the next value of an auto-increment column.
    if (!c.nullable && !c.auto_increment)
      return bad(c, "NULL for a NOT NULL column");
    return {};
  }
  switch (c.type) {
    case column_type::unknown:
      return bad(c, "the engine does not support writing this type");
    case column_type::tinyint:
    case column_type::smallint:
    case column_type::mediumint:
    case column_type::int_:
    case column_type::bigint:
      return check_integer(c, x);
    case column_type::year: {
      auto y = x.as<int64_t>();
      if (!y || x.kind() == value_kind::string)
        return wrong_kind(c, x);
      if (*y != 0 && (*y < 1901 || *y > 2155))
        return bad(c, "the year is outside 1901-2155");
      return {};
    }
    case column_type::float_:
    case column_type::double_: {
      if (x.kind() == value_kind::int64 || x.kind() == value_kind::uint64)
        return {};
      auto d = x.as<double>();
      if (!d || x.kind() == value_kind::string)
        return wrong_kind(c, x);
      if (!std::isfinite(*d))
        return bad(c, "not a finite number");
      if (c.type == column_type::float_ && std::fabs(*d) > FLT_MAX)
        return bad(c, "the number is out of the column's range");
      return {};
    }
    case column_type::decimal: {
      std::string text;
      if (auto dec = x.get_if<decimal>())
        text = dec->text;
      else if (auto i = x.get_if<int64_t>())
        text = std::to_string(*i);
      else if (auto u = x.get_if<uint64_t>())
        text = std::to_string(*u);
      else if (x.kind() == value_kind::float64)
        return std::isfinite(*x.get_if<double>())
                 ? caf::error{}
                 : bad(c, "not a finite number");
      else
        return wrong_kind(c, x);
      size_t whole = 0;
      size_t frac = 0;
      if (!decimal_digits(text, whole, frac))
        return bad(c, "the decimal is not a number");
      // More fractional digits are rounded by the server; more whole
      // digits do not fit.
      if (c.precision > 0 && whole > c.precision - c.scale)
        return bad(c, "the number is out of the column's range");
      return {};
    }
    case column_type::bit: {
      if (auto u = x.as<uint64_t>(); u && x.kind() != value_kind::string
                                    && x.kind() != value_kind::bytes) {
        if (c.max_length < 64 && *u >> c.max_length != 0)
          return bad(c, "the number has more bits than the column");
        return {};
      }
      if (auto b = x.get_if<bytes>()) {
        if (b->size() * 8 > ((c.max_length + 7) / 8) * 8)
          return bad(c, "more bytes than the column's bits");
        return {};
      }
      return wrong_kind(c, x);
    }
    case column_type::date:
      if (x.kind() == value_kind::date)
        return {};
      return wrong_kind(c, x);
    case column_type::datetime:
    case column_type::timestamp: {
      if (x.kind() != value_kind::datetime && x.kind() != value_kind::date)
        return wrong_kind(c, x);
      if (c.type == column_type::timestamp) {
        auto year = x.kind() == value_kind::date ? x.get_if<date>()->year
                                                 : x.get_if<datetime>()->year;
        if (year < 1970 || year > 2038)
          return bad(c, "a TIMESTAMP holds 1970 to 2038 only");
      }
      return {};
    }
    case column_type::time:
      return x.kind() == value_kind::time ? caf::error{} : wrong_kind(c, x);
    case column_type::char_:
    case column_type::varchar:
    case column_type::text:
    case column_type::json:
      return check_string(c, x);
    case column_type::binary:
    case column_type::varbinary:
    case column_type::blob: {
      size_t size = 0;
      if (auto b = x.get_if<bytes>())
        size = b->size();
      else if (auto s = x.get_if<std::string>())
        size = s->size();
      else
        return wrong_kind(c, x);
      if (c.max_length > 0 && size > c.max_length)
        return bad(c, fmt::format("more bytes than the column's {}",
                                  c.max_length));
      return {};
    }
    case column_type::enum_: {
      auto s = x.get_if<std::string>();
      if (s == nullptr)
        return wrong_kind(c, x);
      if (!is_member(c, *s))
        return bad(c, "the value is not one of the ENUM's members");
      return {};
    }
    case column_type::set: {
      auto s = x.get_if<std::string>();
      if (s == nullptr)
        return wrong_kind(c, x);
      std::string_view rest{*s};
      while (!rest.empty()) {
        auto comma = rest.find(',');
        auto item = rest.substr(0, comma);
        if (!is_member(c, item))
          return bad(c, "an item is not one of the SET's members");
        if (comma == std::string_view::npos)
          break;
        rest.remove_prefix(comma + 1);
      }
      return {};
    }
    case column_type::inet4:
    case column_type::inet6:
    case column_type::uuid: {
      auto s = x.get_if<std::string>();
      if (s == nullptr)
        return wrong_kind(c, x);
      bool ok = false;
      if (c.type == column_type::uuid) {
        ok = valid_uuid(*s);
      } else {
        unsigned char buf[16];
        int family = c.type == column_type::inet4 ? AF_INET : AF_INET6;
        ok = s->find('\0') == std::string::npos
             && ::inet_pton(family, s->c_str(), buf) == 1;
      }
      return ok ? caf::error{} : bad(c, "not a well-formed address or UUID");
    }
    case column_type::null:
    case column_type::geometry:
      return bad(c, "the engine does not support writing this type");
  }
  return bad(c, "the engine does not support writing this type");
}

caf::error validate(const table_schema& schema, const record& x,
                    write_kind kind) {
  auto table = [&](std::string_view problem) {
    return make_error(errc::invalid_argument,
                      fmt::format("table '{}': {}", schema.name, problem));
  };
  if (kind == write_kind::key && !schema.has_primary_key())
    return make_error(errc::unsupported,
                      fmt::format("table '{}' has no primary key: it cannot "
                                  "be read, changed or deleted by key",
                                  schema.name));
  if (kind == write_kind::update && x.empty())
    return table("an update changes no column");
  const auto& fields = x.fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& name = fields[i].first;
    for (size_t k = 0; k < i; ++k)
      if (fields[k].first == name)
        return table(fmt::format("column '{}' is given twice",
                                 std::string_view{name}.substr(0, 64)));
    auto* c = schema.column(name);
    if (c == nullptr)
      return table(fmt::format("no column '{}'",
                               std::string_view{name}.substr(0, 64)));
    if (kind == write_kind::key) {
      if (std::find(schema.primary_key.begin(), schema.primary_key.end(),
                    name)
          == schema.primary_key.end())
        return table(fmt::format("column '{}' is not part of the primary key",
                                 name));
    } else if (c->generated != generated_kind::no) {
      return bad(*c, "a generated column: the server computes it");
    }
    if (auto err = validate_value(*c, fields[i].second))
      return err;
  }
  if (kind == write_kind::key) {
    for (const auto& k : schema.primary_key)
      if (x.find(k) == nullptr)
        return table(fmt::format("the key lacks column '{}'", k));
  } else if (kind == write_kind::create) {
    for (const auto& c : schema.columns)
      if (!c.optional_on_insert() && x.find(c.name) == nullptr)
        return bad(c, "required: NOT NULL without a default, and not given");
  }
  return {};
}

} // namespace troupe
