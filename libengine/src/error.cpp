#include "troupe/error.hpp"

#include <caf/message.hpp>

#include <fmt/format.h>

namespace troupe {

std::string to_string(errc x) {
  switch (x) {
    case errc::ok:
      return "ok";
    case errc::connect_failed:
      return "connect_failed";
    case errc::auth_failed:
      return "auth_failed";
    case errc::connection_lost:
      return "connection_lost";
    case errc::server_error:
      return "server_error";
    case errc::query_timeout:
      return "query_timeout";
    case errc::checkout_timeout:
      return "checkout_timeout";
    case errc::overloaded:
      return "overloaded";
    case errc::database_unreachable:
      return "database_unreachable";
    case errc::transaction_aborted:
      return "transaction_aborted";
    case errc::commit_outcome_unknown:
      return "commit_outcome_unknown";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::unsupported:
      return "unsupported";
    case errc::not_found:
      return "not_found";
    case errc::type_mismatch:
      return "type_mismatch";
    case errc::result_too_large:
      return "result_too_large";
    case errc::shutting_down:
      return "shutting_down";
    case errc::internal:
      return "internal";
    case errc::outcome_unknown:
      return "outcome_unknown";
    case errc::not_owner:
      return "not_owner";
    case errc::statement_too_large:
      return "statement_too_large";
    case errc::statement_timeout:
      return "statement_timeout";
    case errc::node_down:
      return "node_down";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(errc code, std::string message, bool fatal) {
  return make_error(code, std::move(message), 0, std::string{}, fatal);
}

caf::error make_error(errc code, std::string message, uint16_t server_code,
                      std::string sqlstate, bool fatal) {
  return caf::error{static_cast<uint8_t>(code), caf::atom(error_category_name),
                    caf::make_message(std::move(message), server_code,
                                      std::move(sqlstate), fatal)};
}

error_info info(const caf::error& err) {
  error_info result;
  if (!err)
    return result;
  if (err.category() != caf::atom(error_category_name)) {
    result.code = errc::internal;
    result.is_troupe = false;
    result.message = caf::to_string(err);
    return result;
  }
  result.code = static_cast<errc>(err.code());
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string, uint16_t, std::string, bool>()) {
    result.message = ctx.get_as<std::string>(0);
    result.server_code = ctx.get_as<uint16_t>(1);
    result.sqlstate = ctx.get_as<std::string>(2);
    result.fatal = ctx.get_as<bool>(3);
  } else if (ctx.match_elements<std::string>()) {
    result.message = ctx.get_as<std::string>(0);
  } else if (!ctx.empty()) {
    result.message = caf::to_string(ctx);
  }
  return result;
}

bool is_fatal(const caf::error& err) {
  return info(err).fatal;
}

std::string render(const caf::error& err) {
  if (!err)
    return "ok";
  auto x = info(err);
  if (!x.is_troupe)
    return x.message;
  std::string out = to_string(x.code);
  if (x.server_code != 0 || !x.sqlstate.empty())
    out += fmt::format(" [{}/{}]", x.server_code,
                       x.sqlstate.empty() ? "?????" : x.sqlstate);
  if (x.fatal)
    out += " (fatal)";
  if (!x.message.empty()) {
    out += ": ";
    out += x.message;
  }
  return out;
}

} // namespace troupe
