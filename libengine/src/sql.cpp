#include "troupe/sql.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>

#include <fmt/format.h>

#include "troupe/error.hpp"

namespace troupe::sql {

namespace {

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

bool is_word(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

// Reads the SQL text word by word, skipping whitespace and comments.
class tokenizer {
public:
  explicit tokenizer(std::string_view text) : text_(text) {
  }

  // Skips whitespace and comments; returns true at an executable comment.
  bool skip() {
    for (;;) {
      while (pos_ < text_.size() && is_space(text_[pos_]))
        ++pos_;
      // Executable comments: MySQL's /*! ... */ and MariaDB's /*M! ... */.
      if (text_.compare(pos_, 3, "/*!") == 0
          || text_.compare(pos_, 4, "/*M!") == 0)
        return true;
      if (text_.compare(pos_, 2, "/*") == 0) {
        auto end = text_.find("*/", pos_ + 2);
        pos_ = end == std::string_view::npos ? text_.size() : end + 2;
        continue;
      }
      if (text_.compare(pos_, 2, "--") == 0
          && (pos_ + 2 == text_.size() || is_space(text_[pos_ + 2]))) {
        skip_line();
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '#') {
        skip_line();
        continue;
      }
      return false;
    }
  }

  // The next word, upper-case; empty at the end or at punctuation.
  std::string word() {
    if (skip())
      return {};
    std::string out;
    while (pos_ < text_.size() && is_word(text_[pos_]))
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(text_[pos_++])));
    return out;
  }

  // The next variable name of a SET: `@@session.x`, `session x`, `x`,
  // upper-case and without its scope.
  std::string variable() {
    if (skip())
      return {};
    if (text_.compare(pos_, 2, "@@") == 0) {
      pos_ += 2;
      auto name = word();
      if ((name == "GLOBAL" || name == "SESSION" || name == "LOCAL")
          && pos_ < text_.size() && text_[pos_] == '.') {
        ++pos_;
        name = word();
      }
      return name;
    }
    auto name = word();
    if (name == "GLOBAL" || name == "SESSION" || name == "LOCAL")
      name = word();
    return name;
  }

  // Skips to just after the top-level keyword `kw` (quoted strings and
  // names are skipped whole); returns false when it does not occur.
  bool skip_past(const char* kw) {
    for (;;) {
      if (skip())
        return false;
      if (pos_ >= text_.size())
        return false;
      char c = text_[pos_];
      if (c == '\'' || c == '"' || c == '`') {
        skip_quoted(c);
        continue;
      }
      if (is_word(c)) {
        if (word() == kw)
          return true;
        continue;
      }
      ++pos_;
    }
  }

  std::string_view rest() const {
    return text_.substr(pos_);
  }

private:
  void skip_quoted(char quote) {
    ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '\\' && quote != '`') {
        ++pos_;
      } else if (c == quote) {
        if (pos_ < text_.size() && text_[pos_] == quote)
          ++pos_; // a doubled quote
        else
          return;
      }
    }
  }

public:

private:
  void skip_line() {
    auto end = text_.find('\n', pos_);
    pos_ = end == std::string_view::npos ? text_.size() : end + 1;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool one_of(const std::string& x, std::initializer_list<const char*> xs) {
  return std::any_of(xs.begin(), xs.end(), [&](const char* y) { return x == y; });
}

// True when `text` contains `word`, ignoring case (`word` is upper-case).
bool contains_ci(std::string_view text, std::string_view word) {
  if (word.size() > text.size())
    return false;
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    size_t k = 0;
    while (k < word.size()
           && std::toupper(static_cast<unsigned char>(text[i + k])) == word[k])
      ++k;
    if (k == word.size())
      return true;
  }
  return false;
}

// True when `text` names a user variable (`@x`; `@@x` is a system variable,
// read without changing anything).
bool has_user_variable(std::string_view text) {
  for (auto i = text.find('@'); i != std::string_view::npos;
       i = text.find('@', i)) {
    if (i + 1 < text.size() && text[i + 1] == '@') {
      i += 2;
      continue;
    }
    return true;
  }
  return false;
}

statement_traits classify_keywords(std::string_view text) {
  statement_traits out;
  tokenizer tok{text};
  if (tok.skip()) {
    out.opaque = true;
    out.session_state = true;
    return out;
  }
  out.keyword = tok.word();
  const auto& k = out.keyword;
  if (one_of(k, {"COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "XA"})) {
    out.transaction_control = true;
  } else if (k == "BEGIN") {
    // BEGIN NOT ATOMIC starts a compound statement, not a transaction.
    out.transaction_control = tok.word() != "NOT";
    out.session_state = !out.transaction_control;
  } else if (k == "START") {
    auto next = tok.word();
    out.transaction_control = next == "TRANSACTION";
    out.implicit_commit = next == "SLAVE" || next == "REPLICA"
                          || next == "ALL";
  } else if (k == "STOP") {
    out.implicit_commit = true;
  } else if (k == "SET") {
    auto next = tok.variable();
    if (next == "STATEMENT") {
      // SET STATEMENT var=value[, ...] FOR <statement>: judge the statement.
      if (!tok.skip_past("FOR")) {
        return out;
      }
      auto inner = classify_keywords(tok.rest());
      inner.keyword = k;
      return inner;
    }
    if (next == "AUTOCOMMIT")
      out.transaction_control = true;
    else if (next == "PASSWORD")
      out.implicit_commit = true;
    // SET TRANSACTION changes the next transaction only; every other SET
    // changes the session (variables, NAMES, CHARACTER SET, ROLE, ...).
    out.session_state = next != "AUTOCOMMIT" && next != "TRANSACTION";
  } else if (k == "CREATE" || k == "DROP") {
    auto next = tok.word();
    if (next == "OR") { // CREATE OR REPLACE [TEMPORARY] TABLE
      tok.word();
      next = tok.word();
    }
    out.implicit_commit = next != "TEMPORARY";
    out.session_state = next == "TEMPORARY";
  } else if (one_of(k, {"ALTER", "RENAME", "TRUNCATE", "GRANT", "REVOKE",
                        "LOCK", "UNLOCK", "ANALYZE", "CHECK", "OPTIMIZE",
                        "REPAIR", "CACHE", "FLUSH", "RESET", "INSTALL",
                        "UNINSTALL", "CHANGE", "SHUTDOWN"})) {
    out.implicit_commit = true;
    // Table locks and FLUSH TABLES ... WITH READ LOCK stay with the session.
    out.session_state = k == "LOCK" || k == "FLUSH";
  } else if (one_of(k, {"USE", "CALL", "HANDLER", "PREPARE", "EXECUTE",
                        "DEALLOCATE"})) {
    out.session_state = true;
  } else if (k == "LOAD") {
    // LOAD INDEX INTO CACHE commits; LOAD DATA does not.
    out.implicit_commit = tok.word() == "INDEX";
  }
  return out;
}

} // namespace

statement_traits classify(std::string_view text) {
  auto out = classify_keywords(text);
  // Anywhere in the text, also inside expressions and subqueries: user
  // variables and named locks (judged without parsing, so a '@' in a string
  // literal counts too: a needless reset, never a missed one).
  if (!out.session_state)
    out.session_state = has_user_variable(text)
                        || contains_ci(text, "GET_LOCK");
  return out;
}

caf::error validate_identifier(std::string_view name, std::string_view what) {
  if (name.empty())
    return make_error(errc::invalid_argument,
                      fmt::format("{} name is empty", what));
  if (name.size() > 64)
    return make_error(errc::invalid_argument,
                      fmt::format("{} name is longer than 64 characters",
                                  what));
  auto bad = std::find_if(name.begin(), name.end(), [](char c) {
    return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_'
             || c == '$');
  });
  if (bad != name.end())
    return make_error(errc::invalid_argument,
                      fmt::format("{} name '{}' has a character other than "
                                  "letters, digits, '_' and '$' at position "
                                  "{}",
                                  what, name.substr(0, 64),
                                  bad - name.begin()));
  if (std::all_of(name.begin(), name.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return make_error(errc::invalid_argument,
                      fmt::format("{} name '{}' is only digits", what, name));
  return {};
}

std::string quote_identifier(std::string_view name) {
  // Valid identifiers have no backtick; doubling keeps any other safe.
  std::string out = "`";
  for (char c : name) {
    if (c == '`')
      out += '`';
    out += c;
  }
  out += '`';
  return out;
}

} // namespace troupe::sql
