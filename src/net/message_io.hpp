// net/message_io: two steps of the HTTP relay that Asio's and Beast's defaults take at a cost, done
// here once for every caller: reading HA's answer head (parsed in place when one read brought it
// whole) and writing a message's pieces to the kernel in one call. Transport only: what the head says
// is the relay's business.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <cstddef>
#include <limits>
#include <tuple>

namespace gatehouse::net {

// A completion condition for asio::async_write that offers the kernel everything left in each call.
// Asio's default (transfer_all) stops each call at 64 KiB, so a 64 KiB answer with its head took two
// system calls and woke its receiver twice.
inline constexpr auto in_one_call = [](const boost::system::error_code& ec, std::size_t) -> std::size_t {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
};

// Reads an answer head from `in` into `parser` (the head only: body bytes that came with it stay in
// `buffer`). When the buffer is empty, one read sized exactly as Beast sizes its own (so a pooled
// connection's buffer grows as it did); if that brought the whole head (nearly always once the buffer
// has grown past its first 512 bytes) it is parsed in place, without Beast's read operation and its two
// layers around that read. Anything else (a head in pieces, one over the parser's limit, a connection
// that closes mid-head) goes on to Beast's read, whose verdict is returned. A connection that closes
// before sending anything gives http::error::end_of_stream, as Beast says it.
template <class In, class Parser>
boost::asio::awaitable<boost::system::error_code> read_answer_head(In& in, boost::beast::flat_buffer& buffer, Parser& parser) {
  namespace http = boost::beast::http;
  constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  constexpr std::size_t kBeastReadMost = 65536; // what Beast's read_some_op passes to read_size
  parser.eager(false); // the head only, as Beast's async_read_header sets it
  if (buffer.size() == 0) {
    auto [ec, n] = co_await in.async_read_some(buffer.prepare(boost::beast::read_size(buffer, kBeastReadMost)), use_tuple);
    if (ec == boost::asio::error::eof) co_return http::error::end_of_stream;
    if (ec) co_return ec;
    buffer.commit(n);
  }
  boost::system::error_code ec;
  buffer.consume(parser.put(buffer.data(), ec));
  if (ec == http::error::need_more) std::tie(ec, std::ignore) = co_await http::async_read_header(in, buffer, parser, use_tuple);
  co_return ec;
}

} // namespace gatehouse::net
