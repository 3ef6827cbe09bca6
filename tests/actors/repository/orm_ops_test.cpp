// ORM operations of a repository against the real server (one table named
// by a reserved word: every name is quoted): batch updates
// and deletes by where-equals and by keys (counts, chunks, all or
// nothing), field statistics against values computed here, keyset paging
// while another actor inserts rows; the in-session variants; refusals
// before anything is sent.

#include <atomic>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "actor_fixture.hpp"
#include "scratch.hpp"

using namespace troupe;
using namespace std::string_literals;

namespace {

struct orm_fixture : test::actor_fixture {
  test::scratch_database db{"orm"};
  engine_actor engine;

  orm_fixture() {
    db.run("CREATE TABLE people (id INT PRIMARY KEY, team VARCHAR(10) NOT "
           "NULL, code INT NOT NULL UNIQUE, note TEXT)");
    db.run("CREATE TABLE `lines` (region CHAR(2) NOT NULL, n INT NOT NULL, "
           "PRIMARY KEY (region, n))");
    db.run("CREATE TABLE keyless (a INT)");
    engine = spawn(config_for(db.dsn()));
  }

  repository_actor repo(const std::string& table) {
    return repository_of(engine, table);
  }

  int64_t scalar(const std::string& sql) {
    return db.scalar(sql);
  }

  // People 1..n: team red (id % 3 == 0), blue (1), green (2); code = id;
  // note NULL for even ids.
  void add_people(int n) {
    std::string sql = "INSERT INTO people VALUES ";
    for (int id = 1; id <= n; ++id)
      sql += fmt::format("{}({}, '{}', {}, {})", id == 1 ? "" : ", ", id,
                         id % 3 == 0 ? "red" : id % 3 == 1 ? "blue" : "green",
                         id, id % 2 == 0 ? "NULL" : "'odd'");
    db.run(sql);
  }

  static std::vector<record> keys(int first, int last) {
    std::vector<record> out;
    for (int id = first; id <= last; ++id)
      out.push_back({{"id", id}});
    return out;
  }

  // Chunk 1: id 1 and 255 missing ids; chunk 2: id 2. Set to one code, the
  // second chunk breaks the unique key after the first wrote id 1.
  static std::vector<record> clashing_keys() {
    std::vector<record> ks{{{"id", 1}}};
    auto missing = keys(10001, 10255);
    ks.insert(ks.end(), missing.begin(), missing.end());
    ks.push_back({{"id", 2}});
    return ks;
  }
};

errc code_of(const caf::error& e) {
  return info(e).code;
}

} // namespace

// -- batch writes ---------------------------------------------------------------

TEST_CASE_METHOD(orm_fixture,
                 "batch updates and deletes by where-equals count the rows "
                 "they changed",
                 "[repository][batch]") {
  add_people(300);
  auto people = repo("people");
  // red: ids divisible by 3; of those with a NULL note: divisible by 6.
  auto red = scalar("SELECT COUNT(*) FROM people WHERE team = 'red'");
  auto u = ask<repository_result>(people, update_where_atom::value,
                                  record{{"team", "red"}},
                                  record{{"note", "r"}});
  REQUIRE(u);
  CHECK(static_cast<int64_t>(u->count) == red);
  CHECK(scalar("SELECT COUNT(*) FROM people WHERE note = 'r'") == red);
  // Again: nothing changes, so nothing counts.
  auto same = ask<repository_result>(people, update_where_atom::value,
                                     record{{"team", "red"}},
                                     record{{"note", "r"}});
  REQUIRE(same);
  CHECK(same->count == 0);
  // NULL matches NULL.
  auto nulls = scalar("SELECT COUNT(*) FROM people WHERE team = 'blue' AND "
                      "note IS NULL");
  REQUIRE(nulls > 0);
  auto d = ask<repository_result>(people, delete_where_atom::value,
                                  record{{"team", "blue"}, {"note", null}});
  REQUIRE(d);
  CHECK(static_cast<int64_t>(d->count) == nulls);
  CHECK(scalar("SELECT COUNT(*) FROM people WHERE team = 'blue' AND note IS "
               "NULL")
        == 0);
  CHECK(scalar("SELECT COUNT(*) FROM people") == 300 - nulls);
  // No match: 0.
  auto none = ask<repository_result>(people, delete_where_atom::value,
                                     record{{"team", "nobody"}});
  REQUIRE(none);
  CHECK(none->count == 0);
}

TEST_CASE_METHOD(orm_fixture,
                 "a batch write with an empty or invalid where is refused "
                 "before anything is sent",
                 "[repository][batch][errors]") {
  add_people(30);
  auto people = repo("people");
  REQUIRE(ask<table_schema>(people, schema_atom::value));
  auto before = settled_served(engine);
  caf::expected<repository_result> r{repository_result{}};
  SECTION("an empty where for an update") {
    r = ask<repository_result>(people, update_where_atom::value, record{},
                               record{{"note", "all"}});
    REQUIRE_FALSE(r);
    CHECK_THAT(info(r.error()).message, Catch::Contains("every row"));
  }
  SECTION("an empty where for a delete") {
    r = ask<repository_result>(people, delete_where_atom::value, record{});
    REQUIRE_FALSE(r);
    CHECK_THAT(info(r.error()).message, Catch::Contains("every row"));
  }
  SECTION("an unknown where column") {
    r = ask<repository_result>(people, delete_where_atom::value,
                               record{{"nope", 1}});
  }
  SECTION("a where value of the wrong kind") {
    r = ask<repository_result>(people, delete_where_atom::value,
                               record{{"code", "one"}});
  }
  SECTION("changes that are not valid") {
    r = ask<repository_result>(people, update_where_atom::value,
                               record{{"team", "red"}},
                               record{{"team", null}});
  }
  SECTION("a key that is not the primary key") {
    r = ask<repository_result>(people, delete_keys_atom::value,
                               std::vector<record>{{{"id", 1}},
                                                   {{"code", 2}}});
    REQUIRE_FALSE(r);
    CHECK_THAT(info(r.error()).message, Catch::StartsWith("key 1: "));
  }
  SECTION("no keys") {
    r = ask<repository_result>(people, delete_keys_atom::value,
                               std::vector<record>{});
  }
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::invalid_argument);
  CHECK(settled_served(engine) == before);
  CHECK(scalar("SELECT COUNT(*) FROM people") == 30);
  CHECK(scalar("SELECT COUNT(*) FROM people WHERE note = 'all'") == 0);
}

TEST_CASE_METHOD(orm_fixture,
                 "batch writes by keys go in chunks and count only the rows "
                 "that exist",
                 "[repository][batch]") {
  add_people(1000);
  auto people = repo("people");
  // 700 keys in 3 chunks: 1..600 exist, 1001..1100 do not.
  auto ks = keys(1, 600);
  auto missing = keys(1001, 1100);
  ks.insert(ks.end(), missing.begin(), missing.end());
  auto u = ask<repository_result>(people, update_keys_atom::value, ks,
                                  record{{"note", "batch"}});
  REQUIRE(u);
  CHECK(u->count == 600);
  CHECK(scalar("SELECT COUNT(*) FROM people WHERE note = 'batch'") == 600);
  CHECK(scalar("SELECT MAX(id) FROM people WHERE note = 'batch'") == 600);
  // A key given twice (in two chunks) counts once.
  auto twice = keys(1, 300);
  twice.push_back({{"id", 5}});
  auto again = ask<repository_result>(people, update_keys_atom::value, twice,
                                      record{{"note", "twice"}});
  REQUIRE(again);
  CHECK(again->count == 300);
  auto d = ask<repository_result>(people, delete_keys_atom::value, ks);
  REQUIRE(d);
  CHECK(d->count == 600);
  CHECK(scalar("SELECT COUNT(*) FROM people") == 400);
  CHECK(scalar("SELECT MIN(id) FROM people") == 601);
  // A composite key.
  auto lines = repo("lines");
  db.run("INSERT INTO `lines` VALUES ('eu', 1), ('eu', 2), ('us', 1)");
  auto cd = ask<repository_result>(lines, delete_keys_atom::value,
                                   std::vector<record>{
                                     {{"n", 1}, {"region", "us"}},
                                     {{"region", "eu"}, {"n", 2}},
                                     {{"region", "eu"}, {"n", 9}}});
  REQUIRE(cd);
  CHECK(cd->count == 2);
  CHECK(scalar("SELECT COUNT(*) FROM `lines`") == 1);
  // A table without a primary key.
  auto keyless = ask<repository_result>(repo("keyless"),
                                        delete_keys_atom::value,
                                        std::vector<record>{{{"a", 1}}});
  REQUIRE_FALSE(keyless);
  CHECK(code_of(keyless.error()) == errc::unsupported);
}

TEST_CASE_METHOD(orm_fixture,
                 "a batch update by keys whose second chunk fails changes "
                 "nothing",
                 "[repository][batch][errors]") {
  add_people(10);
  auto people = repo("people");
  auto ks = clashing_keys();
  REQUIRE(ks.size() == 257);
  auto r = ask<repository_result>(people, update_keys_atom::value, ks,
                                  record{{"code", 5000}});
  REQUIRE_FALSE(r);
  CHECK(info(r.error()).server_code == 1062);
  CHECK(scalar("SELECT code FROM people WHERE id = 1") == 1);
  CHECK(scalar("SELECT COUNT(*) FROM people WHERE code = 5000") == 0);
  // Without the clash both chunks apply.
  auto ok = ask<repository_result>(people, update_keys_atom::value, ks,
                                   record{{"note", "fine"}});
  REQUIRE(ok);
  CHECK(ok->count == 2);
}

TEST_CASE_METHOD(orm_fixture,
                 "inside a session batch writes run in its transaction; a "
                 "failing chunk undoes only the call",
                 "[repository][batch][session]") {
  add_people(10);
  auto people = repo("people");
  auto s = open_session(engine);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  auto u = ask<repository_result>(people, update_where_atom::value, s,
                                  record{{"team", "red"}},
                                  record{{"note", "tx"}});
  REQUIRE(u);
  CHECK(u->count == 3); // 3, 6, 9
  auto bad = ask<repository_result>(people, update_keys_atom::value, s,
                                    clashing_keys(),
                                    record{{"code", 5000}});
  REQUIRE_FALSE(bad);
  CHECK(info(bad.error()).server_code == 1062);
  // The call is undone, the update before it stays, the transaction goes on.
  auto seen = in(s, query_atom::value,
                 statement{"SELECT COUNT(*) FROM people WHERE code = 5000 OR "
                           "note = 'tx'"});
  REQUIRE(seen);
  CHECK(seen->scalar<int64_t>() == 3);
  auto d = ask<repository_result>(people, delete_keys_atom::value, s,
                                  keys(1, 4));
  REQUIRE(d);
  CHECK(d->count == 4);
  auto dw = ask<repository_result>(people, delete_where_atom::value, s,
                                   record{{"note", "tx"}});
  REQUIRE(dw);
  CHECK(dw->count == 2); // 6 and 9 (3 is gone)
  // Not committed: the table is as it was.
  CHECK(scalar("SELECT COUNT(*) FROM people") == 10);
  REQUIRE(in(s, rollback_atom::value));
  CHECK(scalar("SELECT COUNT(*) FROM people WHERE note = 'tx'") == 0);
  REQUIRE(in(s, close_atom::value));
}

// -- statistics -----------------------------------------------------------------

namespace {

// A column's values as the test made them: NULL or a number.
struct expected_stats {
  uint64_t count = 0;
  uint64_t nulls = 0;
  std::set<double> distinct;
  double sum = 0;
  double min = 0;
  double max = 0;

  void add(std::optional<double> x) {
    if (!x) {
      ++nulls;
      return;
    }
    min = count == 0 ? *x : std::min(min, *x);
    max = count == 0 ? *x : std::max(max, *x);
    ++count;
    sum += *x;
    distinct.insert(*x);
  }

  double avg() const {
    return sum / static_cast<double>(count);
  }
};

double number(const value& x) {
  if (auto d = x.get_if<decimal>())
    return std::stod(d->text);
  auto v = x.as<double>();
  REQUIRE(v);
  return *v;
}

} // namespace

TEST_CASE_METHOD(orm_fixture,
                 "statistics match the values computed from the rows",
                 "[repository][stats]") {
  db.run("CREATE TABLE measures (id INT PRIMARY KEY, i INT, d DECIMAL(8,2), "
         "f DOUBLE, s VARCHAR(10), dt DATE)");
  expected_stats ei;
  expected_stats ed;
  expected_stats ef;
  std::set<std::string> strings;
  uint64_t string_nulls = 0;
  std::string sql = "INSERT INTO measures VALUES ";
  for (int n = 1; n <= 200; ++n) {
    std::optional<double> i;
    if (n % 10 != 0)
      i = (n * 7) % 23 - 5;
    std::optional<double> d;
    if (n % 4 != 0)
      d = n * 1.25;
    std::optional<double> f;
    if (n % 7 != 0)
      f = n / 8.0;
    ei.add(i);
    ed.add(d);
    ef.add(f);
    std::string s = "NULL";
    if (n % 5 == 0) {
      ++string_nulls;
    } else {
      auto text = fmt::format("s{:02}", n % 13);
      strings.insert(text);
      s = "'" + text + "'";
    }
    auto num = [](const std::optional<double>& x, const char* spec) {
      return x ? fmt::format(fmt::runtime(spec), *x) : "NULL"s;
    };
    sql += fmt::format("{}({}, {}, {}, {}, {}, '2024-01-{:02}')",
                       n == 1 ? "" : ", ", n, num(i, "{:.0f}"),
                       num(d, "{:.2f}"), num(f, "{:.3f}"), s, n % 28 + 1);
  }
  db.run(sql);
  auto measures = repo("measures");
  auto st = ask<field_stats>(measures, stats_atom::value,
                             std::vector<std::string>{"i", "d", "f", "s",
                                                      "dt"});
  REQUIRE(st);
  CHECK(st->rows == 200);
  REQUIRE(st->columns.size() == 5);
  CHECK(st->columns[0].column == "i");
  auto check_numeric = [&](const char* name, const expected_stats& e,
                           value_kind avg_kind) {
    INFO("column " << name);
    auto c = st->find(name);
    REQUIRE(c != nullptr);
    CHECK(c->count == e.count);
    CHECK(c->nulls == e.nulls);
    CHECK(c->distinct == e.distinct.size());
    CHECK(number(c->min) == Approx(e.min));
    CHECK(number(c->max) == Approx(e.max));
    CHECK(c->avg.kind() == avg_kind);
    CHECK(number(c->avg) == Approx(e.avg()).margin(1e-4));
  };
  // AVG of an INT or a DECIMAL is an exact DECIMAL, of a DOUBLE a double.
  check_numeric("i", ei, value_kind::decimal);
  check_numeric("d", ed, value_kind::decimal);
  check_numeric("f", ef, value_kind::float64);
  CHECK(st->find("d")->min.kind() == value_kind::decimal);
  auto s = st->find("s");
  REQUIRE(s != nullptr);
  CHECK(s->count == 200 - string_nulls);
  CHECK(s->nulls == string_nulls);
  CHECK(s->distinct == strings.size());
  CHECK(s->min == value{*strings.begin()});
  CHECK(s->max == value{*strings.rbegin()});
  CHECK(s->avg.is_null()); // not numeric
  auto dt = st->find("dt");
  REQUIRE(dt != nullptr);
  CHECK(dt->count == 200);
  CHECK(dt->distinct == 28);
  CHECK(dt->min == value{date{2024, 1, 1}});
  CHECK(dt->max == value{date{2024, 1, 28}});
  CHECK(dt->avg.is_null());
}

TEST_CASE_METHOD(orm_fixture,
                 "statistics of an empty table, inside a session, and "
                 "refused columns",
                 "[repository][stats]") {
  auto people = repo("people");
  auto empty = ask<field_stats>(people, stats_atom::value,
                                std::vector<std::string>{"code", "note"});
  REQUIRE(empty);
  CHECK(empty->rows == 0);
  CHECK(empty->find("code")->count == 0);
  CHECK(empty->find("code")->nulls == 0);
  CHECK(empty->find("code")->min.is_null());
  CHECK(empty->find("code")->avg.is_null());
  // Inside a session: the transaction's own rows count.
  auto s = open_session(engine);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, execute_atom::value,
             statement{"INSERT INTO people VALUES (1, 'a', 10, NULL), "
                       "(2, 'a', 20, 'x')"}));
  auto inside = ask<field_stats>(people, stats_atom::value, s,
                                 std::vector<std::string>{"code", "note"});
  REQUIRE(inside);
  CHECK(inside->rows == 2);
  CHECK(inside->find("code")->max == value{20});
  CHECK(number(inside->find("code")->avg) == Approx(15));
  CHECK(inside->find("note")->nulls == 1);
  REQUIRE(in(s, rollback_atom::value));
  REQUIRE(in(s, close_atom::value));
  // Refused before anything is sent.
  auto before = settled_served(engine);
  auto unknown = ask<field_stats>(people, stats_atom::value,
                                  std::vector<std::string>{"code", "nope"});
  REQUIRE_FALSE(unknown);
  CHECK(code_of(unknown.error()) == errc::invalid_argument);
  CHECK_THAT(info(unknown.error()).message, Catch::Contains("nope"));
  auto none = ask<field_stats>(people, stats_atom::value,
                               std::vector<std::string>{});
  REQUIRE_FALSE(none);
  CHECK(code_of(none.error()) == errc::invalid_argument);
  auto many = ask<field_stats>(people, stats_atom::value,
                               std::vector<std::string>(65, "code"));
  REQUIRE_FALSE(many);
  CHECK(code_of(many.error()) == errc::invalid_argument);
  CHECK(settled_served(engine) == before);
}

// -- keyset paging --------------------------------------------------------------

TEST_CASE_METHOD(orm_fixture,
                 "keyset paging visits every row once while another actor "
                 "inserts rows",
                 "[repository][keyset]") {
  // 1,000 rows with even ids 2..2000; the inserter adds odd ids and ids
  // above 2000 while the pages are read.
  std::string sql = "INSERT INTO people VALUES ";
  for (int id = 2; id <= 2000; id += 2)
    sql += fmt::format("{}({}, 't', {}, NULL)", id == 2 ? "" : ", ", id, id);
  db.run(sql);
  auto people = repo("people");
  std::atomic<bool> stop{false};
  std::atomic<int> inserted{0};
  std::atomic<int> failed{0};
  std::thread inserter{[&] {
    caf::scoped_actor me{sys};
    for (int i = 0; !stop; ++i) {
      // Odd ids among the old rows, and new ids above them, alternately
      // (each id once).
      int id = i % 2 == 0 && i < 1998 ? i + 1 : 3000 + i;
      bool ok = false;
      me->request(people, std::chrono::seconds{60}, create_atom::value,
                  record{{"id", id}, {"team", "new"}, {"code", 100000 + i}})
        .receive([&](repository_result&) { ok = true; },
                 [&](caf::error&) {});
      if (ok)
        ++inserted;
      else
        ++failed;
    }
  }};
  // The pages start once the inserter is running (waiting on its count,
  // not on a clock).
  while (inserted.load() == 0 && failed.load() == 0)
    std::this_thread::yield();
  auto at_start = inserted.load();
  std::vector<int64_t> seen;
  page_token token;
  size_t pages = 0;
  caf::error error;
  for (;;) {
    auto page = ask<keyset_page>(people, page_after_atom::value, token,
                                 uint32_t{25});
    if (!page) {
      error = page.error();
      break;
    }
    ++pages;
    for (auto& row : page->rows)
      seen.push_back(*row.get<int64_t>("id"));
    if (!page->next)
      break;
    CHECK(page->rows.size() == 25);
    token = *page->next;
    if (pages > 1000)
      break; // the inserter outruns us: enough seen
  }
  stop = true;
  inserter.join();
  REQUIRE_FALSE(error);
  CHECK(failed.load() == 0);
  // Rows were inserted while the pages were read.
  CHECK(inserted.load() > at_start);
  // Strictly increasing: no row twice, in key order.
  for (size_t i = 1; i < seen.size(); ++i)
    REQUIRE(seen[i - 1] < seen[i]);
  std::set<int64_t> all(seen.begin(), seen.end());
  for (int id = 2; id <= 2000; id += 2)
    REQUIRE(all.count(id) == 1);
  CHECK(pages >= 40);
}

TEST_CASE_METHOD(orm_fixture,
                 "keyset pages of a composite key, in a session, and the "
                 "last page",
                 "[repository][keyset]") {
  std::string sql = "INSERT INTO `lines` VALUES ";
  for (int n = 1; n <= 30; ++n)
    sql += fmt::format("{}('eu', {}), ('us', {})", n == 1 ? "" : ", ", n, n);
  db.run(sql);
  auto lines = repo("lines");
  auto walk = [&](const session_actor* s) {
    std::vector<std::string> seen;
    page_token token;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = s != nullptr
                    ? ask<keyset_page>(lines, page_after_atom::value, *s,
                                       token, uint32_t{7})
                    : ask<keyset_page>(lines, page_after_atom::value, token,
                                       uint32_t{7});
      REQUIRE(page);
      for (auto& row : page->rows)
        seen.push_back(*row.get<std::string>("region") + "/"
                       + std::to_string(*row.get<int64_t>("n")));
      if (!page->next)
        break;
      CHECK(page->next->after.size() == 2);
      token = *page->next;
    }
    return seen;
  };
  auto seen = walk(nullptr);
  REQUIRE(seen.size() == 60);
  CHECK(seen.front() == "eu/1");
  CHECK(seen[29] == "eu/30");
  CHECK(seen[30] == "us/1");
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 60);
  // A page that ends exactly at the last row says so (no empty page after).
  auto exact = ask<keyset_page>(lines, page_after_atom::value, page_token{},
                                uint32_t{60});
  REQUIRE(exact);
  CHECK(exact->rows.size() == 60);
  CHECK_FALSE(exact->next);
  // Inside a session: its own uncommitted rows too.
  auto s = open_session(engine);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  REQUIRE(in(s, execute_atom::value,
             statement{"INSERT INTO `lines` VALUES ('zz', 1)"}));
  auto inside = walk(&s);
  CHECK(inside.size() == 61);
  CHECK(inside.back() == "zz/1");
  REQUIRE(in(s, rollback_atom::value));
  REQUIRE(in(s, close_atom::value));
}

TEST_CASE_METHOD(orm_fixture,
                 "keyset paging refuses tokens of other tables, malformed "
                 "tokens and keyless tables",
                 "[repository][keyset][errors]") {
  add_people(20);
  auto people = repo("people");
  auto lines = repo("lines");
  db.run("INSERT INTO `lines` VALUES ('eu', 1), ('eu', 2)");
  auto first = ask<keyset_page>(people, page_after_atom::value, page_token{},
                                uint32_t{5});
  REQUIRE(first);
  REQUIRE(first->next);
  auto good = *first->next;
  page_token bad;
  SECTION("a token of another table") {
    bad = good;
  }
  SECTION("a token naming this table with another key") {
    bad = good;
    bad.table = db.name() + ".lines";
    bad.after = record{{"region", "eu"}};
  }
  SECTION("a token with a value of the wrong kind") {
    auto lines_first = ask<keyset_page>(lines, page_after_atom::value,
                                        page_token{}, uint32_t{1});
    REQUIRE(lines_first);
    REQUIRE(lines_first->next);
    bad = *lines_first->next;
    bad.after.set("n", "two");
  }
  SECTION("a token with a key but no table") {
    bad.after = record{{"region", "eu"}, {"n", 1}};
  }
  auto r = ask<keyset_page>(lines, page_after_atom::value, bad, uint32_t{5});
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::invalid_argument);
  // The right token still works, a limit above 10,000 does not.
  auto second = ask<keyset_page>(people, page_after_atom::value, good,
                                 uint32_t{5});
  REQUIRE(second);
  CHECK(second->rows.front().get<int64_t>("id") == 6);
  auto huge = ask<keyset_page>(people, page_after_atom::value, good,
                               uint32_t{10001});
  REQUIRE_FALSE(huge);
  CHECK(code_of(huge.error()) == errc::invalid_argument);
  auto keyless = ask<keyset_page>(repo("keyless"), page_after_atom::value,
                                  page_token{}, uint32_t{5});
  REQUIRE_FALSE(keyless);
  CHECK(code_of(keyless.error()) == errc::unsupported);
}
