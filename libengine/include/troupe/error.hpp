#pragma once

// The engine's error model.
//
// Every failure the engine reports is a `caf::error` whose category is
// `troupe` and whose code is an `errc`. The error's context carries, in this
// order: the message (std::string), the server's error number (uint16_t, 0
// when the server did not produce the error), the SQLSTATE (std::string,
// empty when none) and whether the error is fatal for the connection (bool).
// Use `error_info` to read these back instead of decoding the context.
//
// A fatal error means the connection that produced it can no longer be used:
// the engine drops it. A statement that failed with a fatal error may or may
// not have been applied by the server; the engine never re-sends it.
//
// Whether a failed statement was applied is part of the code: most codes
// mean "not applied", `outcome_unknown` and `commit_outcome_unknown` mean
// "may have been applied", and `connection_lost` means that for a statement
// in flight. docs/errors.md has the table (applied? safe to retry?).

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace troupe {

/// Error codes of the engine (category `troupe`).
enum class errc : uint8_t {
  /// Not an error.
  ok = 0,
  /// The server could not be reached (refused, unreachable, DNS, TLS
  /// handshake) or rejected the connection for a reason other than
  /// authentication, e.g. an unknown database. The message names the address.
  connect_failed = 1,
  /// The server rejected the user name or password (1045, 1698, ...).
  auth_failed = 2,
  /// The connection broke while it was in use: killed, server gone, network
  /// error. Always fatal. A statement in flight may have been applied.
  connection_lost = 3,
  /// The server answered a statement with an error. Carries the server's
  /// error number, SQLSTATE and message. Usually not fatal.
  server_error = 4,
  /// The server stopped the statement at its time limit
  /// (`max_statement_time`, 1969): not applied, not fatal. Also the blocking
  /// client's answer when its wait for a request that changes nothing (ping,
  /// status, begin) ends. Never used when the statement may have been
  /// applied: that is `outcome_unknown`.
  query_timeout = 5,
  /// The request waited in the pool's queue past its deadline. The message
  /// says what the pool looked like and the last connect error, if any.
  checkout_timeout = 6,
  /// The pool's waiting queue is full; the request was refused at once.
  overloaded = 7,
  /// The database cannot be reached right now (the pool's circuit is open);
  /// the request failed fast without waiting. Carries the last connect error.
  database_unreachable = 8,
  /// The transaction was rolled back (or its connection lost) before commit.
  transaction_aborted = 9,
  /// The connection was lost while COMMIT was in flight: the transaction may
  /// or may not have been committed. The caller must check.
  commit_outcome_unknown = 10,
  /// A caller-supplied argument was rejected before anything was sent:
  /// bad DSN, bad option value, bad identifier, wrong parameter count.
  invalid_argument = 11,
  /// The connected server does not support the requested feature.
  unsupported = 12,
  /// The requested object (row, table, snapshot, ...) does not exist.
  not_found = 13,
  /// A value was read as a type it cannot be converted to (or was NULL).
  type_mismatch = 14,
  /// A result exceeded the configured size limit; the rows were discarded.
  result_too_large = 15,
  /// The component is shutting down (or disposed) and accepts no new work.
  shutting_down = 16,
  /// A bug or an unexpected state inside the engine or the client library.
  internal = 17,
  /// The statement may have been applied: the caller's wait for it ended
  /// (a request timeout), or the connection was dropped after
  /// `read_timeout` while it ran, and it may still run on the server or
  /// have run to completion. It is not known to have failed: do not simply
  /// run it again; check whether its effects exist (or make it idempotent).
  /// Fatal when the connection was dropped.
  outcome_unknown = 18,
  /// The message came from an actor that does not own the session (only
  /// the actor that opened it, or the one it handed it to, may use it).
  /// Nothing was done.
  not_owner = 19,
  /// The statement (with its parameters) is larger than the server accepts
  /// (`max_allowed_packet`): it was refused before it was sent, or the
  /// server refused the packet before running anything. Not applied.
  /// Fatal only in the second case (the server closes the connection).
  statement_too_large = 20,
  /// The statement ran longer than its execution timeout
  /// (`statement::execution_timeout_ms` or the pool's `statement_timeout`)
  /// and the server stopped it (MariaDB's max_statement_time, 1969; MySQL's
  /// 3024; on servers without max_statement_time the engine's KILL QUERY at
  /// the limit, 1317). Not applied: the server undid the statement; inside a
  /// transaction only that statement, the transaction goes on.
  statement_timeout = 21,
  /// The engine (or session) runs on another node and that node is lost:
  /// its process died, the connection broke, or it stopped answering
  /// heartbeats (remote.hpp). A request that was in flight may have been
  /// applied (a COMMIT may have committed); one sent after the loss was
  /// not sent at all. A session's open transaction is never committed
  /// afterwards: if the engine's node still runs, it rolls the transaction
  /// back when it sees this node go.
  node_down = 22,
};

/// Returns the name of `x`, e.g. "server_error".
std::string to_string(errc x);

/// Everything an engine error carries, decoded.
struct error_info {
  errc code = errc::ok;
  std::string message;
  /// The server's error number (e.g. 1064), 0 when not from the server.
  uint16_t server_code = 0;
  /// The SQLSTATE (e.g. "42000"), empty when unknown.
  std::string sqlstate;
  /// True when the connection that produced the error is unusable.
  bool fatal = false;
  /// False when the decoded error does not belong to the troupe category
  /// (e.g. a CAF request timeout); then `message` holds its rendering.
  bool is_troupe = true;
};

/// Makes an engine error with a message.
caf::error make_error(errc code, std::string message, bool fatal = false);

/// Makes an engine error with server details.
caf::error make_error(errc code, std::string message, uint16_t server_code,
                      std::string sqlstate, bool fatal);

/// Decodes any `caf::error` (troupe or not).
error_info info(const caf::error& err);

/// Returns true when `err` is a troupe error marked fatal.
bool is_fatal(const caf::error& err);

/// Renders an error for humans, e.g.
/// "server_error [1064/42000]: You have an error in your SQL syntax ...".
std::string render(const caf::error& err);

/// The category name engine errors are registered under.
constexpr char error_category_name[] = "troupe";

} // namespace troupe

CAF_ERROR_CODE_ENUM(troupe::errc, "troupe")
