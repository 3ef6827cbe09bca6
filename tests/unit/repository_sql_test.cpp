// The SQL of repository operations, without a server: quoting, binding,
// validation before anything is built, the shapes of the answers.

#include <catch2/catch.hpp>

#include "troupe/error.hpp"
#include "troupe/repository_sql.hpp"

using namespace troupe;
namespace rs = troupe::repository_sql;

namespace {

table_schema orders() {
  table_schema t;
  t.database = "shop";
  t.name = "order`s";
  auto col = [](std::string name, column_type type, bool nullable) {
    column_schema c;
    c.name = std::move(name);
    c.type = type;
    c.sql_type = to_string(type);
    c.nullable = nullable;
    return c;
  };
  auto region = col("region", column_type::varchar, false);
  region.max_length = 8;
  auto id = col("id", column_type::bigint, false);
  id.auto_increment = true;
  auto note = col("note", column_type::text, true);
  t.columns = {region, id, note};
  t.primary_key = {"region", "id"};
  return t;
}

} // namespace

TEST_CASE("key lookups quote names and bind the key in key order",
          "[repository_sql]") {
  auto t = orders();
  auto p = rs::get(t, {{"id", 7}, {"region", "eu"}});
  REQUIRE(p);
  REQUIRE(p->steps.size() == 1);
  CHECK(p->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` WHERE "
           "`region` = ? AND `id` = ?");
  CHECK(p->steps[0].params == std::vector<value>{"eu", 7});
  auto e = rs::exists(t, {{"region", "eu"}, {"id", 7}});
  REQUIRE(e);
  CHECK(e->how == rs::shape::any_row);
  CHECK(e->steps[0].sql.find("LIMIT 1") != std::string::npos);
  auto d = rs::remove(t, {{"region", "eu"}, {"id", 7}});
  REQUIRE(d);
  CHECK(d->steps[0].sql
        == "DELETE FROM `shop`.`order``s` WHERE `region` = ? AND `id` = ?");
  CHECK(d->how == rs::shape::affected);
  // Half a key, a key on a keyless table: refused, nothing built.
  auto half = rs::get(t, {{"id", 7}});
  REQUIRE_FALSE(half);
  CHECK(info(half.error()).code == errc::invalid_argument);
  auto keyless = t;
  keyless.primary_key.clear();
  auto none = rs::remove(keyless, {{"id", 7}});
  REQUIRE_FALSE(none);
  CHECK(info(none.error()).code == errc::unsupported);
}

TEST_CASE("create returns the row as stored: RETURNING, or a read-back by "
          "key",
          "[repository_sql]") {
  auto t = orders();
  auto p = rs::create(t, {{"region", "eu"}, {"note", "hi"}});
  REQUIRE(p);
  REQUIRE(p->steps.size() == 1);
  CHECK(p->steps[0].sql
        == "INSERT INTO `shop`.`order``s` (`region`, `note`) VALUES (?, ?) "
           "RETURNING *");
  CHECK(p->steps[0].params == std::vector<value>{"eu", "hi"});
  auto back = rs::create(t, {{"region", "eu"}}, rs::dialect{false});
  REQUIRE(back);
  REQUIRE(back->steps.size() == 2);
  CHECK(back->steps[1].sql
        == "SELECT * FROM `shop`.`order``s` WHERE "
           "`region` = ? AND `id` = LAST_INSERT_ID()");
  CHECK(back->steps[1].params == std::vector<value>{"eu"});
  auto too_long = rs::create(t, {{"region", "123456789"}});
  REQUIRE_FALSE(too_long);
  CHECK(info(too_long.error()).code == errc::invalid_argument);
  auto missing = rs::create(t, {{"note", "x"}});
  REQUIRE_FALSE(missing);
  CHECK_THAT(info(missing.error()).message, Catch::Contains("'region'"));
}

TEST_CASE("update writes the changes and reads the row back by its new key",
          "[repository_sql]") {
  auto t = orders();
  auto p = rs::update(t, {{"region", "eu"}, {"id", 7}},
                      {{"region", "us"}, {"note", null_t{}}});
  REQUIRE(p);
  REQUIRE(p->steps.size() == 2);
  CHECK(p->steps[0].sql
        == "UPDATE `shop`.`order``s` SET `region` = ?, `note` = ? WHERE "
           "`region` = ? AND `id` = ?");
  CHECK(p->steps[0].params
        == std::vector<value>{"us", null_t{}, "eu", 7});
  CHECK(p->steps[1].params == std::vector<value>{"us", 7});
  auto nothing = rs::update(t, {{"region", "eu"}, {"id", 7}}, {});
  REQUIRE_FALSE(nothing);
  auto unknown = rs::update(t, {{"region", "eu"}, {"id", 7}}, {{"x", 1}});
  REQUIRE_FALSE(unknown);
}

TEST_CASE("pages and finds are bounded, ordered and bound",
          "[repository_sql]") {
  auto t = orders();
  auto page = rs::get_all(t, {});
  REQUIRE(page);
  CHECK(page->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` ORDER BY "
           "`region`, `id` LIMIT ? OFFSET ?");
  CHECK(page->steps[0].params
        == std::vector<value>{rs::default_limit, uint64_t{0}});
  page_request desc;
  desc.limit = 5;
  desc.offset = 10;
  desc.order_by = {"note"};
  desc.descending = true;
  auto p2 = rs::get_all(t, desc);
  REQUIRE(p2);
  CHECK(p2->steps[0].sql.find("ORDER BY `note` DESC LIMIT ? OFFSET ?")
        != std::string::npos);
  page_request huge;
  huge.limit = rs::max_limit + 1;
  CHECK_FALSE(rs::get_all(t, huge));
  page_request bad_order;
  bad_order.order_by = {"nope"};
  CHECK_FALSE(rs::get_all(t, bad_order));
  auto f = rs::find(t, {{"region", "eu"}, {"note", null_t{}}}, 3);
  REQUIRE(f);
  CHECK(f->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` WHERE "
           "`region` = ? AND `note` IS NULL LIMIT ?");
  CHECK(f->steps[0].params == std::vector<value>{"eu", uint32_t{3}});
  CHECK_FALSE(rs::find(t, {{"region", 5}}, 3)); // wrong kind
  CHECK_FALSE(rs::find(t, {{"nope", 5}}, 3));
  CHECK_FALSE(rs::find(t, {}, rs::max_limit + 1));
  auto c = rs::count(t);
  REQUIRE(c);
  CHECK(c->steps[0].sql == "SELECT COUNT(*) FROM `shop`.`order``s`");
}

TEST_CASE("outcomes are read by the plan's shape", "[repository_sql]") {
  result_set rows;
  column a;
  a.name = "a";
  rows.columns().push_back(a);
  rows.cells() = {value{1}, value{2}};
  result two{rows};
  rs::plan p;
  p.steps.resize(1);
  p.how = rs::shape::rows;
  auto r = rs::read_outcome(p, {two});
  REQUIRE(r);
  REQUIRE(r->rows.size() == 2);
  CHECK(r->rows[1].get<int64_t>("a") == 2);
  p.how = rs::shape::any_row;
  CHECK(rs::read_outcome(p, {two})->count == 1);
  p.how = rs::shape::scalar;
  CHECK(rs::read_outcome(p, {two})->count == 1);
  result_set ok;
  ok.affected_rows = 1;
  p.how = rs::shape::affected;
  CHECK(rs::read_outcome(p, {result{ok}})->count == 1);
  p.how = rs::shape::written_rows;
  p.steps.resize(2);
  auto w = rs::read_outcome(p, {result{ok}, two});
  REQUIRE(w);
  CHECK(w->count == 1);
  CHECK(w->rows.size() == 2);
  auto wrong = rs::read_outcome(p, {two});
  REQUIRE_FALSE(wrong);
  CHECK(info(wrong.error()).code == errc::internal);
}

TEST_CASE("get_many looks up many keys in one statement", "[repository_sql]") {
  auto t = orders();
  auto p = rs::get_many(t, {{{"region", "eu"}, {"id", 1}},
                            {{"id", 2}, {"region", "us"}}});
  REQUIRE(p);
  CHECK(p->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` WHERE "
           "(`region`, `id`) IN ((?, ?), (?, ?))");
  CHECK(p->steps[0].params == std::vector<value>{"eu", 1, "us", 2});
  auto single = t;
  single.primary_key = {"id"};
  auto q = rs::get_many(single, {{{"id", 1}}, {{"id", 2}}, {{"id", 3}}});
  REQUIRE(q);
  CHECK(q->steps[0].sql.substr(q->steps[0].sql.find("WHERE"))
        == "WHERE `id` IN (?, ?, ?)");
  CHECK_FALSE(rs::get_many(single, {}));
  CHECK_FALSE(rs::get_many(single, {{{"id", 1}}, {{"region", "x"}}}));
  CHECK_FALSE(rs::get_many(single,
                           std::vector<record>(rs::max_batch + 1,
                                               record{{"id", 1}})));
}

TEST_CASE("rows whose columns differ from the schema show a changed table",
          "[repository_sql]") {
  auto t = orders();
  auto rows_with = [](std::vector<std::string> names) {
    result_set set;
    for (auto& n : names) {
      column c;
      c.name = n;
      set.columns().push_back(c);
    }
    return set;
  };
  CHECK_FALSE(rs::schema_drift(t, rows_with({"region", "id", "note"})));
  CHECK(rs::schema_drift(t, rows_with({"region", "id", "note", "added"})));
  CHECK(rs::schema_drift(t, rows_with({"region", "id"})));
  CHECK(rs::schema_drift(t, rows_with({"region", "note", "id"})));
  CHECK_FALSE(rs::schema_drift(t, result_set{})); // not a read
  t.columns[2].invisible = true; // not in SELECT *
  CHECK_FALSE(rs::schema_drift(t, rows_with({"region", "id"})));
}

TEST_CASE("create_many binds every row, in schema order, in steps under the "
          "byte budget",
          "[repository_sql][create_many]") {
  auto t = orders();
  std::vector<record> rows;
  for (int i = 0; i < 10; ++i)
    // Columns given in another order than the schema's.
    rows.push_back({{"note", std::string(100, 'n')}, {"region", "eu"},
                    {"id", i}});
  SECTION("array binding") {
    // 3 rows per step: each row is estimated at 3 values of (12 + payload).
    rs::bulk_options o;
    o.max_step_bytes = 3 * (12 + 100 + 12 + 2 + 12 + 16);
    auto p = rs::create_many(t, rows, o);
    REQUIRE(p);
    CHECK(p->how == rs::shape::inserted);
    CHECK(p->atomic);
    REQUIRE(p->steps.size() == 4);
    for (const auto& s : p->steps)
      CHECK(s.sql
            == "INSERT INTO `shop`.`order``s` (`region`, `id`, `note`) "
               "VALUES (?, ?, ?)");
    CHECK(p->steps[0].sets == 3);
    CHECK(p->steps[3].sets == 1);
    CHECK(p->steps[0].params
          == std::vector<value>{"eu", 0, std::string(100, 'n'), "eu", 1,
                                std::string(100, 'n'), "eu", 2,
                                std::string(100, 'n')});
    CHECK(p->steps[3].params
          == std::vector<value>{"eu", 9, std::string(100, 'n')});
  }
  SECTION("multi-row statements of one size") {
    rs::bulk_options o;
    o.array_binding = false;
    o.max_step_bytes = 4 * (12 + 100 + 12 + 2 + 12 + 16);
    auto p = rs::create_many(t, rows, o);
    REQUIRE(p);
    REQUIRE(p->steps.size() == 3);
    CHECK(p->steps[0].sql
          == "INSERT INTO `shop`.`order``s` (`region`, `id`, `note`) "
             "VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)");
    CHECK(p->steps[0].sql == p->steps[1].sql);
    CHECK(p->steps[2].params.size() == 2 * 3);
    for (const auto& s : p->steps)
      CHECK(s.sets == 1);
  }
  SECTION("a row larger than the budget goes alone") {
    rs::bulk_options o;
    o.max_step_bytes = 10;
    auto p = rs::create_many(t, rows, o);
    REQUIRE(p);
    CHECK(p->steps.size() == 10);
  }
}

TEST_CASE("create_many keeps the order of rows that name different columns",
          "[repository_sql][create_many]") {
  auto t = orders();
  std::vector<record> rows{{{"region", "eu"}, {"id", 1}},
                           {{"region", "eu"}, {"id", 2}},
                           {{"region", "us"}, {"id", 3}, {"note", null}},
                           {{"id", 4}, {"region", "eu"}}};
  auto p = rs::create_many(t, rows);
  REQUIRE(p);
  REQUIRE(p->steps.size() == 3);
  CHECK(p->steps[0].sets == 2);
  CHECK(p->steps[1].sql.find("`note`") != std::string::npos);
  CHECK(p->steps[1].params == std::vector<value>{"us", 3, null});
  CHECK(p->steps[2].params == std::vector<value>{"eu", 4});
}

TEST_CASE("create_many refuses the whole call for one bad row, naming it",
          "[repository_sql][create_many]") {
  auto t = orders();
  std::vector<record> rows;
  for (int i = 0; i < 5; ++i)
    rows.push_back({{"region", "eu"}, {"id", i}});
  rows[3] = {{"region", "far too long"}, {"id", 3}};
  auto p = rs::create_many(t, rows);
  REQUIRE_FALSE(p);
  CHECK(info(p.error()).code == errc::invalid_argument);
  CHECK_THAT(info(p.error()).message,
             Catch::StartsWith("row 3: ") && Catch::Contains("region"));
  auto none = rs::create_many(t, {});
  REQUIRE_FALSE(none);
  CHECK(info(none.error()).code == errc::invalid_argument);
  std::vector<record> too_many(rs::max_create_many + 1,
                               record{{"region", "eu"}, {"id", 1}});
  auto many = rs::create_many(t, std::move(too_many));
  REQUIRE_FALSE(many);
  CHECK(info(many.error()).code == errc::invalid_argument);
}

TEST_CASE("create_many's outcome sums the steps and keeps the first id",
          "[repository_sql][create_many]") {
  rs::plan p;
  p.how = rs::shape::inserted;
  p.steps.resize(2);
  std::vector<result> rs(2);
  for (auto& r : rs)
    r.sets().emplace_back();
  rs[0].sets()[0].affected_rows = 300;
  rs[0].sets()[0].last_insert_id = 41;
  rs[1].sets()[0].affected_rows = 7;
  rs[1].sets()[0].last_insert_id = 341;
  auto out = rs::read_outcome(p, rs);
  REQUIRE(out);
  CHECK(out->count == 307);
  CHECK(out->first_id == 41);
}
