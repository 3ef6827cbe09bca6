#pragma once

// Parsing of option values from DSN query strings and config files. Every
// parser names the key and the accepted range in its error, so a bad value is
// never silently ignored.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace troupe {

/// Parses a duration: a number with an optional unit `ms`, `s`, `m` or `h`
/// (no unit: milliseconds). Accepts [min, max]; errors name `key`.
caf::expected<std::chrono::milliseconds>
parse_duration(std::string_view key, std::string_view text,
               std::chrono::milliseconds min, std::chrono::milliseconds max);

/// Parses an unsigned integer in [min, max]; errors name `key`.
caf::expected<uint64_t> parse_uint(std::string_view key, std::string_view text,
                                   uint64_t min, uint64_t max);

/// Parses a size in bytes with an optional suffix `k`, `m` or `g` (powers of
/// 1024) in [min, max]; errors name `key`.
caf::expected<uint64_t> parse_size(std::string_view key, std::string_view text,
                                   uint64_t min, uint64_t max);

/// Parses true/false/1/0/yes/no/on/off; errors name `key`.
caf::expected<bool> parse_bool(std::string_view key, std::string_view text);

/// Parses a floating-point number in [min, max]; errors name `key`.
caf::expected<double> parse_double(std::string_view key, std::string_view text,
                                   double min, double max);

/// Renders a duration compactly: "250ms", "5s", "2m", "1h".
std::string format_duration(std::chrono::milliseconds x);

} // namespace troupe
