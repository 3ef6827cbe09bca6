// tls=preferred (the default) means what it says: TLS whenever the server
// offers it, plain text only when it does not; the status tells which.

#include <chrono>
#include <string>

#include "actor_fixture.hpp"
#include "tls_cert.hpp"
#include "troupe/embedded_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

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
  test::throwaway_cert tls;
  auto server = tls.start_server();

  auto preferred = spawn(config_for(server->dsn()));
  CHECK_FALSE(session_cipher(*this, preferred).empty());
  auto st = wait_for_status(preferred, [](const pool_status& x) {
    return x.opened >= 1;
  });
  CHECK_FALSE(st.tls_cipher.empty());

  auto plain_dsn = server->dsn();
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
