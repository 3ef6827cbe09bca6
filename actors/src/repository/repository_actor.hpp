#pragma once

// The repository actor of one table (troupe/engine.hpp, repository_actor):
// reflects the table through the engine on first use, builds each
// operation's SQL (troupe/repository_sql.hpp) and runs it through the pool,
// or, for the in-session variants, hands it to the session on behalf of the
// session's owner.

#include <chrono>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "troupe/engine.hpp"

namespace troupe::detail {

struct repository_params {
  /// Where statements go: the pool supervisor, as an engine.
  engine_actor engine;
  std::string table;
  std::string engine_name;
  /// How long it waits for the engine's answer (request_bound).
  std::chrono::milliseconds request_timeout{0};
};

/// The answer of plan `p` from the results of its steps, as the reply its
/// shape asks for: a field_stats (stats), a keyset_page (keyset), else a
/// repository_result. Used by repositories and sessions alike.
caf::expected<caf::message> plan_answer(const repository_sql::plan& p,
                                        const std::vector<result>& rs);

/// Spawns a repository (monitored by `parent`); it exits when `parent` does.
repository_actor spawn_repository(caf::local_actor* parent,
                                  repository_params params);

} // namespace troupe::detail
