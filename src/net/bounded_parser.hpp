// net/bounded_parser: owns the HTTP parser every message Gatehouse relays is read with. Beast 1.81
// counts a chunked body's trailer fields against no limit at all, and throws std::length_error — from
// inside a completion handler, beyond any coroutine — on a field value over 65,533 bytes. Here every
// field line, in the head or in the trailers, counts against one budget (the head limit), and a field
// that would not fit fails the read with header_limit (a 431 or a 502), never a throw.
// It also owns the size of the buffer such a parser reads from (read_buffer_limit): Beast keeps a chunk
// line, extensions and all, in the read buffer until its end arrives, and bounds it by nothing.
#pragma once

#include <boost/beast/core/string_type.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gatehouse::net {

// The most a read buffer may hold while a message is parsed from it. The parser takes body bytes out as
// they come, so what stays is a head, or a chunk line with its extensions, or the trailers (each within
// `head_limit`), plus one read. A fuller buffer fails the read with http::error::buffer_overflow:
// without this, one chunk extension that never ends grew Gatehouse's memory without bound.
constexpr std::size_t kReadPieceBytes = 64 * 1024;
constexpr std::size_t read_buffer_limit(std::size_t head_limit) { return head_limit + kReadPieceBytes; }

template <bool isRequest, class Body = boost::beast::http::buffer_body>
class BoundedParser : public boost::beast::http::parser<isRequest, Body> {
public:
  BoundedParser() = default;
  // Bytes of field lines allowed in all (head and trailers); Beast's own head limit too.
  void field_limit(std::size_t bytes) {
    limit_ = bytes;
    this->header_limit(static_cast<std::uint32_t>(bytes));
  }

protected:
  // Counts one field line against the budget; false (and header_limit) when it does not fit.
  bool charge(boost::beast::string_view name_string, boost::beast::string_view value, boost::beast::error_code& ec) {
    const std::size_t line = name_string.size() + value.size() + 4; // "name: value\r\n"
    if (value.size() > kMaxFieldValueBytes || line > limit_ - used_) {
      ec = boost::beast::http::error::header_limit;
      return false;
    }
    used_ += line;
    return true;
  }

  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string, boost::beast::string_view value,
                     boost::beast::error_code& ec) override {
    if (charge(name_string, value, ec)) this->get().insert(name, name_string, value);
  }

private:
  static constexpr std::size_t kMaxFieldValueBytes = 65'533; // what Beast's field storage holds

  std::size_t limit_ = 64 * 1024;
  std::size_t used_ = 0;
};

} // namespace gatehouse::net
