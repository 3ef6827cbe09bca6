#pragma once

// The embedded server's database and account: which names and passwords are
// accepted, a random password, and the init.sql that creates them with their
// privileges. Not here: writing init.sql or starting the server
// (embedded_server.cpp).

#include <string>

#include "posix/failure.hpp"

namespace troupe::detail {

/// 1 to 64 letters, digits or '_' (a database or user name).
bool is_valid_name(const std::string& name);

/// Up to 128 printable ASCII characters, no quote or backslash.
bool is_valid_password(const std::string& password);

/// Sets `password` to 24 random letters and digits from /dev/urandom. Fails
/// with "cannot open /dev/urandom" or "cannot read /dev/urandom".
posix::failure random_password(std::string& password);

/// The statements that create the database `db` and the account `user` with
/// password `pw` (from any host and from localhost) and its privileges; the
/// names and the password must be valid. `file`: FILE too (confined to the
/// server's secure_file_priv directory).
std::string init_sql(const std::string& db, const std::string& user,
                     const std::string& pw, bool file = false);

} // namespace troupe::detail
