#include "troupe/repository_sql.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "troupe/error.hpp"
#include "troupe/sql.hpp"

namespace troupe::repository_sql {

namespace {

caf::expected<std::string> quoted(std::string_view name) {
  return sql::quote_identifier(name);
}

// `db`.`table`, or `table` when the schema names no database.
caf::expected<std::string> table_name(const table_schema& t) {
  auto name = quoted(t.name);
  if (!name || t.database.empty())
    return name;
  auto db = quoted(t.database);
  if (!db)
    return db;
  return *db + "." + *name;
}

// What rows are read as: every visible column, in the table's order, as
// the server has them now. Not the reflected list: after an ALTER TABLE the
// rows still come back whole, and their columns tell the repository that
// its schema is out of date (schema_drift).
caf::expected<std::string> column_list(const table_schema&) {
  return std::string{"*"};
}

// "`a` = ? AND `b` = ?" over the primary key, with the key's values in
// key order appended to `params`.
caf::expected<std::string> key_condition(const table_schema& t,
                                         const record& key,
                                         std::vector<value>& params) {
  std::string out;
  for (const auto& k : t.primary_key) {
    auto q = quoted(k);
    if (!q)
      return q;
    if (!out.empty())
      out += " AND ";
    out += *q + " = ?";
    params.push_back(*key.find(k));
  }
  return out;
}

caf::error limit_error(uint32_t limit) {
  return make_error(errc::invalid_argument,
                    fmt::format("a page holds at most {} rows (asked for {})",
                                max_limit, limit));
}

// The quoted table name and column list of `t`.
struct quoted_names {
  std::string table;
  std::string columns;
};

caf::expected<quoted_names> names_of(const table_schema& t) {
  auto name = table_name(t);
  if (!name)
    return name.error();
  auto cols = column_list(t);
  if (!cols)
    return cols.error();
  return quoted_names{std::move(*name), std::move(*cols)};
}

// SELECT <columns> FROM <table> WHERE <key>, with the key's values.
caf::expected<bound_sql> select_by_key(const table_schema& t,
                                       const record& key) {
  auto n = names_of(t);
  if (!n)
    return n.error();
  auto* cols = &n->columns;
  auto* name = &n->table;
  bound_sql out;
  auto where = key_condition(t, key, out.params);
  if (!where)
    return where.error();
  out.sql = fmt::format("SELECT {} FROM {} WHERE {}", *cols, *name, *where);
  return out;
}

caf::expected<plan> one_step(bound_sql step, shape how) {
  plan p;
  p.steps.push_back(std::move(step));
  p.how = how;
  return p;
}

// `<head> <table> WHERE <key><tail>`, the key validated and bound.
caf::expected<plan> by_key(const table_schema& t, const record& key,
                           const std::string& head, std::string_view tail,
                           shape how) {
  if (auto err = validate(t, key, write_kind::key))
    return err;
  auto name = table_name(t);
  if (!name)
    return name.error();
  bound_sql step;
  auto where = key_condition(t, key, step.params);
  if (!where)
    return where.error();
  step.sql = fmt::format("{} {} WHERE {}{}", head, *name, *where, tail);
  return one_step(std::move(step), how);
}

} // namespace

caf::expected<plan> get(const table_schema& t, const record& key) {
  auto cols = column_list(t);
  if (!cols)
    return cols.error();
  return by_key(t, key, "SELECT " + *cols + " FROM", "", shape::rows);
}

caf::expected<plan> get_many(const table_schema& t,
                             const std::vector<record>& keys) {
  if (keys.empty() || keys.size() > max_batch)
    return make_error(errc::invalid_argument,
                      fmt::format("get_many takes 1 to {} keys (got {})",
                                  max_batch, keys.size()));
  auto n = names_of(t);
  if (!n)
    return n.error();
  std::string cols;
  for (const auto& k : t.primary_key) {
    auto q = quoted(k);
    if (!q)
      return q.error();
    cols += (cols.empty() ? "" : ", ") + *q;
  }
  bool composite = t.primary_key.size() > 1;
  std::string tuple = composite ? "(" : "";
  for (size_t i = 0; i < t.primary_key.size(); ++i)
    tuple += i == 0 ? "?" : ", ?";
  tuple += composite ? ")" : "";
  bound_sql step;
  std::string list;
  for (const auto& key : keys) {
    if (auto err = validate(t, key, write_kind::key))
      return err;
    list += (list.empty() ? "" : ", ") + tuple;
    for (const auto& k : t.primary_key)
      step.params.push_back(*key.find(k));
  }
  step.sql = fmt::format("SELECT {} FROM {} WHERE {} IN ({})", n->columns,
                         n->table, composite ? "(" + cols + ")" : cols, list);
  return one_step(std::move(step), shape::rows);
}

caf::expected<plan> exists(const table_schema& t, const record& key) {
  return by_key(t, key, "SELECT 1 FROM", " LIMIT 1", shape::any_row);
}

caf::expected<plan> count(const table_schema& t) {
  auto name = table_name(t);
  if (!name)
    return name.error();
  return one_step(bound_sql{fmt::format("SELECT COUNT(*) FROM {}", *name), {}},
                  shape::scalar);
}

caf::expected<plan> get_all(const table_schema& t, const page_request& page) {
  if (page.limit > max_limit)
    return limit_error(page.limit);
  auto n = names_of(t);
  if (!n)
    return n.error();
  auto* cols = &n->columns;
  auto* name = &n->table;
  const auto& order = page.order_by.empty() ? t.primary_key : page.order_by;
  std::string order_sql;
  for (const auto& o : order) {
    if (t.column(o) == nullptr)
      return make_error(errc::invalid_argument,
                        fmt::format("table '{}': no column '{}' to order by",
                                    t.name, std::string_view{o}.substr(0, 64)));
    auto q = quoted(o);
    if (!q)
      return q.error();
    order_sql += order_sql.empty() ? " ORDER BY " : ", ";
    order_sql += *q + (page.descending ? " DESC" : "");
  }
  bound_sql step;
  step.sql = fmt::format("SELECT {} FROM {}{} LIMIT ? OFFSET ?", *cols, *name,
                         order_sql);
  step.params = {value{page.limit == 0 ? default_limit : page.limit},
                 value{page.offset}};
  return one_step(std::move(step), shape::rows);
}

caf::expected<plan> find(const table_schema& t, const record& where,
                         uint32_t limit) {
  if (limit > max_limit)
    return limit_error(limit);
  auto n = names_of(t);
  if (!n)
    return n.error();
  auto* cols = &n->columns;
  auto* name = &n->table;
  bound_sql step;
  std::string cond;
  const auto& fields = where.fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& [column, x] = fields[i];
    for (size_t k = 0; k < i; ++k)
      if (fields[k].first == column)
        return make_error(errc::invalid_argument,
                          fmt::format("table '{}': column '{}' is given twice",
                                      t.name,
                                      std::string_view{column}.substr(0, 64)));
    auto* c = t.column(column);
    if (c == nullptr)
      return make_error(errc::invalid_argument,
                        fmt::format("table '{}': no column '{}'", t.name,
                                    std::string_view{column}.substr(0, 64)));
    auto q = quoted(column);
    if (!q)
      return q.error();
    cond += cond.empty() ? " WHERE " : " AND ";
    if (x.is_null()) {
      cond += *q + " IS NULL";
      continue;
    }
    if (auto err = validate_value(*c, x))
      return err;
    cond += *q + " = ?";
    step.params.push_back(x);
  }
  step.sql = fmt::format("SELECT {} FROM {}{} LIMIT ?", *cols, *name, cond);
  step.params.emplace_back(limit == 0 ? default_limit : limit);
  return one_step(std::move(step), shape::rows);
}

caf::expected<plan> create(const table_schema& t, const record& row,
                           dialect d) {
  if (auto err = validate(t, row, write_kind::create))
    return err;
  auto n = names_of(t);
  if (!n)
    return n.error();
  auto* cols = &n->columns;
  auto* name = &n->table;
  bound_sql insert;
  std::string names;
  std::string marks;
  for (const auto& [column, x] : row.fields()) {
    auto q = quoted(column);
    if (!q)
      return q.error();
    names += (names.empty() ? "" : ", ") + *q;
    marks += marks.empty() ? "?" : ", ?";
    insert.params.push_back(x);
  }
  insert.sql = fmt::format("INSERT INTO {} ({}) VALUES ({})", *name, names,
                           marks);
  plan p;
  p.how = shape::written_rows;
  if (d.insert_returning) {
    insert.sql += " RETURNING " + *cols;
    p.steps.push_back(std::move(insert));
    return p;
  }
  p.steps.push_back(std::move(insert));
  // Read it back by its key: given, or generated by auto-increment.
  if (!t.has_primary_key())
    return p; // nothing identifies it: the count only
  bound_sql select;
  std::string where;
  for (const auto& k : t.primary_key) {
    auto q = quoted(k);
    if (!q)
      return q.error();
    where += where.empty() ? "" : " AND ";
    if (auto x = row.find(k); x != nullptr && !x->is_null()) {
      where += *q + " = ?";
      select.params.push_back(*x);
    } else if (t.column(k)->auto_increment) {
      where += *q + " = LAST_INSERT_ID()";
    } else {
      return p; // a key the server made up otherwise: the count only
    }
  }
  select.sql = fmt::format("SELECT {} FROM {} WHERE {}", *cols, *name, where);
  p.steps.push_back(std::move(select));
  return p;
}

caf::expected<plan> update(const table_schema& t, const record& key,
                           const record& changes) {
  if (auto err = validate(t, key, write_kind::key))
    return err;
  if (auto err = validate(t, changes, write_kind::update))
    return err;
  auto name = table_name(t);
  if (!name)
    return name.error();
  bound_sql write;
  std::string sets;
  for (const auto& [column, x] : changes.fields()) {
    auto q = quoted(column);
    if (!q)
      return q.error();
    sets += (sets.empty() ? "" : ", ") + *q + " = ?";
    write.params.push_back(x);
  }
  auto where = key_condition(t, key, write.params);
  if (!where)
    return where.error();
  write.sql = fmt::format("UPDATE {} SET {} WHERE {}", *name, sets, *where);
  // Read back by the key it has now.
  record now;
  for (const auto& k : t.primary_key) {
    auto changed = changes.find(k);
    now.set(k, changed != nullptr ? *changed : *key.find(k));
  }
  auto read = select_by_key(t, now);
  if (!read)
    return read.error();
  plan p;
  p.how = shape::written_rows;
  p.steps.push_back(std::move(write));
  p.steps.push_back(std::move(*read));
  return p;
}

caf::expected<plan> remove(const table_schema& t, const record& key) {
  return by_key(t, key, "DELETE FROM", "", shape::affected);
}

std::vector<record> records_of(const result_set& set) {
  std::vector<record> out;
  const auto& cols = set.columns();
  out.reserve(set.row_count());
  for (size_t r = 0; r < set.row_count(); ++r) {
    record x;
    auto row = set.row(r);
    for (size_t c = 0; c < cols.size(); ++c)
      x.set(cols[c].name, row[c]);
    out.push_back(std::move(x));
  }
  return out;
}

caf::expected<repository_result> read_outcome(const plan& p,
                                              const std::vector<result>& rs) {
  if (rs.size() != p.steps.size() || rs.empty())
    return make_error(errc::internal,
                      fmt::format("a repository plan of {} statements got {} "
                                  "results",
                                  p.steps.size(), rs.size()));
  repository_result out;
  const auto& last = rs.back().first();
  switch (p.how) {
    case shape::rows:
      out.rows = records_of(last);
      out.count = out.rows.size();
      break;
    case shape::written_rows:
      out.rows = records_of(last);
      out.count = rs.front().first().affected_rows;
      if (rs.size() == 1 && !out.rows.empty())
        out.count = out.rows.size(); // RETURNING: one row per row written
      break;
    case shape::affected:
      out.count = last.affected_rows;
      break;
    case shape::scalar: {
      auto n = last.scalar<uint64_t>();
      if (!n)
        return n.error();
      out.count = *n;
      break;
    }
    case shape::any_row:
      out.count = last.row_count() > 0 ? 1 : 0;
      break;
  }
  return out;
}

bool schema_drift(const table_schema& t, const result_set& rows) {
  const auto& cols = rows.columns();
  if (cols.empty())
    return false; // no rows were asked for
  size_t visible = 0;
  for (const auto& c : t.columns)
    if (!c.invisible)
      ++visible;
  if (cols.size() != visible)
    return true;
  size_t i = 0;
  for (const auto& c : t.columns) {
    if (c.invisible)
      continue;
    if (cols[i++].name != c.name)
      return true;
  }
  return false;
}

} // namespace troupe::repository_sql
