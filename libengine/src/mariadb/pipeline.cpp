// Pipelined executions of cached prepared statements: queuing and writing
// COM_STMT_EXECUTE ourselves, reading and decoding the answers as they come.
// The pure encoding and decoding is in wire.cpp; the statements' preparation
// and cache in prepared_protocol.cpp.

#include "troupe/mariadb/connection.hpp"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>

#include <fmt/format.h>
#include <mysql.h>

#include "mariadb/codec.hpp"
#include "mariadb/connection_internal.hpp"
#include "mariadb/wire.hpp"
#include "troupe/event_loop.hpp"

namespace troupe::mariadb {

bool connection::pipeline_send(const std::string& sql,
                               const std::vector<value>& params) {
  if (!options_.pipelining || !connected() || op_ != op_kind::none
      || !wire_capable_ || !info_.tls_cipher.empty()
      || mysql_->status != MYSQL_STATUS_READY
      || (mysql_->server_status & SERVER_MORE_RESULTS_EXIST))
    return false;
  set_cache_key(sql);
  auto i = cache_.find(key_);
  if (i == cache_.end())
    return false;
  auto& st = **i->second;
  if (!st.pipelinable || st.stale || st.wire_cols.empty()
      || st.param_count != params.size() || check_request_size(sql, &params)
      || detail::check_temporal_params(params))
    return false; // the unpipelined path answers (or refuses) it
  if (!detail::encode_execute(static_cast<uint32_t>(st.handle->stmt_id),
                              params, wire_out_))
    return false;
  lru_.splice(lru_.begin(), lru_, i->second);
  ++stats_.statement_cache_hits;
  ++stats_.executions_pipelined;
  auto c = std::make_unique<wire_call>();
  c->st = &st;
  wire_.push_back(std::move(c));
  return true;
}

int connection::pipeline_write() {
  while (wire_out_pos_ < wire_out_.size() && !broken_) {
    auto n = ::send(socket(), wire_out_.data() + wire_out_pos_,
                    wire_out_.size() - wire_out_pos_,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      wire_out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return io_write;
    wire_lost(fmt::format("sending failed: {}",
                          n < 0 ? std::strerror(errno) : "nothing written"));
    return 0;
  }
  wire_out_.clear();
  wire_out_pos_ = 0;
  return 0;
}

void connection::pipeline_read() {
  // Up to 256 KiB per call: a long result gives the loop back in between.
  char buf[64 * 1024];
  for (int round = 0; round < 4 && !broken_; ++round) {
    auto n = ::recv(socket(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      wire_lost(n == 0 ? "the server closed it" : std::strerror(errno));
      return;
    }
    // Usually every packet arrives whole: decode straight from the buffer
    // and keep only an incomplete tail.
    std::string_view in{buf, static_cast<size_t>(n)};
    bool stashed = wire_in_pos_ < wire_in_.size();
    if (stashed) {
      wire_in_.append(buf, static_cast<size_t>(n));
      in = std::string_view{wire_in_}.substr(wire_in_pos_);
    }
    size_t used_total = 0;
    while (!broken_) {
      std::string_view payload;
      bool continues = false;
      auto used = detail::next_packet(in.substr(used_total), payload,
                                      continues);
      if (used == 0)
        break;
      used_total += used;
      if (wire_done_ == wire_.size()) {
        wire_lost("the server sent data nobody asked for");
        return;
      }
      if (continues || !wire_joined_.empty()) {
        wire_joined_.append(payload);
        if (wire_joined_.size() > effective_max_packet()) {
          wire_lost("a packet exceeds max_result_bytes + 16 MiB (or "
                    "max_allowed_packet)");
          return;
        }
        if (continues)
          continue;
        payload = wire_joined_;
      }
      bool ok = wire_packet(payload);
      wire_joined_.clear();
      if (!ok) {
        wire_lost("malformed answer to a pipelined execution");
        return;
      }
    }
    if (stashed) {
      wire_in_pos_ += used_total;
      if (wire_in_pos_ == wire_in_.size()) {
        wire_in_.clear();
        wire_in_pos_ = 0;
      } else if (wire_in_pos_ >= sizeof(buf)) {
        // Keep only the incomplete packet, not everything read before it.
        wire_in_.erase(0, wire_in_pos_);
        wire_in_pos_ = 0;
      }
    } else if (used_total < in.size()) {
      wire_in_.assign(in.substr(used_total));
      wire_in_pos_ = 0;
    }
    if (static_cast<size_t>(n) < sizeof(buf))
      return;
  }
}

// One packet of the answer to the oldest unfinished call. False when it
// makes no sense at this point (the connection is then out of sync).
bool connection::wire_packet(std::string_view payload) {
  using state = wire_call::state;
  auto& c = *wire_[wire_done_];
  auto head = payload.empty() ? 0 : static_cast<uint8_t>(payload.front());
  auto note_status = [this, &c](uint16_t status, uint16_t warnings) {
    c.status = status;
    c.has_status = true;
    mysql_->server_status = status;
    mysql_->warning_count = warnings;
    if (status & SERVER_SESSION_STATE_CHANGED)
      state_changed_ = true;
  };
  auto& sets = c.res.sets();
  if (head == 0xFF && (c.at == state::first || c.at == state::rows)) {
    // The statement failed (before or while sending rows): it alone.
    detail::err_packet e;
    if (!detail::parse_err(payload, e))
      return false;
    wire_finish(c, classify(e.code, e.sqlstate.c_str(), e.message.c_str(),
                            false));
    return true;
  }
  switch (c.at) {
    case state::first: {
      if (head == 0x00) {
        detail::ok_packet ok;
        if (!detail::parse_ok(payload, ok,
                              (mysql_->server_capabilities
                               & CLIENT_SESSION_TRACKING)
                                != 0))
          return false;
        result_set rs;
        rs.affected_rows = ok.affected_rows;
        rs.last_insert_id = ok.last_insert_id;
        rs.warnings = ok.warnings;
        rs.info = std::move(ok.info);
        if (wire_charge(c, detail::retained_bytes(rs)))
          sets.push_back(std::move(rs));
        note_status(ok.status, ok.warnings);
        if (!(ok.status & SERVER_MORE_RESULTS_EXIST))
          wire_finish(c, {});
        return true;
      }
      if (head == 0xFB) // LOCAL INFILE request: never for a SELECT
        return false;
      uint64_t n = 0;
      uint64_t follows = 1;
      constexpr uint64_t max_columns = 4096; // MariaDB's limit per table
      if (!detail::read_lenenc(payload, n) || n == 0 || n > max_columns)
        return false;
      if (cache_metadata_) {
        if (payload.empty())
          return false;
        follows = static_cast<uint8_t>(payload.front());
      }
      // Over the budget a new set takes the place of the last one (its rows
      // are read and dropped), as in the libmariadb path.
      if (c.too_large && !sets.empty())
        sets.back() = result_set{};
      else
        sets.emplace_back();
      auto& cols = sets.back().columns();
      cols.reserve(n);
      if (follows) {
        c.fresh.clear();
        c.fresh.reserve(n);
        c.columns_left = n;
        c.at = state::columns;
        return true;
      }
      // Unchanged since the server last sent them: to the pipeline (an
      // earlier answer) or to libmariadb.
      auto& st = *c.st;
      if (n != st.wire_cols.size())
        return false;
      if (!st.wire_columns.empty()) {
        cols = st.wire_columns;
      } else {
        auto* h = st.handle;
        if (h->fields == nullptr || mysql_stmt_field_count(h) != n)
          return false;
        for (unsigned i = 0; i < n; ++i)
          cols.push_back(detail::to_column(h->fields[i]));
      }
      wire_charge(c, detail::retained_bytes(sets.back()));
      c.at = state::columns_eof;
      return true;
    }
    case state::columns: {
      column col;
      detail::wire_column wc;
      if (!detail::parse_column(payload, extended_metadata_, col, wc))
        return false;
      sets.back().columns().push_back(std::move(col));
      c.fresh.push_back(wc);
      if (--c.columns_left == 0) {
        c.at = state::columns_eof;
        // From now on the statement's answers look like this, also those of
        // executions already on the wire (the server will not send these
        // again). libmariadb never saw them: the statement is prepared
        // afresh before libmariadb runs it next.
        c.st->wire_cols = std::move(c.fresh);
        c.fresh.clear();
        c.st->wire_columns = sets.back().columns();
        if (cache_metadata_)
          c.st->stale = true;
        wire_charge(c, detail::retained_bytes(sets.back()));
      }
      return true;
    }
    case state::columns_eof:
      if (!detail::is_eof(payload))
        return false;
      c.at = state::rows;
      return true;
    case state::rows: {
      auto& rs = sets.back();
      if (detail::is_eof(payload)) {
        uint16_t warnings = 0, status = 0;
        if (!detail::parse_eof(payload, warnings, status))
          return false;
        rs.warnings = warnings;
        note_status(status, warnings);
        if (status & SERVER_MORE_RESULTS_EXIST)
          c.at = state::first;
        else
          wire_finish(c, {});
        return true;
      }
      if (c.too_large)
        return true; // read and discarded
      if (!detail::decode_row(payload, c.st->wire_cols, rs.cells(), c.bytes))
        return false;
      wire_charge(c, 0);
      return true;
    }
  }
  return false;
}

// Counts `n` more bytes against the pipelined answer's budget; past it the
// rows kept so far are dropped (the rest is read and dropped too). False once
// over the budget.
bool connection::wire_charge(wire_call& c, size_t n) {
  c.bytes += n;
  if (!c.too_large && c.bytes > options_.max_result_bytes) {
    c.too_large = true;
    for (auto& s : c.res.sets())
      s.cells().clear();
  }
  return !c.too_large;
}

void connection::wire_finish(wire_call& c, caf::error err) {
  if (!err && c.too_large)
    err = too_large_error();
  // A fatal error (the connection was killed, the server shuts down): the
  // answers behind it will never come.
  if (broken_ && !wire_error_)
    wire_error_ = make_error(errc::connection_lost,
                             fmt::format("connection to {} lost: {}",
                                         options_.address(),
                                         troupe::info(err).message),
                             true);
  c.err = std::move(err);
  ++wire_done_;
}

caf::expected<result> connection::pipeline_take() {
  auto c = std::move(wire_.front());
  wire_.pop_front();
  --wire_done_;
  // Until the next answer is taken, the transaction flag is this answer's.
  // When all are taken it is the last one's, as the server left it.
  if (c->has_status)
    mysql_->server_status = c->status;
  if (c->err)
    return std::move(c->err);
  return std::move(c->res);
}

void connection::wire_lost(std::string_view why) {
  pipeline_fail(make_error(errc::connection_lost,
                           fmt::format("connection to {} lost: {}",
                                       options_.address(), why),
                           true));
}

void connection::pipeline_fail(caf::error err) {
  broken_ = true;
  if (!wire_error_)
    wire_error_ = std::move(err);
}

} // namespace troupe::mariadb
