// connect_options: filled from a DSN and named for messages, and to_string
// of the driver's enums. Nothing here connects: what the options do is in
// connect.cpp.

#include "troupe/mariadb/connection.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "troupe/option_parsing.hpp"

namespace troupe::mariadb {

// -- enums ----------------------------------------------------------------------

std::string to_string(tls_mode x) {
  switch (x) {
    case tls_mode::disabled:
      return "disabled";
    case tls_mode::preferred:
      return "preferred";
    case tls_mode::required:
      return "required";
    case tls_mode::verify_ca:
      return "verify_ca";
    case tls_mode::verify_identity:
      return "verify_identity";
  }
  return "unknown";
}

std::string to_string(flavour x) {
  switch (x) {
    case flavour::unknown:
      return "unknown";
    case flavour::mariadb:
      return "mariadb";
    case flavour::mysql:
      return "mysql";
    case flavour::matrixone:
      return "matrixone";
  }
  return "unknown";
}

// -- connect_options ------------------------------------------------------------

std::string connect_options::address() const {
  if (!socket.empty())
    return "unix:" + socket;
  if (host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string connect_options::describe() const {
  auto out = user.empty() ? address() : fmt::format("{}@{}", user, address());
  if (!database.empty())
    out += "/" + database;
  return out;
}

caf::expected<connect_options>
connect_options::from_dsn(const dsn& x, std::vector<std::string>* unknown) {
  using std::chrono::milliseconds;
  connect_options out;
  out.host = x.host;
  out.port = x.port;
  out.socket = x.socket;
  out.user = x.user;
  out.database = x.database;
  auto timeout = [&](const std::string& key, const std::string& val,
                     milliseconds& dst) -> caf::error {
    auto d = parse_duration(key, val, milliseconds{1}, milliseconds{86400000});
    if (!d)
      return std::move(d.error());
    dst = *d;
    return {};
  };
  for (const auto& [key, val] : x.options) {
    caf::error err;
    if (key == "connect_timeout") {
      err = timeout(key, val, out.connect_timeout);
    } else if (key == "read_timeout") {
      err = timeout(key, val, out.read_timeout);
    } else if (key == "write_timeout") {
      err = timeout(key, val, out.write_timeout);
    } else if (key == "charset") {
      bool ok = !val.empty() && val.size() <= 32
                && std::all_of(val.begin(), val.end(), [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                            || (c >= '0' && c <= '9') || c == '_';
                   });
      auto lower = val;
      for (auto& c : lower)
        if (c >= 'A' && c <= 'Z')
          c = static_cast<char>(c - 'A' + 'a');
      if (!ok)
        err = make_error(errc::invalid_argument,
                         fmt::format("invalid value '{}' for 'charset': "
                                     "expected a character set name",
                                     val));
      else if (lower == "gbk" || lower == "gb18030" || lower == "big5"
               || lower == "sjis" || lower == "cp932")
        // In these a character's second byte can be 0x5C ('\\') or 0x60
        // ('`'): text the server splits differently than the client would
        // let a name or a string literal end early.
        err = make_error(errc::invalid_argument,
                         fmt::format("'charset={}' is refused: in it a "
                                     "backslash or a backtick can be the "
                                     "second byte of a character, which "
                                     "breaks quoting; use utf8mb4",
                                     val));
      else
        out.charset = val;
    } else if (key == "tls" || key == "ssl_mode") {
      static const std::pair<const char*, tls_mode> modes[] = {
        {"disabled", tls_mode::disabled},
        {"preferred", tls_mode::preferred},
        {"required", tls_mode::required},
        {"verify_ca", tls_mode::verify_ca},
        {"verify_identity", tls_mode::verify_identity},
      };
      auto i = std::find_if(std::begin(modes), std::end(modes),
                            [&](const auto& m) { return val == m.first; });
      if (i == std::end(modes))
        err = make_error(errc::invalid_argument,
                         fmt::format("invalid value '{}' for '{}': expected "
                                     "disabled, preferred, required, "
                                     "verify_ca or verify_identity",
                                     val, key));
      else
        out.tls = i->second;
    } else if (key == "tls_ca") {
      out.tls_ca = val;
    } else if (key == "tls_capath") {
      out.tls_capath = val;
    } else if (key == "tls_cert") {
      out.tls_cert = val;
    } else if (key == "tls_key") {
      out.tls_key = val;
    } else if (key == "tls_cipher") {
      out.tls_cipher = val;
    } else if (key == "cleartext_auth" || key == "get_server_public_key") {
      auto b = parse_bool(key, val);
      if (!b)
        err = std::move(b.error());
      else
        (key == "cleartext_auth" ? out.cleartext_auth
                                 : out.get_server_public_key) = *b;
    } else if (key == "server_public_key") {
      if (val.empty())
        err = make_error(errc::invalid_argument,
                         "'server_public_key' needs a file name");
      else
        out.server_public_key = val;
    } else if (key == "init" || (key.size() > 4 && key.compare(0, 4, "init") == 0
                                 && std::all_of(key.begin() + 4, key.end(),
                                                [](char c) {
                                                  return std::isdigit(
                                                    static_cast<unsigned char>(
                                                      c));
                                                }))) {
      out.init_statements.push_back(val);
    } else if (key == "statement_cache_size") {
      auto n = parse_uint(key, val, 1, 65536);
      if (!n)
        err = std::move(n.error());
      else
        out.statement_cache_size = *n;
    } else if (key == "pipelining") {
      auto b = parse_bool(key, val);
      if (!b)
        err = std::move(b.error());
      else
        out.pipelining = *b;
    } else if (key == "password_file" || key == "password_env") {
      // Read by resolve_password below, once every other option is valid.
    } else if (key == "max_result_bytes") {
      auto n = parse_size(key, val, 1024, uint64_t{1} << 40);
      if (!n)
        err = std::move(n.error());
      else
        out.max_result_bytes = *n;
    } else if (unknown != nullptr) {
      unknown->push_back(key);
    } else {
      err = make_error(errc::invalid_argument,
                       fmt::format("unknown DSN option '{}'", key));
    }
    if (err)
      return err;
  }
  if ((out.tls == tls_mode::verify_ca || out.tls == tls_mode::verify_identity)
      && out.tls_ca.empty() && out.tls_capath.empty())
    return make_error(errc::invalid_argument,
                      fmt::format("tls={} needs tls_ca or tls_capath",
                                  to_string(out.tls)));
  auto password = resolve_password(x);
  if (!password)
    return std::move(password.error());
  out.password = std::move(*password);
  return out;
}

} // namespace troupe::mariadb
