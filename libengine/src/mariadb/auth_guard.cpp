// The authentication guard (see auth_guard.hpp): a client authentication
// plugin that runs before any other, and the per-connection policy it reads.

#include "mariadb/auth_guard.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <errmsg.h>
#include <mysql/plugin_auth.h>

namespace troupe::mariadb::detail {

namespace {

std::mutex policies_mutex;
std::unordered_map<const MYSQL*, auth_policy> policies;

bool find_policy(const MYSQL* m, auth_policy& out) {
  std::lock_guard<std::mutex> guard{policies_mutex};
  auto i = policies.find(m);
  if (i == policies.end())
    return false;
  out = i->second;
  return true;
}

// Copies `text` into a fixed-size field of MYSQL, cut to fit, terminated.
template <size_t N>
void copy_field(char (&dst)[N], const char* text) {
  auto n = std::min(std::strlen(text), N - 1);
  std::memcpy(dst, text, n);
  dst[n] = '\0';
}

// Records an error the way libmariadb's own plugins do (which use an
// internal function): run_plugin_auth keeps an error already set.
int refuse(MYSQL* m, unsigned code, const char* sqlstate, const char* text) {
  m->net.last_errno = code;
  copy_field(m->net.sqlstate, sqlstate);
  copy_field(m->net.last_error, text);
  return CR_ERROR;
}

int guard_authenticate(MYSQL_PLUGIN_VIO* vio, MYSQL* m) {
  auth_policy policy;
  if (!find_policy(m, policy))
    return refuse(m, CR_AUTH_PLUGIN_ERR, "HY000",
                  "troupe_tls_guard: no policy for this connection");
  MYSQL_PLUGIN_VIO_INFO where;
  vio->info(vio, &where);
  bool local = where.protocol == MYSQL_PLUGIN_VIO_INFO::MYSQL_VIO_SOCKET;
  // The greeting has been read: libmariadb starts TLS inside the write below
  // exactly when it asked for TLS and the server offers it.
  if (policy.require_tls
      && (!m->options.use_ssl || !(m->server_capabilities & CLIENT_SSL)))
    return refuse(m, CR_SSL_CONNECTION_ERROR, "08000",
                  "the server does not offer TLS, which tls=required needs; "
                  "nothing was sent to it");
  // An empty response under our name: the server asks for the account's
  // real method next. TLS, when negotiated, is up once this returns.
  if (vio->write_packet(vio, nullptr, 0) != 0)
    return CR_ERROR;
  bool tls = mysql_get_ssl_cipher(m) != nullptr;
  if (policy.require_tls && !tls)
    return refuse(m, CR_SSL_CONNECTION_ERROR, "08000",
                  "TLS was not negotiated, which tls=required needs");
  const auto& allowed = tls || local ? policy.with_tls : policy.without_tls;
  if (mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, allowed.c_str()) != 0)
    return refuse(m, CR_AUTH_PLUGIN_ERR, "HY000",
                  "troupe_tls_guard: cannot restrict the plugins");
  return CR_OK;
}

// <mysql/client_plugin.h> cannot be included as Debian packages it (it
// includes ma_compress.h, which is not shipped). This is its
// st_mysql_client_plugin_AUTHENTICATION: the common plugin header, then
// authenticate_user; type 2 (authentication), interface version 0x0100.
struct auth_plugin_declaration {
  int type;
  unsigned int interface_version;
  const char* name;
  const char* author;
  const char* desc;
  unsigned int version[3];
  const char* license;
  void* mysql_api;
  int (*init)(char*, size_t, int, va_list);
  int (*deinit)(void);
  int (*options)(const char* option, const void*);
  int (*authenticate_user)(MYSQL_PLUGIN_VIO* vio, MYSQL* mysql);
};

auth_plugin_declaration guard_plugin = {
  2,
  0x0100,
  auth_guard_name,
  "troupe",
  "Refuses to authenticate without the TLS the connection requires",
  {1, 0, 0},
  "troupe",
  nullptr,
  nullptr,
  nullptr,
  nullptr,
  guard_authenticate,
};

} // namespace

bool register_auth_guard(MYSQL* m) {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [m] {
    ok = mysql_client_register_plugin(
           m, reinterpret_cast<st_mysql_client_plugin*>(&guard_plugin))
         != nullptr;
  });
  return ok;
}

void set_auth_policy(MYSQL* m, auth_policy policy) {
  std::lock_guard<std::mutex> guard{policies_mutex};
  policies[m] = std::move(policy);
}

void forget_auth_policy(MYSQL* m) {
  std::lock_guard<std::mutex> guard{policies_mutex};
  policies.erase(m);
}

} // namespace troupe::mariadb::detail
