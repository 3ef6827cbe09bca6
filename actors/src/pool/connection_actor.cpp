#include "pool/connection_actor.hpp"

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

#include "troupe/mariadb/async_connection.hpp"

namespace troupe::detail {

namespace {

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

// After a connect or a check, on the loop thread: tells the supervisor the
// connection is ready, or the actor that it broke.
void report(const std::shared_ptr<mariadb::async_connection>& conn,
            const std::shared_ptr<const job_context>& ctx,
            caf::expected<result> r) {
  if (!r) {
    caf::anon_send(ctx->connection, broken_atom::value, std::move(r.error()));
    return;
  }
  if (!conn->usable()) {
    // A clean-up that "succeeded" without a connection (nothing to roll
    // back on a closed one) must not make it look ready.
    caf::anon_send(ctx->connection, broken_atom::value,
                   make_error(errc::connection_lost, "the connection closed",
                              true));
    return;
  }
  const auto& info = conn->raw().info();
  caf::send_as(ctx->connection, ctx->supervisor, ready_atom::value, ctx->id,
               conn_info{info.thread_id, info.wait_timeout, info.version,
                         info.tls_cipher, conn, ctx});
}

connection_actor::behavior_type
connection_impl(connection_actor::stateful_pointer<connection_state> self,
                connection_params params) {
  auto& st = self->state;
  st.params = std::move(params);
  st.conn = mariadb::async_connection::make(*st.params.loop,
                                            st.params.options);
  st.context = std::make_shared<const job_context>(
    job_context{st.params.supervisor, caf::actor_cast<caf::actor>(self),
                st.params.id, st.params.slow_threshold, st.params.engine_name,
                st.params.batcher, st.params.loop.get(), st.params.options});
  // The connection dies with its supervisor.
  self->monitor(st.params.supervisor);
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.params.supervisor)
      self->quit(dm.reason);
  });
  auto conn = st.conn;
  auto ctx = st.context;
  st.params.loop->post([conn, ctx] {
    auto me = ctx->connection;
    conn->on_broken(
      [me](caf::error e) { caf::anon_send(me, broken_atom::value, std::move(e)); });
    conn->connect(
      [conn, ctx](caf::expected<result> r) { report(conn, ctx, std::move(r)); });
  });
  return {
    [self](check_atom) {
      auto conn = self->state.conn;
      auto ctx = self->state.context;
      self->state.params.loop->post([conn, ctx] {
        conn->ping([conn, ctx](caf::expected<result> r) {
          report(conn, ctx, std::move(r));
        });
      });
    },
    [self](abort_atom) {
      // Stop the statement on the server too: closing our socket alone
      // lets it run to its end.
      auto conn = self->state.conn;
      auto loop = self->state.params.loop;
      auto opts = self->state.params.options;
      auto ctx = self->state.context;
      loop->post([conn, loop, opts, ctx] {
        auto me = ctx->connection;
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
                            [conn, me, reason, ctx, thread](caf::error err) {
                              if (err)
                                spdlog::warn("{}: cannot kill server thread "
                                             "{}: {}",
                                             ctx->engine_name, thread,
                                             render(err));
                              conn->close(reason);
                              caf::anon_send(me, close_atom::value);
                            });
      });
    },
    [self](clean_atom, bool busy) {
      // A lease ended: roll back what is open and reset the session if it
      // changed, before anyone else gets the connection.
      auto conn = self->state.conn;
      auto loop = self->state.params.loop;
      auto opts = self->state.params.options;
      auto ctx = self->state.context;
      loop->post([conn, loop, opts, ctx, busy] {
        auto done = [conn, ctx](caf::expected<result> r) {
          report(conn, ctx, std::move(r));
        };
        // A statement may still run (its owner died): the rollback queues
        // behind it, after the KILL QUERY below ended it.
        auto rollback = [conn, done, busy] {
          clean_connection(conn, busy, done);
        };
        auto thread = conn->raw().info().thread_id;
        if (busy && thread != 0) {
          mariadb::kill_async(*loop, opts, thread, false,
                              [rollback](caf::error) { rollback(); });
        } else {
          rollback();
        }
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
