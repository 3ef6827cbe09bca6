#pragma once

// A throw-away self-signed certificate and key for a TLS-enabled private
// server, readable by the server's account (it may run as `mysql`), and
// such a server.

#include <memory>
#include <string>

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "process.hpp"
#include "temp_dir.hpp"
#include "troupe/embedded_server.hpp"

namespace troupe::test {

struct throwaway_cert {
  temp_dir dir;
  std::string cert = dir.track("cert.pem");
  std::string key = dir.track("key.pem");

  throwaway_cert() {
    REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
    auto r = run_program({"/usr/bin/openssl", "req", "-x509", "-newkey",
                          "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                          "-days", "1", "-subj", "/CN=localhost"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(::chmod(key.c_str(), 0644) == 0);
  }

  /// A private server that offers TLS with this certificate.
  std::unique_ptr<embedded_server> start_server() const {
    embedded_server_options opts;
    opts.extra_args = {"--ssl-cert=" + cert, "--ssl-key=" + key};
    auto server = embedded_server::start(opts);
    REQUIRE(server);
    return std::move(*server);
  }
};

} // namespace troupe::test
