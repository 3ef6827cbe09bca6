#pragma once

// A blocking facade over an engine, for code that is not an actor (scripts,
// tools, tests), with the seed SDKs' shape:
//
//   auto db = troupe::client::connect(sys, "mariadb://u:p@127.0.0.1/app");
//   auto n = db->query("SELECT COUNT(*) FROM t WHERE k = ?", {42});
//   if (n) std::cout << *n->scalar<int64_t>();
//   db->disconnect();
//
// Every call waits for the engine's answer, at most for the request's bound
// (checkout_timeout + read_timeout + a margin); it never hangs. Do not call
// it from inside an actor (use messages there). Not thread-safe: one client
// per thread.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "troupe/engine.hpp"

namespace troupe {

class client {
public:
  /// Spawns an engine from `cfg` and attaches to it; the client owns it
  /// (disconnect or the destructor dispose it).
  static caf::expected<client> connect(caf::actor_system& sys,
                                       engine_config cfg);

  /// As above, from a DSN.
  static caf::expected<client> connect(caf::actor_system& sys,
                                       const std::string& dsn);

  /// Attaches to an engine someone else owns (e.g. a remote one); the
  /// client never disposes it. `timeout` bounds every call.
  static client attach(caf::actor_system& sys, engine_actor engine,
                       std::chrono::milliseconds timeout);

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// Runs a statement (parameters are bound, never spliced).
  caf::expected<result> query(std::string sql, std::vector<value> params = {});

  /// Same as `query` (the seeds' name for statements without rows).
  caf::expected<result> execute(std::string sql,
                                std::vector<value> params = {});

  /// Checks the database end to end.
  caf::expected<ping_info> ping();

  caf::expected<pool_status> status();

  /// Disposes an owned engine (waits for it); detaches from a borrowed one.
  caf::error disconnect();

  const engine_actor& engine() const;

private:
  struct impl;
  explicit client(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace troupe
