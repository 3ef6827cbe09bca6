#include "troupe/result.hpp"

#include <strings.h>

#include <fmt/format.h>

namespace troupe {

std::string to_string(column_type x) {
  switch (x) {
    case column_type::unknown:
      return "unknown";
    case column_type::null:
      return "null";
    case column_type::tinyint:
      return "tinyint";
    case column_type::smallint:
      return "smallint";
    case column_type::mediumint:
      return "mediumint";
    case column_type::int_:
      return "int";
    case column_type::bigint:
      return "bigint";
    case column_type::year:
      return "year";
    case column_type::float_:
      return "float";
    case column_type::double_:
      return "double";
    case column_type::decimal:
      return "decimal";
    case column_type::bit:
      return "bit";
    case column_type::date:
      return "date";
    case column_type::time:
      return "time";
    case column_type::datetime:
      return "datetime";
    case column_type::timestamp:
      return "timestamp";
    case column_type::char_:
      return "char";
    case column_type::varchar:
      return "varchar";
    case column_type::text:
      return "text";
    case column_type::binary:
      return "binary";
    case column_type::varbinary:
      return "varbinary";
    case column_type::blob:
      return "blob";
    case column_type::json:
      return "json";
    case column_type::enum_:
      return "enum";
    case column_type::set:
      return "set";
    case column_type::geometry:
      return "geometry";
    case column_type::inet4:
      return "inet4";
    case column_type::inet6:
      return "inet6";
    case column_type::uuid:
      return "uuid";
  }
  return "unknown";
}

bool operator==(const column& x, const column& y) {
  return x.name == y.name && x.org_name == y.org_name && x.table == y.table
         && x.org_table == y.org_table && x.database == y.database
         && x.type == y.type && x.flags == y.flags && x.length == y.length
         && x.decimals == y.decimals && x.charset == y.charset;
}

// -- row_view -----------------------------------------------------------------

size_t row_view::size() const {
  return set_->columns().size();
}

const value& row_view::operator[](size_t i) const {
  return set_->cells()[index_ * size() + i];
}

caf::expected<const value*> row_view::at(size_t i) const {
  if (i >= size())
    return make_error(errc::not_found,
                      fmt::format("column index {} out of range (the row has "
                                  "{} columns)",
                                  i, size()));
  return &(*this)[i];
}

caf::expected<const value*> row_view::at(std::string_view name) const {
  auto idx = set_->column_index(name);
  if (!idx)
    return std::move(idx.error());
  return &(*this)[*idx];
}

caf::error row_view::annotate(const caf::error& err, size_t column) const {
  auto x = info(err);
  return make_error(x.code, fmt::format("column '{}' (#{}): {}",
                                        set_->columns()[column].name, column,
                                        x.message));
}

// -- result_set ---------------------------------------------------------------

caf::expected<size_t> result_set::column_index(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    const auto& n = columns_[i].name;
    if (n.size() == name.size()
        && strncasecmp(n.data(), name.data(), n.size()) == 0)
      return i;
  }
  std::string known;
  for (const auto& c : columns_) {
    if (!known.empty())
      known += ", ";
    known += c.name;
  }
  return make_error(errc::not_found,
                    fmt::format("no column named '{}' (columns: {})", name,
                                known));
}

bool operator==(const result_set& x, const result_set& y) {
  return x.columns_ == y.columns_ && x.cells_ == y.cells_
         && x.affected_rows == y.affected_rows
         && x.last_insert_id == y.last_insert_id && x.warnings == y.warnings
         && x.info == y.info;
}

// -- result -------------------------------------------------------------------

const result_set& result::first() const {
  static const result_set empty_set;
  return sets_.empty() ? empty_set : sets_.front();
}

size_t result::memory_size() const {
  size_t total = sizeof(result);
  for (const auto& set : sets_) {
    total += sizeof(result_set) + set.columns().size() * sizeof(column)
             + set.cells().size() * sizeof(value) + set.info.size();
    for (const auto& cell : set.cells()) {
      if (auto s = cell.get_if<std::string>())
        total += s->size();
      else if (auto b = cell.get_if<bytes>())
        total += b->size();
      else if (auto d = cell.get_if<decimal>())
        total += d->text.size();
    }
  }
  return total;
}

} // namespace troupe
