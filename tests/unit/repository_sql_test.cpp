// The SQL of repository operations, without a server: quoting, binding,
// validation before anything is built, the shapes of the answers.

#include <catch2/catch.hpp>

#include <set>

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
  // Padded to a power of two with the last key.
  CHECK(q->steps[0].sql.substr(q->steps[0].sql.find("WHERE"))
        == "WHERE `id` IN (?, ?, ?, ?)");
  CHECK(q->steps[0].params == std::vector<value>{1, 2, 3, 3});
  // Any number of keys up to max_batch makes one of 9 statements.
  std::set<std::string> texts;
  for (size_t n = 1; n <= rs::max_batch; ++n) {
    std::vector<record> keys;
    for (size_t i = 0; i < n; ++i)
      keys.push_back({{"id", static_cast<int64_t>(i)}});
    auto x = rs::get_many(single, keys);
    REQUIRE(x);
    texts.insert(x->steps[0].sql);
  }
  CHECK(texts.size() == 9);
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

namespace {

// A result of one row named by `names` with `cells`.
result one_row(std::vector<std::string> names, std::vector<value> cells) {
  result_set set;
  for (auto& n : names) {
    column c;
    c.name = std::move(n);
    set.columns().push_back(std::move(c));
  }
  set.cells() = std::move(cells);
  return result{std::move(set)};
}

} // namespace

TEST_CASE("batch writes by where-equals bind the changes, then the where",
          "[repository_sql][batch]") {
  auto t = orders();
  auto u = rs::update_where(t, {{"region", "eu"}, {"note", null}},
                            {{"note", "late"}});
  REQUIRE(u);
  REQUIRE(u->steps.size() == 1);
  CHECK(u->steps[0].sql
        == "UPDATE `shop`.`order``s` SET `note` = ? WHERE `region` = ? AND "
           "`note` IS NULL");
  CHECK(u->steps[0].params == std::vector<value>{"late", "eu"});
  CHECK(u->how == rs::shape::affected);
  auto d = rs::delete_where(t, {{"note", "x`y"}});
  REQUIRE(d);
  CHECK(d->steps[0].sql == "DELETE FROM `shop`.`order``s` WHERE `note` = ?");
  CHECK(d->steps[0].params == std::vector<value>{"x`y"});
}

TEST_CASE("batch writes by where-equals refuse what could go wrong, before "
          "any SQL",
          "[repository_sql][batch]") {
  auto t = orders();
  auto code = [](const auto& p) { return info(p.error()).code; };
  // An empty where would change every row.
  auto all = rs::update_where(t, {}, {{"note", "x"}});
  REQUIRE_FALSE(all);
  CHECK(code(all) == errc::invalid_argument);
  CHECK(info(all.error()).message.find("every row") != std::string::npos);
  auto none = rs::delete_where(t, {});
  REQUIRE_FALSE(none);
  CHECK(info(none.error()).message.find("every row") != std::string::npos);
  // Unknown and repeated where columns, invalid where values.
  auto unknown = rs::delete_where(t, {{"nope", 1}});
  REQUIRE_FALSE(unknown);
  CHECK(info(unknown.error()).message.find("no column 'nope'")
        != std::string::npos);
  CHECK_FALSE(rs::delete_where(t, {{"note", "a"}, {"note", "b"}}));
  CHECK_FALSE(rs::delete_where(t, {{"region", "much too long"}}));
  CHECK_FALSE(rs::delete_where(t, {{"id", "not a number"}}));
  // Changes are validated for update: none, unknown, NULL into NOT NULL.
  CHECK_FALSE(rs::update_where(t, {{"region", "eu"}}, {}));
  CHECK_FALSE(rs::update_where(t, {{"region", "eu"}}, {{"nope", 1}}));
  CHECK_FALSE(rs::update_where(t, {{"region", "eu"}}, {{"region", null}}));
}

TEST_CASE("batch writes by keys go in chunks of at most max_batch keys, as "
          "one atomic plan",
          "[repository_sql][batch]") {
  auto t = orders();
  std::vector<record> keys;
  for (int i = 0; i < 600; ++i)
    keys.push_back({{"id", i}, {"region", "eu"}});
  auto u = rs::update_keys(t, keys, {{"note", "n"}});
  REQUIRE(u);
  REQUIRE(u->steps.size() == 3); // 256 + 256 + 88
  CHECK(u->atomic);
  CHECK(u->how == rs::shape::affected);
  CHECK(u->steps[0].sql.rfind("UPDATE `shop`.`order``s` SET `note` = ? "
                              "WHERE (`region`, `id`) IN ((?, ?), (?, ?), ",
                              0)
        == 0);
  CHECK(u->steps[0].params.size() == 1 + 2 * rs::max_batch);
  CHECK(u->steps[2].params.size() == 1 + 2 * 88);
  // Changes first, then each key in key order.
  CHECK(u->steps[1].params[0] == value{"n"});
  CHECK(u->steps[1].params[1] == value{"eu"});
  CHECK(u->steps[1].params[2] == value{256});
  auto single = t;
  single.primary_key = {"id"};
  auto d = rs::delete_keys(single, {{{"id", 4}}, {{"id", 9}}});
  REQUIRE(d);
  REQUIRE(d->steps.size() == 1);
  CHECK(d->steps[0].sql
        == "DELETE FROM `shop`.`order``s` WHERE `id` IN (?, ?)");
  CHECK(d->steps[0].params == std::vector<value>{4, 9});
}

TEST_CASE("batch writes by keys refuse bad keys, naming them, before any SQL",
          "[repository_sql][batch]") {
  auto t = orders();
  auto half = rs::delete_keys(t, {{{"id", 1}, {"region", "eu"}}, {{"id", 2}}});
  REQUIRE_FALSE(half);
  CHECK(info(half.error()).code == errc::invalid_argument);
  CHECK(info(half.error()).message.rfind("key 1: ", 0) == 0);
  CHECK_FALSE(rs::delete_keys(t, {}));
  CHECK_FALSE(rs::update_keys(t, {{{"id", 1}, {"region", "eu"}}}, {}));
  CHECK_FALSE(rs::delete_keys(t, std::vector<record>(
                                   rs::max_keys + 1,
                                   record{{"id", 1}, {"region", "eu"}})));
  auto keyless = t;
  keyless.primary_key.clear();
  auto k = rs::delete_keys(keyless, {{{"id", 1}}});
  REQUIRE_FALSE(k);
  CHECK(info(k.error()).code == errc::unsupported);
}

TEST_CASE("the affected rows of every step are summed",
          "[repository_sql][batch]") {
  rs::plan p;
  p.how = rs::shape::affected;
  p.steps.resize(3);
  std::vector<result> rs(3);
  for (auto& r : rs)
    r.sets().emplace_back();
  rs[0].sets()[0].affected_rows = 256;
  rs[1].sets()[0].affected_rows = 0;
  rs[2].sets()[0].affected_rows = 7;
  CHECK(rs::read_outcome(p, rs)->count == 263);
}

TEST_CASE("statistics are one statement over quoted, known columns",
          "[repository_sql][stats]") {
  auto t = orders();
  auto p = rs::stats(t, {"id", "note"});
  REQUIRE(p);
  REQUIRE(p->steps.size() == 1);
  CHECK(p->how == rs::shape::stats);
  CHECK(p->columns == std::vector<std::string>{"id", "note"});
  // AVG for the numeric column only; a bound LIMIT (binary protocol).
  CHECK(p->steps[0].sql
        == "SELECT COUNT(*), COUNT(`id`), COUNT(DISTINCT `id`), "
           "COUNT(*) - COUNT(`id`), MIN(`id`), MAX(`id`), AVG(`id`), "
           "COUNT(`note`), COUNT(DISTINCT `note`), COUNT(*) - COUNT(`note`), "
           "MIN(`note`), MAX(`note`), NULL FROM `shop`.`order``s` LIMIT ?");
  CHECK(p->steps[0].params == std::vector<value>{1});
  auto code = [](const auto& x) { return info(x.error()).code; };
  auto unknown = rs::stats(t, {"id", "nope`"});
  REQUIRE_FALSE(unknown);
  CHECK(code(unknown) == errc::invalid_argument);
  CHECK_FALSE(rs::stats(t, {}));
  CHECK_FALSE(rs::stats(t, {"id", "id"}));
  CHECK_FALSE(rs::stats(t, std::vector<std::string>(
                             rs::max_stats_columns + 1, "id")));
}

TEST_CASE("statistics are read from the one row by position",
          "[repository_sql][stats]") {
  auto t = orders();
  auto p = rs::stats(t, {"id", "note"});
  REQUIRE(p);
  auto r = one_row({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k",
                    "l", "m"},
                   {value{5}, value{5}, value{4}, value{0}, value{1},
                    value{9}, value{decimal{"4.6000"}}, value{3}, value{2},
                    value{2}, value{"a"}, value{"z"}, value{}});
  auto s = rs::read_stats(*p, {r});
  REQUIRE(s);
  CHECK(s->rows == 5);
  REQUIRE(s->columns.size() == 2);
  auto id = s->find("id");
  REQUIRE(id != nullptr);
  CHECK(id->count == 5);
  CHECK(id->distinct == 4);
  CHECK(id->nulls == 0);
  CHECK(id->min == value{1});
  CHECK(id->max == value{9});
  CHECK(id->avg == value{decimal{"4.6000"}});
  auto note = s->find("note");
  REQUIRE(note != nullptr);
  CHECK(note->nulls == 2);
  CHECK(note->max == value{"z"});
  CHECK(note->avg.is_null());
  CHECK(s->find("region") == nullptr);
  // Results that do not fit the plan: internal, not a wrong answer.
  auto short_row = one_row({"a"}, {value{1}});
  auto bad = rs::read_stats(*p, {short_row});
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).code == errc::internal);
  CHECK_FALSE(rs::read_outcome(*p, {r}));
}

TEST_CASE("keyset pages compare the key as a row value and read one row more",
          "[repository_sql][keyset]") {
  auto t = orders();
  auto first = rs::page_after(t, {}, 2);
  REQUIRE(first);
  CHECK(first->how == rs::shape::keyset);
  CHECK(first->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` ORDER BY `region`, `id` LIMIT ?");
  CHECK(first->steps[0].params == std::vector<value>{uint64_t{3}});
  CHECK(first->table == "shop.order`s");
  page_token from{"shop.order`s", {{"id", 7}, {"region", "eu"}}};
  auto next = rs::page_after(t, from, 0);
  REQUIRE(next);
  CHECK(next->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` WHERE (`region`, `id`) > (?, ?) "
           "ORDER BY `region`, `id` LIMIT ?");
  CHECK(next->steps[0].params
        == std::vector<value>{"eu", 7, uint64_t{rs::default_limit + 1}});
  auto single = t;
  single.primary_key = {"id"};
  auto one = rs::page_after(single, {"shop.order`s", {{"id", 7}}}, 5);
  REQUIRE(one);
  CHECK(one->steps[0].sql
        == "SELECT * FROM `shop`.`order``s` WHERE `id` > ? ORDER BY `id` "
           "LIMIT ?");
}

TEST_CASE("keyset pages refuse tokens of other tables and malformed ones",
          "[repository_sql][keyset]") {
  auto t = orders();
  auto code = [](const auto& x) { return info(x.error()).code; };
  auto other = rs::page_after(t, {"shop.users", {{"id", 7}, {"region", "eu"}}},
                              10);
  REQUIRE_FALSE(other);
  CHECK(code(other) == errc::invalid_argument);
  // A token naming no table but a key is not the first page either.
  CHECK_FALSE(rs::page_after(t, {"", {{"id", 7}, {"region", "eu"}}}, 10));
  CHECK_FALSE(rs::page_after(t, {"shop.order`s", {{"id", 7}}}, 10));
  CHECK_FALSE(rs::page_after(t, {"shop.order`s", {}}, 10));
  CHECK_FALSE(rs::page_after(t,
                             {"shop.order`s",
                              {{"id", "x"}, {"region", "eu"}}},
                             10));
  CHECK_FALSE(rs::page_after(t, {}, rs::max_limit + 1));
  auto keyless = t;
  keyless.primary_key.clear();
  auto k = rs::page_after(keyless, {}, 10);
  REQUIRE_FALSE(k);
  CHECK(code(k) == errc::unsupported);
}

TEST_CASE("a keyset page names the next one by its last row's key",
          "[repository_sql][keyset]") {
  auto t = orders();
  auto p = rs::page_after(t, {}, 2);
  REQUIRE(p);
  auto rows = [](int n) {
    result_set set;
    for (auto name : {"region", "id", "note"}) {
      column c;
      c.name = name;
      set.columns().push_back(c);
    }
    for (int i = 1; i <= n; ++i)
      for (auto x : {value{"eu"}, value{i}, value{}})
        set.cells().push_back(x);
    return result{set};
  };
  // One row more than the page: a next page, after the page's last row.
  auto full = rs::read_keyset(*p, {rows(3)});
  REQUIRE(full);
  CHECK(full->rows.size() == 2);
  REQUIRE(full->next);
  CHECK(full->next->table == "shop.order`s");
  CHECK(full->next->after == record{{"region", "eu"}, {"id", 2}});
  CHECK(rs::page_after(t, *full->next, 2));
  // No more than the page: the last page.
  auto last = rs::read_keyset(*p, {rows(2)});
  REQUIRE(last);
  CHECK(last->rows.size() == 2);
  CHECK_FALSE(last->next);
  CHECK_FALSE(rs::read_keyset(*p, {}));
}
