#include "troupe/engine.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <fmt/format.h>

#include "pool/pool_supervisor.hpp"
#include "pool/reactor.hpp"

namespace troupe {

std::string to_string(isolation_level x) {
  switch (x) {
    case isolation_level::server_default:
      return "server_default";
    case isolation_level::read_uncommitted:
      return "read_uncommitted";
    case isolation_level::read_committed:
      return "read_committed";
    case isolation_level::repeatable_read:
      return "repeatable_read";
    case isolation_level::serializable:
      return "serializable";
  }
  return "unknown";
}

std::string to_string(const pool_status& x) {
  return fmt::format("size {}/{} (idle {}, busy {}, connecting {}, leased {}), "
                     "sessions {}, waiting {}, "
                     "opened {}, closed {}, failed {}, reconnects {}, served "
                     "{}, failed requests {}, overloaded {}, timed out {}, "
                     "pipelined {}, resets {}, circuit {}, queue wait p50/p99 {}/{} us, exec p50/p99 "
                     "{}/{} us",
                     x.size, x.max_size, x.idle, x.busy, x.connecting,
                     x.leased, x.sessions, x.waiting, x.opened, x.closed, x.failed, x.reconnects,
                     x.served, x.failed_requests, x.overloaded, x.timed_out,
                     x.pipelined, x.resets, x.circuit_open ? "open" : "closed", x.queue_wait_p50,
                     x.queue_wait_p99, x.exec_p50, x.exec_p99);
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<value>("troupe::value");
  cfg.add_message_type<column>("troupe::column");
  cfg.add_message_type<result_set>("troupe::result_set");
  cfg.add_message_type<result>("troupe::result");
  cfg.add_message_type<statement>("troupe::statement");
  cfg.add_message_type<pool_status>("troupe::pool_status");
  cfg.add_message_type<ping_info>("troupe::ping_info");
  cfg.add_message_type<dispose_report>("troupe::dispose_report");
  cfg.add_message_type<transaction_options>("troupe::transaction_options");
  cfg.add_message_type<session_options>("troupe::session_options");
  cfg.add_message_type<transaction_script>("troupe::transaction_script");
  cfg.add_message_type<transaction_outcome>("troupe::transaction_outcome");
  cfg.add_message_type<session_actor>("troupe::session_actor");
  cfg.add_message_type<record>("troupe::record");
  cfg.add_message_type<std::vector<record>>("std::vector<troupe::record>");
  cfg.add_message_type<repository_result>("troupe::repository_result");
  cfg.add_message_type<page_request>("troupe::page_request");
  cfg.add_message_type<field_stats>("troupe::field_stats");
  cfg.add_message_type<page_token>("troupe::page_token");
  cfg.add_message_type<keyset_page>("troupe::keyset_page");
  cfg.add_message_type<repository_sql::plan>("troupe::repository_plan");
  cfg.add_message_type<table_schema>("troupe::table_schema");
  cfg.add_message_type<repository_actor>("troupe::repository_actor");
  cfg.add_error_category(caf::atom(error_category_name),
                         [](uint8_t code, caf::atom_value category,
                            const caf::message& context) -> std::string {
                           return render(caf::error{code, category, context});
                         });
}

caf::expected<engine_actor> spawn_engine(caf::actor_system& sys,
                                         engine_config cfg) {
  if (auto err = cfg.pool.validate())
    return err;
  if (cfg.io_threads < 1 || cfg.io_threads > 64)
    return make_error(errc::invalid_argument,
                      fmt::format("io_threads must be between 1 and 64, not {}",
                                  cfg.io_threads));
  auto loops = detail::reactor_loops(sys);
  if (loops.empty())
    for (size_t i = 0; i < cfg.io_threads; ++i)
      loops.push_back(make_epoll_loop(fmt::format("{}-io{}", cfg.name, i)));
  return caf::actor_cast<engine_actor>(
    detail::spawn_supervisor(sys, std::move(cfg), std::move(loops)));
}

} // namespace troupe
