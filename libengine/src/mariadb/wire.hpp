#pragma once

// The binary protocol's COM_STMT_EXECUTE on the wire (private to the driver).
//
// libmariadb sends one command and reads its whole answer before it sends the
// next. The driver pipelines executions of prepared SELECT statements instead:
// it writes the packets itself, several at once, and decodes the answers as
// they arrive. This file is the pure part of that: encoding a request,
// splitting and decoding the server's packets. No I/O, unit-tested without a
// server.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <mysql.h>

#include "codec.hpp"
#include "troupe/result.hpp"
#include "troupe/value.hpp"

namespace troupe::mariadb::detail {

/// How one result column travels in binary rows and how it is decoded.
struct wire_column {
  uint8_t type = MYSQL_TYPE_NULL; // enum_field_types
  bool is_unsigned = false;
  decode_kind kind = decode_kind::null;
};

/// Describes a column from libmariadb's metadata.
wire_column to_wire_column(const MYSQL_FIELD& f);

/// The largest payload of one packet; a longer one continues in the next.
constexpr size_t max_packet_payload = 0xFFFFFF;

/// Appends a COM_STMT_EXECUTE packet (sequence 0) for statement `stmt_id`
/// with `params` bound. Returns false, appending nothing, when the payload
/// would need more than one packet (the caller sends it another way).
bool encode_execute(uint32_t stmt_id, const std::vector<value>& params,
                    std::string& out);

/// Reads a length-encoded integer from the front of `in`.
bool read_lenenc(std::string_view& in, uint64_t& out);

/// Reads a length-encoded string from the front of `in`.
bool read_lenenc_string(std::string_view& in, std::string_view& out);

/// Cuts the next packet's payload off the front of `in` (header included in
/// what is consumed). Returns 0 when incomplete, else the bytes consumed.
/// Payloads of max_packet_payload bytes continue in the next packet: this
/// returns them one by one (`continues` is set), the caller joins them.
size_t next_packet(std::string_view in, std::string_view& payload,
                   bool& continues);

/// An OK packet (0x00, or 0xFE ending a result set).
struct ok_packet {
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint16_t status = 0;
  uint16_t warnings = 0;
  std::string info;
};
/// With `session_track` (CLIENT_SESSION_TRACK negotiated, as libmariadb
/// always asks) the info is length-encoded, followed by state changes.
bool parse_ok(std::string_view payload, ok_packet& out,
              bool session_track = true);

/// An ERR packet (0xFF).
struct err_packet {
  uint16_t code = 0;
  std::string sqlstate;
  std::string message;
};
bool parse_err(std::string_view payload, err_packet& out);

/// An EOF packet (0xFE, shorter than 9 bytes).
bool is_eof(std::string_view payload);
bool parse_eof(std::string_view payload, uint16_t& warnings, uint16_t& status);

/// A column definition packet (protocol 4.1), with MariaDB's extended
/// metadata when `extended` was negotiated.
bool parse_column(std::string_view payload, bool extended, column& col,
                  wire_column& wc);

/// Decodes one binary-protocol row, appending a cell per column to `cells`
/// and adding the decoded size to `bytes`. Returns false when malformed.
bool decode_row(std::string_view payload, const std::vector<wire_column>& cols,
                std::vector<value>& cells, size_t& bytes);

} // namespace troupe::mariadb::detail
