// Prepared statements through libmariadb: the per-connection statement cache
// (LRU, eviction), binding parameters and result columns, fetching rows. Not
// the pipelined executions of cached statements (pipeline.cpp).

#include "troupe/mariadb/connection.hpp"

#include <cctype>
#include <limits>

#include <fmt/format.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "mariadb/codec.hpp"
#include "mariadb/connection_internal.hpp"
#include "mariadb/wire.hpp"
#include "troupe/sql.hpp"

namespace troupe::mariadb {

using detail::decode_kind;

namespace {

// Variable-length cells up to this size are read through the bound buffer;
// longer ones are fetched straight into their destination.
constexpr unsigned long inline_buffer_size = 512;

} // namespace

int connection::start_execute(std::string sql, std::vector<value> params,
                              size_t sets) {
  if (op_ != op_kind::none || !connected()) {
    error_ = make_error(errc::internal, connected() ? "connection busy"
                                                    : "not connected");
    return 0;
  }
  if (sets > 1 && (params.empty() || params.size() % sets != 0)) {
    error_ = make_error(errc::invalid_argument,
                        fmt::format("{} value(s) do not make {} parameter "
                                    "sets of equal size",
                                    params.size(), sets));
    return 0;
  }
  if (auto err = check_request_size(sql, &params)) {
    error_ = std::move(err);
    return 0;
  }
  if (auto err = detail::check_temporal_params(params)) {
    error_ = std::move(err);
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  result_bytes_ = 0;
  too_large_ = false;
  retried_prepare_ = false;
  op_ = op_kind::execute;
  sql_ = std::move(sql);
  params_ = std::move(params);
  sets_ = sets > 1 ? sets : 1;
  set_index_ = 0;
  bulk_ = false;
  sets_done_ = result_set{};
  return run(begin_prepared());
}

int connection::evict_one() {
  closing_ = std::move(lru_.back());
  lru_.pop_back();
  cache_.erase(closing_->key);
  ++stats_.statements_evicted;
  step_ = step::close_evicted;
  call_ = detail::call_stmt_close;
  return mysql_stmt_close_start(&ret_bool_, closing_->handle);
}

// The cache key of `sql` into key_ (reusing its buffer): the default
// database, '\x01', the SQL (see `statement::key`).
void connection::set_cache_key(const std::string& sql) {
  key_.clear();
  if (mysql_->db != nullptr)
    key_ = mysql_->db; // kept current by libmariadb's session tracking
  key_ += '\x01';
  key_ += sql;
}

// Finds the statement in the cache or prepares it (evicting first when the
// cache is full).
int connection::begin_prepared() {
  set_cache_key(sql_);
  if (auto i = cache_.find(key_); i != cache_.end()) {
    if ((*i->second)->stale) {
      // libmariadb holds outdated metadata for it: prepare it afresh.
      lru_.splice(lru_.end(), lru_, i->second);
      return evict_one();
    }
    lru_.splice(lru_.begin(), lru_, i->second);
    stmt_ = lru_.front().get();
    ++stats_.statement_cache_hits;
    return prepared_execute();
  }
  if (!lru_.empty() && lru_.size() >= options_.statement_cache_size)
    return evict_one();
  auto st = std::make_unique<statement>();
  st->key = key_;
  st->handle = mysql_stmt_init(mysql_);
  if (st->handle == nullptr) {
    finish(make_error(errc::internal, "mysql_stmt_init failed"));
    return 0;
  }
  lru_.push_front(std::move(st));
  stmt_ = lru_.front().get();
  step_ = step::prepare;
  call_ = detail::call_stmt_prepare;
  return mysql_stmt_prepare_start(&ret_int_, stmt_->handle, sql_.data(),
                                  sql_.size());
}

int connection::prepared_after_prepare() {
  if (ret_int_ != 0) {
    auto code = mysql_stmt_errno(stmt_->handle);
    auto err = statement_error(stmt_->handle);
    // The failed statement was never prepared: closing it sends nothing.
    lru_.pop_front();
    stmt_ = nullptr;
    if (code == ER_MAX_PREPARED_STMT_COUNT_REACHED && !lru_.empty()
        && !retried_prepare_) {
      // The server-wide statement limit is reached: give back all of ours and
      // try once more.
      retried_prepare_ = true;
      evict_all_ = true;
      return evict_one();
    }
    finish(std::move(err));
    return 0;
  }
  stmt_->param_count = mysql_stmt_param_count(stmt_->handle);
  {
    auto traits = sql::classify(sql_);
    auto upper = sql_;
    for (auto& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    stmt_->pipelinable = traits.keyword == "SELECT" && !traits.opaque
                         && sql_.find('@') == std::string::npos
                         && upper.find("GET_LOCK") == std::string::npos;
  }
  cache_.emplace(stmt_->key, lru_.begin());
  ++stats_.statements_prepared;
  return prepared_execute();
}

namespace {

char empty_buffer[1] = {0};

// Points `b` at `p` (scalars copied into `s`, strings and bytes referenced).
void bind_value(const value& p, MYSQL_BIND& b,
                detail::param_slot& s) {
  switch (p.kind()) {
    case value_kind::null:
      b.buffer_type = MYSQL_TYPE_NULL;
      break;
    case value_kind::int64:
      s.i = *p.get_if<int64_t>();
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = &s.i;
      break;
    case value_kind::uint64:
      s.u = *p.get_if<uint64_t>();
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = &s.u;
      b.is_unsigned = 1;
      break;
    case value_kind::float64:
      s.d = *p.get_if<double>();
      b.buffer_type = MYSQL_TYPE_DOUBLE;
      b.buffer = &s.d;
      break;
    case value_kind::decimal:
    case value_kind::string:
    case value_kind::bytes: {
      const char* data;
      size_t size;
      if (auto x = p.get_if<std::string>()) {
        data = x->data();
        size = x->size();
        b.buffer_type = MYSQL_TYPE_STRING;
      } else if (auto x = p.get_if<decimal>()) {
        data = x->text.data();
        size = x->text.size();
        b.buffer_type = MYSQL_TYPE_NEWDECIMAL;
      } else {
        auto& bs = *p.get_if<bytes>();
        data = reinterpret_cast<const char*>(bs.data());
        size = bs.size();
        b.buffer_type = MYSQL_TYPE_BLOB;
      }
      // A null buffer pointer would be sent as NULL.
      b.buffer = size == 0 ? empty_buffer : const_cast<char*>(data);
      s.length = static_cast<unsigned long>(size);
      b.buffer_length = s.length;
      b.length = &s.length;
      break;
    }
    case value_kind::date:
    case value_kind::time:
    case value_kind::datetime:
      detail::to_mysql_time(p, s.t);
      b.buffer_type = p.kind() == value_kind::date   ? MYSQL_TYPE_DATE
                      : p.kind() == value_kind::time ? MYSQL_TYPE_TIME
                                                     : MYSQL_TYPE_DATETIME;
      b.buffer = &s.t;
      break;
  }
}

// The wire type of a value: (enum_field_types, unsigned).
std::pair<int, bool> wire_type_of(const value& p) {
  MYSQL_BIND b{};
  detail::param_slot s{};
  bind_value(p, b, s);
  return {b.buffer_type, b.is_unsigned != 0};
}

// What libmariadb's bulk execution asks for each set: the binds of `set`
// (the handle's own copies, whose types stay those bound first).
my_bool bulk_set(void* data, MYSQL_BIND* binds, unsigned int set) {
  auto& src = *static_cast<detail::bulk_rows*>(data);
  const value* row = src.params->data() + size_t{set} * src.width;
  for (size_t i = 0; i < src.width; ++i) {
    auto& s = src.slots[i];
    if (row[i].is_null()) {
      s.indicator = STMT_INDICATOR_NULL;
      continue;
    }
    s.indicator = STMT_INDICATOR_NONE;
    // The column's type was bound once; only the buffer moves. An integer
    // of the other signedness was checked to fit the bound one.
    MYSQL_BIND b = binds[i];
    auto type = b.buffer_type;
    auto is_unsigned = b.is_unsigned;
    bind_value(row[i], b, s);
    b.buffer_type = type;
    b.is_unsigned = is_unsigned;
    binds[i] = b;
  }
  return 0;
}

} // namespace

// Whether every parameter's values share one wire type (NULLs aside; signed
// and unsigned integers share one when all fit it); the types into
// bulk_types_.
bool connection::choose_bulk_types() {
  auto width = params_.size() / sets_;
  bulk_types_.assign(width, {MYSQL_TYPE_NULL, false});
  for (size_t i = 0; i < width; ++i) {
    bool any = false;
    bool has_negative = false;
    bool has_large = false; // an unsigned value above INT64_MAX
    auto& chosen = bulk_types_[i];
    for (size_t set = 0; set < sets_; ++set) {
      const auto& p = params_[set * width + i];
      if (p.is_null())
        continue;
      if (auto x = p.get_if<int64_t>(); x && *x < 0)
        has_negative = true;
      if (auto x = p.get_if<uint64_t>();
          x && *x > uint64_t{std::numeric_limits<int64_t>::max()})
        has_large = true;
      auto t = wire_type_of(p);
      if (!any) {
        chosen = t;
        any = true;
      } else if (t.first != chosen.first) {
        return false;
      } else if (t.second != chosen.second) {
        // int64 and uint64 in one column: one of the two must hold all.
        if (has_negative && has_large)
          return false;
        chosen.second = has_large;
      }
    }
  }
  return true;
}

// `err` of the failed set when the sets go one after another: which one,
// and that the ones before it were applied.
caf::error connection::set_error(caf::error err) const {
  if (sets_ <= 1 || bulk_)
    return err;
  auto x = troupe::info(err);
  return make_error(x.code,
                    fmt::format("parameter set {} of {}: {} ({} set(s) before "
                                "it were applied)",
                                set_index_ + 1, sets_, x.message, set_index_),
                    x.server_code, x.sqlstate, x.fatal);
}

int connection::prepared_execute() {
  auto& st = *stmt_;
  auto width = params_.size() / sets_;
  if (width != st.param_count) {
    finish(make_error(errc::invalid_argument,
                      sets_ > 1
                        ? fmt::format("the statement has {} parameter(s) but "
                                      "each of the {} sets has {} value(s)",
                                      st.param_count, sets_, width)
                        : fmt::format("the statement has {} parameter(s) but "
                                      "{} value(s) were given",
                                      st.param_count, params_.size())));
    return 0;
  }
  if (sets_ > 1 && set_index_ == 0) {
    if (mysql_stmt_field_count(st.handle) > 0) {
      finish(make_error(errc::invalid_argument,
                        "a statement that returns rows cannot run with "
                        "several parameter sets: it was not executed"));
      return 0;
    }
    bulk_ = info_.bulk_operations && choose_bulk_types();
    if (bulk_)
      return bulk_execute();
  }
  if (st.bulk_armed) {
    unsigned int none = 0;
    mysql_stmt_attr_set(st.handle, STMT_ATTR_ARRAY_SIZE, &none);
    mysql_stmt_attr_set(st.handle, STMT_ATTR_CB_PARAM, nullptr);
    mysql_stmt_attr_set(st.handle, STMT_ATTR_CB_USER_DATA, nullptr);
    st.bulk_armed = false;
  }
  st.param_binds.assign(width, MYSQL_BIND{});
  st.param_slots.resize(width);
  const value* row = params_.data() + set_index_ * width;
  for (size_t i = 0; i < width; ++i)
    bind_value(row[i], st.param_binds[i], st.param_slots[i]);
  if (!st.param_binds.empty()
      && mysql_stmt_bind_param(st.handle, st.param_binds.data()) != 0) {
    finish(set_error(statement_error(st.handle)));
    return 0;
  }
  step_ = step::execute;
  call_ = detail::call_stmt_execute;
  return mysql_stmt_execute_start(&ret_int_, st.handle);
}

// Every set in one COM_STMT_BULK_EXECUTE: libmariadb asks bulk_set for each
// set's values while it builds the request.
int connection::bulk_execute() {
  auto& st = *stmt_;
  auto width = bulk_types_.size();
  st.param_binds.assign(width, MYSQL_BIND{});
  st.param_slots.resize(width);
  for (size_t i = 0; i < width; ++i) {
    auto& b = st.param_binds[i];
    auto& s = st.param_slots[i];
    b.buffer_type = static_cast<enum_field_types>(bulk_types_[i].first);
    b.is_unsigned = bulk_types_[i].second ? 1 : 0;
    b.buffer = empty_buffer;
    b.length = &s.length;
    b.u.indicator = &s.indicator;
  }
  st.bulk = detail::bulk_rows{&params_, st.param_slots.data(), width};
  auto* src = &st.bulk;
  auto array_size = static_cast<unsigned int>(sets_);
  if (mysql_stmt_attr_set(st.handle, STMT_ATTR_ARRAY_SIZE, &array_size) != 0
      || mysql_stmt_attr_set(st.handle, STMT_ATTR_CB_USER_DATA, src) != 0
      || mysql_stmt_attr_set(st.handle, STMT_ATTR_CB_PARAM,
                             reinterpret_cast<void*>(&bulk_set))
           != 0
      || mysql_stmt_bind_param(st.handle, st.param_binds.data()) != 0) {
    st.bulk_armed = true;
    finish(statement_error(st.handle));
    return 0;
  }
  st.bulk_armed = true;
  step_ = step::execute;
  call_ = detail::call_stmt_execute;
  return mysql_stmt_execute_start(&ret_int_, st.handle);
}

// Runs after execute (or stmt_next_result) succeeded: records an OK packet or
// binds the result columns and starts fetching rows.
int connection::prepared_after_execute() {
  auto& st = *stmt_;
  auto* h = st.handle;
  auto n = mysql_stmt_field_count(h);
  if (n == 0) {
    result_set rs;
    auto affected = mysql_stmt_affected_rows(h);
    rs.affected_rows = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
    rs.last_insert_id = mysql_stmt_insert_id(h);
    rs.warnings = mysql_warning_count(mysql_);
    if (auto info = mysql_info(mysql_))
      rs.info = info;
    if (sets_ > 1 && !bulk_) {
      // One set after another: sum them up, then the next.
      sets_done_.affected_rows += rs.affected_rows;
      if (set_index_ == 0)
        sets_done_.last_insert_id = rs.last_insert_id;
      sets_done_.warnings += rs.warnings;
      if (++set_index_ < sets_)
        return prepared_execute();
      rs = std::move(sets_done_);
      sets_done_ = result_set{};
    }
    keep_set(std::move(rs));
    return prepared_after_next();
  }
  // How a pipelined execution decodes its rows, from the latest metadata.
  st.wire_cols.resize(n);
  for (unsigned i = 0; i < n; ++i)
    st.wire_cols[i] = detail::to_wire_column(h->fields[i]);
  // The metadata may differ from the last execution (ALTER TABLE, the sets
  // of a CALL): always describe the columns from the current fields.
  result_set rs;
  rs.columns().reserve(n);
  for (unsigned i = 0; i < n; ++i)
    rs.columns().push_back(detail::to_column(h->fields[i]));
  // Rebuild the buffers only when the decoding changes.
  bool same = st.kinds.size() == n;
  for (unsigned i = 0; same && i < n; ++i)
    same = st.kinds[i] == detail::decode_kind_of(h->fields[i]);
  if (!same) {
    st.kinds.clear();
    st.binds.assign(n, MYSQL_BIND{});
    st.slots.clear();
    st.slots.resize(n);
    for (unsigned i = 0; i < n; ++i) {
      auto kind = detail::decode_kind_of(h->fields[i]);
      st.kinds.push_back(kind);
      auto& b = st.binds[i];
      auto& s = st.slots[i];
      b.is_null = &s.is_null;
      b.error = &s.error;
      b.length = &s.length;
      switch (kind) {
        case decode_kind::null:
        case decode_kind::int64:
        case decode_kind::uint64:
          b.buffer_type = MYSQL_TYPE_LONGLONG;
          b.buffer = &s.i;
          b.is_unsigned = kind == decode_kind::uint64;
          break;
        case decode_kind::float32:
          b.buffer_type = MYSQL_TYPE_FLOAT;
          b.buffer = &s.f;
          break;
        case decode_kind::float64:
          b.buffer_type = MYSQL_TYPE_DOUBLE;
          b.buffer = &s.d;
          break;
        case decode_kind::date:
          b.buffer_type = MYSQL_TYPE_DATE;
          b.buffer = &s.t;
          break;
        case decode_kind::time:
          b.buffer_type = MYSQL_TYPE_TIME;
          b.buffer = &s.t;
          break;
        case decode_kind::datetime:
          b.buffer_type = MYSQL_TYPE_DATETIME;
          b.buffer = &s.t;
          break;
        case decode_kind::decimal:
        case decode_kind::string:
        case decode_kind::bytes:
          s.buf.resize(inline_buffer_size);
          b.buffer_type = MYSQL_TYPE_BLOB;
          b.buffer = s.buf.data();
          b.buffer_length = inline_buffer_size;
          break;
      }
    }
  }
  // libmariadb resets its copy of the bindings after next_result and when a
  // statement may return several sets: bind every time (a copy, no I/O).
  if (mysql_stmt_bind_result(h, st.binds.data()) != 0) {
    finish(statement_error(h));
    return 0;
  }
  start_row_set(std::move(rs));
  step_ = step::stmt_fetch;
  call_ = detail::call_stmt_fetch;
  return mysql_stmt_fetch_start(&ret_int_, h);
}

int connection::prepared_after_fetch() {
  auto& st = *stmt_;
  auto* h = st.handle;
  if (ret_int_ == 0 || ret_int_ == MYSQL_DATA_TRUNCATED) {
    auto& rs = result_.sets().back();
    auto n = st.kinds.size();
    size_t row_bytes = 0;
    for (size_t i = 0; i < n; ++i)
      row_bytes += sizeof(value) + (st.slots[i].is_null ? 0 : st.slots[i].length);
    if (add_bytes(row_bytes)) {
      for (size_t i = 0; i < n; ++i) {
        auto& s = st.slots[i];
        if (s.is_null) {
          rs.cells().emplace_back();
          continue;
        }
        switch (st.kinds[i]) {
          case decode_kind::null:
            rs.cells().emplace_back();
            break;
          case decode_kind::int64:
            rs.cells().emplace_back(s.i);
            break;
          case decode_kind::uint64:
            rs.cells().emplace_back(static_cast<uint64_t>(s.i));
            break;
          case decode_kind::float32:
            rs.cells().emplace_back(detail::widen_float(s.f));
            break;
          case decode_kind::float64:
            rs.cells().emplace_back(s.d);
            break;
          case decode_kind::date:
          case decode_kind::time:
          case decode_kind::datetime:
            rs.cells().push_back(detail::from_mysql_time(st.kinds[i], s.t));
            break;
          case decode_kind::decimal:
          case decode_kind::string:
          case decode_kind::bytes: {
            std::string text;
            if (s.length <= inline_buffer_size) {
              text.assign(s.buf.data(), s.length);
            } else {
              // Too long for the bound buffer: fetch it straight into place
              // (no I/O, the row is already in memory).
              text.resize(s.length);
              MYSQL_BIND b{};
              unsigned long len = 0;
              b.buffer_type = MYSQL_TYPE_BLOB;
              b.buffer = text.data();
              b.buffer_length = s.length;
              b.length = &len;
              if (mysql_stmt_fetch_column(h, &b, static_cast<unsigned>(i), 0)
                  != 0) {
                if (!error_)
                  error_ = statement_error(h);
              }
            }
            if (st.kinds[i] == decode_kind::string)
              rs.cells().emplace_back(std::move(text));
            else if (st.kinds[i] == decode_kind::decimal)
              rs.cells().emplace_back(decimal{std::move(text)});
            else
              rs.cells().emplace_back(bytes(text.begin(), text.end()));
            break;
          }
        }
      }
    } else {
      rs.cells().clear();
    }
    return next_fetch();
  }
  if (ret_int_ != MYSQL_NO_DATA) {
    finish(statement_error(h));
    return 0;
  }
  result_.sets().back().warnings = mysql_warning_count(mysql_);
  return prepared_after_next();
}

int connection::prepared_after_next() {
  if (mysql_stmt_more_results(stmt_->handle)) {
    step_ = step::stmt_next;
    call_ = detail::call_stmt_next_result;
    return mysql_stmt_next_result_start(&ret_int_, stmt_->handle);
  }
  return finish_statement();
}

} // namespace troupe::mariadb
