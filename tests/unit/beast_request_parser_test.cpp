// Findings of the fuzz/head_checks target, as reproducers: Boost.Beast 1.81's request parser, set up as
// Gatehouse sets it up for a client's request (header_limit = limits.max_header_bytes, 64 KiB by default;
// body_limit = limits.max_body_bytes), reading a chunked body the way the relay and the /auth/token form
// reader do. These fail today. When the fix gives Gatehouse its own way to create and limit this parser
// (today the settings live in net/session.cpp), these tests should call that instead of Beast directly.
#include <gtest/gtest.h>

#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/bounded_parser.hpp"

namespace http = boost::beast::http;

namespace {

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024; // config::Limits defaults
constexpr std::uint64_t kMaxBodyBytes = 1024ull * 1024 * 1024;

std::string chunked_request_with_trailer(const std::string& trailer_lines) {
  return "POST /auth/token HTTP/1.1\r\nHost: ha.example.com\r\n"
         "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\na=b\r\n0\r\n" + trailer_lines + "\r\n";
}

// Feeds the bytes as the session's reads would, 4 KiB at a time; returns the parser's last error.
using Parser = gatehouse::net::BoundedParser<true, http::string_body>; // what net/session reads with

boost::system::error_code parse(Parser& parser, const std::string& bytes) {
  parser.field_limit(kMaxHeaderBytes);
  parser.body_limit(kMaxBodyBytes);
  parser.eager(true);
  std::string pending;
  boost::system::error_code ec;
  for (std::size_t at = 0; at < bytes.size() && !parser.is_done(); at += 4096) {
    pending += bytes.substr(at, 4096);
    const auto used = parser.put(boost::asio::buffer(pending), ec);
    pending.erase(0, used);
    if (ec == http::error::need_more) ec = {};
    if (ec) return ec;
  }
  return ec;
}

} // namespace

// fuzz/head_checks: a trailer field value over 65,533 bytes makes Beast throw std::length_error from
// inside put(). In Gatehouse that put() runs in an Asio completion handler, so the exception leaves the
// worker's io_context::run() and terminates the process: one unauthenticated POST /auth/token (chunked,
// a 70,000-byte trailer field, sent after the head) stops Gatehouse with SIGABRT, in enforce mode too.
// Fixed by net/bounded_parser, the parser the session reads every message with.
TEST(BeastRequestParser, ALongChunkTrailerFieldIsRefusedNotThrown) {
  Parser parser;
  const auto request = chunked_request_with_trailer("X-Trailer: " + std::string(65534, 'v') + "\r\n");
  boost::system::error_code ec;
  EXPECT_NO_THROW(ec = parse(parser, request));
  EXPECT_TRUE(ec) << "a trailer field larger than the whole head may be must be refused";
}

// Found while reading the parser for the finding above: trailer fields count against neither
// header_limit nor body_limit, so a client can make Gatehouse buffer and store any amount of them
// (here 4 MiB in 4,096 fields, 64 times max_header_bytes) on a public endpoint.
TEST(BeastRequestParser, ChunkTrailersAreBoundedLikeAHead) {
  std::string trailer;
  for (int i = 0; i < 4096; ++i) trailer += "X-T" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
  Parser parser;
  boost::system::error_code ec;
  ASSERT_NO_THROW(ec = parse(parser, chunked_request_with_trailer(trailer)));
  EXPECT_TRUE(ec) << "4 MiB of trailer fields were accepted; the head may only have " << kMaxHeaderBytes << " bytes";
}
