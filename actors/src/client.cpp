#include "troupe/client.hpp"

#include <caf/all.hpp>

namespace troupe {

struct client::impl {
  caf::actor_system& sys;
  caf::scoped_actor self;
  engine_actor engine;
  bool owned;
  caf::duration timeout;

  impl(caf::actor_system& s, engine_actor e, bool own,
       std::chrono::milliseconds t)
    : sys(s), self(s), engine(std::move(e)), owned(own), timeout(t) {
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    if (!engine)
      return make_error(errc::shutting_down, "the client is disconnected");
    caf::expected<T> out{make_error(errc::internal, "no answer")};
    self->request(engine, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   out = make_error(errc::query_timeout,
                                    "no answer from the engine in time");
                 else
                   out = std::move(err);
               });
    return out;
  }
};

namespace {

// The longest a request can legitimately take: queue wait plus statement.
std::chrono::milliseconds bound_of(const engine_config& cfg) {
  return cfg.pool.checkout_timeout + cfg.connection.connect_timeout
         + cfg.connection.read_timeout + cfg.connection.write_timeout
         + std::chrono::seconds{5};
}

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
  auto bound = bound_of(cfg);
  auto engine = spawn_engine(sys, std::move(cfg));
  if (!engine)
    return std::move(engine.error());
  return client{std::make_unique<impl>(sys, std::move(*engine), true, bound)};
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
  return client{std::make_unique<impl>(sys, std::move(engine), false, timeout)};
}

caf::expected<result> client::query(std::string sql, std::vector<value> params) {
  return impl_->ask<result>(query_atom::value,
                            statement{std::move(sql), std::move(params)});
}

caf::expected<result> client::execute(std::string sql,
                                      std::vector<value> params) {
  return impl_->ask<result>(execute_atom::value,
                            statement{std::move(sql), std::move(params)});
}

caf::expected<ping_info> client::ping() {
  return impl_->ask<ping_info>(ping_atom::value);
}

caf::expected<pool_status> client::status() {
  return impl_->ask<pool_status>(status_atom::value);
}

caf::error client::disconnect() {
  if (!impl_ || !impl_->engine)
    return {};
  caf::error err;
  if (impl_->owned) {
    auto engine = impl_->engine;
    // Wait for the supervisor to exit too, so no connection outlives us.
    impl_->self->monitor(engine);
    auto report = impl_->ask<dispose_report>(dispose_atom::value);
    if (!report)
      err = std::move(report.error());
    else
      impl_->self->receive(
        [&](caf::down_msg&) {}, caf::after(impl_->timeout) >> [&] {
          err = make_error(errc::internal, "the engine did not exit in time");
        });
  }
  impl_->engine = nullptr;
  return err;
}

const engine_actor& client::engine() const {
  return impl_->engine;
}

} // namespace troupe
