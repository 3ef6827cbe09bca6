#include "troupe/dsn.hpp"

#include <algorithm>
#include <cstddef>
#include <iterator>

#include "troupe/error.hpp"

// Grammar, strict on purpose so that a DSN means one thing:
//
//   scheme "://" [user [":" password] "@"] host [":" port] ["/" database]
//          ["?" key "=" value *("&" key "=" value)]
//
// - The authority (userinfo and host) ends at the first '/' or '?' (RFC 3986).
// - The userinfo ends at the LAST '@' of the authority, so a raw '@' in a
//   password still works; user and password split at the FIRST ':', so a raw
//   ':' in a password works too.
// - A raw '@' after the authority is an error. This is what catches a raw '/'
//   or '?' in a password (the password's '@' then lands after the authority):
//   without it, part of the password would be parsed as host, port or
//   database, silently or, worse, echoed in an error message.
// - '#' (a fragment), spaces and control characters are errors anywhere; they
//   must be percent-encoded.
// - '+' is a literal '+', not a space (that is HTML forms, not RFC 3986).
//
// Error messages never contain the password, not even a fragment of it: the
// password's own errors give only an offset, and a port is only echoed when an
// explicit '@' proves that it is not a password missing its '@'.

namespace troupe {

namespace {

constexpr uint16_t mysql_default_port = 3306;
constexpr uint16_t matrixone_default_port = 6001;

uint16_t default_port(std::string_view scheme) {
  return scheme == "matrixone" ? matrixone_default_port : mysql_default_port;
}

// Locale-independent character classes: a DSN is bytes, not text.

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (is_digit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return c - 'A' + 10;
}

bool is_unreserved(char c) {
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// What may appear in a host name or IPv4 address (after decoding).
bool is_host_char(char c) {
  return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Renders one byte for an error message: printable ASCII quoted, anything else
// in hex so that the message stays one readable line.
std::string describe(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f)
    return std::string{'\'', c, '\''};
  const char* digits = "0123456789ABCDEF";
  return std::string{"byte 0x"} + digits[u >> 4] + digits[u & 0x0f];
}

std::string at(size_t offset) {
  return " at offset " + std::to_string(offset);
}

caf::error fail(std::string what) {
  return make_error(errc::invalid_argument, "invalid DSN: " + what);
}

// Decodes %XX escapes of `part`, which starts at `offset` in the DSN. With
// `secret`, a bad escape is reported by offset only: even the two bytes after
// the '%' belong to the password.
caf::expected<std::string> decode(std::string_view text, size_t offset,
                                  std::string_view part, bool secret) {
  std::string result;
  result.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      result += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
      std::string msg = "bad percent escape ";
      if (!secret)
        msg += '\'' + std::string{text.substr(i, 3)} + "' ";
      msg += "in the ";
      msg += part;
      msg += at(offset + i);
      msg += " (expected %XX with two hex digits; write '%' as %25)";
      return fail(std::move(msg));
    }
    result += static_cast<char>(hex_value(text[i + 1]) * 16
                                + hex_value(text[i + 2]));
    i += 2;
  }
  return result;
}

class parser {
public:
  explicit parser(std::string_view text) : text_(text) {
    // nop
  }

  caf::expected<dsn> run() {
    if (text_.empty())
      return fail("empty string (expected e.g. mariadb://user@host/db)");
    if (auto err = check_characters())
      return err;
    size_t pos = 0;
    if (auto err = parse_scheme(pos))
      return err;
    auto auth_end = std::min(text_.find_first_of("/?", pos), text_.size());
    if (auto stray = text_.find('@', auth_end); stray != npos)
      return fail("unencoded '@'" + at(stray)
                  + " after the host; percent-encode it as %40 (a '/' or '?' "
                    "in the password must be percent-encoded too, as %2F and "
                    "%3F)");
    auto authority = text_.substr(pos, auth_end - pos);
    auto host_begin = pos;
    auto last_at = authority.rfind('@');
    bool has_userinfo = last_at != npos;
    if (has_userinfo) {
      if (auto err = parse_userinfo(pos, pos + last_at))
        return err;
      host_begin = pos + last_at + 1;
    }
    if (auto err = parse_host_port(host_begin, auth_end, has_userinfo))
      return err;
    pos = auth_end;
    if (pos < text_.size() && text_[pos] == '/') {
      auto path_end = std::min(text_.find('?', pos), text_.size());
      if (auto err = parse_database(pos + 1, path_end))
        return err;
      pos = path_end;
    }
    if (pos < text_.size() && text_[pos] == '?')
      if (auto err = parse_options(pos + 1))
        return err;
    if (result_.host.empty() && result_.socket.empty())
      return fail("missing host" + at(host_begin)
                  + " (give a host name, an address, or a unix socket as "
                    "?socket=/path)");
    if (!port_given_)
      result_.port = default_port(result_.scheme);
    return std::move(result_);
  }

private:
  static constexpr size_t npos = std::string_view::npos;

  caf::error check_characters() {
    for (size_t i = 0; i < text_.size(); ++i) {
      auto c = static_cast<unsigned char>(text_[i]);
      if (c == ' ')
        return fail("space" + at(i) + "; percent-encode it as %20");
      if (c < 0x20 || c == 0x7f)
        return fail("control character " + describe(text_[i]) + at(i)
                    + "; percent-encode it");
      if (c == '#')
        return fail("'#'" + at(i)
                    + ": a DSN has no fragment, so '#' must be percent-encoded "
                      "as %23 (e.g. in a password)");
    }
    return {};
  }

  caf::error parse_scheme(size_t& pos) {
    auto colon = text_.find(':');
    // Anything before the first ':' that is not a scheme token may well be
    // "user:password", so it is never echoed.
    if (colon == npos || colon == 0 || text_.substr(colon, 3) != "://"
        || !std::all_of(text_.begin(), text_.begin() + colon, [](char c) {
             return is_alnum(c) || c == '+' || c == '-' || c == '.';
           }))
      return fail("missing scheme (a DSN starts with mariadb://, mysql:// or "
                  "matrixone://)");
    auto raw = text_.substr(0, colon);
    std::string scheme;
    std::transform(raw.begin(), raw.end(), std::back_inserter(scheme),
                   to_lower);
    if (scheme != "mariadb" && scheme != "mysql" && scheme != "matrixone")
      return fail("unknown scheme '" + std::string{raw}
                  + "' (expected mariadb, mysql or matrixone)");
    result_.scheme = std::move(scheme);
    pos = colon + 3;
    return {};
  }

  caf::error parse_userinfo(size_t begin, size_t end) {
    auto userinfo = text_.substr(begin, end - begin);
    auto colon = userinfo.find(':');
    auto user = decode(userinfo.substr(0, colon), begin, "user", false);
    if (!user)
      return std::move(user.error());
    result_.user = std::move(*user);
    if (colon != npos) {
      auto password = decode(userinfo.substr(colon + 1), begin + colon + 1,
                             "password", true);
      if (!password)
        return std::move(password.error());
      result_.password = std::move(*password);
    }
    return {};
  }

  caf::error parse_host_port(size_t begin, size_t end, bool has_userinfo) {
    auto hostport = text_.substr(begin, end - begin);
    size_t port_colon = npos; // Offset of the ':' before the port.
    if (!hostport.empty() && hostport[0] == '[') {
      auto close = hostport.find(']');
      if (close == npos)
        return fail("unclosed '['" + at(begin)
                    + " (an IPv6 address is written like [::1]:3306)");
      if (auto err = parse_ipv6(begin + 1, begin + close))
        return err;
      auto after = close + 1;
      if (after < hostport.size()) {
        if (hostport[after] != ':')
          return fail("unexpected " + describe(hostport[after]) + at(begin + after)
                      + " after the IPv6 address (expected ':port')");
        port_colon = begin + after;
      }
    } else {
      auto colon = hostport.find(':');
      if (colon != npos) {
        if (auto second = hostport.find(':', colon + 1); second != npos)
          return fail("unexpected ':'" + at(begin + second)
                      + " in the host (an IPv6 address must be in brackets, "
                        "e.g. [::1]:3306)");
        port_colon = begin + colon;
      }
      auto host_end = colon == npos ? end : begin + colon;
      if (auto err = parse_host_name(begin, host_end))
        return err;
    }
    if (port_colon != npos)
      return parse_port(port_colon + 1, end, has_userinfo);
    return {};
  }

  caf::error parse_host_name(size_t begin, size_t end) {
    auto raw = text_.substr(begin, end - begin);
    auto host = decode(raw, begin, "host", false);
    if (!host)
      return std::move(host.error());
    if (!host->empty() && host->front() == '/') {
      result_.socket = std::move(*host);
      return {};
    }
    // Escapes were validated by decode; check the decoded bytes with the
    // offset of the character or escape that produced them.
    for (size_t i = 0; i < raw.size(); ++i) {
      auto offset = begin + i;
      auto c = raw[i];
      if (c == '%') {
        c = static_cast<char>(hex_value(raw[i + 1]) * 16
                              + hex_value(raw[i + 2]));
        i += 2;
      }
      if (!is_host_char(c))
        return fail("invalid character " + describe(c) + " in the host"
                    + at(offset)
                    + " (expected a host name, an IPv4 address, an IPv6 "
                      "address in brackets or a percent-encoded socket path)");
    }
    result_.host = std::move(*host);
    return {};
  }

  // Validates the characters only; resolving the address is the driver's job.
  caf::error parse_ipv6(size_t begin, size_t end) {
    auto raw = text_.substr(begin, end - begin);
    auto bad = [&] {
      return fail("invalid IPv6 address '" + std::string{raw} + "'" + at(begin)
                  + " (expected e.g. [::1] or [fe80::1%25eth0])");
    };
    if (raw.empty())
      return bad();
    auto address = decode(raw, begin, "IPv6 address", false);
    if (!address)
      return std::move(address.error());
    auto percent = address->find('%');
    auto addr = std::string_view{*address}.substr(0, percent);
    if (addr.find(':') == npos
        || !std::all_of(addr.begin(), addr.end(),
                        [](char c) { return is_hex(c) || c == ':' || c == '.'; }))
      return bad();
    if (percent != npos) {
      // RFC 6874 zone id, e.g. "eth0" in [fe80::1%25eth0].
      auto zone = std::string_view{*address}.substr(percent + 1);
      if (zone.empty() || !std::all_of(zone.begin(), zone.end(), is_unreserved))
        return bad();
    }
    result_.host = std::move(*address);
    return {};
  }

  // Without an '@' in the authority, "root:s3cret" reads as host "root" and
  // port "s3cret": the port is then reported by offset only.
  caf::error parse_port(size_t begin, size_t end, bool may_echo) {
    auto raw = text_.substr(begin, end - begin);
    auto quoted = may_echo ? " '" + std::string{raw} + "'" : std::string{};
    auto hint = may_echo ? std::string{}
                         : std::string{"; did user:password miss its '@'?"};
    if (raw.empty())
      return fail("empty port after ':'" + at(begin - 1)
                  + " (expected 1-65535)");
    if (!std::all_of(raw.begin(), raw.end(), is_digit))
      return fail("port" + quoted + at(begin)
                  + " is not a decimal number (expected 1-65535)" + hint);
    uint32_t value = 0;
    // More than five digits cannot be in range; stopping early also keeps
    // `value` from overflowing.
    if (raw.size() <= 5)
      for (auto c : raw)
        value = value * 10 + static_cast<uint32_t>(c - '0');
    if (raw.size() > 5 || value < 1 || value > 65535)
      return fail("port" + quoted + " out of range 1-65535" + at(begin) + hint);
    result_.port = static_cast<uint16_t>(value);
    port_given_ = true;
    return {};
  }

  caf::error parse_database(size_t begin, size_t end) {
    auto raw = text_.substr(begin, end - begin);
    if (auto slash = raw.find('/'); slash != npos)
      return fail("the database name contains '/'" + at(begin + slash)
                  + " (a DSN has a single path segment: the database)");
    auto database = decode(raw, begin, "database name", false);
    if (!database)
      return std::move(database.error());
    if (database->find('/') != npos)
      return fail("the database name" + at(begin)
                  + " contains '/' (percent-encoded); database names cannot "
                    "contain '/'");
    result_.database = std::move(*database);
    return {};
  }

  caf::error parse_options(size_t begin) {
    // A bare '?' with nothing after it is harmless: no options.
    if (begin >= text_.size())
      return {};
    bool socket_option = false;
    size_t pos = begin;
    for (;;) {
      auto amp = std::min(text_.find('&', pos), text_.size());
      auto item = text_.substr(pos, amp - pos);
      if (item.empty())
        return fail("empty option" + at(pos) + " (a stray '&'?)");
      auto eq = item.find('=');
      auto raw_key = std::string{item.substr(0, eq)};
      if (eq == npos)
        return fail("option '" + raw_key + "'" + at(pos)
                    + " has no value (expected key=value)");
      if (eq == 0)
        return fail("empty option key" + at(pos) + " (expected key=value)");
      auto key = decode(item.substr(0, eq), pos, "option key", false);
      if (!key)
        return std::move(key.error());
      auto value = decode(item.substr(eq + 1), pos + eq + 1,
                          "value of option '" + raw_key + "'", false);
      if (!value)
        return std::move(value.error());
      bool seen = (*key == "socket" && socket_option)
                  || result_.option(*key) != nullptr;
      if (seen)
        return fail("duplicate option '" + raw_key + "'" + at(pos));
      if (*key == "socket") {
        if (auto err = set_socket_option(std::move(*value), pos))
          return err;
        socket_option = true;
      } else {
        result_.options.emplace_back(std::move(*key), std::move(*value));
      }
      if (amp == text_.size())
        return {};
      pos = amp + 1;
    }
  }

  caf::error set_socket_option(std::string path, size_t offset) {
    if (path.empty())
      return fail("option 'socket'" + at(offset) + " is empty");
    if (!result_.socket.empty())
      return fail("option 'socket'" + at(offset)
                  + " given although the host already names a socket");
    // Any other host would be silently ignored, which hides a mistake.
    if (!result_.host.empty() && result_.host != "localhost")
      return fail("option 'socket'" + at(offset) + " conflicts with host '"
                  + result_.host + "' (use localhost or an empty host)");
    result_.host.clear();
    result_.socket = std::move(path);
    return {};
  }

  std::string_view text_;
  dsn result_;
  bool port_given_ = false;
};

} // namespace

const std::string* dsn::option(std::string_view key) const {
  auto i = std::find_if(options.begin(), options.end(),
                        [key](const auto& kv) { return kv.first == key; });
  return i != options.end() ? &i->second : nullptr;
}

caf::expected<dsn> parse_dsn(std::string_view text) {
  return parser{text}.run();
}

std::string to_string(const dsn& x, bool with_password) {
  std::string result = x.scheme;
  result += "://";
  if (!x.user.empty() || !x.password.empty()) {
    result += percent_encode(x.user);
    if (!x.password.empty()) {
      result += ':';
      result += with_password ? percent_encode(x.password) : "***";
    }
    result += '@';
  }
  // A socket path goes into the host slot (it starts with '/', which is how
  // the parser recognizes it); any other path needs the option.
  bool socket_as_host = x.host.empty() && !x.socket.empty()
                        && x.socket.front() == '/';
  if (socket_as_host) {
    result += percent_encode(x.socket);
  } else if (x.host.find(':') != std::string::npos) {
    // IPv6: keep the colons readable, encode only the zone's '%'.
    result += '[';
    for (auto c : x.host) {
      if (c == '%')
        result += "%25";
      else
        result += c;
    }
    result += ']';
  } else {
    result += percent_encode(x.host);
  }
  if (x.port != default_port(x.scheme)) {
    result += ':';
    result += std::to_string(x.port);
  }
  if (!x.database.empty()) {
    result += '/';
    result += percent_encode(x.database);
  }
  char sep = '?';
  auto add_option = [&](std::string_view key, std::string_view value) {
    result += sep;
    result += percent_encode(key);
    result += '=';
    result += percent_encode(value);
    sep = '&';
  };
  for (const auto& [key, value] : x.options)
    add_option(key, value);
  if (!x.socket.empty() && !socket_as_host)
    add_option("socket", x.socket);
  return result;
}

std::string percent_encode(std::string_view text) {
  const char* digits = "0123456789ABCDEF";
  std::string result;
  result.reserve(text.size());
  for (auto c : text) {
    if (is_unreserved(c)) {
      result += c;
    } else {
      auto u = static_cast<unsigned char>(c);
      result += '%';
      result += digits[u >> 4];
      result += digits[u & 0x0f];
    }
  }
  return result;
}

std::string address_of(const dsn& x) {
  if (x.uses_socket())
    return "unix:" + x.socket;
  auto port = std::to_string(x.port);
  if (x.host.find(':') != std::string::npos)
    return "[" + x.host + "]:" + port;
  return x.host + ":" + port;
}

std::string redact_dsn(std::string_view text) {
  auto x = parse_dsn(text);
  if (!x)
    return "<invalid DSN, not shown>";
  return to_string(*x);
}

} // namespace troupe
