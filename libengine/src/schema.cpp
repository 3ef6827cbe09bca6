#include "troupe/schema.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "troupe/error.hpp"
#include "troupe/sql.hpp"

namespace troupe {

namespace {

// Columns of information_schema.COLUMNS read by reflect_columns, in order.
constexpr std::string_view columns_select
  = "SELECT TABLE_SCHEMA, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
    "COLUMN_DEFAULT, EXTRA, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, "
    "NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_SET_NAME, "
    "GENERATION_EXPRESSION "
    "FROM information_schema.COLUMNS WHERE ";

constexpr std::string_view keys_select
  = "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
    "WHERE NON_UNIQUE = 0 AND ";

caf::expected<bound_sql> reflect(std::string_view head,
                                         std::string_view tail,
                                         std::string_view database,
                                         std::string_view table) {
  // Bound as values, never spliced; checked anyway so that a bad name gets
  // a clear error instead of "not found".
  if (auto q = sql::quote_identifier(table); !q)
    return std::move(q.error());
  if (!database.empty())
    if (auto q = sql::quote_identifier(database); !q)
      return std::move(q.error());
  bound_sql out;
  out.sql = std::string{head};
  if (database.empty()) {
    out.sql += "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";
  } else {
    out.sql += "TABLE_SCHEMA = ? AND TABLE_NAME = ?";
    out.params.emplace_back(std::string{database});
  }
  out.params.emplace_back(std::string{table});
  out.sql += tail;
  return out;
}

// The text of a cell (string or bytes), nullopt for NULL.
std::optional<std::string> text_of(const value& x) {
  if (auto s = x.get_if<std::string>())
    return *s;
  if (auto b = x.get_if<bytes>())
    return std::string{b->begin(), b->end()};
  if (x.is_null())
    return std::nullopt;
  auto s = x.as<std::string>();
  if (s)
    return std::move(*s);
  return std::nullopt;
}

uint64_t number_of(const value& x) {
  if (auto u = x.get_if<uint64_t>())
    return *u;
  if (auto i = x.get_if<int64_t>())
    return *i < 0 ? 0 : static_cast<uint64_t>(*i);
  if (auto s = text_of(x)) {
    uint64_t n = 0;
    for (char c : *s) {
      if (c < '0' || c > '9')
        return 0;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    return n;
  }
  return 0;
}

std::string lower(std::string_view x) {
  std::string out{x};
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

bool is_number(std::string_view x) {
  if (x.empty())
    return false;
  size_t i = (x[0] == '-' || x[0] == '+') ? 1 : 0;
  bool digits = false;
  bool dot = false;
  for (; i < x.size(); ++i) {
    if (x[i] >= '0' && x[i] <= '9') {
      digits = true;
    } else if (x[i] == '.' && !dot) {
      dot = true;
    } else if ((x[i] == 'e' || x[i] == 'E') && digits) {
      // Exponent: the rest must be an optionally signed integer.
      size_t j = i + 1;
      if (j < x.size() && (x[j] == '-' || x[j] == '+'))
        ++j;
      if (j == x.size())
        return false;
      return std::all_of(x.begin() + static_cast<ptrdiff_t>(j), x.end(),
                         [](char c) { return c >= '0' && c <= '9'; });
    } else {
      return false;
    }
  }
  return digits;
}

caf::error shape_error(std::string_view what) {
  return make_error(errc::internal,
                    fmt::format("reflection: the {} result does not have the "
                                "expected columns",
                                what));
}

} // namespace

bool column_schema::optional_on_insert() const {
  return nullable || auto_increment || generated != generated_kind::no
         || default_value.what != column_default::kind::none;
}

const column_schema* table_schema::column(std::string_view x) const {
  auto i = std::find_if(columns.begin(), columns.end(),
                        [&](const column_schema& c) { return c.name == x; });
  return i == columns.end() ? nullptr : &*i;
}

std::vector<std::string> table_schema::unsupported_columns() const {
  std::vector<std::string> out;
  for (const auto& c : columns)
    if (c.type == column_type::unknown)
      out.push_back(c.name);
  return out;
}

caf::expected<bound_sql> reflect_columns(std::string_view database,
                                                 std::string_view table) {
  return reflect(columns_select, " ORDER BY ORDINAL_POSITION", database,
                 table);
}

caf::expected<bound_sql> reflect_keys(std::string_view database,
                                              std::string_view table) {
  return reflect(keys_select, " ORDER BY INDEX_NAME, SEQ_IN_INDEX", database,
                 table);
}

column_type column_type_of(std::string_view data_type) {
  static const std::map<std::string, column_type, std::less<>> types{
    {"tinyint", column_type::tinyint},
    {"smallint", column_type::smallint},
    {"mediumint", column_type::mediumint},
    {"int", column_type::int_},
    {"integer", column_type::int_},
    {"bigint", column_type::bigint},
    {"year", column_type::year},
    {"float", column_type::float_},
    {"double", column_type::double_},
    {"real", column_type::double_},
    {"decimal", column_type::decimal},
    {"numeric", column_type::decimal},
    {"bit", column_type::bit},
    {"date", column_type::date},
    {"time", column_type::time},
    {"datetime", column_type::datetime},
    {"timestamp", column_type::timestamp},
    {"char", column_type::char_},
    {"varchar", column_type::varchar},
    {"tinytext", column_type::text},
    {"text", column_type::text},
    {"mediumtext", column_type::text},
    {"longtext", column_type::text},
    {"binary", column_type::binary},
    {"varbinary", column_type::varbinary},
    {"tinyblob", column_type::blob},
    {"blob", column_type::blob},
    {"mediumblob", column_type::blob},
    {"longblob", column_type::blob},
    {"json", column_type::json},
    {"enum", column_type::enum_},
    {"set", column_type::set},
    {"inet4", column_type::inet4},
    {"inet6", column_type::inet6},
    {"uuid", column_type::uuid},
  };
  auto i = types.find(lower(data_type));
  return i == types.end() ? column_type::unknown : i->second;
}

caf::expected<std::vector<std::string>>
parse_members(std::string_view sql_type) {
  auto bad = [&] {
    return make_error(errc::invalid_argument,
                      fmt::format("not an ENUM or SET type: {}",
                                  sql_type.substr(0, 64)));
  };
  auto t = lower(sql_type.substr(0, 5));
  size_t at = 0;
  if (t.rfind("enum(", 0) == 0)
    at = 5;
  else if (t.rfind("set(", 0) == 0)
    at = 4;
  else
    return bad();
  std::vector<std::string> out;
  for (;;) {
    if (at >= sql_type.size() || sql_type[at] != '\'')
      return bad();
    ++at;
    std::string member;
    for (;;) {
      if (at >= sql_type.size())
        return bad();
      char c = sql_type[at++];
      if (c == '\'') {
        if (at < sql_type.size() && sql_type[at] == '\'') {
          member += '\''; // '' is a quote inside the member
          ++at;
          continue;
        }
        break;
      }
      if (c == '\\' && at < sql_type.size()) {
        member += sql_type[at++];
        continue;
      }
      member += c;
    }
    out.push_back(std::move(member));
    if (at >= sql_type.size())
      return bad();
    if (sql_type[at] == ',') {
      ++at;
      continue;
    }
    if (sql_type[at] == ')' && at + 1 == sql_type.size())
      return out;
    return bad();
  }
}

column_default parse_default(const value& x) {
  column_default out;
  auto text = text_of(x);
  if (!text)
    return out; // no default
  if (*text == "NULL") {
    out.what = column_default::kind::null;
    return out;
  }
  if (text->size() >= 2 && text->front() == '\'' && text->back() == '\'') {
    out.what = column_default::kind::literal;
    // Quotes doubled inside, as in SQL.
    for (size_t i = 1; i + 1 < text->size(); ++i) {
      out.text += (*text)[i];
      if ((*text)[i] == '\'' && (*text)[i + 1] == '\'')
        ++i;
    }
    return out;
  }
  out.what = is_number(*text) ? column_default::kind::literal
                              : column_default::kind::expression;
  out.text = std::move(*text);
  return out;
}

caf::expected<table_schema> build_table_schema(std::string_view table,
                                               const result& columns,
                                               const result& keys) {
  constexpr size_t n_columns = 13;
  if (columns.columns().size() != n_columns)
    return shape_error("columns");
  if (keys.columns().size() != 2)
    return shape_error("keys");
  if (columns.row_count() == 0)
    return make_error(errc::not_found,
                      fmt::format("table '{}' does not exist (or this "
                                  "account may not see it)",
                                  table.substr(0, 64)));
  table_schema out;
  out.name = std::string{table};
  for (size_t r = 0; r < columns.row_count(); ++r) {
    auto row = columns.row(r);
    auto cell = [&](size_t i) -> const value& { return row[i]; };
    if (r == 0)
      out.database = text_of(cell(0)).value_or("");
    column_schema c;
    c.name = text_of(cell(1)).value_or("");
    c.data_type = lower(text_of(cell(2)).value_or(""));
    c.sql_type = text_of(cell(3)).value_or("");
    c.type = column_type_of(c.data_type);
    c.nullable = text_of(cell(4)).value_or("") == "YES";
    c.default_value = parse_default(cell(5));
    auto extra = lower(text_of(cell(6)).value_or(""));
    c.auto_increment = extra.find("auto_increment") != std::string::npos;
    c.on_update = extra.find("on update") != std::string::npos;
    c.invisible = extra.find("invisible") != std::string::npos;
    if (extra.find("virtual generated") != std::string::npos
        || extra.find("virtual") == 0)
      c.generated = generated_kind::virtual_column;
    else if (extra.find("stored generated") != std::string::npos
             || extra.find("persistent") == 0 || extra.find("stored") == 0)
      c.generated = generated_kind::stored;
    c.max_length = number_of(cell(7));
    c.precision = static_cast<uint32_t>(number_of(cell(8)));
    c.scale = static_cast<uint32_t>(number_of(cell(9)));
    c.fractional_digits = static_cast<uint32_t>(number_of(cell(10)));
    c.charset = text_of(cell(11)).value_or("");
    c.generation_expression = text_of(cell(12)).value_or("");
    c.is_unsigned = lower(c.sql_type).find("unsigned") != std::string::npos;
    if (c.type == column_type::bit)
      c.max_length = c.precision; // BIT(n): n bits
    if (c.type == column_type::enum_ || c.type == column_type::set) {
      auto members = parse_members(c.sql_type);
      if (!members)
        c.type = column_type::unknown; // reported, never guessed
      else
        c.members = std::move(*members);
    }
    // A generated column shows its expression as default on some
    // versions: it has none of its own.
    if (c.generated != generated_kind::no)
      c.default_value = {};
    out.columns.push_back(std::move(c));
  }
  for (size_t r = 0; r < keys.row_count(); ++r) {
    auto row = keys.row(r);
    auto index = text_of(row[0]).value_or("");
    auto col = text_of(row[1]).value_or("");
    if (index == "PRIMARY") {
      out.primary_key.push_back(std::move(col));
      continue;
    }
    if (out.unique_keys.empty() || out.unique_keys.back().name != index)
      out.unique_keys.push_back(unique_key{index, {}});
    out.unique_keys.back().columns.push_back(std::move(col));
  }
  return out;
}

} // namespace troupe
