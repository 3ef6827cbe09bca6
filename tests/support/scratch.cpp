#include "scratch.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "test_env.hpp"
#include "troupe/error.hpp"

namespace troupe::test {

uint64_t session_status(mariadb::sync_connection& conn, const char* name) {
  auto res = conn.query(fmt::format("SHOW SESSION STATUS LIKE '{}'", name));
  if (!res || res->row_count() != 1)
    throw std::runtime_error(fmt::format("no session status {}", name));
  auto text = res->row(0).get<std::string>(1);
  if (!text)
    throw std::runtime_error(fmt::format("session status {} unreadable", name));
  return std::stoull(*text);
}

uint64_t running_thread(mariadb::sync_connection& admin,
                        const std::string& info_like, const std::string& db) {
  for (int i = 0; i < 500; ++i) {
    auto res = admin.execute("SELECT id FROM information_schema.processlist "
                             "WHERE info LIKE ? AND (? = '' OR db = ?) "
                             "AND id <> CONNECTION_ID()",
                             {info_like, db, db});
    if (!res)
      throw std::runtime_error("processlist: " + render(res.error()));
    if (res->row_count() == 1)
      return *res->scalar<uint64_t>();
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return 0;
}

mariadb::connect_options server_options() {
  auto x = server_dsn();
  x.database.clear();
  auto opts = mariadb::connect_options::from_dsn(x);
  if (!opts)
    throw std::runtime_error("bad test DSN: " + render(opts.error()));
  return std::move(*opts);
}

std::unique_ptr<mariadb::sync_connection>
connect(const mariadb::connect_options& options) {
  auto conn = mariadb::sync_connection::open(options);
  if (!conn)
    throw std::runtime_error("cannot connect to the test server: "
                             + render(conn.error()));
  return std::move(*conn);
}

std::string unique_name(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return fmt::format("{}_{}_{}", prefix, ::getpid(), ++counter);
}

std::string database_name(std::string_view prefix) {
  auto base = server_dsn().database;
  return base.empty() ? unique_name(prefix) : base + "_" + unique_name(prefix);
}

scratch_database::scratch_database(std::string_view prefix)
  : name_(database_name(prefix)), admin_(connect()) {
  // The name is ours (letters, digits, '_'), safe to quote as an identifier.
  auto res = admin_->query(
    fmt::format("CREATE DATABASE `{}` CHARACTER SET utf8mb4", name_));
  if (!res)
    throw std::runtime_error("cannot create the test database: "
                             + render(res.error()));
}

scratch_database::~scratch_database() {
  try {
    auto conn = connect();
    conn->query(fmt::format("DROP DATABASE IF EXISTS `{}`", name_));
  } catch (...) {
    // A test that broke the server must not also fail in a destructor.
  }
}

mariadb::connect_options scratch_database::options() const {
  auto opts = server_options();
  opts.database = name_;
  return opts;
}

troupe::dsn scratch_database::dsn() const {
  auto x = server_dsn();
  x.database = name_;
  return x;
}

int64_t scratch_database::scalar(const std::string& sql) {
  auto x = run(sql).scalar<int64_t>();
  if (!x)
    throw std::runtime_error("not an integer: " + render(x.error()) + " ("
                             + sql + ")");
  return *x;
}

result scratch_database::run(const std::string& sql) {
  auto res = admin_->query(fmt::format("USE `{}`", name_));
  if (res)
    res = admin_->query(sql);
  if (!res)
    throw std::runtime_error("setup statement failed: " + render(res.error())
                             + " (" + sql + ")");
  return std::move(*res);
}

caf::expected<table_schema> reflect(mariadb::sync_connection& conn,
                                    const std::string& db,
                                    const std::string& table) {
  auto cs = reflect_columns(db, table);
  if (!cs)
    return cs.error();
  auto ks = reflect_keys(db, table);
  if (!ks)
    return ks.error();
  auto columns = conn.execute(cs->sql, cs->params);
  if (!columns)
    return columns.error();
  auto keys = conn.execute(ks->sql, ks->params);
  if (!keys)
    return keys.error();
  return build_table_schema(table, *columns, *keys);
}

} // namespace troupe::test
