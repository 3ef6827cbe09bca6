#include "engine/no_answer.hpp"

#include <caf/sec.hpp>

#include <fmt/format.h>

#include "troupe/error.hpp"

namespace troupe::detail {

caf::error when_no_answer(caf::error err, if_no_answer meaning,
                          std::string_view what,
                          std::chrono::milliseconds waited) {
  if (err != caf::sec::request_timeout)
    return err;
  auto wait = fmt::format("no answer to {} within {} ms", what,
                          waited.count());
  switch (meaning) {
    case if_no_answer::may_be_applied:
      return make_error(errc::outcome_unknown,
                        wait + ": it may still run or have run, so it may "
                               "have been applied and is not known to have "
                               "failed; check before running it again");
    case if_no_answer::may_be_committed:
      return make_error(errc::commit_outcome_unknown,
                        wait + ": the transaction may or may not have been "
                               "committed; check before running it again");
    case if_no_answer::rolled_back:
      return make_error(errc::transaction_aborted,
                        wait + ": the transaction is rolled back, nothing "
                               "was committed");
    case if_no_answer::changes_nothing:
      break;
  }
  return make_error(errc::query_timeout, wait + " (it changes no data)");
}

} // namespace troupe::detail
