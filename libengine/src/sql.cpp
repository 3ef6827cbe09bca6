#include "troupe/sql.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include <fmt/format.h>

#include "troupe/error.hpp"

namespace troupe::sql {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
         || c == '\v';
}

// ASCII only, whatever the locale.
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_word(char c) {
  return is_alpha(c) || is_digit(c) || c == '_';
}

char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
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
      out += to_upper(text_[pos_++]);
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
           && to_upper(text[i + k]) == word[k])
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
    return !(is_word(c) || c == '$');
  });
  if (bad != name.end())
    return make_error(errc::invalid_argument,
                      fmt::format("{} name '{}' has a character other than "
                                  "letters, digits, '_' and '$' at position "
                                  "{}",
                                  what, name.substr(0, 64),
                                  bad - name.begin()));
  if (std::all_of(name.begin(), name.end(), is_digit))
    return make_error(errc::invalid_argument,
                      fmt::format("{} name '{}' is only digits", what, name));
  return {};
}

std::string with_max_statement_time(std::string_view sql,
                                    std::chrono::milliseconds limit) {
  auto ms = std::max<int64_t>(limit.count(), 1);
  return fmt::format("SET STATEMENT max_statement_time={}.{:03} FOR {}",
                     ms / 1000, ms % 1000, sql);
}

std::optional<size_t> utf8_length(std::string_view text, bool allow_nul,
                                  size_t* bad_at) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++chars) {
    auto b = static_cast<unsigned char>(text[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3
                 : (b >> 3) == 0x1E ? 4 : 0;
    bool ok = len != 0 && (b != 0 || allow_nul) && i + len <= text.size();
    uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1F : len == 3 ? b & 0x0F
                                                                : b & 0x07;
    for (size_t k = 1; ok && k < len; ++k) {
      auto c = static_cast<unsigned char>(text[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < min_of[len] || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF)) {
      if (bad_at != nullptr)
        *bad_at = i;
      return std::nullopt;
    }
    i += len;
  }
  return chars;
}

caf::expected<std::string> quote_identifier(std::string_view name) {
  if (name.empty())
    return make_error(errc::invalid_argument, "an identifier is empty");
  size_t bad_at = 0;
  auto length = utf8_length(name, false, &bad_at);
  if (!length)
    return make_error(errc::invalid_argument,
                      fmt::format("an identifier is not valid UTF-8 (or "
                                  "holds a NUL byte) at byte {}",
                                  bad_at));
  auto chars = *length;
  if (chars > 64)
    return make_error(errc::invalid_argument,
                      "an identifier is longer than 64 characters");
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
