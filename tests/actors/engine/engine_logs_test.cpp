// The engine's logs name what it connects with (engine_config::connection,
// the one copy of the DSN), never the password.

#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "actor_fixture.hpp"

using namespace troupe;
using namespace troupe::test;
using Catch::Matchers::Contains;

namespace {

// Sends spdlog's default logger's lines to a ring buffer for the scope.
class log_capture {
public:
  log_capture()
    : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024)),
      previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("capture", sink_));
  }

  ~log_capture() { spdlog::set_default_logger(previous_); }

  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  std::vector<std::string> lines() { return sink_->last_formatted(); }

private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

} // namespace

TEST_CASE_METHOD(actor_fixture,
                 "the engine logs the server and database it connects to, "
                 "never the password",
                 "[engine][logs]") {
  scratch_database db{"logs"};
  auto cfg = config_for(server_dsn());
  // Changed after from_dsn: what the engine uses is what it logs.
  cfg.connection.database = db.name();
  auto password = cfg.connection.password;
  REQUIRE(password.size() >= 8);
  log_capture capture;
  auto engine = spawn(cfg);
  auto current = query(engine, "SELECT DATABASE()");
  REQUIRE(current);
  CHECK(current->scalar<std::string>() == db.name());
  REQUIRE(dispose(engine));
  auto lines = capture.lines();
  REQUIRE_FALSE(lines.empty());
  std::string all;
  for (const auto& line : lines)
    all += line;
  INFO("logs:\n" << all);
  CHECK_THAT(all, Contains("pool for " + cfg.connection.describe()));
  CHECK_THAT(all, Contains("/" + db.name()));
  CHECK_THAT(all, !Contains(password));
  CHECK_THAT(all, !Contains(percent_encode(password)));
}
