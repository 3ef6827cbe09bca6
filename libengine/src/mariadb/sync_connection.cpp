// sync_connection, a connection driven by poll(2) on the calling thread, and
// kill_query, which opens one. Nothing of the connection itself
// (connection.cpp and the files beside it).

#include "troupe/mariadb/connection.hpp"

#include <cerrno>
#include <cstring>

#include <poll.h>

#include <fmt/format.h>

#include "troupe/event_loop.hpp"

namespace troupe::mariadb {

sync_connection::sync_connection(connect_options options)
  : conn_(std::move(options)) {
}

caf::expected<result> sync_connection::wait(int status) {
  while (status != 0) {
    if (status & io_yield) {
      status = conn_.resume(0);
      continue;
    }
    pollfd p{};
    p.fd = conn_.socket();
    if (status & io_read)
      p.events |= POLLIN;
    if (status & io_write)
      p.events |= POLLOUT;
    int timeout = (status & io_timeout) ? static_cast<int>(conn_.timeout_ms())
                                        : -1;
    int n = ::poll(&p, 1, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return make_error(errc::internal,
                        fmt::format("poll failed: {}", std::strerror(errno)));
    }
    int events = 0;
    if (n == 0) {
      events = io_timeout;
    } else {
      if (p.revents & (POLLIN | POLLHUP | POLLERR))
        events |= io_read;
      if (p.revents & POLLOUT)
        events |= io_write;
    }
    status = conn_.resume(events);
  }
  return conn_.take_result();
}

caf::expected<std::unique_ptr<sync_connection>>
sync_connection::open(connect_options options) {
  std::unique_ptr<sync_connection> out{new sync_connection(std::move(options))};
  auto res = out->wait(out->conn_.start_connect());
  if (!res)
    return std::move(res.error());
  return out;
}

caf::expected<result> sync_connection::query(std::string sql) {
  return wait(conn_.start_query(std::move(sql)));
}

caf::expected<result> sync_connection::execute(std::string sql,
                                               std::vector<value> params,
                                               size_t sets) {
  return wait(conn_.start_execute(std::move(sql), std::move(params), sets));
}

caf::error sync_connection::ping() {
  auto res = wait(conn_.start_ping());
  return res ? caf::error{} : std::move(res.error());
}

caf::error sync_connection::reset() {
  auto res = wait(conn_.start_reset());
  return res ? caf::error{} : std::move(res.error());
}

caf::error kill_query(const connect_options& options, uint64_t thread_id) {
  auto opts = options;
  opts.init_statements.clear();
  auto conn = sync_connection::open(std::move(opts));
  if (!conn)
    return std::move(conn.error());
  // The id is a number we format ourselves: nothing user-supplied is spliced.
  auto res = (*conn)->query(fmt::format("KILL QUERY {}", thread_id));
  if (!res)
    return std::move(res.error());
  return {};
}

} // namespace troupe::mariadb
