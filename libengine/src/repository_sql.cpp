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


caf::error column_error(const table_schema& t, std::string_view column,
                        std::string_view problem) {
  return make_error(errc::invalid_argument,
                    fmt::format("table '{}': {} '{}'{}", t.name,
                                problem.empty() ? "no column" : "column",
                                column.substr(0, 64), problem));
}

// A column of `t` named once in `names[0..i]`: its schema, or why not.
template <class Names, class Name>
caf::expected<const column_schema*>
named_once(const table_schema& t, const Names& names, size_t i,
           Name name_of) {
  const std::string& column = name_of(names[i]);
  for (size_t k = 0; k < i; ++k)
    if (name_of(names[k]) == column)
      return column_error(t, column, " is given twice");
  auto* c = t.column(column);
  if (c == nullptr)
    return column_error(t, column, "");
  return c;
}

// " WHERE `a` = ? AND `b` IS NULL" for the columns of `where` (each
// once, each known, each value valid for its column), the values appended
// to `params`; empty for an empty `where`.
caf::expected<std::string> equals_condition(const table_schema& t,
                                            const record& where,
                                            std::vector<value>& params) {
  std::string cond;
  const auto& fields = where.fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& [column, x] = fields[i];
    auto c = named_once(t, fields, i,
                        [](const record::field& f) -> const std::string& {
                          return f.first;
                        });
    if (!c)
      return c.error();
    auto q = quoted(column);
    if (!q)
      return q.error();
    cond += cond.empty() ? " WHERE " : " AND ";
    if (x.is_null()) {
      cond += *q + " IS NULL";
      continue;
    }
    if (auto err = validate_value(**c, x))
      return err;
    cond += *q + " = ?";
    params.push_back(x);
  }
  return cond;
}

// "`a` = ?, `b` = ?" for `changes`, the values appended to `params`.
caf::expected<std::string> set_clause(const record& changes,
                                      std::vector<value>& params) {
  std::string sets;
  for (const auto& [column, x] : changes.fields()) {
    auto q = quoted(column);
    if (!q)
      return q.error();
    sets += (sets.empty() ? "" : ", ") + *q + " = ?";
    params.push_back(x);
  }
  return sets;
}

// "`a`" or "(`a`, `b`)": the primary key as the left side of a comparison
// with one key ("?" or "(?, ?)", in `marks`).
struct key_tuple {
  std::string columns;
  std::string marks;
};

caf::expected<key_tuple> key_tuple_of(const table_schema& t) {
  key_tuple out;
  for (const auto& k : t.primary_key) {
    auto q = quoted(k);
    if (!q)
      return q.error();
    out.columns += (out.columns.empty() ? "" : ", ") + *q;
    out.marks += out.marks.empty() ? "?" : ", ?";
  }
  if (t.primary_key.size() > 1) {
    out.columns = "(" + out.columns + ")";
    out.marks = "(" + out.marks + ")";
  }
  return out;
}

// "<key> IN (<marks>, …)" for keys[first..last), their values appended to
// `params` in key order (the keys validated before). With `pad`, the list
// is padded to a power of two by repeating the last key (IN ignores
// repeats): a connection then prepares at most 9 such statements instead
// of one per count, which would crowd its statement cache.
std::string key_in_list(const table_schema& t, const key_tuple& kt,
                        const std::vector<record>& keys, size_t first,
                        size_t last, std::vector<value>& params,
                        bool pad = false) {
  std::string list;
  for (size_t i = first; i < last; ++i) {
    list += (list.empty() ? "" : ", ") + kt.marks;
    for (const auto& k : t.primary_key)
      params.push_back(*keys[i].find(k));
  }
  size_t padded = 1;
  while (pad && padded < last - first)
    padded *= 2;
  for (size_t i = last - first; pad && i < padded; ++i) {
    list += ", " + kt.marks;
    for (const auto& k : t.primary_key)
      params.push_back(*keys[last - 1].find(k));
  }
  return fmt::format("{} IN ({})", kt.columns, list);
}

// Each of `xs` validated for `kind`; the error of the first bad one starts
// with "<what> <index>: ".
caf::error validate_each(const table_schema& t, const std::vector<record>& xs,
                         write_kind kind, std::string_view what) {
  for (size_t i = 0; i < xs.size(); ++i)
    if (auto err = validate(t, xs[i], kind)) {
      auto x = info(err);
      return make_error(x.code, fmt::format("{} {}: {}", what, i, x.message));
    }
  return {};
}

// The key tuple of `t` for 1 to `most` keys, each validated (an error
// names the first bad key by its index).
caf::expected<key_tuple> checked_keys(const table_schema& t,
                                      const std::vector<record>& keys,
                                      size_t most, std::string_view what) {
  if (keys.empty() || keys.size() > most)
    return make_error(errc::invalid_argument,
                      fmt::format("{} takes 1 to {} keys (got {})", what, most,
                                  keys.size()));
  if (auto err = validate_each(t, keys, write_kind::key, "key"))
    return err;
  return key_tuple_of(t);
}

// "UPDATE <table> SET `a` = ?, …" (the changes validated for update, their
// values appended to `params`), or "DELETE FROM <table>" without changes.
caf::expected<std::string> write_head(const table_schema& t,
                                      const record* changes,
                                      std::vector<value>& params) {
  if (changes != nullptr)
    if (auto err = validate(t, *changes, write_kind::update))
      return err;
  auto table = table_name(t);
  if (!table || changes == nullptr)
    return !table ? table : "DELETE FROM " + *table;
  auto sets = set_clause(*changes, params);
  if (!sets)
    return sets.error();
  return fmt::format("UPDATE {} SET {}", *table, *sets);
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
  auto kt = checked_keys(t, keys, max_batch, "get_many");
  if (!kt)
    return kt.error();
  auto n = names_of(t);
  if (!n)
    return n.error();
  bound_sql step;
  auto in = key_in_list(t, *kt, keys, 0, keys.size(), step.params, true);
  step.sql = fmt::format("SELECT {} FROM {} WHERE {}", n->columns, n->table,
                         in);
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
  bound_sql step;
  auto cond = equals_condition(t, where, step.params);
  if (!cond)
    return cond.error();
  step.sql = fmt::format("SELECT {} FROM {}{} LIMIT ?", n->columns, n->table,
                         *cond);
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

namespace {

// The bytes a value adds to an execution request, as the driver's request
// size check counts them (an upper bound), plus its share of the null
// bitmap and type header.
size_t request_bytes(const value& x) {
  size_t payload = 16;
  if (auto s = x.get_if<std::string>())
    payload = s->size();
  else if (auto b = x.get_if<bytes>())
    payload = b->size();
  else if (auto d = x.get_if<decimal>())
    payload = d->text.size();
  return 9 + payload + 3;
}

// One row's values in schema order, and which columns they are.
struct ordered_row {
  std::vector<size_t> columns; // positions in the schema
  std::vector<value> values;
  size_t bytes = 0;
};

ordered_row order_row(const table_schema& t, record& row) {
  auto fields = row.take_fields();
  std::vector<std::pair<size_t, value*>> at;
  at.reserve(fields.size());
  for (auto& [name, x] : fields) {
    size_t i = 0;
    while (t.columns[i].name != name)
      ++i; // validated: the column exists
    at.emplace_back(i, &x);
  }
  std::sort(at.begin(), at.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  ordered_row out;
  out.columns.reserve(at.size());
  out.values.reserve(at.size());
  for (auto& [i, x] : at) {
    out.columns.push_back(i);
    out.bytes += request_bytes(*x);
    out.values.push_back(std::move(*x));
  }
  return out;
}

// INSERT INTO <table> (<columns>) VALUES (?, ...) repeated `rows` times.
std::string insert_sql(const std::string& table, const table_schema& t,
                       const std::vector<size_t>& columns, size_t rows) {
  std::string names;
  std::string marks = "(";
  for (auto i : columns) {
    names += (names.empty() ? "" : ", ")
             + *sql::quote_identifier(t.columns[i].name);
    marks += marks.size() == 1 ? "?" : ", ?";
  }
  marks += ')';
  std::string out = fmt::format("INSERT INTO {} ({}) VALUES ", table, names);
  out.reserve(out.size() + rows * (marks.size() + 2));
  for (size_t r = 0; r < rows; ++r) {
    if (r > 0)
      out += ", ";
    out += marks;
  }
  return out;
}

constexpr size_t max_statement_params = 65535;

} // namespace

caf::expected<plan> create_many(const table_schema& t,
                                std::vector<record> rows,
                                const bulk_options& o) {
  if (rows.empty())
    return make_error(errc::invalid_argument, "create_many got no rows");
  if (rows.size() > max_create_many)
    return make_error(errc::invalid_argument,
                      fmt::format("create_many takes at most {} rows per "
                                  "call ({} given)",
                                  max_create_many, rows.size()));
  if (auto err = validate_each(t, rows, write_kind::create, "row"))
    return err;
  auto name = table_name(t);
  if (!name)
    return name.error();
  for (const auto& c : t.columns)
    if (auto q = quoted(c.name); !q)
      return q.error();
  std::vector<ordered_row> ordered;
  ordered.reserve(rows.size());
  for (auto& r : rows)
    ordered.push_back(order_row(t, r));
  rows.clear();
  rows.shrink_to_fit();
  auto budget = std::max<size_t>(o.max_step_bytes, 1);
  plan p;
  p.how = shape::inserted;
  p.atomic = true;
  // Runs of rows naming the same columns, cut into steps.
  size_t i = 0;
  while (i < ordered.size()) {
    const auto& columns = ordered[i].columns;
    size_t end = i;
    size_t widest = 0;
    while (end < ordered.size() && ordered[end].columns == columns) {
      widest = std::max(widest, ordered[end].bytes);
      ++end;
    }
    auto width = std::max<size_t>(columns.size(), 1);
    if (o.array_binding && !columns.empty()) {
      // Greedy by bytes: one INSERT, a parameter set per row.
      while (i < end) {
        bound_sql step;
        step.sql = insert_sql(*name, t, columns, 1);
        size_t bytes = 0;
        size_t first = i;
        while (i < end && (i == first || bytes + ordered[i].bytes <= budget)) {
          bytes += ordered[i].bytes;
          ++i;
        }
        step.params.reserve((i - first) * columns.size());
        for (size_t r = first; r < i; ++r)
          for (auto& x : ordered[r].values)
            step.params.push_back(std::move(x));
        step.sets = static_cast<uint32_t>(i - first);
        p.steps.push_back(std::move(step));
      }
    } else {
      // Multi-row INSERTs of one size (the last may be shorter), so that
      // the server prepares two statements, not one per step.
      auto per_step = std::min(max_statement_params / width,
                               std::max<size_t>(budget / std::max<size_t>(
                                                           widest, 1),
                                                1));
      per_step = std::max<size_t>(per_step, 1);
      while (i < end) {
        auto n = std::min(per_step, end - i);
        bound_sql step;
        step.sql = insert_sql(*name, t, columns, n);
        step.params.reserve(n * columns.size());
        for (size_t r = i; r < i + n; ++r)
          for (auto& x : ordered[r].values)
            step.params.push_back(std::move(x));
        i += n;
        p.steps.push_back(std::move(step));
      }
    }
  }
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
  auto sets = set_clause(changes, write.params);
  if (!sets)
    return sets.error();
  auto where = key_condition(t, key, write.params);
  if (!where)
    return where.error();
  write.sql = fmt::format("UPDATE {} SET {} WHERE {}", *name, *sets, *where);
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

namespace {

// `<head> <table> [SET …]<where>`, refusing an empty `where`.
caf::expected<plan> where_write(const table_schema& t, const record& where,
                                const record* changes) {
  if (where.empty())
    return make_error(errc::invalid_argument,
                      fmt::format("table '{}': a batch {} with no where "
                                  "columns would change every row",
                                  t.name,
                                  changes != nullptr ? "update" : "delete"));
  bound_sql step;
  auto head = write_head(t, changes, step.params);
  if (!head)
    return head.error();
  auto cond = equals_condition(t, where, step.params);
  if (!cond)
    return cond.error();
  step.sql = *head + *cond;
  return one_step(std::move(step), shape::affected);
}

// `<head> WHERE <key> IN (…)` over the keys in chunks of max_batch, the
// values of `changes` (if any) bound first in each.
caf::expected<plan> keys_write(const table_schema& t,
                               const std::vector<record>& keys,
                               const record* changes) {
  if (!t.has_primary_key())
    return make_error(errc::unsupported,
                      fmt::format("table '{}' has no primary key", t.name));
  auto kt = checked_keys(t, keys, max_keys, "a batch by keys");
  if (!kt)
    return kt.error();
  std::vector<value> set_values;
  auto head = write_head(t, changes, set_values);
  if (!head)
    return head.error();
  plan p;
  p.how = shape::affected;
  p.atomic = true;
  for (size_t i = 0; i < keys.size(); i += max_batch) {
    auto last = std::min(keys.size(), i + max_batch);
    bound_sql step;
    step.params = set_values;
    auto in = key_in_list(t, *kt, keys, i, last, step.params);
    step.sql = fmt::format("{} WHERE {}", *head, in);
    p.steps.push_back(std::move(step));
  }
  return p;
}

// AVG means something for these (MariaDB would average other columns'
// values converted to numbers, with warnings).
bool numeric(column_type x) {
  switch (x) {
    case column_type::tinyint:
    case column_type::smallint:
    case column_type::mediumint:
    case column_type::int_:
    case column_type::bigint:
    case column_type::float_:
    case column_type::double_:
    case column_type::decimal:
      return true;
    default:
      return false;
  }
}

// Each column's values in a stats row: count, distinct, nulls, min, max,
// avg (after the row count in cell 0).
constexpr size_t stats_per_column = 6;

} // namespace

caf::expected<plan> update_where(const table_schema& t, const record& where,
                                 const record& changes) {
  return where_write(t, where, &changes);
}

caf::expected<plan> delete_where(const table_schema& t, const record& where) {
  return where_write(t, where, nullptr);
}

caf::expected<plan> update_keys(const table_schema& t,
                                const std::vector<record>& keys,
                                const record& changes) {
  return keys_write(t, keys, &changes);
}

caf::expected<plan> delete_keys(const table_schema& t,
                                const std::vector<record>& keys) {
  return keys_write(t, keys, nullptr);
}

caf::expected<plan> stats(const table_schema& t,
                          const std::vector<std::string>& columns) {
  if (columns.empty() || columns.size() > max_stats_columns)
    return make_error(errc::invalid_argument,
                      fmt::format("statistics take 1 to {} columns (got {})",
                                  max_stats_columns, columns.size()));
  auto name = table_name(t);
  if (!name)
    return name.error();
  std::string select = "COUNT(*)";
  for (size_t i = 0; i < columns.size(); ++i) {
    auto c = named_once(t, columns, i,
                        [](const std::string& x) -> const std::string& {
                          return x;
                        });
    if (!c)
      return c.error();
    auto q = quoted(columns[i]);
    if (!q)
      return q.error();
    select += fmt::format(", COUNT({0}), COUNT(DISTINCT {0}), "
                          "COUNT(*) - COUNT({0}), MIN({0}), MAX({0}), {1}",
                          *q,
                          numeric((*c)->type) ? "AVG(" + *q + ")" : "NULL");
  }
  // LIMIT ? binds a value: read through the binary protocol, so MIN and
  // MAX of a FLOAT come back exact (see the top of the header).
  plan p;
  p.how = shape::stats;
  p.columns = columns;
  p.steps.push_back(
    bound_sql{fmt::format("SELECT {} FROM {} LIMIT ?", select, *name),
              {value{1}}});
  return p;
}

std::string token_table(const table_schema& t) {
  return t.database + "." + t.name;
}

caf::expected<plan> page_after(const table_schema& t, const page_token& from,
                               uint32_t limit) {
  if (!t.has_primary_key())
    return make_error(errc::unsupported,
                      fmt::format("table '{}' has no primary key to page by",
                                  t.name));
  if (limit > max_limit)
    return limit_error(limit);
  if (!from.first()) {
    if (from.table != token_table(t))
      return make_error(errc::invalid_argument,
                        fmt::format("table '{}': the page token is not one "
                                    "of this table's",
                                    t.name));
    if (auto err = validate(t, from.after, write_kind::key))
      return make_error(errc::invalid_argument,
                        "a malformed page token: " + info(err).message);
  }
  auto n = names_of(t);
  if (!n)
    return n.error();
  auto kt = key_tuple_of(t);
  if (!kt)
    return kt.error();
  std::string order;
  for (const auto& k : t.primary_key)
    order += (order.empty() ? "" : ", ") + *quoted(k);
  plan p;
  p.how = shape::keyset;
  p.columns = t.primary_key;
  p.table = token_table(t);
  p.limit = limit == 0 ? default_limit : limit;
  bound_sql step;
  std::string where;
  if (!from.first()) {
    where = fmt::format(" WHERE {} > {}", kt->columns, kt->marks);
    for (const auto& k : t.primary_key)
      step.params.push_back(*from.after.find(k));
  }
  step.sql = fmt::format("SELECT {} FROM {}{} ORDER BY {} LIMIT ?",
                         n->columns, n->table, where, order);
  step.params.emplace_back(uint64_t{p.limit} + 1);
  p.steps.push_back(std::move(step));
  return p;
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
      for (const auto& r : rs)
        out.count += r.first().affected_rows;
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
    case shape::inserted:
      for (const auto& r : rs)
        out.count += r.first().affected_rows;
      out.first_id = rs.front().first().last_insert_id;
      break;
    case shape::stats:
    case shape::keyset:
      return make_error(errc::internal,
                        "a statistics or keyset plan read as rows");
  }
  return out;
}

namespace {

caf::error misfit(std::string_view what) {
  return make_error(errc::internal,
                    fmt::format("the results do not fit the {} plan", what));
}

} // namespace

caf::expected<field_stats> read_stats(const plan& p,
                                      const std::vector<result>& rs) {
  if (p.how != shape::stats || rs.size() != p.steps.size() || rs.empty())
    return misfit("statistics");
  const auto& set = rs.back().first();
  if (set.row_count() != 1
      || set.columns().size() != 1 + stats_per_column * p.columns.size())
    return misfit("statistics");
  auto row = set.row(0);
  auto count = [&row](size_t i) -> caf::expected<uint64_t> {
    return row[i].is_null() ? uint64_t{0} : row[i].as<uint64_t>();
  };
  field_stats out;
  auto rows = count(0);
  if (!rows)
    return rows.error();
  out.rows = *rows;
  for (size_t c = 0; c < p.columns.size(); ++c) {
    auto at = 1 + c * stats_per_column;
    column_stats x;
    x.column = p.columns[c];
    auto n = count(at);
    auto distinct = count(at + 1);
    auto nulls = count(at + 2);
    if (!n || !distinct || !nulls)
      return misfit("statistics");
    x.count = *n;
    x.distinct = *distinct;
    x.nulls = *nulls;
    x.min = row[at + 3];
    x.max = row[at + 4];
    x.avg = row[at + 5];
    out.columns.push_back(std::move(x));
  }
  return out;
}

caf::expected<keyset_page> read_keyset(const plan& p,
                                       const std::vector<result>& rs) {
  if (p.how != shape::keyset || rs.size() != p.steps.size() || rs.empty())
    return misfit("keyset");
  keyset_page out;
  out.rows = records_of(rs.back().first());
  if (out.rows.size() <= p.limit)
    return out; // the last page
  out.rows.resize(p.limit);
  page_token next;
  next.table = p.table;
  const auto& last = out.rows.back();
  for (const auto& k : p.columns) {
    auto x = last.find(k);
    if (x == nullptr)
      return misfit("keyset");
    next.after.set(k, *x);
  }
  out.next = std::move(next);
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
