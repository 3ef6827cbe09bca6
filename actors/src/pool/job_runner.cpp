#include "pool/job_runner.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pool/reactor.hpp"
#include "troupe/sql.hpp"

namespace troupe::detail {

namespace {

using clock = std::chrono::steady_clock;

uint64_t micros_since(clock::time_point t) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t)
      .count());
}

// A statement's execution timeout on a server without max_statement_time
// (MySQL, MatrixOne): a timer on the loop sends KILL QUERY through a side
// connection at the limit. The statement's outcome waits for the KILL's
// own answer, so that the connection's next statement cannot start before
// it and be the one it stops.
struct kill_watch {
  event_loop* loop = nullptr;
  event_loop::timer_id timer = 0;
  bool finished = false; // the statement's answer came
  bool fired = false;    // KILL QUERY was sent
  bool killed = false;   // ... and answered
  // The statement's outcome, held until `killed`.
  std::function<void()> held;
};

mariadb::async_connection::handler
watch_for_timeout(std::shared_ptr<kill_watch> w,
                  std::chrono::milliseconds limit,
                  mariadb::async_connection::handler inner) {
  return [w, limit, inner = std::move(inner)](caf::expected<result> r) mutable {
    w->finished = true;
    if (!w->fired) {
      if (w->timer != 0)
        w->loop->cancel(w->timer);
      inner(std::move(r)); // in time
      return;
    }
    // Interrupted by our KILL (1317): the statement did not complete and
    // the server undid it. A statement that completed anyway keeps its
    // real outcome.
    if (!r && info(r.error()).server_code == 1317)
      r = make_error(errc::statement_timeout,
                     fmt::format("the statement ran past its execution "
                                 "timeout of {} ms and was stopped (KILL "
                                 "QUERY)",
                                 limit.count()),
                     1317, "70100", false);
    if (w->killed) {
      inner(std::move(r));
      return;
    }
    w->held = [inner = std::move(inner), r = std::move(r)]() mutable {
      inner(std::move(r));
    };
  };
}

void arm_kill(const std::shared_ptr<kill_watch>& w,
              const std::shared_ptr<mariadb::async_connection>& conn,
              const std::shared_ptr<const job_context>& ctx,
              std::chrono::milliseconds limit) {
  if (w->finished)
    return;
  auto thread = conn->raw().info().thread_id;
  w->loop = ctx->loop;
  w->timer = ctx->loop->schedule(limit, [w, ctx, thread] {
    if (w->finished)
      return;
    w->fired = true;
    mariadb::kill_async(*ctx->loop, ctx->options, thread, false,
                        [w, ctx, thread](caf::error err) {
                          if (err)
                            spdlog::warn("{}: KILL QUERY of server thread {} "
                                         "at its execution timeout failed: "
                                         "{}",
                                         ctx->engine_name, thread,
                                         render(err));
                          w->killed = true;
                          if (auto k = std::move(w->held)) {
                            w->held = nullptr;
                            k();
                          }
                        });
  });
}

// `broke`: the connection could not be cleaned after the job (it is closed;
// the job's own outcome still stands).
void complete(const job_ptr& j, caf::expected<result> r,
              const ping_info& server, const job_context& ctx,
              clock::time_point started, bool tx_open, bool state_changed,
              caf::error broke = {}) {
  auto exec = micros_since(started);
  auto how = outcome::ok;
  caf::error err;
  if (!r) {
    err = r.error();
    how = is_fatal(err) ? outcome::fatal : outcome::error;
  }
  if (broke) {
    how = outcome::fatal;
    err = std::move(broke);
  }
  if (ctx.slow_threshold.count() > 0
      && exec >= static_cast<uint64_t>(ctx.slow_threshold.count()) * 1000) {
    // The SQL text only (cut short), never the parameter values.
    auto sql = j->ping ? std::string{"(ping)"} : j->stmt.sql.substr(0, 200);
    spdlog::warn("{}: slow statement on connection {}: {} ms: {}",
                 ctx.engine_name, ctx.id, exec / 1000, sql);
  }
  if (j->notify) {
    j->notify(std::move(r));
  } else if (j->ping) {
    if (r) {
      auto pong = server;
      pong.round_trip_us = micros_since(j->enqueued);
      j->reply.deliver(caf::make_message(std::move(pong)));
    }
    else
      j->reply.deliver_error(err);
  } else if (r) {
    j->reply.deliver(caf::make_message(std::move(*r)));
  } else {
    j->reply.deliver_error(err);
  }
  if (ctx.batcher)
    ctx.batcher->add(
      done_entry{ctx.id, exec, how, !j->notify, tx_open, state_changed,
                 j->pipelined});
  if (how == outcome::fatal)
    caf::anon_send(ctx.connection, broken_atom::value, std::move(err));
}

} // namespace

void clean_connection(const std::shared_ptr<mariadb::async_connection>& conn,
                      bool rollback, mariadb::async_connection::handler done) {
  auto reset_if_needed = [conn, done](caf::expected<result> r) {
    if (!r) {
      done(std::move(r));
      return;
    }
    const auto& raw = conn->raw();
    if (raw.session_state_changed() || !raw.session_tracking())
      conn->reset(done);
    else
      done(result{});
  };
  if (rollback || conn->raw().in_transaction())
    conn->query("ROLLBACK", reset_if_needed);
  else
    reset_if_needed(result{});
}

done_batcher::done_batcher(event_loop& loop, supervisor_actor supervisor)
  : loop_(loop), supervisor_(std::move(supervisor)) {
}

void done_batcher::add(done_entry x) {
  pending_.push_back(x);
  if (scheduled_)
    return;
  // Posted tasks run after the events of the current iteration: one message
  // carries everything this iteration finished.
  scheduled_ = true;
  auto self = shared_from_this();
  if (!loop_.post([self] { self->flush(); }))
    flush();
}

void done_batcher::flush() {
  scheduled_ = false;
  if (pending_.empty())
    return;
  done_batch batch;
  batch.swap(pending_);
  // Sent as the supervisor itself: it accepts internal messages only from
  // its own address. On a reactor worker the supervisor runs next here.
  auto dest = caf::actor_cast<caf::strong_actor_ptr>(supervisor_);
  dest->enqueue(caf::make_mailbox_element(dest, caf::make_message_id(),
                                          {}, done_atom::value,
                                          std::move(batch)),
                local_unit());
}

bool job_lane::submit(job_ptr& j) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (running_ > 0 && (!accepting_ || !waiting_.empty())) {
    waiting_.push_back(std::move(j));
    return false;
  }
  ++running_;
  return true;
}

job_ptr job_lane::next() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (waiting_.empty()) {
    if (running_ > 0)
      --running_;
    return nullptr;
  }
  auto j = std::move(waiting_.front());
  waiting_.pop_front();
  return j;
}

job_ptr job_lane::more(bool accepting) {
  std::lock_guard<std::mutex> guard{mtx_};
  accepting_ = accepting;
  if (!accepting || waiting_.empty())
    return nullptr;
  auto j = std::move(waiting_.front());
  waiting_.pop_front();
  ++running_;
  return j;
}

bool job_lane::put_back(job_ptr& j) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (running_ <= 1)
    return false;
  --running_;
  accepting_ = false;
  waiting_.push_front(std::move(j));
  return true;
}

std::vector<job_ptr> job_lane::expire(clock::time_point now) {
  std::vector<job_ptr> out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = waiting_.begin(); i != waiting_.end();) {
    if ((*i)->deadline <= now) {
      out.push_back(std::move(*i));
      i = waiting_.erase(i);
    } else {
      ++i;
    }
  }
  return out;
}

job_ptr job_lane::steal() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (waiting_.empty())
    return nullptr;
  auto j = std::move(waiting_.front());
  waiting_.pop_front();
  return j;
}

std::vector<job_ptr> job_lane::drain() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<job_ptr> out{std::make_move_iterator(waiting_.begin()),
                           std::make_move_iterator(waiting_.end())};
  waiting_.clear();
  return out;
}

size_t job_lane::waiting() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiting_.size();
}

void run_job(const std::shared_ptr<mariadb::async_connection>& conn, job_ptr j,
             std::shared_ptr<const job_context> ctx, lane_ptr lane) {
  if (j && !conn->usable()) {
    // Whatever closed it, the connection actor must exit so that the
    // supervisor replaces it (it ignores all but the first `broken`).
    caf::anon_send(ctx->connection, broken_atom::value,
                   make_error(errc::connection_lost,
                              "the connection closed", true));
  }
  while (j && !conn->usable()) {
    // The connection died after the supervisor picked it (killed or closed
    // while idle, or a job before this one on the lane broke it). Nothing
    // was sent, so the request is safe to run elsewhere.
    auto lost = make_error(errc::connection_lost,
                           "the connection closed before the request was "
                           "sent",
                           true);
    if (j->notify) {
      j->notify(std::move(lost));
    } else {
      // The supervisor marks the connection dead before it queues the job
      // again, so the job cannot land on it twice.
      caf::send_as(ctx->supervisor, ctx->supervisor, requeue_atom::value,
                   ctx->id, std::move(j));
    }
    j = lane ? lane->next() : nullptr;
  }
  if (!j)
    return;
  auto started = clock::now();
  // What a ping answers about the server, read on the loop thread.
  ping_info server;
  if (j->ping) {
    const auto& x = conn->raw().info();
    server.server_version = x.version;
    server.bulk_operations = x.bulk_operations;
    server.max_allowed_packet = x.max_allowed_packet;
  }
  mariadb::async_connection::handler done = [j, ctx, started, conn, lane,
               server = std::move(server)](caf::expected<result> r) {
    auto next = [conn, ctx, lane] {
      if (lane)
        if (auto n = lane->next())
          run_job(conn, std::move(n), ctx, lane);
    };
    // Nothing an autocommit job leaves behind may reach the next caller: a
    // transaction it left open (a BEGIN sneaked in through CALL or a
    // comment) or state it left in the session (variables, the current
    // database, locks, temporary tables). The connection is cleaned here,
    // before the requester gets the answer and before the next job of the
    // lane starts, so not even the requester's next request can meet a lock
    // this one took.
    bool pooled = !j->notify && conn->raw().connected();
    bool tx_open = pooled && conn->raw().in_transaction();
    bool state_changed = pooled && conn->raw().session_state_changed();
    if (!tx_open && !state_changed) {
      complete(j, std::move(r), server, *ctx, started, false, false);
      next();
      return;
    }
    clean_connection(
      conn, tx_open,
      [j, ctx, started, conn, server, tx_open, state_changed, next,
       r = std::move(r)](caf::expected<result> cleaned) mutable {
        caf::error broke;
        if (!cleaned) {
          // Never hand out a session in an unknown state: it is closed,
          // and the jobs behind it go elsewhere.
          broke = make_error(errc::connection_lost,
                             "the connection could not be cleaned after a "
                             "statement changed its session: "
                               + render(cleaned.error()),
                             true);
          conn->close(broke);
        }
        complete(j, std::move(r), server, *ctx, started, tx_open,
                 state_changed, std::move(broke));
        next();
      });
  };
  // An execution limit travels with the statement (MariaDB's SET STATEMENT
  // max_statement_time ... FOR): the server stops it and undoes it. The
  // job's own text stays as it was, so that a job that goes back to the
  // queue is not wrapped twice. Other servers get KILL QUERY at the limit.
  std::string timed;
  const std::string* sql = &j->stmt.sql;
  std::shared_ptr<kill_watch> watch;
  if (!j->ping && j->execution_timeout.count() > 0) {
    if (conn->raw().info().kind == mariadb::flavour::mariadb) {
      timed = sql::with_max_statement_time(j->stmt.sql, j->execution_timeout);
      sql = &timed;
    } else if (ctx->loop != nullptr && conn->raw().info().thread_id != 0) {
      watch = std::make_shared<kill_watch>();
      done = watch_for_timeout(watch, j->execution_timeout, std::move(done));
    } else if (j->timeout_explicit) {
      done(make_error(errc::unsupported,
                      fmt::format("an execution timeout needs "
                                  "max_statement_time or KILL QUERY; {} "
                                  "has neither: the statement was not sent",
                                  ctx->engine_name)));
      return;
    }
  }
  // Several parameter sets always go to the driver's execute, which refuses
  // them without parameters (the text protocol would run the SQL once).
  bool prepared = !j->ping
                  && (!j->stmt.params.empty() || j->stmt.sets > 1);
  auto start = [&] {
    if (j->ping)
      conn->ping(std::move(done));
    else if (!prepared)
      conn->query(*sql, std::move(done));
    else
      conn->execute(*sql, std::move(j->stmt.params), std::move(done),
                    j->stmt.sets);
  };
  bool sent = false;
  if (lane && !conn->idle()) {
    // Other jobs of the lane run on the connection: this one may join them
    // only on the wire. Otherwise it waits on the lane for its turn, where
    // the supervisor can still expire it or move it to an idle connection.
    // A statement that may get KILL QUERY runs alone: the KILL stops
    // whatever runs on the connection.
    sent = prepared && !watch && j->stmt.sets <= 1
           && conn->try_pipeline(*sql, j->stmt.params, done);
    if (!sent) {
      if (lane->put_back(j))
        return;
      // No other job of the lane runs there (the connection is busy with
      // its own work): queue behind that, as before.
      start();
    }
  } else {
    start();
    // Pipelined when the driver wrote it without waiting (nothing else is
    // queued there).
    sent = prepared && conn->pipelining();
  }
  j->pipelined = sent;
  if (watch)
    arm_kill(watch, conn, ctx, j->execution_timeout);
  // While the driver pipelines, the jobs waiting behind go too
  // (pipeline_depth bounds how many wait here); not next to a statement
  // that may get KILL QUERY.
  bool pipelining = conn->pipelining() && !watch;
  if (lane)
    if (auto more = lane->more(pipelining))
      run_job(conn, std::move(more), std::move(ctx), std::move(lane));
}

} // namespace troupe::detail
