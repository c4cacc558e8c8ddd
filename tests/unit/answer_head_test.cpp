// Unit tests for net/answer_head: what a client is told of HA's answer head. End-to-end fields pass in
// HA's order and spelling; hop-by-hop ones (and those HA's Connection names) do not; the head is framed
// for the client's HTTP version and connection; an answer framed two ways, or with any transfer coding
// but "chunked", is refused; trailers never pass and count against the head budget.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string>
#include <string_view>

#include "net/answer_head.hpp"

namespace {
namespace http = boost::beast::http;
using gatehouse::net::AnswerParser;
using gatehouse::net::ClientAnswer;

// HA's answer parsed into `parser` as the relay parses it: the head only, within `head_limit` bytes of
// field lines.
boost::system::error_code parse_head(AnswerParser& parser, std::string_view raw, std::size_t head_limit = 16 * 1024) {
  boost::system::error_code ec;
  parser.field_limit(head_limit);
  parser.body_limit(boost::none);
  parser.eager(false);
  parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  return ec;
}
boost::system::error_code parse_error(std::string_view raw, std::size_t head_limit = 16 * 1024) {
  AnswerParser parser;
  return parse_head(parser, raw, head_limit);
}
ClientAnswer for_client(std::string_view raw, unsigned client_version = 11, bool keep_alive = true,
                        bool head_request = false) {
  AnswerParser parser;
  const auto ec = parse_head(parser, raw);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  return parser.for_client(client_version, keep_alive, head_request);
}

TEST(AnswerHead, EndToEndFieldsPassInHasOrderAndSpellingHopByHopOnesDoNot) {
  const auto answer = for_client(
      "HTTP/1.1 200 OK\r\nServer: Python/3.11 aiohttp/3.8.5\r\nconnection: keep-alive, X-Hop\r\n"
      "Keep-Alive: timeout=5\r\nX-Hop: secret\r\nProxy-Connection: keep-alive\r\nProxy-Authenticate: Basic\r\n"
      "TE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\nset-cookie: a=b; HttpOnly\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(answer.head,
            "HTTP/1.1 200 OK\r\nServer: Python/3.11 aiohttp/3.8.5\r\nset-cookie: a=b; HttpOnly\r\nContent-Length: 2\r\n\r\n");
  EXPECT_FALSE(answer.chunked);
  EXPECT_TRUE(answer.keep_alive);
  EXPECT_FALSE(answer.bodiless);
}

TEST(AnswerHead, ASetCookieOfGatehousesOwnCookiesNeverReachesTheClient) {
  const auto answer = for_client(
      "HTTP/1.1 200 OK\r\nSet-Cookie: gatehouse_login_abcdefgh=planted; Path=/sso/\r\n"
      "set-cookie: ingress_session=abc\r\nSet-Cookie: Gatehouse_consent_x=1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(answer.head, "HTTP/1.1 200 OK\r\nset-cookie: ingress_session=abc\r\nContent-Length: 0\r\n\r\n");
}

TEST(AnswerHead, AHeaderNamedByConnectionIsDroppedWhereverItCameAndInAnyCase) {
  const auto answer = for_client(
      "HTTP/1.1 200 OK\r\nX-Before: 1\r\nx-after: 2\r\nX-Kept: 3\r\nConnection: x-before\r\n"
      "Connection: X-AFTER\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(answer.head, "HTTP/1.1 200 OK\r\nX-Kept: 3\r\nContent-Length: 0\r\n\r\n");
}

TEST(AnswerHead, ConnectionCannotTakeAwayTheFieldsThatFrameTheBody) {
  AnswerParser parser;
  ASSERT_FALSE(parse_head(parser, "HTTP/1.1 200 OK\r\nConnection: close, Content-Length, Transfer-Encoding, Host\r\n"
                                  "Content-Length: 2\r\n\r\nok"));
  EXPECT_FALSE(parser.keep_alive()); // HA closes its connection: not pooled...
  const auto answer = parser.for_client(11, true, false);
  EXPECT_EQ(answer.head, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"); // ...but the client's stays open
  EXPECT_TRUE(answer.keep_alive);
}

TEST(AnswerHead, TheStatusAndReasonPassAsHaSentThem) {
  EXPECT_EQ(for_client("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").head,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(for_client("HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n").head, "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
}

TEST(AnswerHead, AClientConnectionThatClosesIsToldSo) {
  const auto answer = for_client("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 11, false);
  EXPECT_EQ(answer.head, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(answer.keep_alive);
}

TEST(AnswerHead, AnHttp10ClientGetsItsOwnVersionAndKeepAliveSpelledOut) {
  const auto kept = for_client("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 10, true);
  EXPECT_EQ(kept.head, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(kept.keep_alive);
  const auto closed = for_client("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 10, false);
  EXPECT_EQ(closed.head, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(AnswerHead, AChunkedAnswerStaysChunkedForHttp11AndEndsWithTheConnectionForHttp10) {
  const std::string_view raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n";
  const auto v11 = for_client(raw, 11);
  EXPECT_EQ(v11.head, "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(v11.chunked);
  EXPECT_TRUE(v11.keep_alive);
  const auto v10 = for_client(raw, 10);
  EXPECT_EQ(v10.head, "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\n");
  EXPECT_FALSE(v10.chunked);
  EXPECT_FALSE(v10.keep_alive);
}

TEST(AnswerHead, AnyTransferEncodingButOneLineOfExactlyChunkedIsRefused) {
  // Beast alone reads "chunked ;x=1" and "gzip, chunked @" as chunked, "chunked, chunked" as a body
  // that ends when HA closes: a reader behind the client might read any of them another way.
  for (const auto* codings : {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: gzip, chunked\r\n",
                              "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                              "Transfer-Encoding: chunked ;x=1\r\n", "Transfer-Encoding: gzip, chunked @\r\n",
                              "Transfer-Encoding: chunked, chunked\r\n", "Transfer-Encoding: chunked,\r\n",
                              "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding: \r\n"}) {
    EXPECT_EQ(parse_error(std::string("HTTP/1.1 200 OK\r\n") + codings + "\r\n"), http::error::bad_transfer_encoding)
        << codings;
  }
  EXPECT_EQ(for_client("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n").head,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST(AnswerHead, ABodyHaEndsByClosingIsChunkedForHttp11SoTheClientConnectionStaysOpen) {
  const std::string_view raw = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
  const auto v11 = for_client(raw, 11);
  EXPECT_EQ(v11.head, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(v11.chunked);
  EXPECT_TRUE(v11.keep_alive);
  const auto v10 = for_client(raw, 10, true);
  EXPECT_EQ(v10.head, "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
  EXPECT_FALSE(v10.chunked);
  EXPECT_FALSE(v10.keep_alive);
}

TEST(AnswerHead, AnswersWithoutABodyKeepTheirHeadAndAreNotReframed) {
  for (const auto* raw : {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"}) {
    const auto answer = for_client(raw);
    EXPECT_EQ(answer.head, raw);
    EXPECT_TRUE(answer.bodiless);
    EXPECT_FALSE(answer.chunked);
  }
  const auto head = for_client("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 11, true, true);
  EXPECT_EQ(head.head, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  EXPECT_TRUE(head.bodiless);
}

TEST(AnswerHead, AnAnswerThatFramesItsBodyTwoWaysIsRefusedInEitherOrderEvenWithoutABody) {
  EXPECT_EQ(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            http::error::bad_transfer_encoding);
  EXPECT_EQ(parse_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            http::error::bad_content_length);
  EXPECT_EQ(parse_error("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            http::error::bad_transfer_encoding);
}

TEST(AnswerHead, AHeadOverTheBudgetIsRefused) {
  const std::string raw = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(parse_error(raw, 100), http::error::header_limit);
  EXPECT_FALSE(parse_error(raw, 300));
}

// A chunked body read to its end, as the relay reads it: into a buffer_body, piece by piece.
boost::system::error_code read_chunked_body(AnswerParser& parser, std::string_view& rest, std::string& body) {
  boost::system::error_code ec;
  char piece[64];
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    const auto used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    body.append(piece, sizeof piece - parser.get().body().size);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return ec;
    if (used == 0 && rest.empty()) return http::error::need_more;
  }
  return ec;
}

TEST(AnswerHead, TrailersNeverPassAndCountAgainstTheHeadBudget) {
  const std::string_view head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n";
  const std::string_view body = "5\r\nhello\r\n0\r\nX-Sum: 123\r\nX-Other: 4\r\n\r\n";
  for (const std::size_t limit : {std::size_t{1024}, std::size_t{60}}) {
    const std::string raw = std::string(head) + std::string(body);
    AnswerParser parser;
    parser.field_limit(limit);
    parser.body_limit(boost::none);
    parser.eager(false);
    boost::system::error_code ec;
    std::string_view rest = raw;
    rest.remove_prefix(parser.put(boost::asio::buffer(rest.data(), rest.size()), ec));
    ASSERT_FALSE(ec) << ec.message();
    parser.eager(true);
    std::string received;
    ec = read_chunked_body(parser, rest, received);
    const auto answer = parser.for_client(11, true, false);
    EXPECT_EQ(answer.head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (limit == 1024) {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(received, "hello");
    } else {
      EXPECT_EQ(ec, http::error::header_limit); // 44 bytes of head lines, then 24 of trailers: over 60
    }
  }
}

} // namespace
