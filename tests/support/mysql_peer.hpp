#pragma once

// Loopback peers that speak just enough of the MySQL protocol to test what
// the client sends during the handshake: a fake server that plays a script,
// and a relay between the client and a real server that can rewrite the
// server's greeting (e.g. strip CLIENT_SSL) and records what the client sent.
// Each serves one connection on its own thread; every wait is bounded.

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "troupe/dsn.hpp"

namespace troupe::test {

/// Capability bits of the greeting.
inline constexpr uint32_t cap_ssl = 0x00000800;
inline constexpr uint32_t cap_plugin_auth = 0x00080000;

/// A connected socket with packet helpers (3-byte length, 1-byte sequence).
class wire_socket {
public:
  explicit wire_socket(int fd) : fd_(fd) {}
  wire_socket(const wire_socket&) = delete;
  wire_socket& operator=(const wire_socket&) = delete;
  ~wire_socket();

  int fd() const { return fd_; }

  /// Sends one packet; false when the peer is gone.
  bool send_packet(uint8_t seq, const std::string& payload);

  /// Reads one packet's payload (within 5 s); nullopt on EOF or timeout.
  /// Every byte read is appended to `log` when given.
  std::optional<std::string> read_packet(std::string* log = nullptr);

  /// Reads until EOF (within 5 s), appending everything to `log`.
  void drain(std::string& log);

private:
  bool read_exact(char* out, size_t n, std::string* log);
  int fd_;
};

/// A protocol-10 greeting without CLIENT_SSL, announcing `plugin`.
std::string greeting(const std::string& plugin, uint32_t extra_caps = 0);

/// An OK packet's payload; `info` is the human-readable rest of it.
std::string ok_packet(uint16_t status = 0x0002, const std::string& info = {});

/// Sends a one-column, one-row text result set, sequence numbers from 1.
bool send_single_value(wire_socket& s, const std::string& value);

/// Greets, accepts whatever the client answers with an OK packet, then
/// answers `SELECT @@...` with "28800", any other COM_QUERY with
/// `answer(sql, socket)` (which sends the packets, sequence numbers from 1;
/// false ends the session) and other commands with OK, until the client
/// quits or goes away.
void serve_fake_session(
  wire_socket& s,
  const std::function<bool(const std::string& sql, wire_socket& s)>& answer);

/// A listener on 127.0.0.1 that runs `script` on the first connection.
class fake_server {
public:
  using script = std::function<void(wire_socket&)>;

  explicit fake_server(script s);
  ~fake_server();

  uint16_t port() const { return port_; }

  /// Waits for the script to end (bounded by the socket timeouts).
  void join();

private:
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

/// A relay on 127.0.0.1 to `upstream_port`: the server's greeting goes to
/// the client with the capability bits `strip` cleared; then bytes flow both
/// ways unchanged. Records every byte the client sent.
class relay {
public:
  relay(uint16_t upstream_port, uint32_t strip);

  /// Also: relays up to `connections` connections (each accepted within
  /// 10 s of the previous one), and replaces `version_from` in the server
  /// version of the greeting with `version_to` (the same length), e.g. to
  /// present MariaDB as another server.
  /// `strip_mariadb`: MariaDB's extended capability bits (the greeting's
  /// last four filler bytes) cleared too, e.g. 4 for bulk operations.
  relay(uint16_t upstream_port, uint32_t strip, int connections,
        std::string version_from, std::string version_to,
        uint32_t strip_mariadb = 0);
  ~relay();

  uint16_t port() const { return port_; }

  /// `direct` (the relay's upstream server) reached through the relay.
  troupe::dsn through(troupe::dsn direct) const {
    direct.host = "127.0.0.1";
    direct.port = port_;
    return direct;
  }

  /// Everything the client sent, once it closed its side (bounded).
  std::string client_bytes();

private:
  void run();
  void serve(int client_fd);
  int listener_ = -1;
  uint16_t port_ = 0;
  uint16_t upstream_;
  uint32_t strip_;
  uint32_t strip_mariadb_ = 0;
  int connections_ = 1;
  std::string version_from_;
  std::string version_to_;
  std::mutex mtx_;
  std::string from_client_;
  std::thread thread_;
};

} // namespace troupe::test
