// Validation agrees with the server (strict mode): what validate_value
// accepts, the server stores; what it refuses as out of range, too long,
// not a member or malformed, the server refuses too. (Refusing a value of
// the wrong kind, e.g. the string "12" for an INT, is the engine's own
// stricter rule and not compared.)

#include <catch2/catch.hpp>

#include "scratch.hpp"
#include "troupe/error.hpp"
#include "troupe/record.hpp"

using namespace troupe;

TEST_CASE("validate_value agrees with the server in strict mode",
          "[validation]") {
  test::scratch_database db{"validate"};
  db.run("CREATE TABLE v (id INT AUTO_INCREMENT PRIMARY KEY, t TINYINT, "
         "u TINYINT UNSIGNED, bi BIGINT UNSIGNED, vc VARCHAR(3), "
         "tx TINYTEXT, d DECIMAL(5,2), e ENUM('a','b'), s SET('r','w'), "
         "ts TIMESTAMP NULL, b BIT(5), vb VARBINARY(3), ip INET4, "
         "ip6 INET6, uu UUID, f FLOAT, y YEAR, nn INT NOT NULL DEFAULT 0)");
  auto conn = test::connect(db.options());
  auto schema = test::reflect(*conn, db.name(), "v");
  REQUIRE(schema);
  struct probe {
    const char* column;
    value x;
    bool valid; // both validate_value and the server say so
  };
  std::string long_text(256, 'x');
  std::vector<probe> probes{
    {"t", 127, true},
    {"t", 128, false},
    {"t", -129, false},
    {"u", 255, true},
    {"u", -1, false},
    {"bi", UINT64_MAX, true},
    {"vc", "abc", true},
    {"vc", "\xC3\xA9\xC3\xA9\xC3\xA9", true},
    {"vc", "abcd", false},
    {"tx", std::string(255, 'x'), true},
    {"tx", long_text, false},
    {"d", decimal{"999.99"}, true},
    {"d", decimal{"1.234"}, true}, // rounded, a note only
    {"d", decimal{"1000"}, false},
    {"e", "b", true},
    {"e", "c", false},
    {"s", "r,w", true},
    {"s", "r,x", false},
    {"ts", datetime{2030, 1, 1, 0, 0, 0, 0}, true},
    {"ts", datetime{1960, 1, 1, 0, 0, 0, 0}, false},
    {"b", 31, true},
    {"b", 32, false},
    {"vb", bytes{1, 2, 3}, true},
    {"vb", bytes{1, 2, 3, 4}, false},
    {"ip", "192.168.0.1", true},
    {"ip", "192.168.0.300", false},
    {"ip6", "fe80::1", true},
    {"ip6", "fe80::zz", false},
    {"uu", "123e4567-e89b-12d3-a456-426614174000", true},
    {"uu", "not-a-uuid", false},
    {"f", 3.0e38, true},
    {"f", 1.0e39, false},
    {"y", 2155, true},
    {"y", 2156, false},
    {"nn", null_t{}, false},
  };
  for (auto& p : probes) {
    auto* c = schema->column(p.column);
    REQUIRE(c);
    INFO(p.column << " <- " << to_string(p.x.kind()) << " (expected "
                  << (p.valid ? "valid" : "invalid") << ")");
    auto verdict = validate_value(*c, p.x);
    CHECK(static_cast<bool>(verdict) == !p.valid);
    auto stored = conn->execute(std::string{"INSERT INTO v ("} + p.column
                                  + ") VALUES (?)",
                                {p.x});
    if (!stored)
      INFO("server: " << render(stored.error()));
    CHECK(static_cast<bool>(stored) == p.valid);
  }
}
