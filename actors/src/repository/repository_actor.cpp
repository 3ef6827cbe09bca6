#include "repository/repository_actor.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <type_traits>

#include <caf/all.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/no_answer.hpp"

namespace troupe::detail {

namespace {

namespace rs = repository_sql;

using schema_ptr = std::shared_ptr<const table_schema>;
// Gets the schema, or why there is none.
using schema_waiter = std::function<void(schema_ptr, const caf::error&)>;

// Requests waiting for the schema, at most.
constexpr size_t max_waiting = 10000;

// Batched lookups running at once, at most; more wait for one to finish.
constexpr size_t max_batches = 8;

// While k batches run, another starts only when at least k times this many
// lookups wait: under load batches grow instead of multiplying (each costs
// a trip through the pool and a statement: at 32 rows that is a fifth of
// the work), and they multiply when lookups pile up faster than batches
// return (a slow server, a long round trip). With none running, a lookup
// goes at once. Measured in docs/benchmarks.md (16 to 256 callers: more
// rows per second and a lower p99 than 4 batches at once of any size).
constexpr size_t fill_per_batch = 32;

// A get or exists waiting to join a batched lookup.
struct lookup {
  record key;
  std::string id; // the key, normalized
  bool exists_only = false;
  caf::typed_response_promise<repository_result> reply;
  // The last write this repository started before the lookup arrived: the
  // lookup runs only after it completed (a caller reads its own writes).
  uint64_t barrier = 0;
};

struct repository_state {
  repository_params params;
  schema_ptr schema;
  rs::dialect dialect;
  bool reflecting = false;
  std::deque<schema_waiter> waiting;
  // Read coalescing (pool path, integer keys).
  std::deque<lookup> lookups;
  size_t batches = 0;
  uint64_t write_seq = 0;
  std::set<uint64_t> writes_running;
  static inline const char* name = "troupe.repository";
};

using self_ptr = repository_actor::stateful_pointer<repository_state>;

// MariaDB 10.5 and later write and read back a row in one statement.
bool has_insert_returning(const std::string& version) {
  if (version.find("MariaDB") == std::string::npos)
    return false;
  unsigned major = 0;
  unsigned minor = 0;
  if (std::sscanf(version.c_str(), "%u.%u", &major, &minor) != 2)
    return false;
  return major > 10 || (major == 10 && minor >= 5);
}

statement to_statement(const bound_sql& x) {
  return statement{x.sql, x.params};
}

statement to_statement(bound_sql&& x) {
  statement out{std::move(x.sql), std::move(x.params)};
  out.sets = x.sets;
  return out;
}

// How create_many writes on this server: array binding where it is
// offered, steps of at most 4 MiB and half the server's max_allowed_packet.
rs::bulk_options bulk_options_for(const ping_info& pong) {
  rs::bulk_options out;
  out.array_binding = pong.bulk_operations;
  if (pong.max_allowed_packet > 0)
    out.max_step_bytes = std::min<uint64_t>(out.max_step_bytes,
                                            pong.max_allowed_packet / 2);
  return out;
}

void finish_reflection(self_ptr self, schema_ptr schema, caf::error err) {
  auto& st = self->state;
  st.reflecting = false;
  if (schema)
    st.schema = schema;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting)
    w(schema, err);
}

// Reflects the table (its columns, keys, and the server's version) through
// the engine; every waiter gets the outcome.
void reflect(self_ptr self) {
  auto& st = self->state;
  if (st.reflecting)
    return;
  st.reflecting = true;
  auto columns = reflect_columns("", st.params.table);
  auto keys = reflect_keys("", st.params.table);
  if (!columns || !keys) {
    finish_reflection(self, nullptr,
                      !columns ? columns.error() : keys.error());
    return;
  }
  auto bound = st.params.request_timeout;
  auto fail = [self, bound](caf::error& err) {
    finish_reflection(self, nullptr,
                      when_no_answer(std::move(err),
                                     if_no_answer::changes_nothing,
                                     "reflecting the table", bound));
  };
  self->request(st.params.engine, bound, query_atom::value,
                to_statement(*columns))
    .then(
      [self, keys = std::move(*keys), bound, fail](result& cols) mutable {
        self->request(self->state.params.engine, bound, query_atom::value,
                      to_statement(keys))
          .then(
            [self, cols = std::move(cols), bound, fail](result& ks) mutable {
              auto schema = build_table_schema(self->state.params.table, cols,
                                               ks);
              if (!schema) {
                finish_reflection(self, nullptr, std::move(schema.error()));
                return;
              }
              self->request(self->state.params.engine, bound, ping_atom::value)
                .then(
                  [self, schema = std::move(*schema)](ping_info& pong) mutable {
                    auto& st = self->state;
                    st.dialect.insert_returning
                      = has_insert_returning(pong.server_version);
                    st.dialect.bulk = bulk_options_for(pong);
                    if (auto unknown = schema.unsupported_columns();
                        !unknown.empty())
                      spdlog::info("{}: table '{}' has {} column(s) of types "
                                   "the engine does not know; they are read "
                                   "as the server sends them and cannot be "
                                   "written",
                                   st.params.engine_name, st.params.table,
                                   unknown.size());
                    finish_reflection(
                      self, std::make_shared<const table_schema>(
                              std::move(schema)),
                      caf::none);
                  },
                  fail);
            },
            fail);
      },
      fail);
}

// Calls `k` with the schema, reflecting first if there is none yet.
void with_schema(self_ptr self, schema_waiter k) {
  auto& st = self->state;
  if (st.schema) {
    k(st.schema, caf::none);
    return;
  }
  if (st.waiting.size() >= max_waiting) {
    k(nullptr, make_error(errc::overloaded,
                          fmt::format("{} requests wait for the schema of "
                                      "'{}'",
                                      st.waiting.size(), st.params.table)));
    return;
  }
  st.waiting.push_back(std::move(k));
  reflect(self);
}

// What a caller may conclude when a plan's answer does not come.
if_no_answer meaning_of(const rs::plan& p) {
  switch (p.how) {
    case rs::shape::written_rows:
    case rs::shape::affected:
    case rs::shape::inserted:
      return if_no_answer::may_be_applied;
    default:
      return if_no_answer::changes_nothing;
  }
}

void flush_lookups(self_ptr self);

// The table changed under the repository (rows came back with other
// columns, or the server does not know a column or the table any more):
// the next request reflects it again.
void forget_schema(self_ptr self, const char* why) {
  auto& st = self->state;
  if (!st.schema)
    return;
  spdlog::info("{}: table '{}' changed ({}); reflecting it again",
               st.params.engine_name, st.params.table, why);
  st.schema = nullptr;
}

// `r` answered a plan of shape `how`: rows of the table are compared with
// the schema (a COUNT(*) or an OK packet is not such a row).
void check_rows(self_ptr self, const result& r, rs::shape how) {
  if (how != rs::shape::rows && how != rs::shape::written_rows
      && how != rs::shape::keyset)
    return;
  auto& st = self->state;
  if (st.schema && !r.sets().empty()
      && rs::schema_drift(*st.schema, r.sets().back()))
    forget_schema(self, "its columns differ");
}

void check_error(self_ptr self, const caf::error& err) {
  auto code = info(err).server_code;
  if (code == 1054 || code == 1146)
    forget_schema(self, code == 1054 ? "unknown column" : "no such table");
}

// Runs `p` through the pool: one statement alone, several as a transaction
// script (one connection, one transaction, deadlocks retried). Writes are
// counted so that lookups arriving after them wait for them.
void run_pooled(self_ptr self, rs::plan p, caf::response_promise rp) {
  auto& st = self->state;
  auto bound = st.params.request_timeout;
  auto meaning = meaning_of(p);
  uint64_t write = 0;
  if (meaning == if_no_answer::may_be_applied) {
    write = ++st.write_seq;
    st.writes_running.insert(write);
  }
  // Every answer passes here: a finished write may release lookups.
  auto done = [self, write] {
    if (write != 0) {
      self->state.writes_running.erase(write);
      flush_lookups(self);
    }
  };
  auto fail = [self, rp, bound, meaning, done](caf::error& err) mutable {
    check_error(self, err);
    rp.deliver(when_no_answer(std::move(err), meaning,
                              "the repository operation", bound));
    done();
  };
  // The statements leave the plan (moved, not copied: create_many's are
  // large); what stays tells how to read the results.
  std::vector<statement> statements;
  statements.reserve(p.steps.size());
  for (auto& step : p.steps)
    statements.push_back(to_statement(std::move(step)));
  // The results of the plan's steps, however they were run.
  auto succeed = [self, rp, p = std::move(p),
                  done](const std::vector<result>& rs) mutable {
    if (!rs.empty())
      check_rows(self, rs.back(), p.how);
    auto out = plan_answer(p, rs);
    if (out)
      rp.deliver(std::move(*out));
    else
      rp.deliver(std::move(out.error()));
    done();
  };
  // One statement alone is atomic; several parameter sets may run one
  // after another (statement::sets), so they go as a transaction too.
  if (statements.size() == 1 && statements.front().sets <= 1) {
    self->request(st.params.engine, bound, query_atom::value,
                  std::move(statements.front()))
      .then([succeed](result& r) mutable { succeed({std::move(r)}); }, fail);
    return;
  }
  transaction_script script;
  script.statements = std::move(statements);
  self->request(st.params.engine, bound, transaction_atom::value,
                std::move(script))
    .then([succeed](transaction_outcome& o) mutable { succeed(o.results); },
          fail);
}

// -- read coalescing ------------------------------------------------------------
//
// Concurrent get/exists by key on a table with an integer primary key are
// answered by one `SELECT ... WHERE pk IN (...)`: the first lookup goes out
// at once (as a batch of one); lookups arriving while `max_batches` batches
// run wait and go together in the next one (at most rs::max_batch keys, the
// same key once). Each caller gets exactly its own row.

// Integer keys compare exactly after normalization; other types (strings
// with collations, temporal values) are not coalesced.
bool coalescable(const table_schema& t) {
  if (!t.has_primary_key())
    return false;
  for (const auto& k : t.primary_key) {
    switch (t.column(k)->type) {
      case column_type::tinyint:
      case column_type::smallint:
      case column_type::mediumint:
      case column_type::int_:
      case column_type::bigint:
        break;
      default:
        return false;
    }
  }
  return true;
}

// The key's integers as text ("7", "-3|12"), or nullopt if one is not an
// integer value.
std::optional<std::string> normalized(const table_schema& t,
                                      const record& key) {
  std::string out;
  for (const auto& k : t.primary_key) {
    auto x = key.find(k);
    if (x == nullptr)
      return std::nullopt;
    if (!out.empty())
      out += '|';
    if (auto i = x->get_if<int64_t>())
      out += std::to_string(*i);
    else if (auto u = x->get_if<uint64_t>())
      out += std::to_string(*u);
    else
      return std::nullopt;
  }
  return out;
}

void run_batch(self_ptr self, std::vector<lookup> batch) {
  auto& st = self->state;
  auto schema = st.schema;
  // One key per distinct id.
  std::vector<record> keys;
  std::set<std::string> seen;
  for (const auto& l : batch)
    if (seen.insert(l.id).second)
      keys.push_back(l.key);
  auto p = rs::get_many(*schema, keys);
  if (!p) {
    for (auto& l : batch)
      l.reply.deliver(p.error());
    return;
  }
  ++st.batches;
  auto shared = std::make_shared<std::vector<lookup>>(std::move(batch));
  auto bound = st.params.request_timeout;
  auto finish = [self] {
    --self->state.batches;
    flush_lookups(self);
  };
  self->request(st.params.engine, bound, query_atom::value,
                statement{p->steps[0].sql, p->steps[0].params})
    .then(
      [self, shared, schema, finish](result& r) {
        check_rows(self, r, rs::shape::rows);
        std::map<std::string, record> rows;
        for (auto& row : rs::records_of(r.first()))
          if (auto id = normalized(*schema, row))
            rows.emplace(std::move(*id), std::move(row));
        for (auto& l : *shared) {
          repository_result out;
          auto i = rows.find(l.id);
          if (i != rows.end()) {
            out.count = 1;
            if (!l.exists_only)
              out.rows.push_back(i->second);
          }
          l.reply.deliver(std::move(out));
        }
        finish();
      },
      [self, shared, bound, finish](caf::error& err) {
        check_error(self, err);
        auto e = when_no_answer(std::move(err), if_no_answer::changes_nothing,
                                "the lookup", bound);
        for (auto& l : *shared)
          l.reply.deliver(e);
        finish();
      });
}

// Sends the lookups that may go (see fill_per_batch): the waiting ones
// whose writes completed, in arrival order.
void flush_lookups(self_ptr self) {
  auto& st = self->state;
  auto may_start = [&st] {
    if (st.batches == 0)
      return true;
    return st.batches < max_batches
           && st.lookups.size() >= fill_per_batch * st.batches;
  };
  while (!st.lookups.empty() && may_start()) {
    std::vector<lookup> batch;
    std::set<std::string> ids;
    while (!st.lookups.empty()) {
      auto& next = st.lookups.front();
      bool writes_done = st.writes_running.empty()
                         || *st.writes_running.begin() > next.barrier;
      if (!writes_done)
        break;
      if (ids.count(next.id) == 0 && ids.size() == rs::max_batch)
        break;
      ids.insert(next.id);
      batch.push_back(std::move(next));
      st.lookups.pop_front();
    }
    if (batch.empty())
      return;
    run_batch(self, std::move(batch));
  }
}

// A get or exists through the pool: coalesced when the key allows it.
caf::typed_response_promise<repository_result>
look_up(self_ptr self, record key, bool exists_only) {
  auto rp = self->make_response_promise<repository_result>();
  with_schema(self, [self, rp, key = std::move(key),
                     exists_only](schema_ptr schema,
                                  const caf::error& err) mutable {
    if (!schema) {
      rp.deliver(err);
      return;
    }
    if (auto e = validate(*schema, key, write_kind::key)) {
      rp.deliver(e);
      return;
    }
    auto id = coalescable(*schema) ? normalized(*schema, key) : std::nullopt;
    if (!id) {
      auto p = exists_only ? rs::exists(*schema, key) : rs::get(*schema, key);
      if (!p)
        rp.deliver(std::move(p.error()));
      else
        run_pooled(self, std::move(*p), rp);
      return;
    }
    auto& st = self->state;
    if (st.lookups.size() >= max_waiting) {
      rp.deliver(make_error(errc::overloaded,
                            fmt::format("{} lookups of '{}' wait",
                                        st.lookups.size(), st.params.table)));
      return;
    }
    st.lookups.push_back(
      lookup{std::move(key), std::move(*id), exists_only, rp, st.write_seq});
    flush_lookups(self);
  });
  return rp;
}

using builder
  = std::function<caf::expected<rs::plan>(const table_schema&,
                                          const rs::dialect&)>;

// Hands `p` to session `in` on behalf of the requester, in the message whose
// answer is `Reply`: the session answers the requester itself.
template <class Reply>
void delegate_plan(caf::typed_response_promise<Reply>& rp,
                   const session_actor& in, rs::plan p) {
  if constexpr (std::is_same_v<Reply, field_stats>)
    rp.delegate(in, plan_atom::value, stats_atom::value, std::move(p));
  else if constexpr (std::is_same_v<Reply, keyset_page>)
    rp.delegate(in, plan_atom::value, page_after_atom::value, std::move(p));
  else
    rp.delegate(in, plan_atom::value, std::move(p));
}

// The common path of every operation: schema, plan, then the pool or the
// session. Through a session the plan is delegated on behalf of the
// requester, who must own the session. The plan's shape decides the
// answer, of type `Reply`.
template <class Reply = repository_result>
caf::typed_response_promise<Reply>
operate(self_ptr self, builder build, const session_actor* session) {
  auto rp = self->make_response_promise<Reply>();
  auto in = session != nullptr ? *session : session_actor{};
  if (session != nullptr && !in) {
    rp.deliver(make_error(errc::invalid_argument,
                          "the repository operation names no session"));
    return rp;
  }
  with_schema(self, [self, rp, build = std::move(build),
                     in](schema_ptr schema, const caf::error& err) mutable {
    if (!schema) {
      rp.deliver(err);
      return;
    }
    auto p = build(*schema, self->state.dialect);
    if (!p) {
      rp.deliver(std::move(p.error()));
      return;
    }
    if (in)
      delegate_plan(rp, in, std::move(*p));
    else
      run_pooled(self, std::move(*p), rp);
  });
  return rp;
}

// The schema (reflected first if there is none) as the answer.
caf::typed_response_promise<table_schema> schema_reply(self_ptr self) {
  auto rp = self->make_response_promise<table_schema>();
  with_schema(self, [rp](schema_ptr schema, const caf::error& err) mutable {
    if (schema)
      rp.deliver(*schema);
    else
      rp.deliver(err);
  });
  return rp;
}

repository_actor::behavior_type repository_impl(self_ptr self,
                                                repository_params params,
                                                caf::actor parent) {
  auto& st = self->state;
  st.params = std::move(params);
  self->monitor(parent);
  self->set_down_handler([self, parent](caf::down_msg& dm) {
    if (dm.source == parent.address())
      self->quit(dm.reason);
  });
  auto by_key = [](auto fn) {
    return [fn](const record& key) {
      return builder{[fn, key](const table_schema& t, const rs::dialect&) {
        return fn(t, key);
      }};
    };
  };
  auto get = by_key(rs::get);
  auto exists = by_key(rs::exists);
  auto remove = by_key(rs::remove);
  auto count = builder{[](const table_schema& t, const rs::dialect&) {
    return rs::count(t);
  }};
  auto page = [](page_request req) {
    return builder{[req](const table_schema& t, const rs::dialect&) {
      return rs::get_all(t, req);
    }};
  };
  auto find = [](record where, uint32_t limit) {
    return builder{[where, limit](const table_schema& t, const rs::dialect&) {
      return rs::find(t, where, limit);
    }};
  };
  auto create = [](record row) {
    return builder{[row](const table_schema& t, const rs::dialect& d) {
      return rs::create(t, row, d);
    }};
  };
  // Called once: the rows move into the plan.
  auto create_many = [](std::vector<record> rows) {
    auto shared = std::make_shared<std::vector<record>>(std::move(rows));
    return builder{[shared](const table_schema& t, const rs::dialect& d) {
      return rs::create_many(t, std::move(*shared), d.bulk);
    }};
  };
  auto update = [](record key, record changes) {
    return builder{[key, changes](const table_schema& t, const rs::dialect&) {
      return rs::update(t, key, changes);
    }};
  };
  // A builder of `fn(schema, xs...)`, the arguments kept until it runs.
  auto with_args = [](auto fn, auto... xs) {
    return builder{[fn, xs...](const table_schema& t, const rs::dialect&) {
      return fn(t, xs...);
    }};
  };
  auto update_where = [with_args](record where, record changes) {
    return with_args(rs::update_where, std::move(where), std::move(changes));
  };
  auto delete_where = [with_args](record where) {
    return with_args(rs::delete_where, std::move(where));
  };
  auto update_keys = [with_args](std::vector<record> keys, record changes) {
    return with_args(rs::update_keys, std::move(keys), std::move(changes));
  };
  auto delete_keys = [with_args](std::vector<record> keys) {
    return with_args(rs::delete_keys, std::move(keys));
  };
  auto stats = [with_args](std::vector<std::string> columns) {
    return with_args(rs::stats, std::move(columns));
  };
  auto page_after = [with_args](page_token from, uint32_t limit) {
    return with_args(rs::page_after, std::move(from), limit);
  };
  return {
    [=](get_atom, record& key) {
      return look_up(self, std::move(key), false);
    },
    [=](exists_atom, record& key) {
      return look_up(self, std::move(key), true);
    },
    [=](count_atom) { return operate(self, count, nullptr); },
    [=](page_atom, page_request& req) {
      return operate(self, page(std::move(req)), nullptr);
    },
    [=](find_atom, record& where, uint32_t limit) {
      return operate(self, find(std::move(where), limit), nullptr);
    },
    [=](create_atom, record& row) {
      return operate(self, create(std::move(row)), nullptr);
    },
    [=](create_many_atom, std::vector<record>& rows) {
      return operate(self, create_many(std::move(rows)), nullptr);
    },
    [=](update_atom, record& key, record& changes) {
      return operate(self, update(std::move(key), std::move(changes)),
                     nullptr);
    },
    [=](delete_atom, record& key) {
      return operate(self, remove(key), nullptr);
    },
    [=](get_atom, session_actor& s, record& key) {
      return operate(self, get(key), &s);
    },
    [=](exists_atom, session_actor& s, record& key) {
      return operate(self, exists(key), &s);
    },
    [=](count_atom, session_actor& s) { return operate(self, count, &s); },
    [=](page_atom, session_actor& s, page_request& req) {
      return operate(self, page(std::move(req)), &s);
    },
    [=](find_atom, session_actor& s, record& where, uint32_t limit) {
      return operate(self, find(std::move(where), limit), &s);
    },
    [=](create_atom, session_actor& s, record& row) {
      return operate(self, create(std::move(row)), &s);
    },
    [=](create_many_atom, session_actor& s, std::vector<record>& rows) {
      return operate(self, create_many(std::move(rows)), &s);
    },
    [=](update_atom, session_actor& s, record& key, record& changes) {
      return operate(self, update(std::move(key), std::move(changes)), &s);
    },
    [=](delete_atom, session_actor& s, record& key) {
      return operate(self, remove(key), &s);
    },
    [=](update_where_atom, record& where, record& changes) {
      return operate(self, update_where(std::move(where), std::move(changes)),
                     nullptr);
    },
    [=](delete_where_atom, record& where) {
      return operate(self, delete_where(std::move(where)), nullptr);
    },
    [=](update_keys_atom, std::vector<record>& keys, record& changes) {
      return operate(self, update_keys(std::move(keys), std::move(changes)),
                     nullptr);
    },
    [=](delete_keys_atom, std::vector<record>& keys) {
      return operate(self, delete_keys(std::move(keys)), nullptr);
    },
    [=](stats_atom, std::vector<std::string>& columns) {
      return operate<field_stats>(self, stats(std::move(columns)), nullptr);
    },
    [=](page_after_atom, page_token& from, uint32_t limit) {
      return operate<keyset_page>(self, page_after(std::move(from), limit),
                                  nullptr);
    },
    [=](update_where_atom, session_actor& s, record& where, record& changes) {
      return operate(self, update_where(std::move(where), std::move(changes)),
                     &s);
    },
    [=](delete_where_atom, session_actor& s, record& where) {
      return operate(self, delete_where(std::move(where)), &s);
    },
    [=](update_keys_atom, session_actor& s, std::vector<record>& keys,
        record& changes) {
      return operate(self, update_keys(std::move(keys), std::move(changes)),
                     &s);
    },
    [=](delete_keys_atom, session_actor& s, std::vector<record>& keys) {
      return operate(self, delete_keys(std::move(keys)), &s);
    },
    [=](stats_atom, session_actor& s, std::vector<std::string>& columns) {
      return operate<field_stats>(self, stats(std::move(columns)), &s);
    },
    [=](page_after_atom, session_actor& s, page_token& from, uint32_t limit) {
      return operate<keyset_page>(self, page_after(std::move(from), limit),
                                  &s);
    },
    [self](schema_atom) { return schema_reply(self); },
    [self](refresh_atom) {
      self->state.schema = nullptr;
      return schema_reply(self);
    },
  };
}

} // namespace

caf::expected<caf::message> plan_answer(const repository_sql::plan& p,
                                        const std::vector<result>& rs) {
  auto as_message = [](auto x) -> caf::expected<caf::message> {
    if (!x)
      return std::move(x.error());
    return caf::make_message(std::move(*x));
  };
  switch (p.how) {
    case rs::shape::stats:
      return as_message(rs::read_stats(p, rs));
    case rs::shape::keyset:
      return as_message(rs::read_keyset(p, rs));
    default:
      return as_message(rs::read_outcome(p, rs));
  }
}

repository_actor spawn_repository(caf::local_actor* parent,
                                  repository_params params) {
  return parent->spawn<caf::monitored>(repository_impl, std::move(params),
                                       caf::actor_cast<caf::actor>(parent));
}

} // namespace troupe::detail
