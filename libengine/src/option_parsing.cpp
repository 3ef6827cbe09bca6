#include "troupe/option_parsing.hpp"

#include <cctype>
#include <cmath>
#include <charconv>

#include <fmt/format.h>

#include "troupe/error.hpp"

namespace troupe {

namespace {

caf::error bad(std::string_view key, std::string_view text,
               const std::string& expected) {
  return make_error(errc::invalid_argument,
                    fmt::format("invalid value '{}' for '{}': expected {}",
                                text, key, expected));
}

bool parse_digits(std::string_view digits, uint64_t& out) {
  if (digits.empty())
    return false;
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return res.ec == std::errc{} && res.ptr == digits.data() + digits.size();
}

std::string lower(std::string_view x) {
  std::string out{x};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

std::string format_duration(std::chrono::milliseconds x) {
  auto ms = x.count();
  if (ms != 0 && ms % 3600000 == 0)
    return fmt::format("{}h", ms / 3600000);
  if (ms != 0 && ms % 60000 == 0)
    return fmt::format("{}m", ms / 60000);
  if (ms != 0 && ms % 1000 == 0)
    return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

caf::expected<std::chrono::milliseconds>
parse_duration(std::string_view key, std::string_view text,
               std::chrono::milliseconds min, std::chrono::milliseconds max) {
  auto range = fmt::format("a duration between {} and {} (e.g. 500ms, 5s, 2m)",
                           format_duration(min), format_duration(max));
  auto t = lower(text);
  size_t split = 0;
  while (split < t.size() && std::isdigit(static_cast<unsigned char>(t[split])))
    ++split;
  uint64_t n = 0;
  if (!parse_digits(std::string_view{t}.substr(0, split), n))
    return bad(key, text, range);
  auto unit = std::string_view{t}.substr(split);
  uint64_t factor;
  if (unit.empty() || unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m" || unit == "min")
    factor = 60000;
  else if (unit == "h")
    factor = 3600000;
  else
    return bad(key, text, range);
  if (n > static_cast<uint64_t>(max.count()) / factor + 1)
    return bad(key, text, range);
  auto value = std::chrono::milliseconds{static_cast<int64_t>(n * factor)};
  if (value < min || value > max)
    return bad(key, text, range);
  return value;
}

caf::expected<uint64_t> parse_uint(std::string_view key, std::string_view text,
                                   uint64_t min, uint64_t max) {
  uint64_t n = 0;
  if (!parse_digits(text, n) || n < min || n > max)
    return bad(key, text,
               fmt::format("an integer between {} and {}", min, max));
  return n;
}

caf::expected<uint64_t> parse_size(std::string_view key, std::string_view text,
                                   uint64_t min, uint64_t max) {
  auto range = fmt::format("a size between {} and {} bytes (suffix k, m, g "
                           "allowed)",
                           min, max);
  auto t = lower(text);
  uint64_t factor = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 'k':
        factor = uint64_t{1} << 10;
        break;
      case 'm':
        factor = uint64_t{1} << 20;
        break;
      case 'g':
        factor = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (factor != 1)
      t.pop_back();
  }
  uint64_t n = 0;
  if (!parse_digits(t, n) || n > max / factor || n * factor < min
      || n * factor > max)
    return bad(key, text, range);
  return n * factor;
}

caf::expected<bool> parse_bool(std::string_view key, std::string_view text) {
  auto t = lower(text);
  if (t == "true" || t == "1" || t == "yes" || t == "on")
    return true;
  if (t == "false" || t == "0" || t == "no" || t == "off")
    return false;
  return bad(key, text, "true or false");
}

caf::expected<double> parse_double(std::string_view key, std::string_view text,
                                   double min, double max) {
  double x = 0;
  auto res = std::from_chars(text.data(), text.data() + text.size(), x);
  if (res.ec != std::errc{} || res.ptr != text.data() + text.size()
      || std::isnan(x) || x < min || x > max)
    return bad(key, text, fmt::format("a number between {} and {}", min, max));
  return x;
}

} // namespace troupe
