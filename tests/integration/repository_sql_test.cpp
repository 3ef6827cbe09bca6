// Repository plans against the real server (on one blocking connection;
// the repository actor runs the same plans through the pool or a session):
// CRUD on a single and a composite key, defaults and generated ids, missing
// rows, paging, NULL matching, and FLOAT values read and written back
// unchanged.

#include <cfloat>

#include <catch2/catch.hpp>

#include "scratch.hpp"
#include "troupe/error.hpp"
#include "troupe/repository_sql.hpp"

using namespace troupe;
namespace rs = troupe::repository_sql;

namespace {

struct repo_fixture {
  test::scratch_database db{"repo_sql"};
  std::unique_ptr<mariadb::sync_connection> conn;

  repo_fixture() {
    db.run("CREATE TABLE users (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY "
           "KEY, name VARCHAR(20) NOT NULL, kind ENUM('a','b') NOT NULL "
           "DEFAULT 'b', made DATETIME NOT NULL DEFAULT '2024-01-02 "
           "03:04:05', note TEXT, f FLOAT)");
    db.run("CREATE TABLE order_lines (region CHAR(2) NOT NULL, n INT NOT NULL, "
           "qty INT NOT NULL DEFAULT 1, PRIMARY KEY (region, n))");
    conn = test::connect(db.options());
  }

  table_schema schema(const std::string& table) {
    auto t = test::reflect(*conn, db.name(), table);
    REQUIRE(t);
    return *t;
  }

  // Runs a plan's steps in order (in a transaction when several).
  caf::expected<repository_result> run(const caf::expected<rs::plan>& p) {
    if (!p)
      return p.error();
    bool tx = p->steps.size() > 1;
    if (tx)
      REQUIRE(conn->query("START TRANSACTION"));
    std::vector<result> results;
    for (const auto& step : p->steps) {
      auto r = step.params.empty() ? conn->query(step.sql)
                                   : conn->execute(step.sql, step.params);
      if (!r) {
        if (tx)
          (void) conn->query("ROLLBACK");
        return r.error();
      }
      results.push_back(std::move(*r));
    }
    if (tx)
      REQUIRE(conn->query("COMMIT"));
    return rs::read_outcome(*p, results);
  }
};

} // namespace

TEST_CASE_METHOD(repo_fixture,
                 "create returns the row as stored with its generated id and "
                 "defaults, in both dialects",
                 "[repository_sql]") {
  auto users = schema("users");
  for (bool returning : {true, false}) {
    INFO("RETURNING: " << returning);
    auto made = run(rs::create(users, {{"name", "ada"}},
                               rs::dialect{returning}));
    REQUIRE(made);
    CHECK(made->count == 1);
    REQUIRE(made->one());
    auto& row = *made->one();
    CHECK(row.size() == 6);
    CHECK(row.get<uint64_t>("id").value() >= 1);
    CHECK(row.get<std::string>("name") == std::string{"ada"});
    CHECK(row.get<std::string>("kind") == std::string{"b"});
    CHECK(*row.find("made") == value{datetime{2024, 1, 2, 3, 4, 5, 0}});
    CHECK(row.find("note")->is_null());
    // The same row as get reads it.
    auto again = run(rs::get(users, {{"id", *row.find("id")}}));
    REQUIRE(again);
    REQUIRE(again->one());
    CHECK(*again->one() == row);
  }
}

TEST_CASE_METHOD(repo_fixture,
                 "get, exists, update and delete on a composite key, and on "
                 "missing rows",
                 "[repository_sql]") {
  auto lines = schema("order_lines");
  REQUIRE(run(rs::create(lines, {{"region", "eu"}, {"n", 1}})));
  REQUIRE(run(rs::create(lines, {{"region", "eu"}, {"n", 2}, {"qty", 5}})));
  record key{{"region", "eu"}, {"n", 2}};
  CHECK(run(rs::exists(lines, key))->count == 1);
  CHECK(run(rs::exists(lines, {{"region", "us"}, {"n", 2}}))->count == 0);
  auto got = run(rs::get(lines, key));
  REQUIRE(got);
  REQUIRE(got->one());
  CHECK(got->one()->get<int64_t>("qty") == 5);
  // Update, also of the key itself: the row comes back under its new key.
  auto changed = run(rs::update(lines, key, {{"qty", 9}, {"n", 3}}));
  REQUIRE(changed);
  REQUIRE(changed->one());
  CHECK(changed->count == 1);
  CHECK(changed->one()->get<int64_t>("n") == 3);
  CHECK(changed->one()->get<int64_t>("qty") == 9);
  CHECK(run(rs::exists(lines, key))->count == 0);
  // Missing rows: no row, nothing counted.
  auto ghost = run(rs::update(lines, {{"region", "zz"}, {"n", 1}},
                              {{"qty", 2}}));
  REQUIRE(ghost);
  CHECK(ghost->one() == nullptr);
  CHECK(ghost->count == 0);
  CHECK(run(rs::get(lines, {{"region", "zz"}, {"n", 1}}))->one() == nullptr);
  CHECK(run(rs::remove(lines, {{"region", "zz"}, {"n", 1}}))->count == 0);
  CHECK(run(rs::remove(lines, {{"region", "eu"}, {"n", 3}}))->count == 1);
  CHECK(run(rs::count(lines))->count == 1);
  // A duplicate key is the server's error, typed.
  auto dup = run(rs::create(lines, {{"region", "eu"}, {"n", 1}}));
  REQUIRE_FALSE(dup);
  CHECK(info(dup.error()).server_code == 1062);
}

TEST_CASE_METHOD(repo_fixture, "pages and finds", "[repository_sql]") {
  auto users = schema("users");
  for (int i = 0; i < 25; ++i)
    REQUIRE(run(rs::create(users, {{"name", "u" + std::to_string(i)},
                                   {"kind", i % 2 ? "a" : "b"},
                                   {"note", i % 5 ? value{"x"} : null_t{}}})));
  page_request page;
  page.limit = 10;
  auto first = run(rs::get_all(users, page));
  page.offset = 20;
  auto last = run(rs::get_all(users, page));
  REQUIRE(first);
  REQUIRE(last);
  CHECK(first->rows.size() == 10);
  CHECK(last->rows.size() == 5);
  CHECK(first->rows[0].get<std::string>("name") == std::string{"u0"});
  CHECK(last->rows[4].get<std::string>("name") == std::string{"u24"});
  page.offset = 0;
  page.order_by = {"name"};
  page.descending = true;
  CHECK(run(rs::get_all(users, page))->rows[0].get<std::string>("name")
        == std::string{"u9"});
  auto nulls = run(rs::find(users, {{"note", null_t{}}, {"kind", "b"}}, 0));
  REQUIRE(nulls);
  CHECK(nulls->rows.size() == 3); // u0, u10, u20
  CHECK(run(rs::find(users, {{"kind", "a"}}, 4))->rows.size() == 4);
  CHECK(run(rs::count(users))->count == 25);
}

TEST_CASE_METHOD(repo_fixture,
                 "FLOAT values are read through the binary protocol and "
                 "written back unchanged",
                 "[repository_sql]") {
  auto users = schema("users");
  for (float f : {FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, 16777217.0f, 0.1f}) {
    INFO(f);
    auto made = run(rs::create(users, {{"name", "f"}, {"f", f}}));
    REQUIRE(made);
    auto id = *made->one()->find("id");
    auto read = run(rs::get(users, {{"id", id}}));
    REQUIRE(read);
    auto back = read->one()->get<double>("f");
    REQUIRE(back);
    CHECK(*back == static_cast<double>(f)); // widened exactly
    // Written back as read, the stored value does not change.
    REQUIRE(run(rs::update(users, {{"id", id}}, {{"f", *back}})));
    auto direct = conn->execute("SELECT f = ? FROM users WHERE id = ?",
                                {f, id});
    REQUIRE(direct);
    CHECK(direct->scalar<int64_t>() == 1);
  }
}
