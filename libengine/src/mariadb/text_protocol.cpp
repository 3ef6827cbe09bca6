// The text protocol: `start_query` and its steps (real_query, then per result
// set use_result, fetch_row, free_result, next_result). Not the session setup
// that runs on it (connect.cpp) nor the result budget (connection.cpp).

#include "troupe/mariadb/connection.hpp"

#include <fmt/format.h>
#include <mysql.h>

#include "mariadb/codec.hpp"
#include "mariadb/connection_internal.hpp"

namespace troupe::mariadb {

using detail::decode_kind;

int connection::start_query(std::string sql) {
  if (op_ != op_kind::none || !connected()) {
    error_ = make_error(errc::internal, connected() ? "connection busy"
                                                    : "not connected");
    return 0;
  }
  if (auto err = check_request_size(sql, nullptr)) {
    error_ = std::move(err);
    return 0;
  }
  error_ = caf::error{};
  result_ = result{};
  result_bytes_ = 0;
  too_large_ = false;
  op_ = op_kind::query;
  return run(begin_text(std::move(sql)));
}

int connection::begin_text(std::string sql) {
  sql_ = std::move(sql);
  step_ = step::query;
  call_ = detail::call_real_query;
  return mysql_real_query_start(&ret_int_, mysql_, sql_.data(), sql_.size());
}

void connection::finish_ok_set() {
  result_set rs;
  auto affected = mysql_affected_rows(mysql_);
  rs.affected_rows = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
  rs.last_insert_id = mysql_insert_id(mysql_);
  rs.warnings = mysql_warning_count(mysql_);
  if (auto info = mysql_info(mysql_))
    rs.info = info;
  keep_set(std::move(rs));
}

// Runs after the text query (or a next_result) succeeded: starts reading the
// rows of the current result set, or records an OK packet.
int connection::text_after_query() {
  if (mysql_field_count(mysql_) == 0) {
    finish_ok_set();
    return text_after_next();
  }
  res_ = mysql_use_result(mysql_);
  if (res_ == nullptr) {
    finish(connection_error(false));
    return 0;
  }
  result_set rs;
  auto n = mysql_num_fields(res_);
  auto* fields = mysql_fetch_fields(res_);
  text_kinds_.clear();
  for (unsigned i = 0; i < n; ++i) {
    rs.columns().push_back(detail::to_column(fields[i]));
    text_kinds_.push_back(static_cast<uint8_t>(detail::decode_kind_of(fields[i])));
  }
  start_row_set(std::move(rs));
  step_ = step::fetch_row;
  call_ = detail::call_fetch_row;
  return mysql_fetch_row_start(&ret_row_, res_);
}

// Runs after a row was fetched (or the end / an error was reached).
int connection::text_after_fetch() {
  if (ret_row_ != nullptr) {
    auto& rs = result_.sets().back();
    auto n = text_kinds_.size();
    auto* lengths = mysql_fetch_lengths(res_);
    size_t row_bytes = 0;
    for (size_t i = 0; i < n; ++i)
      row_bytes += lengths[i] + sizeof(value);
    if (add_bytes(row_bytes)) {
      for (size_t i = 0; i < n; ++i) {
        value v;
        if (ret_row_[i] != nullptr
            && !detail::decode_text(static_cast<decode_kind>(text_kinds_[i]),
                                    std::string_view{ret_row_[i], lengths[i]},
                                    v)) {
          // Keep reading so the connection stays in sync; report at the end.
          if (!error_)
            error_ = make_error(errc::internal,
                                fmt::format("cannot decode the value of column "
                                            "'{}' ({})",
                                            rs.columns()[i].name,
                                            to_string(rs.columns()[i].type)));
        }
        rs.cells().push_back(std::move(v));
      }
    } else {
      rs.cells().clear();
    }
    return next_fetch();
  }
  if (mysql_errno(mysql_) != 0) {
    auto err = connection_error(false);
    res_->handle = nullptr;
    mysql_free_result(res_);
    res_ = nullptr;
    finish(std::move(err));
    return 0;
  }
  result_.sets().back().warnings = mysql_warning_count(mysql_);
  step_ = step::free_result;
  call_ = detail::call_free_result;
  return mysql_free_result_start(res_);
}

// Runs when a result set is complete: moves to the next one or finishes.
int connection::text_after_next() {
  if (mysql_more_results(mysql_)) {
    step_ = step::next_result;
    call_ = detail::call_next_result;
    return mysql_next_result_start(&ret_int_, mysql_);
  }
  // The statement is complete.
  if (in_setup_) {
    // A session setup statement: its result is not the caller's.
    const auto& item = setup_[setup_index_];
    if (auto v = result_.scalar<uint64_t>()) {
      if (item.reads == probe::wait_timeout)
        info_.wait_timeout = static_cast<uint32_t>(*v);
      else if (item.reads == probe::max_allowed_packet)
        info_.max_allowed_packet = *v;
    }
    if (item.tracker)
      tracking_ = true;
    result_ = result{};
    return next_setup();
  }
  return finish_statement();
}

} // namespace troupe::mariadb
