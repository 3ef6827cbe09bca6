// troupe-demo: a tour of the engine.
//
// Without a DSN (--troupe.dsn, --dsn, the config file or TROUPE_DSN) it
// starts a private MariaDB server in a temporary directory and removes it at
// the end. Options are CAF's (--dump-config, --config-file=, --long-help)
// plus the engine's (--troupe.dsn=, --troupe.pool.*=).

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors_tour.hpp"
#include "troupe/dsn.hpp"
#include "troupe/embedded_server.hpp"
#include "troupe/engine_system_config.hpp"
#include "troupe/error.hpp"
#include "troupe/mariadb/connection.hpp"

using namespace troupe;

namespace {

void usage() {
  std::cout << "usage: troupe-demo [--troupe.dsn=mariadb://user@host:port/db"
               "?password_file=/path]\n"
               "                   [--dsn DSN] [--troupe.pool.KEY=VALUE] "
               "[--config-file=FILE] [--dump-config]\n"
               "  Without a DSN (option, config file or TROUPE_DSN) a private\n"
               "  MariaDB server is started in a temporary directory for the "
               "demo.\n"
               "  Keep the password out of the command line: password_file= or\n"
               "  password_env= (docs/configuration.md).\n";
}

const std::string dsn_option = "--troupe.dsn=";

// The command line for CAF, with the demo's own --dsn spellings as
// --troupe.dsn.
std::vector<std::string> caf_arguments(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dsn" && i + 1 < argc)
      args.push_back(dsn_option + argv[++i]);
    else if (a.rfind("--dsn=", 0) == 0)
      args.push_back(dsn_option + a.substr(6));
    else
      args.push_back(std::move(a));
  }
  return args;
}

void step(const std::string& what) {
  std::cout << "\n== " << what << "\n";
}

// Prints a result as a small table.
void print(const result& res) {
  if (res.columns().empty()) {
    std::cout << fmt::format("   ok: {} row(s) affected, last insert id {}\n",
                             res.affected_rows(), res.last_insert_id());
    return;
  }
  std::string header;
  for (const auto& c : res.columns())
    header += fmt::format(" {:>18} |", fmt::format("{} ({})", c.name,
                                                    to_string(c.type)));
  std::cout << "  " << header << "\n";
  for (size_t r = 0; r < res.row_count(); ++r) {
    std::string line;
    for (size_t c = 0; c < res.columns().size(); ++c)
      line += fmt::format(" {:>18} |", to_string(res.row(r)[c]));
    std::cout << "  " << line << "\n";
  }
}

int fail(const std::string& what, const caf::error& err) {
  std::cerr << "troupe-demo: " << what << ": " << render(err) << "\n";
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  engine_system_config cfg;
  // Lowest precedence: the config file and the command line override it.
  if (auto env = std::getenv("TROUPE_DSN"); env != nullptr && *env != '\0')
    cfg.set("troupe.dsn", std::string{env});
  if (auto err = cfg.parse(caf_arguments(argc, argv))) {
    std::cerr << "troupe-demo: " << cfg.render_parse_error(err) << "\n";
    usage();
    return 2;
  }
  if (cfg.cli_helptext_printed) {
    // --help, --long-help or --dump-config: CAF printed it.
    if (caf::get_or(cfg, "help", false) || caf::get_or(cfg, "long-help", false))
      usage();
    return 0;
  }
  if (!cfg.remainder.empty()) {
    std::cerr << "troupe-demo: unknown argument '" << cfg.remainder.front()
              << "'\n";
    usage();
    return 2;
  }

  std::unique_ptr<embedded_server> server;
  if (caf::get_if(&cfg.content, "troupe.dsn") == nullptr) {
    step("starting a private MariaDB server (no DSN given)");
    auto started = embedded_server::start();
    if (!started)
      return fail("cannot start the private server", started.error());
    server = std::move(*started);
    cfg.set("troupe.dsn", to_string(server->dsn(), true));
    std::cout << fmt::format("   listening on 127.0.0.1:{}, data in {}, up in "
                             "{} ms\n",
                             server->port(), server->directory(),
                             server->startup_time().count());
  }
  // The one configuration both parts of the tour use: what it connects with
  // is what it prints.
  auto ecfg = engine_config_from(cfg);
  if (!ecfg)
    return fail("bad configuration", ecfg.error());

  step("connecting to " + ecfg->connection.describe());
  auto conn = mariadb::sync_connection::open(ecfg->connection);
  if (!conn)
    return fail("cannot connect", conn.error());
  auto& db = **conn;
  const auto& info = db.raw().info();
  std::cout << fmt::format("   server {} ({}), connection id {}, "
                           "wait_timeout {} s, bulk binding {}\n",
                           info.version, mariadb::to_string(info.kind),
                           info.thread_id, info.wait_timeout,
                           info.bulk_operations ? "yes" : "no");

  step("creating a table and inserting rows with bound parameters");
  auto run = [&](const std::string& sql,
                 std::vector<value> params = {}) -> caf::expected<result> {
    std::cout << "   > " << sql << "\n";
    return params.empty() ? db.query(sql) : db.execute(sql, std::move(params));
  };
  for (const char* sql : {"DROP TABLE IF EXISTS troupe_demo",
                          "CREATE TABLE troupe_demo (id INT PRIMARY KEY "
                          "AUTO_INCREMENT, name VARCHAR(40) NOT NULL, price "
                          "DECIMAL(10,2), added DATETIME(6))"}) {
    if (auto res = run(sql); !res)
      return fail("setup failed", res.error());
  }
  struct item {
    const char* name;
    const char* price;
  };
  for (auto [name, price] : {item{"tea", "3.50"}, item{"caf\xC3\xA9", "2.80"},
                             item{"O'Brien's \"scone\"", "4.10"}}) {
    auto res = run("INSERT INTO troupe_demo (name, price, added) VALUES (?, ?, "
                   "NOW(6))",
                   {std::string{name}, decimal{price}});
    if (!res)
      return fail("insert failed", res.error());
    print(*res);
  }

  step("querying them back, typed");
  auto rows = run("SELECT id, name, price, added FROM troupe_demo WHERE price > ? "
                  "ORDER BY id",
                  {decimal{"3.00"}});
  if (!rows)
    return fail("query failed", rows.error());
  print(*rows);
  auto count = run("SELECT COUNT(*) FROM troupe_demo");
  if (!count)
    return fail("count failed", count.error());
  auto n = count->scalar<int>();
  if (!n)
    return fail("count is not an int", n.error());
  std::cout << fmt::format("   scalar<int>() of COUNT(*) = {}\n", *n);

  step("a bad statement gives a typed error, and the connection goes on");
  auto bad = run("SELEKT 1");
  if (bad)
    return fail("expected an error", caf::error{});
  auto e = troupe::info(bad.error());
  std::cout << fmt::format("   code {}, server error {}, SQLSTATE {}, fatal {}\n"
                           "   {}\n",
                           to_string(e.code), e.server_code, e.sqlstate,
                           e.fatal ? "yes" : "no", render(bad.error()));
  auto ok = run("SELECT 'still connected'");
  if (!ok)
    return fail("follow-up failed", ok.error());
  print(*ok);

  if (auto res = run("DROP TABLE troupe_demo"); !res)
    return fail("cleanup failed", res.error());
  (*conn).reset();

  auto rc = demo::run_actors_tour(cfg, std::move(*ecfg));
  step(server ? "done; stopping the private server" : "done");
  return rc;
}
