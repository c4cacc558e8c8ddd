// net/session: the per-connection coroutine and the HTTP relay to HA.
#include "net/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <array>
#include <charconv>
#include <chrono>
#include <optional>
#include <openssl/ssl.h>

#include "logging/log.hpp"
#include "metrics/metrics.hpp"
#include "net/relay_counts.hpp"
#include "net/forwarding.hpp"
#include "net/answer_head.hpp"
#include "net/bounded_parser.hpp"
#include "net/head_checks.hpp"
#include "net/message_io.hpp"
#include "net/door.hpp"
#include "net/ip_network.hpp"
#include "net/websocket_relay.hpp"
#include "web/refusal.hpp"

namespace gatehouse::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using std::chrono::milliseconds;
using RequestParser = BoundedParser<true>;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayChunk = 64 * 1024;
// HA's answers (and add-ons' through ingress) get the same ceiling as clients' heads (config.hpp).
constexpr std::size_t kUpstreamHeaderLimit = config::kMaxHeaderBytesCeiling;

metrics::Counter http_requests("gatehouse_http_requests_total",
                                "Requests answered, by route class (proxy, sso, scim, websocket, ...) and HTTP status",
                                {"route", "status"});
// The request counter's series for a route and status, found once per thread: routes are a few fixed
// names, statuses a few dozen numbers.
std::atomic<std::uint64_t>& request_series(const char* route, unsigned status) {
  struct Cached {
    const char* route;
    unsigned status;
    std::atomic<std::uint64_t>* series;
  };
  thread_local std::vector<Cached> cache;
  for (const auto& entry : cache)
    if (entry.route == route && entry.status == status) return *entry.series;
  auto& series = http_requests.series({route, std::to_string(status)});
  if (cache.size() < 256) cache.push_back({route, status, &series});
  return series;
}

// Facts about one exchange, for its log line and the request counter.
struct Exchange {
  std::string method;
  std::string path;
  const char* route = "proxy";
  unsigned status = 0;
  boost::asio::ip::address client; // formatted only if the line is written
  // Read only for the log line: a clock read less per request when it is not written.
  std::chrono::steady_clock::time_point started =
      logging::enabled(logging::Level::info) ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

  void log() const {
    request_series(route, status).fetch_add(1, std::memory_order_relaxed);
    if (!logging::enabled(logging::Level::info)) return;
    // Zero when the level was raised while the request was under way (no start was read).
    double ms = started == std::chrono::steady_clock::time_point{}
                    ? 0.0
                    : std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    logging::info("request", {{"method", method},
                              {"route", route},
                              {"path", path},
                              {"status", status},
                              {"duration_ms", std::round(ms * 100) / 100},
                              {"client", client.to_string()}});
  }
};

struct RelayResult {
  boost::system::error_code ec;
  bool input_failed = false; // the error came from reading the sender, not writing the receiver
  bool complete = false;     // the whole message went through (the connections are at a message boundary)
};

// The body length a message's head tells: its Content-Length, or none at all for a request without
// one (RFC 9112 §6.3). nullopt for chunked bodies and for responses that end when HA closes.
template <bool isRequest>
std::optional<std::uint64_t> sized_body(const http::parser<isRequest, http::buffer_body>& parser) {
  if (parser.chunked()) return std::nullopt;
  if (auto remaining = parser.content_length_remaining()) return *remaining;
  if (isRequest || parser.is_done()) return 0;
  return std::nullopt;
}

// Whether HA's TLS connection already holds more of the body than the last read gave: decrypted bytes,
// ciphertext in OpenSSL's buffers, or bytes on the socket. (Clients' uploads are read as they come.)
template <class In>
bool has_more_at_hand(In& bare) {
  if constexpr (std::is_same_v<In, UpstreamStream::Bare>) {
    auto& in = bare.stream();
    if (!in.is_tls()) return false;
    SSL* ssl = in.tls().native_handle();
    boost::system::error_code ignored;
    return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0 || in.socket().available(ignored) > 0;
  }
  return false;
}

// What of a body is on a plain socket already, without waiting: read at once into `to` (at most
// `most` bytes). 0 when nothing is there, and on an error or the peer's close, left to the next read
// (a reset taken here reads there as the end of the stream: the relay fails the same way, short of its
// body). A TLS stream's records come through OpenSSL: nothing is taken from them here.
std::size_t read_at_hand(tcp::socket& in, char* to, std::size_t most) {
  for (;;) {
    const auto n = ::recv(in.native_handle(), to, most, MSG_DONTWAIT);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n < 0 && errno == EINTR) continue;
    return 0;
  }
}
std::size_t read_at_hand(UpstreamStream::Bare& in, char* to, std::size_t most) {
  return in.stream().is_tls() ? 0 : read_at_hand(in.stream().socket(), to, most);
}
std::size_t read_at_hand(TlsStream&, char*, std::size_t) { return 0; }

// The body relay buffer, lent by the worker only while a body is being moved: connections that wait
// between requests, and exchanges whose whole message came with its head, hold none. A busy worker
// hands the same few back and forth, most recently used first, so the bytes just read are still in the
// CPU's cache when they are written (one buffer per exchange in flight measured ~20% more kernel copy
// time per 64 KB answer).
class RelayBuffer {
public:
  explicit RelayBuffer(Worker& worker) : worker_(worker) {}
  ~RelayBuffer() {
    if (data_ && worker_.spare_relay_buffers.size() < kSpareRelayBuffers)
      worker_.spare_relay_buffers.push_back(std::move(data_));
  }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;
  char* get() {
    if (!data_) {
      auto& spare = worker_.spare_relay_buffers;
      if (spare.empty()) {
        data_ = std::make_unique_for_overwrite<char[]>(kRelayChunk);
      } else {
        data_ = std::move(spare.back());
        spare.pop_back();
      }
    }
    return data_.get();
  }

private:
  static constexpr std::size_t kSpareRelayBuffers = 64; // at most 4 MiB kept per worker
  Worker& worker_;
  std::unique_ptr<char[]> data_;
};

// A length-framed message goes through as plain bytes: the parser would only copy the body once more.
// The head leaves with the body bytes already here (read, or waiting on a plain socket), in one write:
// the whole message when it arrived whole, so its receiver wakes once for it. Nothing still on its
// way is waited for.
template <bool isRequest, class In, class Out>
asio::awaitable<RelayResult> relay_sized_message(In& in, beast::flat_buffer& in_buffer, std::uint64_t remaining,
                                                 std::string_view head_bytes, Out& out,
                                                 std::optional<milliseconds> read_timeout,
                                                 std::optional<milliseconds> write_timeout, Worker& worker,
                                                 TrackedConnection& watch) {
  const std::size_t buffered = static_cast<std::size_t>(std::min<std::uint64_t>(in_buffer.size(), remaining));
  RelayBuffer relay_buffer(worker);
  char* const chunk = remaining > buffered ? relay_buffer.get() : nullptr; // none when the body came whole
  const std::size_t at_hand =
      chunk ? read_at_hand(in, chunk, static_cast<std::size_t>(std::min<std::uint64_t>(remaining - buffered, kRelayChunk)))
            : 0;
  const std::array<asio::const_buffer, 3> first{asio::buffer(head_bytes), asio::buffer(in_buffer.data().data(), buffered),
                                                asio::buffer(chunk, at_hand)};
  watch.wait_at_most(write_timeout);
  // Asynchronous even when the kernel takes it all at once: the round through the event loop that
  // follows is when the receiver answers, so the read after it finds bytes instead of waiting. Writing
  // inline (sendmsg, then straight on) measured 8% fewer requests a second and 10% more CPU each.
  auto [head_ec, head_n] = co_await asio::async_write(out, first, in_one_call, use_tuple);
  if (head_ec) co_return RelayResult{head_ec, false};
  auto& relayed = relayed_toward(isRequest);
  relayed.fetch_add(buffered + at_hand, std::memory_order_relaxed);
  in_buffer.consume(buffered);
  remaining -= buffered + at_hand;
  while (remaining > 0) {
    watch.wait_at_most(read_timeout);
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kRelayChunk));
    auto [ec, n] = co_await in.async_read_some(asio::buffer(chunk, want), use_tuple);
    if (ec) co_return RelayResult{ec, true};
    // TLS hands over one record (16 KB) per read: what has already arrived is taken too, so a 64 KB
    // answer leaves in one write instead of four. Nothing still on its way is waited for.
    while (n < want && has_more_at_hand(in)) {
      auto [more_ec, more] = co_await in.async_read_some(asio::buffer(chunk + n, want - n), use_tuple);
      n += more;
      if (more_ec) break; // the bytes read so far go out first; the next read reports the error
    }
    remaining -= n;
    watch.wait_at_most(write_timeout);
    auto [write_ec, written] = co_await asio::async_write(out, asio::buffer(chunk, n), use_tuple);
    if (write_ec) co_return RelayResult{write_ec, false};
    relayed.fetch_add(n, std::memory_order_relaxed);
  }
  co_return RelayResult{{}, false, true};
}

// Streams one message body from `in` to `out` through a fixed buffer: never the whole body in memory.
// `head` goes out with the first body bytes when they are already here (one write for small messages),
// otherwise alone, so a streamed answer (SSE) shows its head at once. With `chunked_out` each piece goes
// out as a chunk and the end as the last chunk; an empty piece is never written as a chunk, for it
// would read as the last one. Each read parses one piece (the parser is not eager): an eager one would
// wait for the next chunk's bytes before passing on the one it has, and a stream would stall.
template <bool isRequest, class In, class Out>
asio::awaitable<RelayResult> relay_message(In& in, beast::flat_buffer& in_buffer,
                                           http::parser<isRequest, http::buffer_body>& parser, std::string_view head,
                                           bool chunked_out, Out& out, std::optional<milliseconds> read_timeout,
                                           std::optional<milliseconds> write_timeout, Worker& worker,
                                           TrackedConnection& watch) {
  if (const auto size = sized_body(parser); size && !chunked_out)
    co_return co_await relay_sized_message<isRequest>(in, in_buffer, *size, head, out, read_timeout, write_timeout,
                                                      worker, watch);
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  static constexpr std::string_view kCrlf = "\r\n";
  auto& body = parser.get().body();
  RelayBuffer relay_buffer(worker);
  // Beast sizes each read by the buffer's free capacity (512 bytes after a small head): without room, a
  // 64 KB body would take 128 reads. The room is given back below so idle connections stay small.
  const bool streaming = !parser.is_done();
  if (streaming) in_buffer.reserve(kRelayChunk);
  if (!parser.is_done() && in_buffer.size() == 0) {
    watch.wait_at_most(write_timeout);
    auto [ec, n] = co_await asio::async_write(out, asio::buffer(head), use_tuple);
    if (ec) co_return RelayResult{ec, false};
    head = {};
  }
  for (;;) {
    char* chunk = nullptr;
    std::size_t piece = 0;
    if (!parser.is_done()) {
      chunk = relay_buffer.get();
      body.data = chunk;
      body.size = kRelayChunk;
      watch.wait_at_most(read_timeout);
      auto [ec, n] = co_await http::async_read_some(in, in_buffer, parser, use_tuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return RelayResult{ec, true};
      piece = kRelayChunk - body.size;
      if (piece == 0 && !parser.is_done()) continue; // only framing was read (a chunk header)
    }
    const bool last = parser.is_done();
    char size_line[20];
    std::size_t size_line_length = 0;
    if (chunked_out && piece > 0) {
      auto [end, ignored] = std::to_chars(size_line, size_line + 16, piece, 16);
      *end++ = '\r';
      *end++ = '\n';
      size_line_length = static_cast<std::size_t>(end - size_line);
    }
    const std::string_view chunk_end = chunked_out && piece > 0 ? kCrlf : std::string_view{};
    const std::string_view last_chunk = chunked_out && last ? kLastChunk : std::string_view{};
    const std::array<asio::const_buffer, 5> pieces{asio::buffer(head), asio::buffer(size_line, size_line_length),
                                                   asio::buffer(chunk, piece), asio::buffer(chunk_end),
                                                   asio::buffer(last_chunk)};
    if (asio::buffer_size(pieces) > 0) {
      watch.wait_at_most(write_timeout);
      auto [ec, n] = co_await asio::async_write(out, pieces, in_one_call, use_tuple);
      if (ec) co_return RelayResult{ec, false};
      head = {};
      relayed_toward(isRequest).fetch_add(piece, std::memory_order_relaxed);
    }
    if (last) {
      if (streaming) in_buffer.shrink_to_fit();
      co_return RelayResult{{}, false, true};
    }
  }
}

template <class Stream>
asio::awaitable<void> send_refusal(Stream& stream, web::RefusalKind kind, bool html, unsigned version,
                                   bool keep_alive, Exchange& exchange, TrackedConnection& watch) {
  auto response = web::render(kind, html, version, keep_alive);
  exchange.status = response.result_int();
  watch.wait_at_most(milliseconds(5000));
  co_await http::async_write(stream, response, use_tuple);
}

// Reads until the buffer holds a whole request head, or more bytes than a head may have (the parser
// then reports header_limit).
template <class Stream>
asio::awaitable<boost::system::error_code> read_whole_head(Stream& stream, beast::flat_buffer& buffer,
                                                            std::size_t max_head_bytes) {
  std::size_t searched = 0; // the end of a head is looked for in new bytes only: a head sent a byte at a time costs no more
  for (;;) {
    const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (bytes.find("\r\n\r\n", searched) != std::string_view::npos || bytes.size() > max_head_bytes)
      co_return boost::system::error_code{};
    searched = bytes.size() < 3 ? 0 : bytes.size() - 3;
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

// What a client hears when reading its body stopped on a limit: more than the body limit (413), or a
// chunk line or trailers over the read buffer or head limit (400). nullopt: it broke off, nothing to say.
std::optional<web::RefusalKind> refusal_for_body_error(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) return web::RefusalKind::body_too_large;
  if (ec == http::error::buffer_overflow || ec == http::error::header_limit) return web::RefusalKind::bad_request;
  return std::nullopt;
}

bool is_stale_connection_error(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

// Relays one request to HA and its response back. Returns whether the client connection stays open.
template <class Stream>
asio::awaitable<bool> relay_http(Stream& stream, beast::flat_buffer& buffer, RequestParser& parser,
                                 std::string_view target, const ForwardedClient& client, bool html, Worker& worker,
                                 Exchange& exchange, TrackedConnection& watch, const config::Config& config) {
  auto& req = parser.get();
  const unsigned client_version = req.version();
  const bool client_keep_alive = req.keep_alive();
  const bool is_head = req.method() == http::verb::head;
  // Sent again on a new connection if HA's broke after it went out: it changes nothing in HA.
  const bool resendable =
      req.method() == http::verb::get || req.method() == http::verb::head || req.method() == http::verb::options;

  // Gatehouse answers "Expect: 100-continue" itself (the limits above have already passed), so HA
  // never waits on a client that waits on HA.
  const bool expect_continue = beast::iequals(req[http::field::expect], "100-continue");
  const std::string request_head = upstream_request_head(req, target, client, worker.upstream.target().host_header);

  if (expect_continue && !parser.is_done()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    watch.wait_at_most(config.timeouts.idle_keepalive);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(kContinue), use_tuple);
    if (ec) co_return false;
  }

  std::unique_ptr<UpstreamConnection> upstream;
  // The watch points at HA's connection only while this exchange holds it.
  struct ForgetUpstream {
    TrackedConnection& watch;
    ~ForgetUpstream() { watch.upstream = nullptr; }
  } forget_upstream{watch};
  std::optional<AnswerParser> response_parser;
  for (int attempt = 0;; ++attempt) {
    boost::system::error_code ec;
    // A failed attempt's connection goes before the next is sought: the deadline sweep must never hold
    // a socket that is gone (a refusal after a failed connect still waits under the watch).
    watch.upstream = nullptr;
    upstream.reset();
    // A pooled connection is probed first unless a broken one costs only a resend.
    upstream = worker.upstream.take_idle(resendable && parser.is_done() && attempt == 0);
    if (!upstream) upstream = co_await worker.upstream.connect(ec, config.timeouts.upstream_connect);
    if (!upstream) {
      co_await send_refusal(stream, web::RefusalKind::upstream_unavailable, html, client_version,
                            client_keep_alive && parser.is_done(), exchange, watch);
      co_return client_keep_alive && parser.is_done();
    }
    watch.upstream = &upstream->stream.socket();
    // A pooled connection HA closed meanwhile fails before any answer; retrying is safe only when the
    // request has no body left to replay. Once the request went out whole, HA may have acted on it before
    // the connection broke: only a request that changes nothing (GET, HEAD, OPTIONS) is sent again then.
    const bool may_retry = upstream->reused && attempt == 0 && parser.is_done();
    const bool may_resend = may_retry && resendable;

    auto upstream_io = upstream->stream.bare();
    auto sent = co_await relay_message(stream, buffer, parser, request_head, parser.chunked(), upstream_io,
                                       config.timeouts.idle_keepalive, config.timeouts.upstream_response,
                                       worker, watch);
    if (sent.ec && sent.input_failed) {
      // The client broke off or sent too much; HA's connection is mid-request and unusable.
      if (const auto kind = refusal_for_body_error(sent.ec))
        co_await send_refusal(stream, *kind, html, client_version, false, exchange, watch);
      co_return false;
    }
    if (sent.ec) {
      if (may_retry && is_stale_connection_error(sent.ec)) continue;
      co_await send_refusal(stream, web::RefusalKind::upstream_unavailable, html, client_version,
                            client_keep_alive && parser.is_done(), exchange, watch);
      co_return client_keep_alive && parser.is_done();
    }

    watch.wait_at_most(config.timeouts.upstream_response);
    // Each answer gets a fresh parser. 1xx interim answers (other than 101) are HA's business, not the
    // client's: they are read and passed over for the final one.
    boost::system::error_code read_ec;
    do {
      response_parser.emplace();
      response_parser->field_limit(kUpstreamHeaderLimit);
      response_parser->body_limit(boost::none);
      if (is_head) response_parser->skip(true);
      read_ec = co_await read_answer_head(upstream_io, upstream->buffer, *response_parser);
    } while (!read_ec && response_parser->status() / 100 == 1 && response_parser->status() != 101);
    if (read_ec) {
      if (may_resend && is_stale_connection_error(read_ec)) continue;
      auto kind = watch.timed_out ? web::RefusalKind::upstream_timeout : web::RefusalKind::upstream_unavailable;
      co_await send_refusal(stream, kind, html, client_version, client_keep_alive, exchange, watch);
      co_return client_keep_alive;
    }
    if (response_parser->status() == 101) {
      // HA switched protocols, though no Upgrade reaches it on this path: its connection no longer
      // speaks HTTP (it is dropped, never pooled), and the client asked for no tunnel.
      co_await send_refusal(stream, web::RefusalKind::upstream_unavailable, html, client_version, client_keep_alive,
                            exchange, watch);
      co_return client_keep_alive;
    }
    break;
  }

  const bool upstream_reusable = response_parser->keep_alive();
  const unsigned status = response_parser->status();
  const ClientAnswer answer =
      response_parser->for_client(client_version, client_keep_alive && !worker.shared.draining, is_head);
  exchange.status = status;

  bool relayed_whole = false;
  if (answer.bodiless) {
    watch.wait_at_most(config.timeouts.upstream_response);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(answer.head), use_tuple);
    if (ec) co_return false;
  } else {
    // Streamed answers (SSE, camera streams, log follow) must not be time-limited (contract §9.2): HA may
    // take as long as it likes between bytes. A client that stops taking them is cut off after
    // idle_keepalive, so it cannot hold its slot and a connection to HA for ever.
    auto upstream_io = upstream->stream.bare();
    auto relayed = co_await relay_message(upstream_io, upstream->buffer, *response_parser, answer.head, answer.chunked,
                                          stream, std::nullopt, config.timeouts.idle_keepalive, worker, watch);
    if (relayed.ec) co_return false;
    relayed_whole = relayed.complete;
  }
  if (upstream_reusable && (answer.bodiless || relayed_whole)) {
    watch.upstream = nullptr;
    worker.upstream.release(std::move(upstream));
  }
  co_return answer.keep_alive;
}

// Reads the rest of a request's body whole, for an endpoint of Gatehouse's own that takes at most
// `limit` bytes. nullopt when the client broke off or went over a limit (it then got a 413 or 400).
template <class Stream>
asio::awaitable<std::optional<std::string>> read_small_body(Stream& stream, beast::flat_buffer& buffer,
                                                             RequestParser& parser, std::uint64_t limit, bool html,
                                                             Exchange& exchange, TrackedConnection& watch) {
  auto& req = parser.get();
  const auto declared = parser.content_length();
  if (declared && *declared > limit) {
    co_await send_refusal(stream, web::RefusalKind::body_too_large, html, req.version(), false, exchange, watch);
    co_return std::nullopt;
  }
  if (beast::iequals(req[http::field::expect], "100-continue") && !parser.is_done()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    watch.wait_at_most(milliseconds(10'000));
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(kContinue), use_tuple);
    if (ec) co_return std::nullopt;
  }
  req.erase(http::field::expect);
  std::string body;
  constexpr std::size_t kPiece = 4096;
  auto& piece = req.body();
  while (!parser.is_done()) {
    const std::size_t had = body.size();
    body.resize(had + kPiece);
    piece.data = body.data() + had;
    piece.size = kPiece;
    watch.wait_at_most(milliseconds(10'000));
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, use_tuple);
    body.resize(had + (kPiece - piece.size));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      if (const auto kind = refusal_for_body_error(ec))
        co_await send_refusal(stream, *kind, html, req.version(), false, exchange, watch);
      co_return std::nullopt;
    }
    if (body.size() > limit) {
      co_await send_refusal(stream, web::RefusalKind::body_too_large, html, req.version(), false, exchange, watch);
      co_return std::nullopt;
    }
  }
  piece.data = nullptr;
  piece.size = 0;
  co_return body;
}

// Gatehouse's own answer: the body the endpoint takes is read first (within its limit), then the
// endpoint answers. The connection stays open only if no body is left unread.
template <class Stream>
asio::awaitable<bool> answer_here(Stream& stream, beast::flat_buffer& buffer, RequestParser& parser, Decision& decision,
                                  bool html, Worker& worker, Exchange& exchange, TrackedConnection& watch) {
  web::Response response;
  if (decision.response) {
    response = std::move(*decision.response);
  } else {
    std::string body;
    if (decision.body_limit > 0) {
      auto read = co_await read_small_body(stream, buffer, parser, decision.body_limit, html, exchange, watch);
      if (!read) co_return false;
      body = std::move(*read);
    }
    response = co_await decision.respond(parser.get().base(), std::move(body));
  }
  const auto& req = parser.get();
  const bool keep = req.keep_alive() && parser.is_done() && !worker.shared.draining;
  response.version(req.version());
  response.keep_alive(keep);
  exchange.status = response.result_int();
  watch.wait_at_most(milliseconds(10'000));
  auto [ec, n] = co_await http::async_write(stream, response, use_tuple);
  co_return keep && !ec;
}

// What a client's HTTP is read from and written to: a plain connection's bare socket (its waits are
// bounded by the worker's deadline sweep; Beast's tcp_stream would add its timer layer to every
// operation), a TLS connection's stream. The connection's stream itself only goes on to a websocket relay.
tcp::socket& http_io(PlainStream& stream) { return stream.socket(); }
TlsStream& http_io(TlsStream& stream) { return stream; }

// One request on the connection. Returns whether to read another.
template <class Stream>
asio::awaitable<bool> handle_request(Stream& stream, beast::flat_buffer& buffer, Worker& worker,
                                     const tcp::endpoint& peer, Exchange& exchange, ConnectionClaim& claim,
                                     TrackedConnection& watch, bool& stream_moved,
                                     std::shared_ptr<const config::Config> config_now) {
  constexpr bool tls = !std::is_same_v<Stream, PlainStream>;
  const config::Config& config = *config_now;
  auto& io = http_io(stream); // `stream` itself only goes on to a websocket relay

  RequestParser parser;
  parser.field_limit(config.limits.max_header_bytes);
  parser.body_limit(config.limits.max_body_bytes);
  // The head's deadline only cancels the read (the socket stays open): the client should still hear its 408.
  watch.wait_at_most(config.timeouts.header_read);
  // The whole head is read before Beast parses it, so its raw bytes can be checked first: Beast
  // silently unfolds obs-fold lines, which another reader could take as separate headers.
  boost::system::error_code read_ec = co_await read_whole_head(io, buffer, config.limits.max_header_bytes);
  const bool folded = !read_ec && has_obs_fold(std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()));
  if (!read_ec && !folded) {
    // The head is in the buffer: parsed in place, without a read operation. Beast wanting more (a head
    // over the limit, say) falls back to reading, which ends in its verdict.
    buffer.consume(parser.put(buffer.data(), read_ec));
    if (read_ec == http::error::need_more)
      std::tie(read_ec, std::ignore) = co_await http::async_read_header(io, buffer, parser, use_tuple);
  }
  const bool head_timed_out = watch.timed_out;
  exchange.client = unmap(peer.address());
  if (folded) {
    exchange.route = "gatehouse";
    worker.shared.door.refused_unreadable(peer.address());
    co_await send_refusal(io, web::RefusalKind::bad_request, false, 11, false, exchange, watch);
    exchange.log();
    co_return false;
  }
  if (read_ec) {
    std::optional<web::RefusalKind> kind;
    if (read_ec == http::error::header_limit) kind = web::RefusalKind::header_too_large;
    else if (read_ec == http::error::body_limit) kind = web::RefusalKind::body_too_large;
    else if (head_timed_out) kind = web::RefusalKind::request_timeout;
    else if (read_ec.category() == http::make_error_code(http::error::bad_target).category() &&
             read_ec != http::error::end_of_stream && read_ec != http::error::partial_message)
      kind = web::RefusalKind::bad_request;
    if (kind) {
      exchange.route = "gatehouse";
      co_await send_refusal(io, *kind, false, 11, false, exchange, watch);
      exchange.log();
    }
    co_return false;
  }

  auto& req = parser.get();
  if (logging::enabled(logging::Level::info)) { // only the log line uses them
    exchange.method = std::string(req.method_string());
    exchange.path = logging::loggable_path(req.target());
  }

  // The one decision about this request (net/door): nothing below reads the head for policy again.
  Decision decision = co_await worker.shared.door.decide(req.base(), peer.address(), tls, config_now);
  exchange.route = decision.route;
  exchange.client = decision.client.address;
  const bool html = decision.wants_html;
  bool keep = false;
  switch (decision.kind) {
    case Decision::Kind::answer:
      keep = co_await answer_here(io, buffer, parser, decision, html, worker, exchange, watch);
      break;
    case Decision::Kind::refuse:
      // An unread body would be taken for the next request: the connection closes unless there is none.
      keep = decision.keep_alive_allowed && req.keep_alive() && parser.is_done() && !worker.shared.draining;
      co_await send_refusal(io, decision.refusal, html, req.version(), keep, exchange, watch);
      break;
    case Decision::Kind::websocket: {
      // The relay goes on in a coroutine of its own; this connection's coroutine ends here.
      stream_moved = true;
      watch.client = nullptr;
      // Named, not a temporary inside a call: GCC 12 mishandles non-trivial temporaries in coroutines.
      auto upgrade_request = parser.release();
      start_websocket_relay(std::move(stream), std::move(buffer), std::move(upgrade_request), decision.client, worker,
                            std::move(decision.gate), std::move(claim), config_now, [exchange](unsigned status) mutable {
                              exchange.status = status;
                              exchange.log();
                            });
      co_return false;
    }
    case Decision::Kind::forward: {
      const std::string_view target = decision.target ? std::string_view(*decision.target) : std::string_view(req.target());
      keep = co_await relay_http(io, buffer, parser, target, decision.client, html, worker, exchange, watch, config);
      break;
    }
  }
  exchange.log();
  co_return keep;
}

// How long, and how much, a closing connection goes on reading what the client still sends (see
// close_gracefully).
constexpr milliseconds kLingerAtMost{2000};
constexpr std::size_t kLingerBytesAtMost = 16 * 1024 * 1024;
// Refused connections hold no connection slot, so few of them may linger at once: beyond this many the
// next is closed at once, and a flood of connections keeps no more descriptors open than before.
constexpr int kLingeringRefusalsAtMost = 64;
std::atomic<int> lingering_refusals{0};

// Reads and drops what arrives until the peer closes, a read fails, `deadline` passes or
// kLingerBytesAtMost are dropped. The deadline is checked after each read: a read that completes at
// once, from bytes already there, meets no cancel. A read that waits is cancelled at the deadline by the
// caller's means (the worker's sweep, a stream timeout).
template <class ReadStream>
asio::awaitable<void> discard_until_closed(ReadStream& stream, CoarseClock::time_point deadline) {
  std::array<char, 16 * 1024> discard;
  for (std::size_t dropped = 0; dropped < kLingerBytesAtMost && CoarseClock::now() < deadline;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(discard), use_tuple);
    if (ec) co_return;
    dropped += n;
  }
}

// Ends the connection so the client reads Gatehouse's last answer. Closing a socket with unread bytes
// in it sends a reset, and the client's TCP stack may then drop the answer it had not read yet (a 413
// to a client still uploading its body, a 503 to one still writing its head). So, after its own end is
// sent, the connection reads and throws away what arrives until the client closes too (`linger`; not
// while shutting down). TLS's close_notify and the reading share one deadline, kLingerAtMost away, and
// the connection counts as idle meanwhile: shutdown ends the wait at once.
template <class Stream>
asio::awaitable<void> close_gracefully(Stream& stream, TrackedConnection& watch, bool linger) {
  watch.wait_at_most(kLingerAtMost);
  const auto deadline = watch.deadline;
  watch.idle = true;
  if constexpr (!std::is_same_v<Stream, PlainStream>) co_await stream.async_shutdown(use_tuple);
  auto& socket = beast::get_lowest_layer(stream).socket();
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec || !linger) co_return;
  co_await discard_until_closed(socket, deadline);
}

} // namespace

template <class Stream>
asio::awaitable<void> serve_connection(Stream stream, Worker& worker, tcp::endpoint peer, ConnectionClaim claim) {

  bool stream_moved = false;
  TrackedConnection tracked;
  tracked.client = &beast::get_lowest_layer(stream).socket();
  ListRegistration registration(worker.connections, tracked);

  // Bounded by the largest head any configuration allows (the buffer grows only as bytes come): a reload
  // may raise limits.max_header_bytes for the next request on this connection; each head is still held
  // to the request's own limit when it is read.
  beast::flat_buffer buffer(read_buffer_limit(config::kMaxHeaderBytesCeiling));
  if constexpr (!std::is_same_v<Stream, PlainStream>) {
    tracked.wait_at_most(worker.shared.current.get()->timeouts.header_read);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) co_return;
  }

  bool first = true;
  while (!worker.shared.draining) {
    // Wait for the next request's first bytes: a quiet connection is idle (and closable at shutdown),
    // and its wait is bounded by idle_keepalive, or header_read for a brand-new connection.
    if (buffer.size() == 0) {
      tracked.idle = true;
      tracked.wait_at_most(first ? worker.shared.current.get()->timeouts.header_read
                                 : worker.shared.current.get()->timeouts.idle_keepalive);
      auto [ec, n] = co_await http_io(stream).async_read_some(buffer.prepare(4096), use_tuple);
      tracked.idle = false;
      if (ec) co_return;
      buffer.commit(n);
    }
    first = false;
    // The request is read and decided under the configuration running when its first bytes are here
    // (a reload applies to the next request, never to one half-read, nor one read under an old one).
    auto config_now = worker.shared.current.get();
    Exchange exchange;
    bool keep_going = co_await handle_request(stream, buffer, worker, peer, exchange, claim, tracked, stream_moved,
                                              std::move(config_now));
    if (stream_moved) co_return;
    if (!keep_going) break;
  }
  co_await close_gracefully(stream, tracked, !worker.shared.draining);
}

asio::awaitable<void> refuse_connection(tcp::socket socket) {
  // Not among the worker's connections (it holds no slot): its own stream timeout bounds the write.
  beast::tcp_stream stream(std::move(socket));
  auto response = web::render(web::RefusalKind::too_many_connections, false, 11, false);
  stream.expires_after(milliseconds(5000));
  auto [write_ec, written] = co_await http::async_write(stream, response, use_tuple);
  if (write_ec) co_return;
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  // What the client is still writing is read and dropped, so the 503 is not lost to a reset
  // (close_gracefully says why): by a few refused connections at a time.
  if (lingering_refusals.fetch_add(1, std::memory_order_relaxed) >= kLingeringRefusalsAtMost) {
    lingering_refusals.fetch_sub(1, std::memory_order_relaxed);
    co_return;
  }
  struct LeaveTheLinger {
    ~LeaveTheLinger() { lingering_refusals.fetch_sub(1, std::memory_order_relaxed); }
  } leave;
  stream.expires_after(kLingerAtMost);
  co_await discard_until_closed(stream, CoarseClock::now() + kLingerAtMost);
}

template asio::awaitable<void> serve_connection<PlainStream>(PlainStream, Worker&, tcp::endpoint, ConnectionClaim);
template asio::awaitable<void> serve_connection<TlsStream>(TlsStream, Worker&, tcp::endpoint, ConnectionClaim);

} // namespace gatehouse::net
