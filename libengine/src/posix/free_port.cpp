// Finding a free loopback port (see free_port.hpp). Nothing here listens.

#include "posix/free_port.hpp"

#include <cerrno>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "posix/unique_fd.hpp"

namespace troupe::posix {

failure free_port(uint16_t& port) {
  unique_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!fd)
    return {"socket", errno};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return {"bind to 127.0.0.1:0", errno};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return {"getsockname", errno};
  port = ntohs(addr.sin_port);
  return {};
}

} // namespace troupe::posix
