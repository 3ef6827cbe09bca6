#pragma once

// Configuration of an engine: where the database is (a DSN, with the
// driver's options) and how the pool behaves. Every value is validated; a bad
// one is an `errc::invalid_argument` naming the key and the accepted range.
//
// Sources, later ones winning: the DSN's query string
// (`...?max_size=8&checkout_timeout=2s`), then the CAF config file
// (`[troupe.pool]` section), then the command line
// (`--troupe.pool.max_size=8`). See docs/configuration.md.

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "troupe/dsn.hpp"
#include "troupe/mariadb/connection.hpp"

namespace troupe {

/// How the pool supervisor sizes, checks and recovers its connections.
struct pool_config {
  using ms = std::chrono::milliseconds;
  /// Connections kept open even when idle.
  size_t min_size = 2;
  /// Connections at most (open + opening).
  size_t max_size = 10;
  /// Requests allowed to wait for a connection; more fail at once with
  /// `overloaded`.
  size_t max_waiters = 100;
  /// How long a request may wait in the queue (per-request override:
  /// `statement::timeout_ms`); past it: `checkout_timeout`.
  ms checkout_timeout{5000};
  /// Connections above `min_size` idle this long are closed.
  ms idle_timeout{600000};
  /// Idle connections are pinged this often (kept below half the server's
  /// `wait_timeout`).
  ms ping_interval{10000};
  /// Connections are replaced after this long...
  ms max_lifetime{1800000};
  /// ...minus up to this fraction, at random, so they do not all expire at
  /// once.
  double lifetime_jitter = 0.1;
  /// Reconnect backoff: from `reconnect_min`, doubling with jitter, up to
  /// `probe_interval` while the database is unreachable (so that it is
  /// found again within about that long once it is back), and never beyond
  /// `reconnect_max`. After a refused login (wrong credentials) the next
  /// attempt waits `reconnect_max`.
  ms reconnect_min{200};
  ms reconnect_max{30000};
  ms probe_interval{1000};
  /// On dispose, running statements get this long before their connections
  /// are closed.
  ms shutdown_grace{5000};
  /// Statements slower than this are logged (0: never).
  ms slow_threshold{1000};
  /// Jobs a busy connection may hold: with 2, when every connection is busy
  /// and requests wait, each connection gets the next one queued behind its
  /// running statement on the event loop, so it starts without a round trip
  /// through the supervisor. The cost: that request waits for that
  /// statement even if another connection frees up first.
  size_t pipeline_depth = 1;
  /// A session whose owner sends nothing for this long while a transaction
  /// is open rolls back and gives its connection back (per session:
  /// `session_options::idle_timeout_ms`).
  ms idle_in_transaction_timeout{60000};
  /// Leases held longer than this are reclaimed (the transaction is rolled
  /// back) and the holder is logged; 0: never.
  ms max_lease{0};
  /// Sessions alive at once; one more is refused with `overloaded`. Each
  /// holds an actor and, in a transaction, a connection.
  size_t max_sessions = 1000;
  /// The longest timeout a caller may choose (`statement::timeout_ms`,
  /// `session_options::checkout_timeout_ms` and `idle_timeout_ms`): a longer
  /// one is `invalid_argument`, so no caller holds a place in the queue or
  /// a leased connection for longer than the operator allows.
  ms max_timeout{600000};
  /// The execution limit of a statement that sets none
  /// (`statement::execution_timeout_ms`); 0: none. Past it the server stops
  /// the statement: `statement_timeout` (MariaDB; on other servers the pool
  /// default is not applied, see docs/configuration.md).
  ms statement_timeout{0};

  /// Sets one option from text (`key` as in the DSN, e.g. "max_size").
  /// Returns false when `key` is not a pool option.
  caf::expected<bool> set(const std::string& key, const std::string& value);

  /// Checks the relations between options (min <= max, ...).
  caf::error validate() const;

  /// The option names `set` accepts.
  static const std::vector<std::string>& keys();
};

/// Everything `spawn_engine` needs.
struct engine_config {
  /// The database and the driver options, filled from the DSN. What the
  /// engine connects with is also what its logs name (`describe()`, never
  /// the password).
  mariadb::connect_options connection;
  pool_config pool;
  /// A name for logs.
  std::string name = "troupe";
  /// Event loop threads driving the connections (spread evenly). One per
  /// core: a single loop thread gets only its fair share of a CPU that the
  /// database server's threads also want (see docs/benchmarks.md).
  size_t io_threads = 2;

  /// Builds the configuration from a DSN: driver and pool options from its
  /// query string; an unknown option is an error naming it.
  static caf::expected<engine_config> from_dsn(const troupe::dsn& x);

  /// As `from_dsn`, parsing the DSN first.
  static caf::expected<engine_config> from_dsn(const std::string& text);

  /// Applies pool options given as key/value pairs (config file, command
  /// line); an unknown key is an error naming it.
  caf::error apply(const std::vector<std::pair<std::string, std::string>>& kv);
};

/// The longest a request to an engine with `cfg` can legitimately take
/// before the engine answers it (with a result or an error): the queue wait
/// (`checkout_timeout`), opening a connection, sending, waiting for the
/// answer (twice `read_timeout`: a pipelined execution's timer fires within
/// one to two), plus 5 s. Use it as the timeout of your requests: a
/// shorter one may give up on a statement that still runs and completes.
/// (Requests pipelined behind slower ones on a connection can take longer;
/// docs/configuration.md, `pipeline_depth`.)
std::chrono::milliseconds request_bound(const engine_config& cfg);

/// Declares the engine's options (`troupe.dsn`, `troupe.pool.*`) so that
/// CAF's command line parser accepts them and `--long-help` lists them.
/// Call it from the constructor of your `caf::actor_system_config`
/// subclass: `troupe::add_engine_options(custom_options_);`
void add_engine_options(caf::config_option_set& options);

/// Reads `troupe.dsn` and the `troupe.pool` section from a parsed CAF
/// config (file and command line). Values of any type are read as text and
/// validated by troupe, so a wrongly typed value is an error, never ignored.
caf::expected<engine_config>
engine_config_from(const caf::actor_system_config& cfg);

} // namespace troupe
