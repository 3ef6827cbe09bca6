// troupe_test_peer: another node for the node-loss tests, run as a child
// process so that a test can SIGKILL or SIGSTOP it.
//
//   troupe_test_peer serve HEARTBEAT_MS TIMEOUT_MS
//     spawns an engine on $TROUPE_PEER_DSN, publishes it on 127.0.0.1 (a
//     free port) and prints "port N".
//   troupe_test_peer lock PORT HEARTBEAT_MS TIMEOUT_MS TABLE
//     opens a session on the engine published at PORT, begins, locks the
//     row id = 1 of TABLE (SELECT ... FOR UPDATE) and prints "locked".
// Then it waits until it is killed. Errors go to stdout as "error: ...",
// exit code 1. The DSN comes from the environment, not the command line.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <spdlog/spdlog.h>

#include "troupe/engine.hpp"
#include "troupe/remote.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::printf("error: %s\n", what.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

[[noreturn]] void wait_to_be_killed() {
  for (;;)
    ::pause();
}

std::chrono::milliseconds ms(const char* x) {
  return std::chrono::milliseconds{std::atoll(x)};
}

void serve(caf::actor_system& sys) {
  auto* dsn = std::getenv("TROUPE_PEER_DSN");
  if (dsn == nullptr)
    fail("TROUPE_PEER_DSN is not set");
  auto cfg = engine_config::from_dsn(std::string{dsn});
  if (!cfg)
    fail(render(cfg.error()));
  cfg->pool.min_size = 1;
  cfg->pool.max_size = 4;
  cfg->name = "peer";
  auto engine = spawn_engine(sys, std::move(*cfg));
  if (!engine)
    fail(render(engine.error()));
  auto port = sys.middleman().publish(*engine, 0, "127.0.0.1", true);
  if (!port)
    fail(caf::to_string(port.error()));
  std::printf("port %u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  wait_to_be_killed();
}

void lock(caf::actor_system& sys, uint16_t port, const std::string& table) {
  auto remote = sys.middleman().remote_actor<engine_actor>("127.0.0.1", port);
  if (!remote)
    fail(caf::to_string(remote.error()));
  auto engine = guard_remote(sys, *remote);
  if (!engine)
    fail(render(engine.error()));
  // The session's owner: lives until the process is killed.
  caf::scoped_actor self{sys};
  auto fail_on = [](const caf::error& err) { fail(render(err)); };
  session_actor session;
  self->request(*engine, 30s, session_atom::value, session_options{})
    .receive([&](session_actor& s) { session = std::move(s); }, fail_on);
  self->request(session, 30s, begin_atom::value, transaction_options{})
    .receive([](result&) {}, fail_on);
  statement lock_row{"SELECT id FROM " + table + " WHERE id = 1 FOR UPDATE"};
  self->request(session, 30s, query_atom::value, std::move(lock_row))
    .receive([](result&) {}, fail_on);
  std::printf("locked\n");
  std::fflush(stdout);
  wait_to_be_killed();
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  bool serving = mode == "serve" && argc == 4;
  bool locking = mode == "lock" && argc == 6;
  if (!serving && !locking)
    fail("usage: troupe_test_peer serve HEARTBEAT_MS TIMEOUT_MS | lock PORT "
         "HEARTBEAT_MS TIMEOUT_MS TABLE");
  // Its output is a pipe the test reads only while waiting for a line.
  spdlog::set_level(spdlog::level::warn);
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  cfg.load<caf::io::middleman>();
  int first = serving ? 2 : 3;
  if (auto err = use_heartbeat(cfg, ms(argv[first]), ms(argv[first + 1])))
    fail(render(err));
  caf::actor_system sys{cfg};
  if (serving)
    serve(sys);
  else
    lock(sys, static_cast<uint16_t>(std::atoi(argv[2])), argv[5]);
}
