// Unit tests for net/message_io: an answer head is read whole whether it comes in one piece or several,
// after an interim answer, or not at all; a message's pieces go to the kernel in one call.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "net/bounded_parser.hpp"
#include "net/message_io.hpp"

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using gatehouse::net::BoundedParser;
using gatehouse::net::in_one_call;
using gatehouse::net::read_answer_head;
using Socket = asio::local::stream_protocol::socket;

constexpr std::size_t kHeadLimit = 16 * 1024;

// HA's end of a connection (`ha`) and Gatehouse's (`gatehouse`), with the parser and buffer an
// exchange reads HA's answer with.
struct Connection {
  asio::io_context io;
  Socket ha{io}, gatehouse{io};
  beast::flat_buffer buffer;
  std::optional<BoundedParser<false>> parser; // one per answer, as the relay has
  std::optional<boost::system::error_code> result;

  Connection() {
    asio::local::connect_pair(ha, gatehouse);
    next_answer();
  }
  void next_answer() {
    parser.emplace();
    parser->field_limit(kHeadLimit);
    parser->body_limit(boost::none);
    result.reset();
  }
  void send(std::string_view bytes) { asio::write(ha, asio::buffer(bytes)); }
  // Starts reading the head and runs until the read completes or waits for HA.
  void start_reading() {
    asio::co_spawn(io, read_answer_head(gatehouse, buffer, *parser),
                   [this](std::exception_ptr e, boost::system::error_code ec) {
                     if (e) std::rethrow_exception(e);
                     result = ec;
                   });
    io.poll();
    io.restart();
  }
  void run() {
    io.run();
    io.restart();
  }
  std::string buffered() const { return beast::buffers_to_string(buffer.data()); }
};

TEST(ReadAnswerHead, AHeadThatCameWholeIsParsedAndItsBodyBytesStayInTheBuffer) {
  Connection c;
  c.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  c.start_reading();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_FALSE(*c.result) << c.result->message();
  EXPECT_TRUE(c.parser->is_header_done());
  EXPECT_EQ(c.parser->get().result_int(), 200u);
  EXPECT_EQ(c.parser->get()[http::field::content_type], "text/plain");
  EXPECT_EQ(c.buffered(), "hello");
}

TEST(ReadAnswerHead, AHeadInPiecesIsReadToItsEnd) {
  Connection c;
  c.send("HTTP/1.1 404 Not Found\r\nContent-");
  c.start_reading();
  EXPECT_FALSE(c.result.has_value()) << "the head is not complete: the read must wait for the rest";
  c.send("Length: 2\r\nX-Thing: ");
  c.io.poll();
  c.io.restart();
  EXPECT_FALSE(c.result.has_value());
  c.send("a b\r\n\r\nno");
  c.run();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_FALSE(*c.result) << c.result->message();
  EXPECT_EQ(c.parser->get().result_int(), 404u);
  EXPECT_EQ(c.parser->get()[http::field::content_length], "2");
  EXPECT_EQ(c.parser->get()["X-Thing"], "a b");
  EXPECT_EQ(c.buffered(), "no");
}

TEST(ReadAnswerHead, AnInterimAnswerAndTheFinalOneThatCameWithItAreReadOneAfterTheOther) {
  Connection c;
  c.send("HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  c.ha.close(); // the final answer is already here: reading it must not need the connection
  c.start_reading();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_FALSE(*c.result) << c.result->message();
  EXPECT_EQ(c.parser->get().result_int(), 103u);
  c.next_answer();
  c.start_reading();
  c.run();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_FALSE(*c.result) << c.result->message();
  EXPECT_EQ(c.parser->get().result_int(), 200u);
}

TEST(ReadAnswerHead, AConnectionClosedBeforeAnyAnswerIsTheEndOfTheStream) {
  Connection c;
  c.ha.close();
  c.start_reading();
  c.run();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_EQ(*c.result, http::error::end_of_stream);
}

TEST(ReadAnswerHead, AConnectionClosedMidHeadIsAPartialMessage) {
  Connection c;
  c.send("HTTP/1.1 200 OK\r\nContent-Le");
  c.ha.close();
  c.start_reading();
  c.run();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_EQ(*c.result, http::error::partial_message);
}

TEST(ReadAnswerHead, AHeadOverTheLimitFailsWithTheHeaderLimit) {
  Connection c;
  c.send("HTTP/1.1 200 OK\r\nX-Big: " + std::string(kHeadLimit, 'x') + "\r\n\r\n");
  c.start_reading();
  c.run();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_EQ(*c.result, http::error::header_limit);
}

TEST(ReadAnswerHead, TheAnswerToAHeadRequestIsItsHeadAlone) {
  Connection c;
  c.parser->skip(true); // as the relay sets it for HEAD
  c.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  c.start_reading();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_FALSE(*c.result) << c.result->message();
  EXPECT_TRUE(c.parser->is_done()) << "a HEAD answer has no body, whatever its Content-Length says";
  EXPECT_EQ(c.parser->get()[http::field::content_length], "1000");
  EXPECT_EQ(c.buffered(), "HTTP/1.1 204 No Content\r\n\r\n") << "the next answer stays for the next read";
}

TEST(ReadAnswerHead, AReadCancelledByItsDeadlineReportsTheCancellation) {
  Connection c;
  c.send("HTTP/1.1 200 OK\r\n");
  c.start_reading();
  EXPECT_FALSE(c.result.has_value());
  c.gatehouse.cancel(); // what the deadline sweep does to a read that waits too long
  c.run();
  ASSERT_TRUE(c.result.has_value());
  EXPECT_EQ(*c.result, asio::error::operation_aborted);
}

// A stream that takes whatever it is offered and records how much each call was offered.
struct RecordingStream {
  using executor_type = asio::io_context::executor_type;
  executor_type executor;
  std::vector<std::size_t> calls;
  executor_type get_executor() { return executor; }
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    const std::size_t n = asio::buffer_size(buffers);
    calls.push_back(n);
    asio::post(executor, [h = std::forward<Handler>(handler), n]() mutable { h(boost::system::error_code{}, n); });
  }
};

TEST(InOneCall, AMessageOverSixtyFourKibibytesIsOfferedToTheKernelInOneCall) {
  asio::io_context io;
  RecordingStream stream{io.get_executor(), {}};
  const std::string head(233, 'h'), body(65'536, 'b');
  const std::array<asio::const_buffer, 2> pieces{asio::buffer(head), asio::buffer(body)};
  std::size_t written = 0;
  asio::async_write(stream, pieces, in_one_call, [&](boost::system::error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    written = n;
  });
  io.run();
  EXPECT_EQ(written, head.size() + body.size());
  EXPECT_EQ(stream.calls, std::vector<std::size_t>{head.size() + body.size()});
}

} // namespace
