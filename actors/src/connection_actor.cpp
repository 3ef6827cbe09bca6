#include "connection_actor.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include "troupe/mariadb/async_connection.hpp"
#include "troupe/option_parsing.hpp"

namespace troupe::detail {

namespace {

using clock = std::chrono::steady_clock;

// What a completion on the loop thread needs; shared, immutable, and
// independent of the actor's state (which dies with the actor while a job
// may still run).
struct job_context {
  supervisor_actor supervisor;
  uint32_t id;
  std::chrono::milliseconds slow_threshold;
  std::string engine_name;
};

struct connection_state {
  connection_params params;
  std::shared_ptr<mariadb::async_connection> conn;
  std::shared_ptr<const job_context> context;

  ~connection_state() {
    // Close on the loop thread, which owns the connection. Requests still
    // queued there are answered (connection_lost) by close().
    if (conn && params.loop) {
      auto c = std::move(conn);
      params.loop->post([c] { c->close(); });
    }
  }
};

uint64_t micros_since(clock::time_point t) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t)
      .count());
}

// The completion of a job, on the loop thread: answers the requester
// directly, then tells the supervisor (and the actor, if the connection
// broke).
void complete(const job_ptr& j, caf::expected<result> r,
              const std::string& version, const job_context& p,
              const caf::actor& me, clock::time_point started) {
  auto exec = micros_since(started);
  auto how = outcome::ok;
  caf::error err;
  if (!r) {
    err = r.error();
    how = is_fatal(err) ? outcome::fatal : outcome::error;
  }
  if (p.slow_threshold.count() > 0
      && exec >= static_cast<uint64_t>(p.slow_threshold.count()) * 1000) {
    // The SQL text only (cut short), never the parameter values.
    auto sql = j->ping ? std::string{"(ping)"} : j->stmt.sql.substr(0, 200);
    spdlog::warn("{}: slow statement on connection {}: {} ms: {}",
                 p.engine_name, p.id, exec / 1000, sql);
  }
  if (j->ping) {
    if (r)
      j->reply.deliver(caf::make_message(
        ping_info{micros_since(j->enqueued), version}));
    else
      j->reply.deliver_error(err);
  } else if (r) {
    j->reply.deliver(caf::make_message(std::move(*r)));
  } else {
    j->reply.deliver_error(err);
  }
  caf::send_as(me, p.supervisor, done_atom::value, p.id, exec, how);
  if (how == outcome::fatal)
    caf::anon_send(me, broken_atom::value, std::move(err));
}

// After a connect or a check, on the loop thread: tells the supervisor the
// connection is ready, or the actor that it broke.
void report(const std::shared_ptr<mariadb::async_connection>& conn,
            const caf::actor& me, const supervisor_actor& sup, uint32_t id,
            caf::expected<result> r) {
  if (!r) {
    caf::anon_send(me, broken_atom::value, std::move(r.error()));
    return;
  }
  const auto& info = conn->raw().info();
  caf::send_as(me, sup, ready_atom::value, id,
               conn_info{info.thread_id, info.wait_timeout, info.version});
}

connection_actor::behavior_type
connection_impl(connection_actor::stateful_pointer<connection_state> self,
                connection_params params) {
  auto& st = self->state;
  st.params = std::move(params);
  st.conn = mariadb::async_connection::make(*st.params.loop,
                                            st.params.options);
  st.context = std::make_shared<const job_context>(
    job_context{st.params.supervisor, st.params.id, st.params.slow_threshold,
                st.params.engine_name});
  // The connection dies with its supervisor.
  self->monitor(st.params.supervisor);
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.params.supervisor)
      self->quit(dm.reason);
  });
  auto me = caf::actor_cast<caf::actor>(self);
  auto conn = st.conn;
  auto sup = st.params.supervisor;
  auto id = st.params.id;
  st.params.loop->post([conn, me, sup, id] {
    conn->on_broken(
      [me](caf::error e) { caf::anon_send(me, broken_atom::value, std::move(e)); });
    conn->connect([conn, me, sup, id](caf::expected<result> r) {
      report(conn, me, sup, id, std::move(r));
    });
  });
  return {
    [self, me](run_atom, job_ptr& j) {
      auto conn = self->state.conn;
      auto ctx = self->state.context;
      self->state.params.loop->post([conn, j, me, ctx] {
        auto started = clock::now();
        std::string version;
        if (j->ping)
          version = conn->raw().info().version;
        auto done = [j, me, ctx, started,
                     version = std::move(version)](caf::expected<result> r) {
          complete(j, std::move(r), version, *ctx, me, started);
        };
        if (j->ping)
          conn->ping(std::move(done));
        else if (j->stmt.params.empty())
          conn->query(j->stmt.sql, std::move(done));
        else
          conn->execute(j->stmt.sql, std::move(j->stmt.params), std::move(done));
      });
    },
    [self, me](check_atom) {
      auto conn = self->state.conn;
      auto sup = self->state.params.supervisor;
      auto id = self->state.params.id;
      self->state.params.loop->post([conn, me, sup, id] {
        conn->ping([conn, me, sup, id](caf::expected<result> r) {
          report(conn, me, sup, id, std::move(r));
        });
      });
    },
    [self, me](abort_atom) {
      // Stop the statement on the server too: closing our socket alone
      // lets it run to its end.
      auto conn = self->state.conn;
      auto loop = self->state.params.loop;
      auto opts = self->state.params.options;
      auto name = self->state.params.engine_name;
      loop->post([conn, loop, opts, me, name] {
        auto thread = conn->raw().info().thread_id;
        auto reason = make_error(errc::connection_lost,
                                 "the statement was aborted: the engine shut "
                                 "down after its grace period",
                                 true);
        if (thread == 0 || !conn->raw().connected()) {
          conn->close(reason);
          caf::anon_send(me, close_atom::value);
          return;
        }
        mariadb::kill_async(*loop, opts, thread, true,
                            [conn, me, reason, name, thread](caf::error err) {
                              if (err)
                                spdlog::warn("{}: cannot kill server thread "
                                             "{}: {}",
                                             name, thread, render(err));
                              conn->close(reason);
                              caf::anon_send(me, close_atom::value);
                            });
      });
    },
    [self](broken_atom, caf::error& err) { self->quit(std::move(err)); },
    [self](close_atom) { self->quit(); },
  };
}

} // namespace

connection_actor spawn_connection(caf::local_actor* parent,
                                  connection_params params) {
  return parent->spawn<caf::monitored>(connection_impl, std::move(params));
}

} // namespace troupe::detail
