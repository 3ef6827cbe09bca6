#include "troupe/client.hpp"

#include <random>
#include <thread>

#include <caf/all.hpp>

#include <fmt/format.h>

#include "engine/no_answer.hpp"
#include "troupe/remote.hpp"

namespace troupe {

struct client::impl {
  caf::actor_system& sys;
  caf::scoped_actor self;
  engine_actor engine;
  bool owned;
  // The guard `attach` put in front of a remote engine: this client's own,
  // ended by disconnect.
  bool guarded = false;
  std::chrono::milliseconds timeout;

  impl(caf::actor_system& s, engine_actor e, bool own,
       std::chrono::milliseconds t)
    : sys(s), self(s), engine(std::move(e)), owned(own), timeout(t) {
  }

  template <class T, class... Ts>
  caf::expected<T> ask(detail::if_no_answer meaning, std::string_view what,
                       Ts&&... xs) {
    if (!engine)
      return make_error(errc::shutting_down, "the client is disconnected");
    return ask_to<T>(engine, meaning, what, std::forward<Ts>(xs)...);
  }

  // Waits at most `timeout`. Past it the request still runs in the engine:
  // `meaning` says what the caller may conclude about its outcome.
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask_to(const Handle& dest, detail::if_no_answer meaning,
                          std::string_view what, Ts&&... xs) {
    caf::expected<T> out{make_error(errc::internal, "no answer")};
    self->request(dest, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); },
               [&](caf::error& err) {
                 out = detail::when_no_answer(std::move(err), meaning, what,
                                              timeout);
               });
    return out;
  }
};

namespace {

using detail::if_no_answer;

constexpr std::string_view the_statement = "the statement";

} // namespace

client::client(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
}

client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

client::~client() {
  if (impl_)
    disconnect();
}

caf::expected<client> client::connect(caf::actor_system& sys,
                                      engine_config cfg) {
  auto bound = request_bound(cfg);
  auto engine = spawn_engine(sys, std::move(cfg));
  if (!engine)
    return std::move(engine.error());
  client out{std::make_unique<impl>(sys, std::move(*engine), true, bound)};
  // Connected means the database answered: a wrong password, an unknown
  // database or an unreachable server fail here, not at the first query.
  if (auto pong = out.ping(); !pong) {
    auto err = std::move(pong.error());
    out.disconnect();
    return err;
  }
  return out;
}

caf::expected<client> client::connect(caf::actor_system& sys,
                                      const std::string& dsn) {
  auto cfg = engine_config::from_dsn(dsn);
  if (!cfg)
    return std::move(cfg.error());
  return connect(sys, std::move(*cfg));
}

client client::attach(caf::actor_system& sys, engine_actor engine,
                      std::chrono::milliseconds timeout) {
  // A remote engine gets a guard: calls fail with node_down when its node
  // is lost instead of waiting out their timeout (remote.hpp).
  auto guard = guard_remote(sys, engine);
  bool guarded = guard && guard->address() != engine.address();
  if (guarded)
    engine = std::move(*guard);
  auto out = std::make_unique<impl>(sys, std::move(engine), false, timeout);
  out->guarded = guarded;
  return client{std::move(out)};
}

caf::expected<result> client::query(std::string sql, std::vector<value> params) {
  return impl_->ask<result>(if_no_answer::may_be_applied, the_statement,
                            query_atom::value,
                            statement{std::move(sql), std::move(params)});
}

caf::expected<result> client::execute(std::string sql,
                                      std::vector<value> params) {
  return impl_->ask<result>(if_no_answer::may_be_applied, the_statement,
                            execute_atom::value,
                            statement{std::move(sql), std::move(params)});
}

caf::expected<ping_info> client::ping() {
  return impl_->ask<ping_info>(if_no_answer::changes_nothing, "ping",
                               ping_atom::value);
}

caf::expected<pool_status> client::status() {
  return impl_->ask<pool_status>(if_no_answer::changes_nothing, "status",
                                 status_atom::value);
}

caf::expected<troupe::repository> client::repository(std::string table) {
  auto handle = impl_->ask<repository_actor>(if_no_answer::changes_nothing,
                                             "the repository request",
                                             repository_atom::value,
                                             std::move(table));
  if (!handle)
    return std::move(handle.error());
  return troupe::repository{*this, std::move(*handle), nullptr};
}

caf::error client::disconnect() {
  if (!impl_ || !impl_->engine)
    return {};
  caf::error err;
  if (impl_->owned) {
    auto engine = impl_->engine;
    // Wait for the supervisor to exit too, so no connection outlives us.
    impl_->self->monitor(engine);
    auto report = impl_->ask<dispose_report>(if_no_answer::may_be_applied,
                                             "dispose", dispose_atom::value);
    if (!report)
      err = std::move(report.error());
    else
      impl_->self->receive(
        [&](caf::down_msg&) {}, caf::after(impl_->timeout) >> [&] {
          err = make_error(errc::internal, "the engine did not exit in time");
        });
  } else if (impl_->guarded) {
    impl_->self->send_exit(impl_->engine, caf::exit_reason::user_shutdown);
  }
  impl_->engine = nullptr;
  return err;
}

// -- transactions -----------------------------------------------------------------

transaction::transaction(client& owner, session_actor session)
  : owner_(owner), session_(std::move(session)) {
}

// A statement of the transaction whose answer does not come in time may
// still run in the open transaction. The transaction is then abandoned:
// nothing more is sent for it and `client::transaction` rolls it back
// instead of committing, so "nothing was committed" is the truth.
template <class R, class Handle, class... Ts>
caf::expected<R> transaction::call(const Handle& dest, std::string_view what,
                                   Ts&&... xs) {
  if (abandoned_) {
    // Keeps the cause's server code: a deadlock (1213) stays retryable.
    auto x = info(abandoned_);
    return make_error(errc::transaction_aborted,
                      "nothing more is sent in this transaction: " + x.message,
                      x.server_code, x.sqlstate, false);
  }
  auto out = owner_.impl_->ask_to<R>(dest, if_no_answer::rolled_back, what,
                                     std::forward<Ts>(xs)...);
  if (!out && info(out.error()).code == errc::transaction_aborted)
    abandoned_ = out.error();
  return out;
}

template <class... Ts>
caf::expected<result> transaction::ask(std::string_view what, Ts&&... xs) {
  return call<result>(session_, what, std::forward<Ts>(xs)...);
}

caf::expected<troupe::repository>
transaction::repository(std::string table) {
  auto handle = owner_.impl_->ask<repository_actor>(
    if_no_answer::changes_nothing, "the repository request",
    repository_atom::value, std::move(table));
  if (!handle)
    return std::move(handle.error());
  return troupe::repository{owner_, std::move(*handle), this};
}

// -- repositories -------------------------------------------------------------------

repository::repository(client& owner, repository_actor handle,
                       transaction* tx, std::string table)
  : owner_(owner), handle_(std::move(handle)), tx_(tx),
    table_(std::move(table)) {
}

// In a transaction the session goes first (the repository hands the
// operation to it on our behalf); otherwise the operation runs in
// autocommit.
template <class R, class... Ts>
caf::expected<R> repository::call(bool writes, std::string_view what,
                                  Ts&&... xs) {
  if (unit_ != nullptr) {
    if (unit_->failure_)
      return make_error(errc::transaction_aborted,
                        "an earlier operation of the unit of work failed: "
                          + info(unit_->failure_).message);
    auto out = tx_->call<R>(handle_, what, std::forward<Ts>(xs)...);
    unit_->record(what, table_, out ? nullptr : &out.error());
    return out;
  }
  if (tx_ != nullptr)
    return tx_->call<R>(handle_, what, std::forward<Ts>(xs)...);
  return owner_.impl_->ask_to<R>(handle_,
                                 writes ? if_no_answer::may_be_applied
                                        : if_no_answer::changes_nothing,
                                 what, std::forward<Ts>(xs)...);
}

template <class R, class Atom, class... Ts>
caf::expected<R> repository::call_op(bool writes, std::string_view what,
                                     Atom atom, Ts&&... xs) {
  if (tx_ != nullptr)
    return call<R>(writes, what, atom, tx_->session_,
                   std::forward<Ts>(xs)...);
  return call<R>(writes, what, atom, std::forward<Ts>(xs)...);
}

template <class Atom, class... Ts>
caf::expected<uint64_t> repository::count_of(std::string_view what,
                                             Atom atom, Ts&&... xs) {
  auto r = call_op(true, what, atom, std::forward<Ts>(xs)...);
  if (!r)
    return std::move(r.error());
  return r->count;
}

// -- units of work ------------------------------------------------------------------

troupe::repository& unit_of_work::repo(const std::string& table) {
  auto i = repos_.find(table);
  if (i != repos_.end())
    return *i->second;
  auto handle = tx_.owner_.impl_->ask<repository_actor>(
    if_no_answer::changes_nothing, "the repository request",
    repository_atom::value, table);
  std::unique_ptr<troupe::repository> r{new troupe::repository{
    tx_.owner_, handle ? std::move(*handle) : repository_actor{}, &tx_,
    table}};
  r->unit_ = this;
  if (!handle)
    record("the repository request", table, &handle.error());
  return *repos_.emplace(table, std::move(r)).first->second;
}

void unit_of_work::record(std::string_view what, const std::string& table,
                          const caf::error* err) {
  if (what.substr(0, 4) == "the ")
    what.remove_prefix(4);
  ops_.push_back(fmt::format("{} on '{}'", what, table));
  if (err == nullptr || failure_)
    return;
  auto x = info(*err);
  failure_ = make_error(x.code,
                        fmt::format("operation {} of the unit of work ({}) "
                                    "failed: {}",
                                    ops_.size(), ops_.back(), x.message),
                        x.server_code, x.sqlstate, x.fatal);
}

caf::expected<uint32_t>
client::unit_of_work(const std::function<void(troupe::unit_of_work&)>& unit,
                     transaction_options options, retry_policy retry) {
  return transaction(
    [&unit](troupe::transaction& tx) -> caf::error {
      troupe::unit_of_work uow{tx};
      unit(uow);
      return uow.failure();
    },
    options, retry);
}

caf::error
transaction::nested(const std::function<caf::error(troupe::transaction&)>&
                      inner) {
  if (auto begun = ask("the nested begin", begin_atom::value,
                       transaction_options{});
      !begun)
    return std::move(begun.error());
  caf::error err;
  try {
    err = inner(*this);
  } catch (...) {
    ask("the nested rollback", rollback_atom::value);
    throw;
  }
  if (err) {
    ask("the nested rollback", rollback_atom::value);
    return err;
  }
  auto released = ask("the nested commit", commit_atom::value);
  return released ? caf::error{} : std::move(released.error());
}

namespace {

std::optional<record> only_row(repository_result& r) {
  if (r.rows.empty())
    return std::nullopt;
  return std::move(r.rows.front());
}

} // namespace

caf::expected<std::optional<record>> repository::get(record key) {
  auto r = call_op(false, "the lookup", get_atom::value, std::move(key));
  if (!r)
    return std::move(r.error());
  return only_row(*r);
}

caf::expected<bool> repository::exists(record key) {
  auto r = call_op(false, "the lookup", exists_atom::value, std::move(key));
  if (!r)
    return std::move(r.error());
  return r->count > 0;
}

caf::expected<uint64_t> repository::count() {
  auto r = call_op(false, "the count", count_atom::value);
  if (!r)
    return std::move(r.error());
  return r->count;
}

caf::expected<std::vector<record>> repository::page(page_request page) {
  auto r = call_op(false, "the page", page_atom::value, std::move(page));
  if (!r)
    return std::move(r.error());
  return std::move(r->rows);
}

caf::expected<std::vector<record>> repository::find(record where,
                                                    uint32_t limit) {
  auto r = call_op(false, "the find", find_atom::value, std::move(where),
                            limit);
  if (!r)
    return std::move(r.error());
  return std::move(r->rows);
}

caf::expected<record> repository::create(record row) {
  auto r = call_op(true, "the create", create_atom::value, std::move(row));
  if (!r)
    return std::move(r.error());
  if (r->rows.empty())
    return record{}; // nothing identifies the row (no key, no RETURNING)
  return std::move(r->rows.front());
}

caf::expected<repository_result>
repository::create_many(std::vector<record> rows) {
  return call_op(true, "the create_many", create_many_atom::value,
                          std::move(rows));
}

caf::expected<std::optional<record>> repository::update(record key,
                                                        record changes) {
  auto r = call_op(true, "the update", update_atom::value, std::move(key),
                            std::move(changes));
  if (!r)
    return std::move(r.error());
  return only_row(*r);
}

caf::expected<bool> repository::remove(record key) {
  auto r = call_op(true, "the delete", delete_atom::value, std::move(key));
  if (!r)
    return std::move(r.error());
  return r->count > 0;
}

caf::expected<uint64_t> repository::update_where(record where,
                                                 record changes) {
  return count_of("the update", update_where_atom::value, std::move(where),
                  std::move(changes));
}

caf::expected<uint64_t> repository::remove_where(record where) {
  return count_of("the delete", delete_where_atom::value, std::move(where));
}

caf::expected<uint64_t> repository::update_keys(std::vector<record> keys,
                                                record changes) {
  return count_of("the update", update_keys_atom::value, std::move(keys),
                  std::move(changes));
}

caf::expected<uint64_t> repository::remove_keys(std::vector<record> keys) {
  return count_of("the delete", delete_keys_atom::value, std::move(keys));
}

caf::expected<field_stats>
repository::stats(std::vector<std::string> columns) {
  return call_op<field_stats>(false, "the statistics", stats_atom::value,
                              std::move(columns));
}

caf::expected<keyset_page> repository::page_after(page_token from,
                                                  uint32_t limit) {
  return call_op<keyset_page>(false, "the page", page_after_atom::value,
                              std::move(from), limit);
}

caf::expected<table_schema> repository::schema() {
  return owner_.impl_->ask_to<table_schema>(handle_,
                                            if_no_answer::changes_nothing,
                                            "the schema request",
                                            schema_atom::value);
}

caf::expected<result> transaction::query(std::string sql,
                                          std::vector<value> params) {
  return ask(the_statement, query_atom::value,
             statement{std::move(sql), std::move(params)});
}

caf::expected<result> transaction::execute(std::string sql,
                                            std::vector<value> params) {
  return ask(the_statement, execute_atom::value,
             statement{std::move(sql), std::move(params)});
}

caf::expected<result> transaction::savepoint(std::string name) {
  return ask("savepoint", savepoint_atom::value, std::move(name));
}

caf::expected<result> transaction::rollback_to(std::string name) {
  return ask("rollback to savepoint", rollback_to_atom::value,
             std::move(name));
}

caf::expected<result> transaction::release(std::string name) {
  return ask("release savepoint", release_atom::value, std::move(name));
}

namespace {

bool retryable(const caf::error& err, const retry_policy& retry) {
  auto x = info(err);
  return x.server_code == 1213 || (retry.lock_wait_timeout && x.server_code == 1205);
}

} // namespace

caf::expected<uint32_t>
client::transaction(const std::function<caf::error(troupe::transaction&)>& unit,
                    transaction_options options, retry_policy retry) {
  auto session = impl_->ask<session_actor>(if_no_answer::changes_nothing,
                                           "opening a session",
                                           session_atom::value,
                                           session_options{});
  if (!session)
    return std::move(session.error());
  troupe::transaction tx{*this, *session};
  // Their errors change nothing: the session rolls back before it does
  // anything else, whenever these reach it.
  auto rollback = [&] {
    impl_->ask_to<result>(*session, if_no_answer::rolled_back, "rollback",
                          rollback_atom::value);
  };
  auto close = [&] {
    impl_->ask_to<result>(*session, if_no_answer::rolled_back, "close",
                          close_atom::value);
  };
  std::minstd_rand rng{std::random_device{}()};
  auto attempts = std::max<uint32_t>(1, retry.max_attempts);
  caf::error last;
  for (uint32_t attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) {
      auto base = std::min<int64_t>(1000, retry.backoff.count()
                                            << std::min<uint32_t>(attempt - 2,
                                                                  10));
      auto jitter = static_cast<int64_t>(rng() % static_cast<uint64_t>(base + 1));
      std::this_thread::sleep_for(std::chrono::milliseconds{base / 2 + jitter / 2});
    }
    auto begun = impl_->ask_to<result>(*session, if_no_answer::changes_nothing,
                                       "begin", begin_atom::value, options);
    if (!begun) {
      close();
      return std::move(begun.error());
    }
    tx.abandoned_ = caf::error{};
    caf::error err;
    try {
      err = unit(tx);
    } catch (...) {
      rollback();
      close();
      throw;
    }
    if (!err && tx.abandoned_)
      err = tx.abandoned_; // the unit ignored a lost request: never commit
    if (!err) {
      auto committed = impl_->ask_to<result>(*session,
                                             if_no_answer::may_be_committed,
                                             "COMMIT", commit_atom::value);
      if (committed) {
        close();
        return attempt;
      }
      err = std::move(committed.error());
      if (info(err).code == errc::commit_outcome_unknown) {
        // It may have been committed: running it again could apply it
        // twice. The caller must check.
        close();
        return err;
      }
    }
    rollback(); // ends the transaction whatever state the session is in
    last = std::move(err);
    if (!retryable(last, retry))
      break;
  }
  close();
  return last;
}

const engine_actor& client::engine() const {
  return impl_->engine;
}

} // namespace troupe
