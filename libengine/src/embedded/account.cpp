// Names, passwords and init.sql of the embedded server's account (see
// account.hpp). Nothing here touches the server or its directory.

#include "embedded/account.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "posix/unique_fd.hpp"

namespace troupe::detail {

namespace {

constexpr size_t max_name_length = 64;
constexpr size_t max_password_length = 128;
constexpr size_t random_password_length = 24;

} // namespace

bool is_valid_name(const std::string& name) {
  if (name.empty() || name.size() > max_name_length)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
  });
}

// Passwords end up in a SQL string literal in init.sql. Rather than relying
// on escaping rules that depend on the server's SQL mode
// (NO_BACKSLASH_ESCAPES), we only accept printable ASCII without quote and
// backslash, which needs no escaping in any mode.
bool is_valid_password(const std::string& password) {
  if (password.size() > max_password_length)
    return false;
  return std::all_of(password.begin(), password.end(), [](char c) {
    return c >= 0x20 && c <= 0x7e && c != '\'' && c != '\\';
  });
}

posix::failure random_password(std::string& password) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz"
                                     "0123456789";
  constexpr unsigned alphabet_size = sizeof(alphabet) - 1; // 62
  // Bytes >= 248 are rejected so that every character is equally likely.
  constexpr unsigned limit = 256 - 256 % alphabet_size;
  posix::unique_fd fd{::open("/dev/urandom", O_RDONLY | O_CLOEXEC)};
  if (!fd)
    return {"cannot open /dev/urandom", errno};
  std::string result;
  while (result.size() < random_password_length) {
    unsigned char buf[64];
    auto n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return {"cannot read /dev/urandom", errno};
    for (ssize_t i = 0; i < n && result.size() < random_password_length; ++i)
      if (buf[i] < limit)
        result += alphabet[buf[i] % alphabet_size];
  }
  password = std::move(result);
  return {};
}

std::string init_sql(const std::string& db, const std::string& user,
                     const std::string& pw, bool file) {
  std::string sql;
  sql += "CREATE DATABASE IF NOT EXISTS `" + db
         + "` CHARACTER SET utf8mb4;\n";
  // 'user'@'localhost' too: socket logins would otherwise match the
  // anonymous ''@'localhost' account (if any) before 'user'@'%'.
  for (const char* host : {"%", "localhost"}) {
    auto account = "'" + user + "'@'" + host + "'";
    sql += "CREATE USER IF NOT EXISTS " + account + " IDENTIFIED BY '" + pw
           + "';\n";
    // Its own database and those named after it (`troupe_...`, e.g. the
    // tests' scratch databases), nothing global: no FILE (no reading or
    // writing the host's files), no SUPER, no GRANT OPTION, no CREATE
    // USER. PROCESS only shows what runs (processlist, InnoDB's
    // transactions) on this private server. (Names are letters, digits and
    // '_'; '_' is a wildcard in a grant's pattern, hence the escapes.)
    sql += "GRANT PROCESS ON *.* TO " + account + ";\n";
    // Asked for (embedded_server_options::file_privilege): the server's
    // secure_file_priv confines it to the private files directory.
    if (file)
      sql += "GRANT FILE ON *.* TO " + account + ";\n";
    sql += "GRANT ALL PRIVILEGES ON `" + db + "`.* TO " + account + ";\n";
    std::string pattern;
    for (char c : db) {
      if (c == '_')
        pattern += '\\';
      pattern += c;
    }
    sql += "GRANT ALL PRIVILEGES ON `" + pattern + "\\_%`.* TO " + account
           + ";\n";
  }
  return sql;
}

} // namespace troupe::detail
