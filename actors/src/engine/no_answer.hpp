#pragma once

// What it means when a requester stops waiting.
//
// A request whose timeout passes fails with CAF's `sec::request_timeout` at
// the requester only: the request itself goes on, and a statement may still
// run and be applied. Requesters inside troupe (the blocking client, a
// session's autocommit statements, the transaction script runner) turn that
// into the troupe error that says what is known about the outcome, so that
// nobody mistakes "I stopped waiting" for "it failed" and runs a write twice.

#include <chrono>
#include <string_view>

#include <caf/error.hpp>

namespace troupe::detail {

/// What the requested work may have done when its answer did not come.
enum class if_no_answer {
  /// It may have been applied: `outcome_unknown`.
  may_be_applied,
  /// It was COMMIT: `commit_outcome_unknown`.
  may_be_committed,
  /// It is part of a transaction that will be rolled back without being
  /// committed: `transaction_aborted`.
  rolled_back,
  /// It changes no data (ping, status, begin, opening a session):
  /// `query_timeout`.
  changes_nothing,
};

/// Returns `err` unchanged unless it is CAF's request timeout; then the
/// troupe error that `meaning` implies, naming `what` (e.g. "the
/// statement") and how long the wait was.
caf::error when_no_answer(caf::error err, if_no_answer meaning,
                          std::string_view what,
                          std::chrono::milliseconds waited);

} // namespace troupe::detail
