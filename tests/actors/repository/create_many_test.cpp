// create_many against the real server: 100,000 rows in steps, all present
// once; all or nothing when a row is invalid (nothing sent) or a key
// repeats (rolled back); inside a session under a savepoint; multi-row
// INSERTs on a server without bulk executions.

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "mysql_peer.hpp"
#include "scratch.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// sysbench's table shape, with k unique so that a repeated k fails.
const char* items_ddl = "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY "
                        "KEY, k INT NOT NULL UNIQUE, c CHAR(120) NOT NULL, "
                        "pad CHAR(60) NOT NULL DEFAULT '')";

std::vector<record> make_rows(int n, int first_k = 1) {
  std::vector<record> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto k = first_k + i;
    out.push_back({{"k", k},
                   {"c", fmt::format("{:0>120}", k)},
                   {"pad", fmt::format("{:x>60}", k % 997)}});
  }
  return out;
}

struct many_fixture : test::actor_fixture {
  test::scratch_database db{"many"};
  engine_actor engine;

  many_fixture() {
    db.run(items_ddl);
    auto cfg = config_for(db.dsn());
    engine = spawn(cfg);
  }

  repository_actor repo(const engine_actor& e, const std::string& table) {
    return repository_of(e, table);
  }

  int64_t scalar(const std::string& sql) {
    return db.scalar(sql);
  }

  // Every row once: k 1..n, each with its own c, ids from first_id.
  void check_all_present(int n, uint64_t first_id) {
    CHECK(scalar("SELECT COUNT(*) FROM items") == n);
    CHECK(scalar("SELECT COUNT(DISTINCT k) FROM items") == n);
    CHECK(scalar("SELECT MIN(k) FROM items") == 1);
    CHECK(scalar("SELECT MAX(k) FROM items") == n);
    CHECK(scalar("SELECT COUNT(*) FROM items WHERE c <> LPAD(k, 120, '0')")
          == 0);
    CHECK(scalar("SELECT MIN(id) FROM items")
          == static_cast<int64_t>(first_id));
  }
};

} // namespace

TEST_CASE_METHOD(many_fixture,
                 "create_many writes 100,000 rows in steps, each row once",
                 "[repository][create_many]") {
  auto items = repo(engine, "items");
  auto rows = make_rows(100000);
  auto r = ask<repository_result>(items, create_many_atom::value,
                                  std::move(rows));
  REQUIRE(r);
  CHECK(r->count == 100000);
  CHECK(r->rows.empty());
  REQUIRE(r->first_id > 0);
  check_all_present(100000, r->first_id);
}

TEST_CASE_METHOD(many_fixture,
                 "create_many with one invalid row rejects every row and "
                 "sends nothing",
                 "[repository][create_many][errors]") {
  auto items = repo(engine, "items");
  // Reflect first, so that only create_many could reach the pool below.
  REQUIRE(ask<table_schema>(items, schema_atom::value));
  auto before = settled_served(engine);
  auto rows = make_rows(100000);
  SECTION("a string longer than its column") {
    rows[73456].set("c", std::string(121, 'c'));
  }
  SECTION("NULL into NOT NULL") {
    rows[99999].set("k", null);
  }
  SECTION("an unknown column") {
    rows[0].set("nope", 1);
  }
  SECTION("the wrong kind") {
    rows[5].set("k", "five"s);
  }
  auto r = ask<repository_result>(items, create_many_atom::value,
                                  std::move(rows));
  REQUIRE_FALSE(r);
  auto x = info(r.error());
  CHECK(x.code == errc::invalid_argument);
  CHECK_THAT(x.message, Catch::StartsWith("row "));
  CHECK(settled_served(engine) == before);
  CHECK(scalar("SELECT COUNT(*) FROM items") == 0);
}

TEST_CASE_METHOD(many_fixture,
                 "create_many with a repeated key rolls every row back",
                 "[repository][create_many][errors]") {
  auto items = repo(engine, "items");
  auto rows = make_rows(100000);
  SECTION("in the last step") {
    rows[99990].set("k", 17);
  }
  SECTION("in the first step") {
    rows[3].set("k", 2);
  }
  SECTION("a key already in the table") {
    db.run("INSERT INTO items (k, c) VALUES (-1, 'old')");
    rows[50000].set("k", -1);
  }
  auto r = ask<repository_result>(items, create_many_atom::value,
                                  std::move(rows));
  REQUIRE_FALSE(r);
  CHECK(info(r.error()).server_code == 1062);
  CHECK(scalar("SELECT COUNT(*) FROM items WHERE k > 0") == 0);
  // The repository serves on.
  auto again = ask<repository_result>(items, create_many_atom::value,
                                      make_rows(10));
  REQUIRE(again);
  CHECK(again->count == 10);
}

TEST_CASE_METHOD(many_fixture,
                 "create_many refuses no rows and too many rows",
                 "[repository][create_many][errors]") {
  auto items = repo(engine, "items");
  auto none = ask<repository_result>(items, create_many_atom::value,
                                     std::vector<record>{});
  REQUIRE_FALSE(none);
  CHECK(info(none.error()).code == errc::invalid_argument);
  auto missing = repo(engine, "no_such_table");
  auto r = ask<repository_result>(missing, create_many_atom::value,
                                  make_rows(3));
  REQUIRE_FALSE(r);
  CHECK(info(r.error()).code == errc::not_found);
}

TEST_CASE_METHOD(many_fixture,
                 "inside a session a failed create_many undoes only its own "
                 "rows; a rollback undoes a successful one",
                 "[repository][create_many][session]") {
  auto items = repo(engine, "items");
  auto s = open_session(engine);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(ask<repository_result>(items, create_atom::value, s,
                                 record{{"k", -5}, {"c", "before"}}));
  // Several steps (about 2.3 MB of values per 10,000 rows; a repeated k in
  // the last one): the steps before it are undone, the row before the call
  // stays and the transaction goes on.
  auto rows = make_rows(40000);
  rows[39999].set("k", 1);
  auto bad = ask<repository_result>(items, create_many_atom::value, s,
                                    std::move(rows));
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).server_code == 1062);
  auto seen = in(s, query_atom::value,
                 statement{"SELECT COUNT(*) FROM items"});
  REQUIRE(seen);
  CHECK(seen->scalar<int64_t>() == 1);
  auto good = ask<repository_result>(items, create_many_atom::value, s,
                                     make_rows(40000));
  REQUIRE(good);
  CHECK(good->count == 40000);
  SECTION("commit keeps them") {
    REQUIRE(in(s, commit_atom::value));
    CHECK(scalar("SELECT COUNT(*) FROM items") == 40001);
  }
  SECTION("rollback undoes them") {
    REQUIRE(in(s, rollback_atom::value));
    CHECK(scalar("SELECT COUNT(*) FROM items") == 0);
  }
  REQUIRE(in(s, close_atom::value));
}

TEST_CASE_METHOD(many_fixture,
                 "on a server without bulk executions create_many writes "
                 "multi-row INSERTs",
                 "[repository][create_many]") {
  auto direct = db.dsn();
  if (!direct.socket.empty()) {
    WARN("not run: the relay needs a TCP server, TROUPE_TEST_DSN is a socket");
    return;
  }
  // MariaDB's bulk capability (bit 2 of its extended capabilities) hidden.
  test::relay no_bulk{direct.port, 0, 1, "", "", 4};
  auto cfg = config_for(no_bulk.through(direct));
  cfg.pool.min_size = 1;
  cfg.pool.max_size = 1;
  auto e = spawn(cfg);
  auto ping = ask<ping_info>(e, ping_atom::value);
  REQUIRE(ping);
  CHECK_FALSE(ping->bulk_operations);
  auto items = repo(e, "items");
  auto r = ask<repository_result>(items, create_many_atom::value,
                                  make_rows(30000));
  REQUIRE(r);
  CHECK(r->count == 30000);
  check_all_present(30000, r->first_id);
  REQUIRE(dispose(e));
  // What went to the server: multi-row INSERTs were prepared.
  auto sent = no_bulk.client_bytes();
  CHECK(sent.find("VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)")
        != std::string::npos);
}

TEST_CASE_METHOD(many_fixture,
                 "create_many whose values mix types in a column (sent one "
                 "row after another) is still all or nothing",
                 "[repository][create_many][errors]") {
  db.run("CREATE TABLE prices (id INT PRIMARY KEY, p DOUBLE NOT NULL)");
  auto prices = repo(engine, "prices");
  // Integers and doubles in `p`: no single wire type, so the driver runs
  // the sets one after another; a repeated id in the last row fails.
  std::vector<record> rows;
  for (int i = 1; i <= 50; ++i)
    rows.push_back({{"id", i}, {"p", i % 2 == 0 ? value{i} : value{i + 0.5}}});
  rows.back().set("id", 3);
  SECTION("through the pool") {
    auto r = ask<repository_result>(prices, create_many_atom::value, rows);
    REQUIRE_FALSE(r);
    CHECK(info(r.error()).server_code == 1062);
    CHECK(scalar("SELECT COUNT(*) FROM prices") == 0);
  }
  SECTION("inside a session") {
    auto s = open_session(engine);
    REQUIRE(in(s, begin_atom::value, transaction_options{}));
    REQUIRE(in(s, execute_atom::value,
               statement{"INSERT INTO prices VALUES (100, 1)"}));
    auto r = ask<repository_result>(prices, create_many_atom::value, s, rows);
    REQUIRE_FALSE(r);
    CHECK(info(r.error()).server_code == 1062);
    REQUIRE(in(s, commit_atom::value));
    CHECK(scalar("SELECT COUNT(*) FROM prices") == 1); // only row 100
    REQUIRE(in(s, close_atom::value));
  }
  // Without the repeated id all of them go in.
  rows.back().set("id", 50);
  auto ok = ask<repository_result>(prices, create_many_atom::value, rows);
  REQUIRE(ok);
  CHECK(ok->count == 50);
}

TEST_CASE_METHOD(many_fixture,
                 "the engine refuses several parameter sets without "
                 "parameters instead of running the SQL once",
                 "[repository][create_many][errors]") {
  statement st{"INSERT INTO items (k, c) VALUES (1, 'x')"};
  st.sets = 3;
  auto r = ask<result>(engine, query_atom::value, st);
  REQUIRE_FALSE(r);
  CHECK(info(r.error()).code == errc::invalid_argument);
  CHECK(scalar("SELECT COUNT(*) FROM items") == 0);
}
