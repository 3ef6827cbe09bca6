#include "mariadb/wire.hpp"

#include <cstring>

namespace troupe::mariadb::detail {

namespace {

constexpr uint8_t com_stmt_execute = 0x17;

void put_u16(std::string& out, uint16_t x) {
  out.push_back(static_cast<char>(x & 0xFF));
  out.push_back(static_cast<char>(x >> 8));
}

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

void put_lenenc(std::string& out, uint64_t x) {
  if (x < 251) {
    out.push_back(static_cast<char>(x));
  } else if (x < (1u << 16)) {
    out.push_back(static_cast<char>(0xFC));
    put_u16(out, static_cast<uint16_t>(x));
  } else if (x < (1u << 24)) {
    out.push_back(static_cast<char>(0xFD));
    for (int i = 0; i < 3; ++i)
      out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
  } else {
    out.push_back(static_cast<char>(0xFE));
    put_u64(out, x);
  }
}

uint64_t get_le(const char* p, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i)
    x |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return x;
}

bool take(std::string_view& in, size_t n, uint64_t& out) {
  if (in.size() < n)
    return false;
  out = get_le(in.data(), n);
  in.remove_prefix(n);
  return true;
}

// The type code and flag byte a parameter is sent with.
std::pair<uint8_t, uint8_t> param_type(const value& x) {
  switch (x.kind()) {
    case value_kind::null:
      return {MYSQL_TYPE_NULL, 0};
    case value_kind::int64:
      return {MYSQL_TYPE_LONGLONG, 0};
    case value_kind::uint64:
      return {MYSQL_TYPE_LONGLONG, 0x80};
    case value_kind::float64:
      return {MYSQL_TYPE_DOUBLE, 0};
    case value_kind::decimal:
      return {MYSQL_TYPE_NEWDECIMAL, 0};
    case value_kind::string:
      return {MYSQL_TYPE_STRING, 0};
    case value_kind::bytes:
      return {MYSQL_TYPE_BLOB, 0};
    case value_kind::date:
      return {MYSQL_TYPE_DATE, 0};
    case value_kind::time:
      return {MYSQL_TYPE_TIME, 0};
    case value_kind::datetime:
      return {MYSQL_TYPE_DATETIME, 0};
  }
  return {MYSQL_TYPE_NULL, 0};
}

void put_param(std::string& out, const value& x) {
  switch (x.kind()) {
    case value_kind::null:
      break;
    case value_kind::int64:
      put_u64(out, static_cast<uint64_t>(*x.get_if<int64_t>()));
      break;
    case value_kind::uint64:
      put_u64(out, *x.get_if<uint64_t>());
      break;
    case value_kind::float64: {
      uint64_t bits;
      double d = *x.get_if<double>();
      std::memcpy(&bits, &d, sizeof(bits));
      put_u64(out, bits);
      break;
    }
    case value_kind::decimal: {
      auto& s = x.get_if<decimal>()->text;
      put_lenenc(out, s.size());
      out += s;
      break;
    }
    case value_kind::string: {
      auto& s = *x.get_if<std::string>();
      put_lenenc(out, s.size());
      out += s;
      break;
    }
    case value_kind::bytes: {
      auto& b = *x.get_if<bytes>();
      put_lenenc(out, b.size());
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      break;
    }
    case value_kind::date: {
      auto& d = *x.get_if<date>();
      out.push_back(4);
      put_u16(out, d.year);
      out.push_back(static_cast<char>(d.month));
      out.push_back(static_cast<char>(d.day));
      break;
    }
    case value_kind::time: {
      auto& t = *x.get_if<time_value>();
      out.push_back(12);
      out.push_back(sends_negative(t) ? 1 : 0);
      put_u32(out, t.hours / 24);
      out.push_back(static_cast<char>(t.hours % 24));
      out.push_back(static_cast<char>(t.minutes));
      out.push_back(static_cast<char>(t.seconds));
      put_u32(out, t.microseconds);
      break;
    }
    case value_kind::datetime: {
      auto& t = *x.get_if<datetime>();
      out.push_back(11);
      put_u16(out, t.year);
      out.push_back(static_cast<char>(t.month));
      out.push_back(static_cast<char>(t.day));
      out.push_back(static_cast<char>(t.hour));
      out.push_back(static_cast<char>(t.minute));
      out.push_back(static_cast<char>(t.second));
      put_u32(out, t.microsecond);
      break;
    }
  }
}

// Decodes a DATE/DATETIME/TIMESTAMP or TIME cell (length byte first).
bool read_temporal(std::string_view& in, const wire_column& c, value& out) {
  uint64_t len;
  if (!take(in, 1, len) || in.size() < len)
    return false;
  const char* p = in.data();
  in.remove_prefix(len);
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(p[i]); };
  if (c.type == MYSQL_TYPE_TIME || c.type == MYSQL_TYPE_TIME2) {
    if (len != 0 && len != 8 && len != 12)
      return false;
    time_value t;
    if (len >= 8) {
      t.negative = u8(0) != 0;
      t.hours = static_cast<uint32_t>(get_le(p + 1, 4)) * 24 + u8(5);
      t.minutes = u8(6);
      t.seconds = u8(7);
    }
    if (len == 12)
      t.microseconds = static_cast<uint32_t>(get_le(p + 8, 4));
    out = t;
    return true;
  }
  if (len != 0 && len != 4 && len != 7 && len != 11)
    return false;
  datetime t;
  if (len >= 4) {
    t.year = static_cast<uint16_t>(get_le(p, 2));
    t.month = u8(2);
    t.day = u8(3);
  }
  if (len >= 7) {
    t.hour = u8(4);
    t.minute = u8(5);
    t.second = u8(6);
  }
  if (len == 11)
    t.microsecond = static_cast<uint32_t>(get_le(p + 7, 4));
  if (c.kind == decode_kind::date)
    out = date{t.year, t.month, t.day};
  else
    out = t;
  return true;
}

} // namespace

wire_column to_wire_column(const MYSQL_FIELD& f) {
  return wire_column{static_cast<uint8_t>(f.type),
                     (f.flags & UNSIGNED_FLAG) != 0, decode_kind_of(f)};
}

bool encode_execute(uint32_t stmt_id, const std::vector<value>& params,
                    std::string& out) {
  auto start = out.size();
  out.append(4, '\0'); // header, filled in below
  out.push_back(static_cast<char>(com_stmt_execute));
  put_u32(out, stmt_id);
  out.push_back(0);  // CURSOR_TYPE_NO_CURSOR
  put_u32(out, 1);   // iteration count
  if (!params.empty()) {
    auto bitmap = out.size();
    out.append((params.size() + 7) / 8, '\0');
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].is_null())
        out[bitmap + i / 8] = static_cast<char>(
          static_cast<uint8_t>(out[bitmap + i / 8]) | (1u << (i % 8)));
    out.push_back(1); // new parameter types follow
    for (auto& p : params) {
      auto [type, flag] = param_type(p);
      out.push_back(static_cast<char>(type));
      out.push_back(static_cast<char>(flag));
    }
    for (auto& p : params)
      put_param(out, p);
  }
  auto payload = out.size() - start - 4;
  if (payload >= max_packet_payload) {
    out.resize(start);
    return false;
  }
  out[start] = static_cast<char>(payload & 0xFF);
  out[start + 1] = static_cast<char>((payload >> 8) & 0xFF);
  out[start + 2] = static_cast<char>((payload >> 16) & 0xFF);
  out[start + 3] = 0; // sequence
  return true;
}

bool read_lenenc(std::string_view& in, uint64_t& out) {
  uint64_t first;
  if (!take(in, 1, first))
    return false;
  if (first < 251) {
    out = first;
    return true;
  }
  switch (first) {
    case 0xFC:
      return take(in, 2, out);
    case 0xFD:
      return take(in, 3, out);
    case 0xFE:
      return take(in, 8, out);
    default: // 0xFB (NULL in text rows) and 0xFF are no integers
      return false;
  }
}

bool read_lenenc_string(std::string_view& in, std::string_view& out) {
  uint64_t n;
  if (!read_lenenc(in, n) || in.size() < n)
    return false;
  out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

size_t next_packet(std::string_view in, std::string_view& payload,
                   bool& continues) {
  if (in.size() < 4)
    return 0;
  auto n = get_le(in.data(), 3);
  if (in.size() < 4 + n)
    return 0;
  payload = in.substr(4, n);
  continues = n == max_packet_payload;
  return 4 + n;
}

bool parse_ok(std::string_view in, ok_packet& out, bool session_track) {
  uint64_t header, status, warnings;
  if (!take(in, 1, header) || (header != 0x00 && header != 0xFE)
      || !read_lenenc(in, out.affected_rows)
      || !read_lenenc(in, out.last_insert_id) || !take(in, 2, status)
      || !take(in, 2, warnings))
    return false;
  out.status = static_cast<uint16_t>(status);
  out.warnings = static_cast<uint16_t>(warnings);
  // The human-readable info follows: length-encoded (then the session
  // state changes, which we do not need) when session tracking was
  // negotiated, else the rest of the packet.
  if (!in.empty()) {
    if (session_track) {
      std::string_view info;
      if (!read_lenenc_string(in, info))
        return false;
      out.info.assign(info);
    } else {
      out.info.assign(in);
    }
  }
  return true;
}

bool parse_err(std::string_view in, err_packet& out) {
  uint64_t header, code;
  if (!take(in, 1, header) || header != 0xFF || !take(in, 2, code))
    return false;
  out.code = static_cast<uint16_t>(code);
  if (!in.empty() && in.front() == '#' && in.size() >= 6) {
    out.sqlstate.assign(in.substr(1, 5));
    in.remove_prefix(6);
  } else {
    out.sqlstate = "HY000";
  }
  out.message.assign(in);
  return true;
}

bool is_eof(std::string_view in) {
  return !in.empty() && static_cast<uint8_t>(in.front()) == 0xFE
         && in.size() < 9;
}

bool parse_eof(std::string_view in, uint16_t& warnings, uint16_t& status) {
  uint64_t header, w, s;
  if (!is_eof(in) || !take(in, 1, header))
    return false;
  if (in.empty()) { // protocol 4.0 style: no counts
    warnings = 0;
    status = 0;
    return true;
  }
  if (!take(in, 2, w) || !take(in, 2, s))
    return false;
  warnings = static_cast<uint16_t>(w);
  status = static_cast<uint16_t>(s);
  return true;
}

bool parse_column(std::string_view in, bool extended, column& col,
                  wire_column& wc) {
  std::string_view catalog, db, table, org_table, name, org_name;
  if (!read_lenenc_string(in, catalog) || !read_lenenc_string(in, db)
      || !read_lenenc_string(in, table) || !read_lenenc_string(in, org_table)
      || !read_lenenc_string(in, name) || !read_lenenc_string(in, org_name))
    return false;
  bool json = false;
  column_type named = column_type::unknown;
  if (extended) {
    // Pairs of a one-byte key and a length-encoded string; key 0 is the
    // data type name ("inet6"), key 1 the format name ("json").
    std::string_view ext;
    if (!read_lenenc_string(in, ext))
      return false;
    while (!ext.empty()) {
      uint64_t key;
      std::string_view val;
      if (!take(ext, 1, key) || !read_lenenc_string(ext, val))
        return false;
      if (key == 1 && val == "json")
        json = true;
      else if (key == 0)
        named = data_type_named(val);
    }
  }
  uint64_t fixed, charset, length, type, flags, decimals;
  if (!read_lenenc(in, fixed) || fixed < 10 || !take(in, 2, charset)
      || !take(in, 4, length) || !take(in, 1, type) || !take(in, 2, flags)
      || !take(in, 1, decimals))
    return false;
  MYSQL_FIELD f{};
  f.name = const_cast<char*>(name.data());
  f.name_length = static_cast<unsigned>(name.size());
  f.org_name = const_cast<char*>(org_name.data());
  f.org_name_length = static_cast<unsigned>(org_name.size());
  f.table = const_cast<char*>(table.data());
  f.table_length = static_cast<unsigned>(table.size());
  f.org_table = const_cast<char*>(org_table.data());
  f.org_table_length = static_cast<unsigned>(org_table.size());
  f.db = const_cast<char*>(db.data());
  f.db_length = static_cast<unsigned>(db.size());
  f.charsetnr = static_cast<unsigned>(charset);
  f.length = static_cast<unsigned long>(length);
  f.type = static_cast<enum_field_types>(type);
  f.flags = static_cast<unsigned>(flags);
  f.decimals = static_cast<unsigned>(decimals);
  col = to_column(f);
  wc = to_wire_column(f);
  if (json) {
    // libmariadb reads the same attribute through mariadb_field_attr.
    col.type = column_type::json;
    wc.kind = decode_kind::string;
  } else if (named != column_type::unknown) {
    col.type = named; // its values stay as the server sends them
  }
  return true;
}

bool decode_row(std::string_view in, const std::vector<wire_column>& cols,
                std::vector<value>& cells, size_t& bytes) {
  uint64_t header;
  if (!take(in, 1, header) || header != 0x00)
    return false;
  // The NULL bitmap has two reserved bits in front.
  auto bitmap_len = (cols.size() + 7 + 2) / 8;
  if (in.size() < bitmap_len)
    return false;
  auto bitmap = in.substr(0, bitmap_len);
  in.remove_prefix(bitmap_len);
  for (size_t i = 0; i < cols.size(); ++i) {
    auto bit = i + 2;
    bytes += sizeof(value);
    if (static_cast<uint8_t>(bitmap[bit / 8]) & (1u << (bit % 8))) {
      cells.emplace_back();
      continue;
    }
    const auto& c = cols[i];
    uint64_t raw = 0;
    size_t width = 0;
    switch (c.type) {
      case MYSQL_TYPE_NULL:
        cells.emplace_back();
        continue;
      case MYSQL_TYPE_TINY:
        width = 1;
        break;
      case MYSQL_TYPE_SHORT:
      case MYSQL_TYPE_YEAR:
        width = 2;
        break;
      case MYSQL_TYPE_INT24:
      case MYSQL_TYPE_LONG:
      case MYSQL_TYPE_FLOAT:
        width = 4;
        break;
      case MYSQL_TYPE_LONGLONG:
      case MYSQL_TYPE_DOUBLE:
        width = 8;
        break;
      case MYSQL_TYPE_DATE:
      case MYSQL_TYPE_NEWDATE:
      case MYSQL_TYPE_DATETIME:
      case MYSQL_TYPE_DATETIME2:
      case MYSQL_TYPE_TIMESTAMP:
      case MYSQL_TYPE_TIMESTAMP2:
      case MYSQL_TYPE_TIME:
      case MYSQL_TYPE_TIME2: {
        value v;
        if (!read_temporal(in, c, v))
          return false;
        cells.push_back(std::move(v));
        continue;
      }
      default: {
        std::string_view s;
        if (!read_lenenc_string(in, s))
          return false;
        bytes += s.size();
        switch (c.kind) {
          case decode_kind::decimal:
            cells.emplace_back(decimal{std::string{s}});
            break;
          case decode_kind::bytes:
            cells.emplace_back(troupe::bytes(s.begin(), s.end()));
            break;
          default:
            cells.emplace_back(std::string{s});
            break;
        }
        continue;
      }
    }
    if (!take(in, width, raw))
      return false;
    if (c.type == MYSQL_TYPE_FLOAT) {
      float f;
      auto bits = static_cast<uint32_t>(raw);
      std::memcpy(&f, &bits, sizeof(f));
      cells.emplace_back(widen_float(f));
    } else if (c.type == MYSQL_TYPE_DOUBLE) {
      double d;
      std::memcpy(&d, &raw, sizeof(d));
      cells.emplace_back(d);
    } else if (c.is_unsigned) {
      cells.emplace_back(raw);
    } else {
      // Sign-extend from `width` bytes.
      auto shift = 64 - 8 * width;
      auto x = static_cast<int64_t>(raw << shift) >> shift;
      cells.emplace_back(x);
    }
  }
  return in.empty();
}

} // namespace troupe::mariadb::detail
