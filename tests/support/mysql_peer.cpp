#include "mysql_peer.hpp"

#include <chrono>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace troupe::test {

namespace {

constexpr int wait_ms = 5000;

int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::listen(fd, 4) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot listen on loopback");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

int accept_one(int listener) {
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, 2 * wait_ms) != 1)
    return -1;
  return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
}

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    auto k = ::send(fd, data, n, MSG_NOSIGNAL);
    if (k <= 0)
      return false;
    data += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

void put_le(std::string& out, uint32_t x, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

} // namespace

// -- wire_socket ----------------------------------------------------------------------

wire_socket::~wire_socket() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool wire_socket::send_packet(uint8_t seq, const std::string& payload) {
  std::string out;
  put_le(out, static_cast<uint32_t>(payload.size()), 3);
  out.push_back(static_cast<char>(seq));
  out += payload;
  return write_all(fd_, out.data(), out.size());
}

bool wire_socket::read_exact(char* out, size_t n, std::string* log) {
  while (n > 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) != 1)
      return false;
    auto k = ::recv(fd_, out, n, 0);
    if (k <= 0)
      return false;
    if (log != nullptr)
      log->append(out, static_cast<size_t>(k));
    out += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::optional<std::string> wire_socket::read_packet(std::string* log) {
  unsigned char header[4];
  if (!read_exact(reinterpret_cast<char*>(header), 4, log))
    return std::nullopt;
  size_t len = header[0] | (header[1] << 8) | (header[2] << 16);
  std::string payload(len, '\0');
  if (len > 0 && !read_exact(payload.data(), len, log))
    return std::nullopt;
  return payload;
}

void wire_socket::drain(std::string& log) {
  char buf[4096];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) != 1)
      return;
    auto k = ::recv(fd_, buf, sizeof(buf), 0);
    if (k <= 0)
      return;
    log.append(buf, static_cast<size_t>(k));
  }
}

std::string greeting(const std::string& plugin, uint32_t extra_caps) {
  // LONG_PASSWORD, LONG_FLAG, CONNECT_WITH_DB, PROTOCOL_41, TRANSACTIONS,
  // SECURE_CONNECTION, MULTI_RESULTS, PLUGIN_AUTH.
  uint32_t caps = 0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000
                  | cap_plugin_auth | extra_caps;
  std::string out;
  out.push_back(10);
  out += "8.0.0-troupe-fake";
  out.push_back('\0');
  put_le(out, 42, 4);
  out += "abcdefgh"; // scramble, part 1
  out.push_back('\0');
  put_le(out, caps & 0xFFFF, 2);
  out.push_back(45); // utf8mb4_general_ci
  put_le(out, 2, 2); // autocommit
  put_le(out, caps >> 16, 2);
  out.push_back(21);
  out.append(10, '\0');
  out += "ijklmnopqrst"; // scramble, part 2
  out.push_back('\0');
  out += plugin;
  out.push_back('\0');
  return out;
}

void put_lenenc_str(std::string& out, const std::string& x) {
  // Short strings only (< 251 bytes) in these fakes.
  out.push_back(static_cast<char>(x.size()));
  out += x;
}

std::string ok_packet(uint16_t status, const std::string& info) {
  std::string out;
  out.push_back(0x00);
  out.push_back(0x00); // affected rows
  out.push_back(0x00); // last insert id
  put_le(out, status, 2);
  put_le(out, 0, 2); // warnings
  out += info;
  return out;
}

bool send_single_value(wire_socket& s, const std::string& value) {
  std::string column;
  for (const char* part : {"def", "", "", "", "v", ""})
    put_lenenc_str(column, part);
  column.push_back(0x0c);
  put_le(column, 33, 2);  // utf8
  put_le(column, 64, 4);  // length
  column.push_back(static_cast<char>(0xFD)); // VAR_STRING
  put_le(column, 0, 2);   // flags
  column.push_back(0);    // decimals
  put_le(column, 0, 2);
  std::string eof = "\xFE";
  eof.push_back(0);
  eof.push_back(0);
  put_le(eof, 0x0002, 2);
  std::string row;
  put_lenenc_str(row, value);
  return s.send_packet(1, std::string(1, '\x01')) && s.send_packet(2, column)
         && s.send_packet(3, eof) && s.send_packet(4, row)
         && s.send_packet(5, eof);
}

void serve_fake_session(
  wire_socket& s,
  const std::function<bool(const std::string& sql, wire_socket& s)>& answer) {
  if (!s.send_packet(0, greeting("mysql_native_password"))
      || !s.read_packet() || !s.send_packet(2, ok_packet()))
    return;
  for (;;) {
    auto cmd = s.read_packet();
    if (!cmd || cmd->empty() || (*cmd)[0] == 0x01) // gone, or COM_QUIT
      return;
    bool sent = false;
    if ((*cmd)[0] == 0x03) {
      auto sql = cmd->substr(1);
      if (sql.rfind("SELECT @@", 0) == 0)
        sent = send_single_value(s, "28800");
      else
        sent = answer(sql, s);
    } else {
      sent = s.send_packet(1, ok_packet());
    }
    if (!sent)
      return;
  }
}

// -- fake_server ----------------------------------------------------------------------

fake_server::fake_server(script s) {
  listener_ = listen_loopback(port_);
  thread_ = std::thread{[this, s = std::move(s)] {
    int fd = accept_one(listener_);
    if (fd < 0)
      return;
    wire_socket sock{fd};
    s(sock);
  }};
}

fake_server::~fake_server() {
  join();
  ::close(listener_);
}

void fake_server::join() {
  if (thread_.joinable())
    thread_.join();
}

// -- relay --------------------------------------------------------------------------------

relay::relay(uint16_t upstream_port, uint32_t strip)
  : relay(upstream_port, strip, 1, {}, {}) {
}

relay::relay(uint16_t upstream_port, uint32_t strip, int connections,
             std::string version_from, std::string version_to,
             uint32_t strip_mariadb)
  : upstream_(upstream_port),
    strip_(strip),
    strip_mariadb_(strip_mariadb),
    connections_(connections),
    version_from_(std::move(version_from)),
    version_to_(std::move(version_to)) {
  listener_ = listen_loopback(port_);
  thread_ = std::thread{[this] { run(); }};
}

relay::~relay() {
  if (thread_.joinable())
    thread_.join();
  ::close(listener_);
}

std::string relay::client_bytes() {
  if (thread_.joinable())
    thread_.join();
  std::lock_guard<std::mutex> guard{mtx_};
  return from_client_;
}

void relay::run() {
  std::vector<std::thread> served;
  for (int i = 0; i < connections_; ++i) {
    int cfd = accept_one(listener_);
    if (cfd < 0)
      break;
    served.emplace_back([this, cfd] { serve(cfd); });
  }
  for (auto& t : served)
    t.join();
}

void relay::serve(int cfd) {
  wire_socket client{cfd};
  int sfd = connect_loopback(upstream_);
  if (sfd < 0)
    return;
  wire_socket server{sfd};
  auto hello = server.read_packet();
  if (!hello || hello->size() < 40 || (*hello)[0] != 10)
    return;
  // Capability bits: two bytes after version, thread id, scramble and
  // filler; two more after the character set and the status.
  auto& g = *hello;
  size_t version_end = g.find('\0', 1);
  if (!version_from_.empty() && version_from_.size() == version_to_.size()) {
    auto pos = g.find(version_from_, 1);
    if (pos != std::string::npos && pos < version_end)
      g.replace(pos, version_from_.size(), version_to_);
  }
  size_t at = version_end + 1 + 4 + 8 + 1;
  auto clear = [&](size_t pos, uint32_t bits) {
    auto lo = static_cast<uint8_t>(g[pos]) & ~(bits & 0xFF);
    auto hi = static_cast<uint8_t>(g[pos + 1]) & ~((bits >> 8) & 0xFF);
    g[pos] = static_cast<char>(lo);
    g[pos + 1] = static_cast<char>(hi);
  };
  clear(at, strip_ & 0xFFFF);
  clear(at + 2 + 1 + 2, strip_ >> 16);
  // MariaDB's extended capabilities: after the upper capability bits, the
  // auth data length and six filler bytes.
  if (strip_mariadb_ != 0 && g.size() >= at + 14 + 4) {
    clear(at + 14, strip_mariadb_ & 0xFFFF);
    clear(at + 16, strip_mariadb_ >> 16);
  }
  if (!client.send_packet(0, g))
    return;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  char buf[16384];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, wait_ms) <= 0)
      return;
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      auto k = ::recv(p[i].fd, buf, sizeof(buf), 0);
      if (k <= 0)
        return;
      if (i == 0) {
        std::lock_guard<std::mutex> guard{mtx_};
        from_client_.append(buf, static_cast<size_t>(k));
      }
      if (!write_all(p[1 - i].fd, buf, static_cast<size_t>(k)))
        return;
    }
  }
}

} // namespace troupe::test
