// tls=preferred (the default) means what it says: TLS whenever the server
// offers it, plain text only when it does not; the status tells which.

#include <chrono>
#include <string>

#include <sys/stat.h>

#include "actor_fixture.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "troupe/embedded_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// A throw-away self-signed certificate and key, readable by the server's
/// account (the server may run as `mysql`).
struct throwaway_cert {
  test::temp_dir dir;
  std::string cert = dir.track("cert.pem");
  std::string key = dir.track("key.pem");

  throwaway_cert() {
    REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
    auto r = test::run_program({"/usr/bin/openssl", "req", "-x509", "-newkey",
                                "rsa:2048", "-nodes", "-keyout", key, "-out",
                                cert, "-days", "1", "-subj", "/CN=localhost"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(::chmod(key.c_str(), 0644) == 0);
  }
};

std::string session_cipher(test::actor_fixture& f, const engine_actor& e) {
  auto r = f.query(e, "SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  REQUIRE(r);
  auto v = r->row(0).get<std::string>(1);
  REQUIRE(v);
  return *v;
}

} // namespace

TEST_CASE_METHOD(test::actor_fixture,
                 "tls=preferred encrypts against a server that offers TLS, "
                 "and tls=disabled does not",
                 "[tls][security]") {
  throwaway_cert tls;
  embedded_server_options opts;
  opts.extra_args = {"--ssl-cert=" + tls.cert, "--ssl-key=" + tls.key};
  auto server = embedded_server::start(opts);
  REQUIRE(server);

  auto preferred = spawn(config_for((*server)->dsn()));
  CHECK_FALSE(session_cipher(*this, preferred).empty());
  auto st = wait_for_status(preferred, [](const pool_status& x) {
    return x.opened >= 1;
  });
  CHECK_FALSE(st.tls_cipher.empty());

  auto plain_dsn = (*server)->dsn();
  plain_dsn.options.emplace_back("tls", "disabled");
  auto plain = spawn(config_for(plain_dsn));
  CHECK(session_cipher(*this, plain).empty());
  CHECK(status(plain).tls_cipher.empty());
}

TEST_CASE_METHOD(test::actor_fixture,
                 "tls=preferred goes on in plain text against a server "
                 "without TLS, and says so",
                 "[tls]") {
  auto server = embedded_server::start();
  REQUIRE(server);
  auto engine = spawn(config_for((*server)->dsn()));
  CHECK(session_cipher(*this, engine).empty());
  CHECK(status(engine).tls_cipher.empty());
}
