#pragma once

// posix::free_port: asks the kernel for a TCP port on 127.0.0.1 that is free
// right now. It does not reserve it: whoever binds it next must cope with
// losing the race.

#include <cstdint>

#include "posix/failure.hpp"

namespace troupe::posix {

/// Binds port 0 on 127.0.0.1 and sets `port` to what the kernel chose.
/// Another process may take it before the caller binds it. Fails with
/// "socket", "bind to 127.0.0.1:0" or "getsockname".
failure free_port(uint16_t& port);

} // namespace troupe::posix
