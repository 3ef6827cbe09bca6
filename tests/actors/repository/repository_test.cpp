// Repository actors against the real server: reflection on first use, CRUD
// on single and composite keys, validation before anything is sent, tables
// without a key or without existence, in-session variants with commit and
// rollback across two repositories, ownership, refresh.

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "actor_fixture.hpp"
#include "scratch.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

struct repo_fixture : test::actor_fixture {
  test::scratch_database db{"repo"};
  engine_actor engine;

  repo_fixture() {
    db.run("CREATE TABLE users (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY "
           "KEY, name VARCHAR(20) NOT NULL, kind ENUM('a','b') NOT NULL "
           "DEFAULT 'b', note TEXT)");
    db.run("CREATE TABLE order_lines (region CHAR(2) NOT NULL, n INT NOT "
           "NULL, qty INT NOT NULL DEFAULT 1, PRIMARY KEY (region, n))");
    db.run("CREATE TABLE keyless (a INT, b TEXT)");
    engine = spawn(config_for(db.dsn()));
  }

  repository_actor repo(const std::string& table) {
    return repository_of(engine, table);
  }

  template <class... Ts>
  caf::expected<repository_result> call(const repository_actor& r,
                                        Ts&&... xs) {
    return ask<repository_result>(r, std::forward<Ts>(xs)...);
  }

  uint64_t served() {
    return actor_fixture::served(engine);
  }

  uint64_t settled_served() {
    return actor_fixture::settled_served(engine);
  }
};

} // namespace

TEST_CASE_METHOD(repo_fixture,
                 "a repository creates, reads, updates and deletes rows by "
                 "their key",
                 "[repository]") {
  auto users = repo("users");
  // One repository per table.
  CHECK(repo("users").address() == users.address());
  auto made = call(users, create_atom::value, record{{"name", "ada"}});
  REQUIRE(made);
  REQUIRE(made->one());
  auto id = *made->one()->find("id");
  CHECK(made->one()->get<std::string>("kind") == "b"s); // the default
  CHECK(made->one()->find("note")->is_null());
  auto got = call(users, get_atom::value, record{{"id", id}});
  REQUIRE(got);
  REQUIRE(got->one());
  CHECK(*got->one() == *made->one());
  CHECK(call(users, exists_atom::value, record{{"id", id}})->count == 1);
  auto changed = call(users, update_atom::value, record{{"id", id}},
                      record{{"note", "hi"}, {"kind", "a"}});
  REQUIRE(changed);
  REQUIRE(changed->one());
  CHECK(changed->one()->get<std::string>("note") == "hi"s);
  CHECK(changed->one()->get<std::string>("kind") == "a"s);
  for (int i = 0; i < 4; ++i)
    REQUIRE(call(users, create_atom::value,
                 record{{"name", "u" + std::to_string(i)}}));
  CHECK(call(users, count_atom::value)->count == 5);
  page_request page;
  page.limit = 2;
  page.offset = 1;
  auto second = call(users, page_atom::value, page);
  REQUIRE(second);
  REQUIRE(second->rows.size() == 2);
  CHECK(second->rows[0].get<std::string>("name") == "u0"s);
  auto found = call(users, find_atom::value, record{{"kind", "b"}},
                    uint32_t{10});
  REQUIRE(found);
  CHECK(found->rows.size() == 4);
  CHECK(call(users, delete_atom::value, record{{"id", id}})->count == 1);
  // A missing row: none, nothing deleted.
  auto gone = call(users, get_atom::value, record{{"id", id}});
  REQUIRE(gone);
  CHECK(gone->one() == nullptr);
  auto ghost = call(users, update_atom::value, record{{"id", id}},
                    record{{"note", "x"}});
  REQUIRE(ghost);
  CHECK(ghost->one() == nullptr);
  CHECK(call(users, delete_atom::value, record{{"id", id}})->count == 0);
}

TEST_CASE_METHOD(repo_fixture, "a composite key works as a single one",
                 "[repository]") {
  auto lines = repo("order_lines");
  REQUIRE(call(lines, create_atom::value, record{{"region", "eu"}, {"n", 1}}));
  auto made = call(lines, create_atom::value,
                   record{{"region", "eu"}, {"n", 2}, {"qty", 4}});
  REQUIRE(made);
  CHECK(made->one()->get<int64_t>("qty") == 4);
  record key{{"n", 2}, {"region", "eu"}}; // any order
  auto moved = call(lines, update_atom::value, key, record{{"n", 3}});
  REQUIRE(moved);
  REQUIRE(moved->one());
  CHECK(moved->one()->get<int64_t>("n") == 3);
  CHECK(call(lines, exists_atom::value, key)->count == 0);
  auto dup = call(lines, create_atom::value, record{{"region", "eu"}, {"n", 1}});
  REQUIRE_FALSE(dup);
  CHECK(info(dup.error()).server_code == 1062);
}

TEST_CASE_METHOD(repo_fixture,
                 "invalid records and keys are refused before anything is "
                 "sent",
                 "[repository]") {
  auto users = repo("users");
  REQUIRE(call(users, count_atom::value)); // reflected
  // The pool counts a request when its loop reports it done, which may be
  // after the answer: wait for the four so far (reflection: columns, keys,
  // ping; then the count).
  wait_for_status(engine, [](const pool_status& st) {
    return st.served + st.failed_requests >= 4;
  });
  auto before = served();
  std::vector<caf::expected<repository_result>> refused{
    call(users, create_atom::value, record{{"nick", "x"}}),
    call(users, create_atom::value, record{{"kind", "a"}}), // name missing
    call(users, create_atom::value, record{{"name", std::string(21, 'x')}}),
    call(users, create_atom::value, record{{"name", "x"}, {"kind", "c"}}),
    call(users, create_atom::value, record{{"name", null_t{}}}),
    call(users, create_atom::value, record{{"name", 5}}),
    call(users, get_atom::value, record{{"name", "x"}}),
    call(users, get_atom::value, record{}),
    call(users, update_atom::value, record{{"id", 1}}, record{}),
    call(users, delete_atom::value, record{{"id", -1}}),
    call(users, find_atom::value, record{{"nope", 1}}, uint32_t{1}),
    call(users, page_atom::value, page_request{100000, 0, {}, false}),
  };
  for (auto& r : refused) {
    REQUIRE_FALSE(r);
    INFO(render(r.error()));
    CHECK(info(r.error()).code == errc::invalid_argument);
  }
  // Nothing reached the pool: one valid request after them is the only
  // one counted (waiting for it also waits for any late count).
  REQUIRE(call(users, count_atom::value));
  wait_for_status(engine, [&](const pool_status& st) {
    return st.served + st.failed_requests >= before + 1;
  });
  CHECK(served() == before + 1);
}

TEST_CASE_METHOD(repo_fixture,
                 "a missing table is not_found; a table without a key "
                 "refuses key operations but counts and creates",
                 "[repository]") {
  auto missing = repo("no_such_table");
  auto r = call(missing, count_atom::value);
  REQUIRE_FALSE(r);
  CHECK(info(r.error()).code == errc::not_found);
  auto keyless = repo("keyless");
  auto made = call(keyless, create_atom::value, record{{"a", 1}});
  REQUIRE(made);
  CHECK(made->one()->get<int64_t>("a") == 1);
  CHECK(call(keyless, count_atom::value)->count == 1);
  auto by_key = call(keyless, get_atom::value, record{{"a", 1}});
  REQUIRE_FALSE(by_key);
  CHECK(info(by_key.error()).code == errc::unsupported);
  auto bad_name = ask<repository_actor>(engine, repository_atom::value,
                                        std::string(65, 't'));
  REQUIRE_FALSE(bad_name);
  CHECK(info(bad_name.error()).code == errc::invalid_argument);
}

TEST_CASE_METHOD(repo_fixture,
                 "in a session, two repositories' writes are rolled back or "
                 "committed together",
                 "[repository][session]") {
  auto users = repo("users");
  auto lines = repo("order_lines");
  REQUIRE(call(lines, create_atom::value, record{{"region", "eu"}, {"n", 1}}));
  for (bool commit : {false, true}) {
    INFO("commit: " << commit);
    auto s = open_session(engine, session_options{});
    REQUIRE(in(s, begin_atom::value, transaction_options{}));
    auto made = call(users, create_atom::value, s, record{{"name", "tx"}});
    REQUIRE(made);
    auto id = *made->one()->find("id");
    REQUIRE(call(lines, update_atom::value, s,
                 record{{"region", "eu"}, {"n", 1}}, record{{"qty", 7}}));
    REQUIRE(call(lines, create_atom::value, s,
                 record{{"region", "us"}, {"n", 9}}));
    // Inside the transaction its own writes are visible.
    CHECK(call(users, get_atom::value, s, record{{"id", id}})->one());
    CHECK(call(lines, count_atom::value, s)->count == 2);
    if (commit)
      REQUIRE(in(s, commit_atom::value));
    else
      REQUIRE(in(s, rollback_atom::value));
    REQUIRE(in(s, close_atom::value));
    auto user = call(users, get_atom::value, record{{"id", id}});
    REQUIRE(user);
    CHECK((user->one() != nullptr) == commit);
    auto line = call(lines, get_atom::value, record{{"region", "eu"}, {"n", 1}});
    REQUIRE(line);
    CHECK(line->one()->get<int64_t>("qty") == (commit ? 7 : 1));
    CHECK(call(lines, count_atom::value)->count == (commit ? 2u : 1u));
  }
}

TEST_CASE_METHOD(repo_fixture,
                 "in-session operations need the session's owner and an open "
                 "transaction",
                 "[repository][session]") {
  auto users = repo("users");
  auto s = open_session(engine, session_options{});
  auto idle = call(users, count_atom::value, s);
  REQUIRE_FALSE(idle);
  CHECK(info(idle.error()).code == errc::invalid_argument);
  REQUIRE(in(s, begin_atom::value, transaction_options{}));
  // Another actor passes the session to the repository: refused.
  caf::scoped_actor stranger{sys};
  caf::expected<repository_result> theirs{make_error(errc::internal, "none")};
  stranger->request(users, 30s, create_atom::value, s, record{{"name", "x"}})
    .receive([&](repository_result& r) { theirs = std::move(r); },
             [&](caf::error& e) { theirs = std::move(e); });
  REQUIRE_FALSE(theirs);
  CHECK(info(theirs.error()).code == errc::not_owner);
  REQUIRE(in(s, rollback_atom::value));
  REQUIRE(in(s, close_atom::value));
  CHECK(call(users, count_atom::value)->count == 0);
}

TEST_CASE_METHOD(repo_fixture,
                 "refresh reflects a changed table again",
                 "[repository]") {
  auto users = repo("users");
  auto before = ask<table_schema>(users, schema_atom::value);
  REQUIRE(before);
  CHECK(before->column("age") == nullptr);
  db.run("ALTER TABLE users ADD COLUMN age INT NOT NULL DEFAULT 7");
  auto after = ask<table_schema>(users, refresh_atom::value);
  REQUIRE(after);
  REQUIRE(after->column("age") != nullptr);
  auto made = call(users, create_atom::value, record{{"name", "z"}});
  REQUIRE(made);
  CHECK(made->one()->get<int64_t>("age") == 7);
}

TEST_CASE_METHOD(repo_fixture,
                 "1,000 concurrent lookups get exactly their own rows from "
                 "far fewer statements",
                 "[repository][coalescing]") {
  db.run("INSERT INTO users (name) SELECT CONCAT('u', seq) FROM seq_1_to_200");
  auto users = repo("users");
  REQUIRE(call(users, count_atom::value)->count == 200); // reflected
  wait_for_status(engine, [](const pool_status& st) {
    return st.served + st.failed_requests >= 4; // as above
  });
  auto before = served();
  constexpr int callers = 1000;
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::mt19937 rng{42};
  std::uniform_int_distribution<int> pick{1, 250}; // 201-250 do not exist
  for (int i = 0; i < callers; ++i) {
    int id = pick(rng);
    bool exists_only = i % 5 == 0;
    sys.spawn([=, &answered, &wrong](caf::event_based_actor* a) {
      auto check = [=, &answered, &wrong](repository_result& r) {
        bool ok = false;
        if (exists_only) {
          ok = r.rows.empty() && r.count == (id <= 200 ? 1u : 0u);
        } else if (id > 200) {
          ok = r.one() == nullptr;
        } else if (r.one() != nullptr) {
          ok = r.one()->get<int64_t>("id") == id
               && r.one()->get<std::string>("name")
                    == "u" + std::to_string(id);
        }
        if (!ok)
          ++wrong;
        ++answered;
      };
      auto fail = [&answered, &wrong](caf::error&) {
        ++wrong;
        ++answered;
      };
      if (exists_only)
        a->request(users, 60s, exists_atom::value, record{{"id", id}})
          .then(check, fail);
      else
        a->request(users, 60s, get_atom::value, record{{"id", id}})
          .then(check, fail);
    });
  }
  auto until = std::chrono::steady_clock::now() + 60s;
  while (answered < callers && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(answered == callers);
  CHECK(wrong == 0);
  auto statements = settled_served() - before;
  WARN(callers << " lookups answered by " << statements << " statements");
  CHECK(statements * 4 < callers);
}

TEST_CASE_METHOD(repo_fixture,
                 "a lookup sent after a write through the same repository "
                 "sees the write",
                 "[repository][coalescing]") {
  auto users = repo("users");
  auto made = call(users, create_atom::value, record{{"name", "v0"}});
  REQUIRE(made);
  auto id = *made->one()->find("id");
  // The update and the lookup are both sent before either answer comes:
  // the lookup reaches the repository while the update still runs.
  for (int round = 1; round <= 30; ++round) {
    auto name = "v" + std::to_string(round);
    auto upd = self->request(users, 60s, update_atom::value,
                             record{{"id", id}}, record{{"name", name}});
    auto get = self->request(users, 60s, get_atom::value, record{{"id", id}});
    upd.receive([](repository_result&) {},
                [](caf::error& e) { FAIL(render(e)); });
    get.receive(
      [&](repository_result& r) {
        REQUIRE(r.one());
        CHECK(r.one()->get<std::string>("name") == name);
      },
      [](caf::error& e) { FAIL(render(e)); });
  }
}

TEST_CASE_METHOD(repo_fixture,
                 "a column added while the repository is in use shows in "
                 "later reads and can then be written",
                 "[repository]") {
  auto users = repo("users");
  auto made = call(users, create_atom::value, record{{"name", "a"}});
  REQUIRE(made);
  auto id = *made->one()->find("id");
  db.run("ALTER TABLE users ADD COLUMN age INT NOT NULL DEFAULT 7");
  // Rows are read whole: the new column is there at once...
  auto read = call(users, get_atom::value, record{{"id", id}});
  REQUIRE(read);
  REQUIRE(read->one());
  CHECK(read->one()->get<int64_t>("age") == 7);
  // ... and the changed columns made the repository reflect again, so the
  // new column validates (no refresh_atom).
  auto changed = call(users, update_atom::value, record{{"id", id}},
                      record{{"age", 8}});
  REQUIRE(changed);
  CHECK(changed->one()->get<int64_t>("age") == 8);
  // A dropped column: the server's 1054 makes it reflect again too.
  db.run("ALTER TABLE users DROP COLUMN note");
  auto stale = call(users, update_atom::value, record{{"id", id}},
                    record{{"note", "x"}});
  REQUIRE_FALSE(stale);
  auto fresh = call(users, update_atom::value, record{{"id", id}},
                    record{{"note", "x"}});
  REQUIRE_FALSE(fresh);
  CHECK(info(fresh.error()).code == errc::invalid_argument);
  CHECK_THAT(info(fresh.error()).message, Catch::Contains("no column 'note'"));
}
