// The binary protocol's packets, encoded and decoded without a server. The
// expected bytes are written out by hand from the client/server protocol
// specification. The header is private to libengine, hence the relative path.
#include "../../libengine/src/mariadb/wire.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

using namespace troupe;
using namespace troupe::mariadb::detail;

namespace Catch {
template <>
struct StringMaker<troupe::value> {
  static std::string convert(const troupe::value& x) {
    return troupe::to_string(x);
  }
};
} // namespace Catch

namespace {

// Bytes from pairs of hex digits, spaces ignored: hex("17 0a ff").
std::string hex(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i += s[i] == ' ' ? 1 : 2)
    if (s[i] != ' ')
      out.push_back(static_cast<char>(
        std::stoi(std::string{s.substr(i, 2)}, nullptr, 16)));
  return out;
}

// A length-encoded string shorter than 251 bytes (one length byte).
std::string lenenc(std::string_view s) {
  REQUIRE(s.size() < 251);
  return static_cast<char>(s.size()) + std::string{s};
}

// `x` as `n` bytes, little-endian.
std::string le(uint64_t x, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
  return out;
}

// A packet: 3-byte little-endian payload length, sequence 0, payload.
std::string packet(const std::string& payload) {
  return le(payload.size(), 3) + le(0, 1) + payload;
}

// COM_STMT_EXECUTE for statement 0x04030201 up to the parameters: command,
// statement id, flags (no cursor), iteration count 1.
const std::string exec_head = hex("17 01020304 00 01000000");
constexpr uint32_t stmt_id = 0x04030201;

std::string encode(const std::vector<value>& params) {
  std::string out;
  REQUIRE(encode_execute(stmt_id, params, out));
  return out;
}

// A column definition packet (protocol 4.1): catalog "def", schema, table,
// org_table, name, org_name, [MariaDB's extended metadata], the 0x0c-long
// fixed fields (charset 2, length 4, type 1, flags 2, decimals 1), filler 2.
struct coldef {
  std::string name;
  uint16_t charset;
  uint32_t length;
  uint8_t type;
  uint16_t flags = 0;
  uint8_t decimals = 0;
  std::string ext; // the extended metadata block's content
};

std::string column_def(const coldef& c, bool extended = false) {
  auto out = lenenc("def") + lenenc("shop") + lenenc("i") + lenenc("items")
             + lenenc(c.name) + lenenc("org_" + c.name);
  if (extended)
    out += lenenc(c.ext);
  return out + le(0x0c, 1) + le(c.charset, 2) + le(c.length, 4)
         + le(c.type, 1) + le(c.flags, 2) + le(c.decimals, 1) + le(0, 2);
}

// A binary-protocol row: header 0x00, the NULL bitmap (by hand, its first
// two bits reserved), then the values; all as hex.
std::string row(std::string_view bitmap, std::string_view values) {
  return hex("00") + hex(bitmap) + hex(values);
}

wire_column col(uint8_t type, decode_kind kind, bool is_unsigned = false) {
  return wire_column{type, is_unsigned, kind};
}

std::vector<value> decode(const std::string& payload,
                          const std::vector<wire_column>& cols) {
  std::vector<value> cells;
  size_t bytes = 0;
  if (!decode_row(payload, cols, cells, bytes))
    FAIL("decode_row rejected a well-formed row");
  REQUIRE(cells.size() == cols.size());
  return cells;
}

bool decode_fails(const std::string& payload,
                  const std::vector<wire_column>& cols) {
  std::vector<value> cells;
  size_t bytes = 0;
  return !decode_row(payload, cols, cells, bytes);
}

} // namespace

// -- encode_execute -----------------------------------------------------------

TEST_CASE("encode_execute: no parameters, no bitmap or types", "[wire]") {
  CHECK(encode({}) == hex("0a0000 00") + exec_head);
}

TEST_CASE("encode_execute: integers, double and NULL", "[wire]") {
  auto got = encode({value{int64_t{-2}}, value{uint64_t{0xFFFFFFFFFFFFFFFF}},
                     value{null}, value{1.5}});
  CHECK(got == packet(exec_head + hex("04 01 0800 0880 0600 0500")
                      + hex("feffffffffffffff ffffffffffffffff")
                      + hex("000000000000f83f")));
}

TEST_CASE("encode_execute: strings, decimal and bytes are length-encoded",
          "[wire]") {
  std::string long_text(300, 'x');
  auto got = encode({value{"abc"}, value{decimal{"-12.50"}},
                     value{bytes{0x00, 0x01, 0xff}}, value{long_text}});
  CHECK(got == packet(exec_head + hex("00 01 fe00 f600 fc00 fe00")
                      + lenenc("abc") + lenenc("-12.50") + hex("03 0001ff")
                      + hex("fc 2c01") + long_text));
}

TEST_CASE("encode_execute: date, time and datetime", "[wire]") {
  auto got = encode({value{date{2024, 2, 29}},
                     value{time_value{true, 49, 5, 6, 7}},
                     value{datetime{2023, 12, 31, 23, 59, 58, 999999}}});
  CHECK(got == packet(exec_head + hex("00 01 0a00 0b00 0c00")
                      + hex("04 e807 02 1d")
                      // negative, 2 days, 1 h, 5 min, 6 s, 7 us
                      + hex("0c 01 02000000 01 05 06 07000000")
                      + hex("0b e707 0c 1f 17 3b 3a 3f420f00")));
}

TEST_CASE("encode_execute: one bitmap byte per 8 params", "[wire]") {
  for (int n : {8, 9}) {
    std::vector<value> params(n, value{int64_t{1}});
    params.front() = null;
    params.back() = null; // bit 7 of byte 0, or bit 0 of byte 1
    auto payload = exec_head + hex(n == 8 ? "81 01" : "0101 01") + hex("0600");
    for (int i = 1; i < n - 1; ++i)
      payload += hex("0800");
    payload += hex("0600");
    for (int i = 1; i < n - 1; ++i)
      payload += hex("0100000000000000");
    CHECK(encode(params) == packet(payload));
  }
}

TEST_CASE("encode_execute: appends after existing content", "[wire]") {
  std::string out = "earlier";
  REQUIRE(encode_execute(stmt_id, {value{int64_t{5}}}, out));
  CHECK(out == "earlier"
                 + packet(exec_head + hex("00 01 0800 0500000000000000")));
}

TEST_CASE("encode_execute: refuses payloads of one full packet or more",
          "[wire]") {
  // Fixed part 10, bitmap 1, flag 1, type 2, 0xFD + 3 length bytes: 18.
  constexpr size_t overhead = 18;
  std::string out = "earlier";
  std::string text(max_packet_payload - overhead, 'y');
  CHECK_FALSE(encode_execute(stmt_id, {value{text}}, out));
  REQUIRE(out.size() == 7); // (not printing 16 MiB when it fails)
  CHECK(out == "earlier");
  text.push_back('y');
  CHECK_FALSE(encode_execute(stmt_id, {value{text}}, out));
  REQUIRE(out.size() == 7);
  CHECK(out == "earlier");
  // One byte less fits: 0xFFFFFE in the header, a string of 0xFFFFEC.
  text.resize(max_packet_payload - overhead - 1);
  REQUIRE(encode_execute(stmt_id, {value{text}}, out));
  CHECK(out.size() == 7 + 4 + 0xFFFFFE);
  CHECK(out.substr(0, 11) == "earlier" + hex("feffff 00"));
  CHECK(out.substr(11 + 14, 4) == hex("fd ecffff"));
}

// -- next_packet --------------------------------------------------------------

TEST_CASE("next_packet: incomplete input returns 0", "[wire]") {
  std::string_view payload;
  bool continues = false;
  CHECK(next_packet("", payload, continues) == 0);
  CHECK(next_packet(hex("030000"), payload, continues) == 0);
  CHECK(next_packet(hex("030000 01 6162"), payload, continues) == 0);
}

TEST_CASE("next_packet: splits packets back to back", "[wire]") {
  auto in = hex("020000 00 6869  010000 01 78  000000 02");
  std::string_view rest = in, payload;
  bool continues = true;
  REQUIRE(next_packet(rest, payload, continues) == 6);
  CHECK(payload == "hi");
  CHECK_FALSE(continues);
  rest.remove_prefix(6);
  REQUIRE(next_packet(rest, payload, continues) == 5);
  CHECK(payload == "x");
  rest.remove_prefix(5);
  REQUIRE(next_packet(rest, payload, continues) == 4); // empty payload
  CHECK(payload.empty());
  CHECK_FALSE(continues);
}

TEST_CASE("next_packet: a full-size payload continues", "[wire]") {
  auto in = hex("ffffff 00") + std::string(0xFFFFFF, 'z') + "tail";
  std::string_view payload;
  bool continues = false;
  CHECK(next_packet(in, payload, continues) == 4 + 0xFFFFFF);
  CHECK(payload.size() == 0xFFFFFF);
  CHECK(continues);
}

// -- length-encoded integers and strings --------------------------------------

TEST_CASE("read_lenenc: all forms", "[wire]") {
  auto read = [](const std::string& raw, std::string_view rest = {}) {
    std::string_view in = raw;
    uint64_t x = 12345;
    REQUIRE(read_lenenc(in, x));
    CHECK(in == rest);
    return x;
  };
  CHECK(read(hex("00")) == 0);
  CHECK(read(hex("fa")) == 250);
  CHECK(read(hex("fc 2c01 7a"), "z") == 300);
  CHECK(read(hex("fc ffff")) == 65535);
  CHECK(read(hex("fd 010203")) == 0x030201);
  CHECK(read(hex("fe 0102030405060708")) == 0x0807060504030201);
}

TEST_CASE("read_lenenc: truncated input, 0xFB and 0xFF fail", "[wire]") {
  for (auto raw : {"", "fc 01", "fd 0102", "fe 01020304050607", "fb",
                   "ff 0000"}) {
    auto bytes = hex(raw);
    std::string_view in = bytes;
    uint64_t x;
    CHECK_FALSE(read_lenenc(in, x));
  }
}

TEST_CASE("read_lenenc_string: reads and truncation", "[wire]") {
  auto read = [](const std::string& raw, std::string_view rest = {}) {
    std::string_view in = raw, s;
    REQUIRE(read_lenenc_string(in, s));
    CHECK(in == rest);
    return std::string{s};
  };
  CHECK(read(hex("03") + "abcd", "d") == "abc");
  CHECK(read(hex("00")).empty());
  CHECK(read(hex("fc 2c01") + std::string(300, 'q')) == std::string(300, 'q'));
  for (auto raw : {hex("04") + "abc", hex("fb"), hex("fc 2c")}) {
    std::string_view in = raw, s;
    CHECK_FALSE(read_lenenc_string(in, s));
  }
}

// -- OK, ERR and EOF ----------------------------------------------------------

TEST_CASE("parse_ok: counters, status and warnings", "[wire]") {
  ok_packet ok;
  REQUIRE(parse_ok(hex("00 01 00 0200 0000"), ok));
  CHECK(ok.affected_rows == 1);
  CHECK(ok.last_insert_id == 0);
  CHECK(ok.status == 0x0002);
  CHECK(ok.warnings == 0);
  CHECK(ok.info.empty());
  ok_packet big; // 0xFE ends a result set with CLIENT_DEPRECATE_EOF
  REQUIRE(parse_ok(hex("fe fc2c01 fd010203 2200 0500"), big));
  CHECK(big.affected_rows == 300);
  CHECK(big.last_insert_id == 0x030201);
  CHECK(big.status == 0x0022);
  CHECK(big.warnings == 5);
}

TEST_CASE("parse_ok: info and session state", "[wire]") {
  ok_packet ok;
  // SERVER_SESSION_STATE_CHANGED: info, then the changes, both lenenc.
  REQUIRE(parse_ok(hex("00 00 00 0240 0000") + lenenc("hello")
                     + lenenc(hex("01 02") + "db"),
                   ok));
  CHECK(ok.info == "hello");
  // With CLIENT_SESSION_TRACK (the default) the info is length-encoded
  // whether or not the session state changed; without it, it is the rest.
  auto head = hex("00 01 00 0200 0000");
  std::string info = "Rows matched: 1  Changed: 1  Warnings: 0";
  ok_packet upd;
  REQUIRE(parse_ok(head + lenenc(info), upd));
  CHECK(upd.info == info);
  ok_packet old;
  REQUIRE(parse_ok(head + info, old, false));
  CHECK(old.info == info);
}

TEST_CASE("parse_ok: malformed packets fail", "[wire]") {
  ok_packet ok;
  CHECK_FALSE(parse_ok("", ok));
  CHECK_FALSE(parse_ok(hex("01 00 00 0200 0000"), ok));
  CHECK_FALSE(parse_ok(hex("ff 00 00 0200 0000"), ok));
  CHECK_FALSE(parse_ok(hex("00 00 00 0200 00"), ok));
  CHECK_FALSE(parse_ok(hex("00 fc01"), ok));
  CHECK_FALSE(parse_ok(hex("00 00 00 0200 0000 05") + "abc", ok)); // info
}

TEST_CASE("parse_err: code, sqlstate and message", "[wire]") {
  err_packet e;
  REQUIRE(parse_err(hex("ff 1504") + "#28000Access denied", e));
  CHECK(e.code == 1045);
  CHECK(e.sqlstate == "28000");
  CHECK(e.message == "Access denied");
  err_packet plain;
  REQUIRE(parse_err(hex("ff 1004") + "Too many connections", plain));
  CHECK(plain.code == 1040);
  CHECK(plain.sqlstate == "HY000");
  CHECK(plain.message == "Too many connections");
  err_packet bad;
  CHECK_FALSE(parse_err(hex("ff 15"), bad));
  CHECK_FALSE(parse_err(hex("00 1504") + "#28000x", bad));
  CHECK_FALSE(parse_err("", bad));
}

TEST_CASE("is_eof and parse_eof", "[wire]") {
  uint16_t warnings = 99, status = 99;
  CHECK(is_eof(hex("fe 0300 2200")));
  REQUIRE(parse_eof(hex("fe 0300 2200"), warnings, status));
  CHECK(warnings == 3);
  CHECK(status == 0x0022);
  REQUIRE(parse_eof(hex("fe"), warnings, status)); // protocol 4.0
  CHECK(warnings == 0);
  CHECK(status == 0);
  CHECK_FALSE(is_eof(hex("fe 0102030405060708"))); // 9 bytes: not an EOF
  CHECK_FALSE(is_eof(hex("00 00 00 0200")));
  CHECK_FALSE(is_eof(""));
  CHECK_FALSE(parse_eof(hex("fe 0300 22"), warnings, status));
  CHECK_FALSE(parse_eof(hex("00 0300 2200"), warnings, status));
}

// -- column definitions -------------------------------------------------------

TEST_CASE("parse_column: INT UNSIGNED NOT NULL", "[wire]") {
  column c;
  wire_column wc;
  // LONG, NOT_NULL | UNSIGNED
  REQUIRE(parse_column(column_def({"n", 63, 10, 0x03, 0x0021}), false, c, wc));
  CHECK(c.name == "n");
  CHECK(c.org_name == "org_n");
  CHECK(c.table == "i");
  CHECK(c.org_table == "items");
  CHECK(c.database == "shop");
  CHECK(c.type == column_type::int_);
  CHECK(c.flags == (flag_not_null | flag_unsigned));
  CHECK(c.length == 10);
  CHECK(c.charset == 63);
  CHECK(wc.type == MYSQL_TYPE_LONG);
  CHECK(wc.is_unsigned);
  CHECK(wc.kind == decode_kind::uint64);
}

TEST_CASE("parse_column: VARCHAR, VARBINARY and DECIMAL", "[wire]") {
  column c;
  wire_column wc;
  REQUIRE(parse_column(column_def({"s", 45, 400, 0xfd}), false, c, wc));
  CHECK(c.type == column_type::varchar);
  CHECK(c.charset == 45);
  CHECK(c.length == 400);
  CHECK(c.nullable());
  CHECK_FALSE(wc.is_unsigned);
  CHECK(wc.type == MYSQL_TYPE_VAR_STRING);
  CHECK(wc.kind == decode_kind::string);
  // VARBINARY: charset 63, BINARY_FLAG
  REQUIRE(parse_column(column_def({"b", 63, 16, 0xfd, 0x80}), false, c, wc));
  CHECK(c.type == column_type::varbinary);
  CHECK(c.flags == flag_binary);
  CHECK(wc.kind == decode_kind::bytes);
  REQUIRE(parse_column(column_def({"d", 63, 12, 0xf6, 0, 2}), false, c, wc));
  CHECK(c.type == column_type::decimal);
  CHECK(c.decimals == 2);
  CHECK(wc.kind == decode_kind::decimal);
}

TEST_CASE("parse_column: extended metadata marks JSON", "[wire]") {
  column c;
  wire_column wc;
  coldef j{"j", 45, 0xFFFFFFFF, 0xfc, 0x10}; // LONGTEXT: BLOB, BLOB_FLAG
  j.ext = hex("01") + lenenc("json");          // key 1: format name
  REQUIRE(parse_column(column_def(j, true), true, c, wc));
  CHECK(c.name == "j");
  CHECK(c.length == 0xFFFFFFFF);
  CHECK(c.type == column_type::json);
  CHECK(wc.type == MYSQL_TYPE_BLOB);
  CHECK(wc.kind == decode_kind::string);
  // Without the block, or with another attribute only, it is plain text.
  REQUIRE(parse_column(column_def(j), false, c, wc));
  CHECK(c.type == column_type::text);
  j.ext = hex("00") + lenenc("point");
  REQUIRE(parse_column(column_def(j, true), true, c, wc));
  CHECK(c.type == column_type::text);
  j.ext = "";
  REQUIRE(parse_column(column_def(j, true), true, c, wc));
  CHECK(c.type == column_type::text);
}

TEST_CASE("parse_column: malformed definitions fail", "[wire]") {
  column c;
  wire_column wc;
  coldef d{"n", 63, 10, 0x03};
  auto good = column_def(d);
  CHECK_FALSE(parse_column(good.substr(0, good.size() - 3), false, c, wc));
  CHECK_FALSE(parse_column(good.substr(0, 10), false, c, wc));
  // The extended block is missing, or a pair inside it is cut short.
  CHECK_FALSE(parse_column(good, true, c, wc));
  d.ext = hex("01 04") + "js";
  CHECK_FALSE(parse_column(column_def(d, true), true, c, wc));
}

// -- binary rows --------------------------------------------------------------

TEST_CASE("decode_row: integers are sign- or zero-extended", "[wire]") {
  auto cells = decode(
    row("0000", "ff ff feff ffff fdffffff 00000080 ffffffff"
                "0000000000000080 ffffffffffffffff e807"),
    {col(MYSQL_TYPE_TINY, decode_kind::int64),
     col(MYSQL_TYPE_TINY, decode_kind::uint64, true),
     col(MYSQL_TYPE_SHORT, decode_kind::int64),
     col(MYSQL_TYPE_SHORT, decode_kind::uint64, true),
     col(MYSQL_TYPE_INT24, decode_kind::int64), // 4 bytes on the wire
     col(MYSQL_TYPE_LONG, decode_kind::int64),
     col(MYSQL_TYPE_LONG, decode_kind::uint64, true),
     col(MYSQL_TYPE_LONGLONG, decode_kind::int64),
     col(MYSQL_TYPE_LONGLONG, decode_kind::uint64, true),
     col(MYSQL_TYPE_YEAR, decode_kind::uint64, true)});
  CHECK(cells[0] == value{int64_t{-1}});
  CHECK(cells[1] == value{uint64_t{255}});
  CHECK(cells[2] == value{int64_t{-2}});
  CHECK(cells[3] == value{uint64_t{65535}});
  CHECK(cells[4] == value{int64_t{-3}});
  CHECK(cells[5] == value{std::numeric_limits<int32_t>::min()});
  CHECK(cells[6] == value{uint64_t{4294967295}});
  CHECK(cells[7] == value{std::numeric_limits<int64_t>::min()});
  CHECK(cells[8] == value{std::numeric_limits<uint64_t>::max()});
  CHECK(cells[9] == value{uint64_t{2024}});
}

TEST_CASE("decode_row: FLOAT widens exactly, DOUBLE", "[wire]") {
  // 1.1f, -0.1f, -2.5
  auto cells = decode(row("00", "cdcc8c3f cdccccbd 00000000000004c0"),
                      {col(MYSQL_TYPE_FLOAT, decode_kind::float32),
                       col(MYSQL_TYPE_FLOAT, decode_kind::float32),
                       col(MYSQL_TYPE_DOUBLE, decode_kind::float64)});
  CHECK(cells[0] == value{static_cast<double>(1.1f)});
  CHECK(cells[1] == value{static_cast<double>(-0.1f)});
  CHECK(cells[2] == value{-2.5});
}

TEST_CASE("decode_row: dates, datetimes and times", "[wire]") {
  auto cells = decode(row("0000", "04 e807 02 1d"
                                  "00"
                                  "07 e707 0c 1f 17 3b 3a"
                                  "0b e707 0c 1f 17 3b 3a 3f420f00"
                                  "08 01 02000000 03 04 05"
                                  "0c 00 00000000 0d 0e 0f 40e20100"
                                  "00"
                                  "04 d007 01 01"),
                      {col(MYSQL_TYPE_DATE, decode_kind::date),
                       col(MYSQL_TYPE_DATE, decode_kind::date),
                       col(MYSQL_TYPE_DATETIME, decode_kind::datetime),
                       col(MYSQL_TYPE_TIMESTAMP, decode_kind::datetime),
                       col(MYSQL_TYPE_TIME, decode_kind::time),
                       col(MYSQL_TYPE_TIME, decode_kind::time),
                       col(MYSQL_TYPE_TIME, decode_kind::time),
                       col(MYSQL_TYPE_DATETIME, decode_kind::datetime)});
  CHECK(cells[0] == value{date{2024, 2, 29}});
  CHECK(cells[1] == value{date{0, 0, 0}});
  CHECK(cells[2] == value{datetime{2023, 12, 31, 23, 59, 58, 0}});
  CHECK(cells[3] == value{datetime{2023, 12, 31, 23, 59, 58, 999999}});
  CHECK(cells[4] == value{time_value{true, 2 * 24 + 3, 4, 5, 0}});
  CHECK(cells[5] == value{time_value{false, 13, 14, 15, 123456}});
  CHECK(cells[6] == value{time_value{}});
  CHECK(cells[7] == value{datetime{2000, 1, 1, 0, 0, 0, 0}});
}

TEST_CASE("decode_row: decimals, strings and bytes", "[wire]") {
  std::vector<wire_column> cols{
    col(MYSQL_TYPE_NEWDECIMAL, decode_kind::decimal),
    col(MYSQL_TYPE_VAR_STRING, decode_kind::string),
    col(MYSQL_TYPE_BLOB, decode_kind::bytes),
    col(MYSQL_TYPE_VAR_STRING, decode_kind::string)};
  std::string long_text(300, 'w');
  auto payload = row("00", "") + lenenc("-12.50") + lenenc("h\xc3\xa9llo")
                 + hex("03 0001ff fc 2c01") + long_text;
  std::vector<value> cells{value{"kept"}};
  size_t bytes = 100;
  REQUIRE(decode_row(payload, cols, cells, bytes));
  REQUIRE(cells.size() == 5);
  CHECK(cells[0] == value{"kept"});
  CHECK(cells[1] == value{decimal{"-12.50"}});
  CHECK(cells[2] == value{"h\xc3\xa9llo"});
  CHECK(cells[3] == value{troupe::bytes{0x00, 0x01, 0xff}});
  CHECK(cells[4] == value{long_text});
  CHECK(bytes >= 100 + 300);
}

TEST_CASE("decode_row: NULLs by the bitmap, offset by two bits", "[wire]") {
  // Columns 0, 6 and 7 are NULL: bits 2, 8 and 9.
  std::vector<wire_column> cols(8,
                                col(MYSQL_TYPE_LONGLONG, decode_kind::int64));
  auto cells = decode(row("04 03", "0100000000000000 0200000000000000"
                                   "0300000000000000 0400000000000000"
                                   "0500000000000000"),
                      cols);
  CHECK(cells[0].is_null());
  for (int i = 1; i <= 5; ++i)
    CHECK(cells[i] == value{int64_t{i}});
  CHECK(cells[6].is_null());
  CHECK(cells[7].is_null());
  // A NULL between two values.
  std::vector<wire_column> three(3, col(MYSQL_TYPE_TINY, decode_kind::int64));
  auto mid = decode(row("08", "07 09"), three);
  CHECK(mid[0] == value{int64_t{7}});
  CHECK(mid[1].is_null());
  CHECK(mid[2] == value{int64_t{9}});
}

TEST_CASE("decode_row: malformed rows fail", "[wire]") {
  std::vector<wire_column> one{col(MYSQL_TYPE_LONG, decode_kind::int64)};
  CHECK_FALSE(decode_fails(row("00", "01000000"), one));
  CHECK(decode_fails(row("00", "010000"), one));     // truncated
  CHECK(decode_fails(hex("01 00 01000000"), one));   // wrong header
  CHECK(decode_fails(row("00", "01000000 00"), one)); // trailing garbage
  CHECK(decode_fails(hex("00"), one));                // no bitmap
  std::vector<wire_column> text{
    col(MYSQL_TYPE_VAR_STRING, decode_kind::string)};
  CHECK(decode_fails(row("00", "03 6162"), text));
  std::vector<wire_column> d{col(MYSQL_TYPE_DATE, decode_kind::date)};
  CHECK(decode_fails(row("00", "05 e807 01 01 00"), d)); // invalid length
  CHECK(decode_fails(row("00", "04 e807 01"), d));
  std::vector<wire_column> t{col(MYSQL_TYPE_TIME, decode_kind::time)};
  CHECK(decode_fails(row("00", "07 00 00000000 01 02"), t)); // invalid length
}
