#pragma once

// A record: values by column name, checked against a reflected schema
// before any SQL runs.
//
//   troupe::record r{{"name", "ada"}, {"age", 36}};
//   if (auto err = troupe::validate(schema, r, troupe::write_kind::create))
//     ...; // invalid_argument naming the column and the problem
//
// Validation refuses what the server would refuse or silently change in
// strict mode: an unknown or repeated column, a value for a generated
// column, a missing required column, NULL into NOT NULL, a string longer
// than the column, a number outside the column's range, a value that is
// not a member of the ENUM/SET, a value of the wrong kind, a malformed
// INET4/INET6/UUID, a column of a type the engine does not know. Messages
// name the column and the problem, never the value.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "troupe/schema.hpp"
#include "troupe/value.hpp"

namespace troupe {

/// Column values by name, in the order they were set.
class record {
public:
  using field = std::pair<std::string, value>;

  record() = default;
  record(std::initializer_list<field> xs) : fields_(xs) {}

  /// Sets `column` (replacing an earlier value of the same column).
  record& set(std::string column, value x);

  /// The value of `column`, or nullptr.
  const value* find(std::string_view column) const;

  /// The value of `column` as T. Errors: `not_found` when the record has
  /// no such column, `type_mismatch` when it cannot be read as T.
  template <class T>
  caf::expected<T> get(std::string_view column) const {
    auto x = find(column);
    if (x == nullptr)
      return missing(column);
    return x->as<T>();
  }

  const std::vector<field>& fields() const { return fields_; }
  /// Moves the fields out (the record is empty afterwards).
  std::vector<field> take_fields() { return std::move(fields_); }
  bool empty() const { return fields_.empty(); }
  size_t size() const { return fields_.size(); }

  friend bool operator==(const record& x, const record& y) {
    return x.fields_ == y.fields_;
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, record& x) {
    return f(caf::meta::type_name("troupe::record"), x.fields_);
  }

private:
  static caf::error missing(std::string_view column);
  std::vector<field> fields_;
};

/// What a record is checked for.
enum class write_kind : uint8_t {
  /// A new row: every column without a default must be there.
  create,
  /// Changes to an existing row: only the columns given, at least one.
  update,
  /// A key lookup: exactly the primary key's columns.
  key,
};

/// Checks `x` against `schema` for `kind` (see above). Errors:
/// `invalid_argument` naming the column; `unsupported` for a key lookup on
/// a table without a primary key.
caf::error validate(const table_schema& schema, const record& x,
                    write_kind kind);

/// Checks one value against one column (what `validate` does per column).
caf::error validate_value(const column_schema& column, const value& x);

} // namespace troupe
