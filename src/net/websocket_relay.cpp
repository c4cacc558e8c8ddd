// net/websocket_relay: byte-level websocket relay between a client and HA, frame-aware at the edges.
#include "net/websocket_relay.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "logging/log.hpp"
#include "net/relay_counts.hpp"
#include "net/session.hpp"
#include "web/refusal.hpp"
#include "net/websocket_frames.hpp"

namespace gatehouse::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {

// What the client's handshake got: 101, or HA's refusal status (for the request's log line).
struct RelayOutcome {
  unsigned status = 101;
};

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kOwnBufferBytes = 16 * 1024;          // per direction, only when a leg is TLS
constexpr std::size_t kMaxRefusalBodyBytes = 64 * 1024;     // HA's answer when it declines an upgrade
constexpr auto kCloseGrace = std::chrono::seconds(5);       // the other direction's time to finish

// What both directions of one relay share.
struct Relay {
  explicit Relay(asio::any_io_executor executor) : grace(executor, asio::steady_timer::time_point::max()) {}
  // Set when Gatehouse ends the relay (shutdown, a client message over the limit, later revocation):
  // the close the client gets once HA's side is cut.
  std::optional<websocket::close_reason> client_close;
  asio::steady_timer grace; // armed when one direction ends; on expiry both legs are cut
};

struct Direction {
  bool to_client;
  FrameScanner scanner;
};

template <class Stream>
tcp::socket& socket_of(Stream& stream) {
  return beast::get_lowest_layer(stream).socket();
}
tcp::socket& socket_of(tcp::socket& socket) { return socket; }

// Plain TCP: a PlainStream during the handshake, a bare socket once relaying (no timers to carry).
template <class Stream>
constexpr bool is_plain = std::is_same_v<Stream, PlainStream> || std::is_same_v<Stream, tcp::socket>;

// What a relay keeps of a leg: a plain leg's bare socket (a tcp_stream's two timers would stay for the
// websocket's lifetime, unused: relays have no deadlines), a TLS leg as it is.
template <class Stream>
Stream relay_leg(Stream stream) {
  return stream;
}
tcp::socket relay_leg(PlainStream stream) { return stream.release_socket(); }

// Ends `cut`'s part in the relay: the other direction then reads the end and closes its receiver.
void cut_off(tcp::socket& cut) {
  boost::system::error_code ignored;
  cut.shutdown(tcp::socket::shutdown_both, ignored);
}

// The bytes of `buffers` from `sent` on, copied (they must outlive the scratch buffer they are in).
std::string unsent_rest(const std::array<asio::const_buffer, 2>& buffers, std::size_t sent) {
  std::string rest;
  for (const auto& buffer : buffers) {
    if (sent >= buffer.size()) {
      sent -= buffer.size();
      continue;
    }
    rest.append(static_cast<const char*>(buffer.data()) + sent, buffer.size() - sent);
    sent = 0;
  }
  return rest;
}

// Sends what the scanner lets through of `data`. On plain sockets the kernel usually takes it all at
// once (no copy, no wait); only what it cannot take yet is copied and awaited.
template <class To>
asio::awaitable<boost::system::error_code> forward(To& to, Direction& direction, std::span<const std::uint8_t> data,
                                                    const FrameScanner::Step& step) {
  std::array<asio::const_buffer, 2> buffers{asio::buffer(direction.scanner.held().data(), step.held_bytes),
                                            asio::buffer(data.data(), step.data_bytes)};
  if (step.held_bytes + step.data_bytes == 0) co_return boost::system::error_code{};
  if constexpr (is_plain<To>) {
    boost::system::error_code ec;
    const std::size_t sent = socket_of(to).write_some(buffers, ec);
    if (ec && ec != asio::error::would_block) co_return ec;
    if (sent == step.held_bytes + step.data_bytes) co_return boost::system::error_code{};
    std::string rest = unsent_rest(buffers, ec ? 0 : sent);
    auto [write_ec, written] = co_await asio::async_write(to, asio::buffer(rest), use_tuple);
    co_return write_ec;
  } else {
    auto [write_ec, written] = co_await asio::async_write(to, buffers, use_tuple);
    co_return write_ec;
  }
}

template <class To>
asio::awaitable<void> send_frame(To& to, const std::string& frame) {
  co_await asio::async_write(to, asio::buffer(frame), use_tuple);
}

// The sending side of `direction` has ended (or must stop): tell the receiver, between frames only.
template <class To>
asio::awaitable<void> finish(To& to, Direction& direction, Relay& relay, bool over_limit) {
  const auto& scanner = direction.scanner;
  if (direction.to_client) {
    if (!scanner.close_seen() && scanner.between_frames()) {
      websocket::close_reason reason = relay.client_close.value_or(
          websocket::close_reason{websocket::close_code::service_restart, "Home Assistant connection lost"});
      const std::string frame = make_close_frame(reason.code, std::string_view(reason.reason.data(), reason.reason.size()), false);
      co_await send_frame(to, frame);
    }
  } else if (over_limit) {
    const std::string frame = make_close_frame(websocket::close_code::too_big, "message too big", true);
    co_await send_frame(to, frame);
  } else if (!scanner.close_seen() && scanner.between_frames()) {
    const std::string frame = make_close_frame(websocket::close_code::going_away, "client went away", true);
    co_await send_frame(to, frame);
  }
  boost::system::error_code ignored;
  socket_of(to).shutdown(tcp::socket::shutdown_send, ignored);
}

// Copies one direction until its sender ends, then closes the receiver; `first` is what was already
// read before the relay began. `splice` (a Splice, below) is what both directions share; each keeps it.
template <class Owner, class From, class To>
asio::awaitable<void> pump(std::shared_ptr<Owner> splice, From& from, To& to, Direction direction, Worker& worker,
                           std::string first) {
  Relay& relay = splice->relay;
  bool over_limit = false;
  auto relay_bytes = [&](std::span<const std::uint8_t> data) -> asio::awaitable<bool> {
    const auto step = direction.scanner.scan(data);
    if (auto ec = co_await forward(to, direction, data, step)) co_return false;
    relayed_toward(!direction.to_client).fetch_add(data.size(), std::memory_order_relaxed);
    if (step.over_limit) {
      over_limit = true;
      relay.client_close = websocket::close_reason{websocket::close_code::too_big, "message too big"};
      co_return false;
    }
    co_return true;
  };

  // forward() writes to a plain receiver with write_some and waits only for what the kernel did not
  // take: the socket must not block (a TLS client's relay to HA would otherwise stall the worker).
  if constexpr (is_plain<To>) socket_of(to).non_blocking(true);
  const std::span<const std::uint8_t> already_read{reinterpret_cast<const std::uint8_t*>(first.data()), first.size()};
  bool open = co_await relay_bytes(already_read);
  first = {};
  if constexpr (is_plain<From> && is_plain<To>) {
    auto& socket = socket_of(from);
    socket.non_blocking(true);
    socket_of(to).non_blocking(true);
    while (open) {
      auto [wait_ec] = co_await socket.async_wait(tcp::socket::wait_read, use_tuple);
      if (wait_ec) break;
      boost::system::error_code ec;
      const std::size_t n = socket.read_some(asio::buffer(worker.relay_scratch), ec);
      if (ec == asio::error::would_block) continue;
      if (ec) break;
      const std::span<const std::uint8_t> received{worker.relay_scratch.data(), n};
      open = co_await relay_bytes(received);
    }
  } else {
    std::unique_ptr<std::uint8_t[]> buffer;
    while (open) {
      if (!buffer) buffer = std::make_unique<std::uint8_t[]>(kOwnBufferBytes);
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer.get(), kOwnBufferBytes), use_tuple);
      if (ec) break;
      const std::span<const std::uint8_t> received{buffer.get(), n};
      open = co_await relay_bytes(received);
    }
  }
  // The other direction has kCloseGrace to finish (this grace also bounds the close frame's write below):
  // then both legs are cut, which ends whatever is still waiting. The wait holds no owner: when both
  // directions end first, the relay goes and takes the timer (and this wait) with it.
  relay.grace.expires_after(kCloseGrace);
  relay.grace.async_wait([weak = std::weak_ptr<Owner>(splice)](boost::system::error_code ec) {
    if (ec) return;
    if (auto alive = weak.lock()) alive->cut_both();
  });
  co_await finish(to, direction, relay, over_limit);
  if (over_limit) cut_off(socket_of(splice->upstream)); // the other direction then closes the client with 1009
}

// HA cannot be reached: the client still gets a websocket, closed with a reason it can act on.
template <class Stream>
asio::awaitable<void> close_unavailable(Stream client_stream, http::request<http::buffer_body>& request,
                                       RelayOutcome& outcome) {
  websocket::stream<Stream> client_ws(std::move(client_stream));
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = std::chrono::seconds(10);
  client_ws.set_option(timeouts);
  client_ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(http::field::server, "");
  }));
  beast::get_lowest_layer(client_ws).expires_never();
  auto [accept_ec] = co_await client_ws.async_accept(request, use_tuple);
  if (accept_ec) {
    outcome.status = 400;
    co_return;
  }
  websocket::close_reason unavailable{websocket::close_code::try_again_later, "Home Assistant unavailable"};
  co_await client_ws.async_close(unavailable, use_tuple);
}

// ---- Gatehouse's own auth step (shield enforce) -------------------------------------------------

constexpr std::size_t kMaxAuthMessageBytes = 16 * 1024; // an auth message is a token and a type
constexpr auto kAuthPhaseTimeout = std::chrono::seconds(10); // HA's own limit for the auth message (§4.2)
constexpr std::size_t kMaxHandshakeFrameBytes = 64 * 1024;   // HA's auth_required / auth_ok / auth_invalid

// Sec-WebSocket-Accept for a client's key (RFC 6455 §4.2.2).
std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const std::string input = std::string(client_key) + std::string(kGuid);
  unsigned char digest[20];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr);
  unsigned char encoded[32];
  const int written = EVP_EncodeBlock(encoded, digest, 20);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(written));
}

bool is_valid_client_key(std::string_view key) {
  if (key.size() != 24) return false;
  unsigned char decoded[24];
  return EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18 && key.ends_with("==");
}

std::string random_client_key() {
  unsigned char key[16];
  if (RAND_bytes(key, sizeof key) != 1) throw std::runtime_error("the OS random source failed");
  unsigned char encoded[32];
  const int written = EVP_EncodeBlock(encoded, key, sizeof key);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(written));
}

std::span<const std::uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Reads from `stream` until `bytes` starts with one whole frame of at most `max_payload` bytes.
template <class Stream>
asio::awaitable<std::optional<FrameHead>> read_frame(Stream& stream, std::string& bytes, std::size_t max_payload,
                                                     std::chrono::steady_clock::duration timeout) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  for (;;) {
    const auto head = read_frame_head(bytes_of(bytes));
    if (head && head->payload_bytes > max_payload) co_return std::nullopt;
    if (head && bytes.size() >= head->frame_bytes()) {
      beast::get_lowest_layer(stream).expires_never();
      co_return head;
    }
    char chunk[4096];
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), use_tuple);
    if (ec) co_return std::nullopt;
    bytes.append(chunk, n);
  }
}

// The JSON object a whole text frame at the start of `bytes` carries, or nullopt.
std::optional<boost::json::object> frame_json(const std::string& bytes, const FrameHead& head) {
  if (!head.fin || head.opcode != 0x1) return std::nullopt;
  boost::system::error_code ec;
  auto value = boost::json::parse(frame_payload(bytes_of(bytes), head), ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

std::string_view type_of(const std::optional<boost::json::object>& message) {
  const auto* type = message ? message->if_contains("type") : nullptr;
  return type && type->is_string() ? std::string_view(type->as_string()) : std::string_view();
}

template <class Stream>
asio::awaitable<void> write_and_close(Stream& stream, std::string bytes) {
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await asio::async_write(stream, asio::buffer(bytes), use_tuple);
  boost::system::error_code ignored;
  socket_of(stream).shutdown(tcp::socket::shutdown_send, ignored);
}

std::string auth_invalid_frame(std::string_view message) {
  const boost::json::object invalid{{"type", "auth_invalid"}, {"message", message}};
  return make_text_frame(boost::json::serialize(invalid), false) +
         make_close_frame(websocket::close_code::normal, "", false);
}

std::string unavailable_frame() {
  return make_close_frame(websocket::close_code::try_again_later, "Home Assistant unavailable", false);
}

// One relayed websocket once both handshakes are done: both legs and what the two directions share.
// The two directions' coroutines own it together; the last one to end frees it. Registered with the
// worker (under `owner`) for as long as it lives. `UpstreamLeg`: HA's bare socket, or its TLS stream.
template <class Stream, class UpstreamLeg>
struct Splice : std::enable_shared_from_this<Splice<Stream, UpstreamLeg>> {
  using ClientLeg = decltype(relay_leg(std::declval<Stream>()));

  Splice(Stream client_stream, UpstreamLeg upstream_leg, Worker& worker, SocketOwner owner,
         ConnectionClaim connection_claim)
      : client(relay_leg(std::move(client_stream))), upstream(std::move(upstream_leg)),
        relay(upstream.get_executor()), registration(worker.relays, tracked), claim(std::move(connection_claim)) {
    tracked.owner = std::move(owner);
    tracked.terminate = [this](websocket::close_reason reason) {
      // Cutting HA's side makes the HA→client direction close the client with this reason; that
      // direction is the only writer to the client, so no second writer races it. That direction may be
      // stuck writing to a client that takes nothing: both legs are cut after kCloseGrace whatever the
      // directions do (a direction that ends re-arms the same timer with the same grace).
      relay.client_close = reason;
      cut_off(socket_of(upstream));
      relay.grace.expires_after(kCloseGrace);
      relay.grace.async_wait([weak = this->weak_from_this()](boost::system::error_code ec) {
        if (ec) return;
        if (auto alive = weak.lock()) alive->cut_both();
      });
    };
  }
  void cut_both() {
    boost::system::error_code ignored;
    for (tcp::socket* socket : {&socket_of(client), &socket_of(upstream)}) {
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->cancel(ignored);
    }
  }

  ClientLeg client;
  UpstreamLeg upstream;
  Relay relay;
  TrackedRelay tracked;
  ListRegistration<TrackedRelay> registration;
  ConnectionClaim claim; // the client connection's place in the limits, until the websocket closes
  metrics::GaugeHold counted{relayed_websockets_gauge};
};

template <class Stream, class UpstreamLeg>
void splice_legs(Stream client_stream, UpstreamLeg upstream_leg, std::string from_client, std::string from_upstream,
                 Worker& worker, SocketOwner owner, ConnectionClaim claim, std::size_t max_message_bytes,
                 WebsocketGate* gate) {
  auto shared = std::make_shared<Splice<Stream, UpstreamLeg>>(std::move(client_stream), std::move(upstream_leg), worker,
                                                              std::move(owner), std::move(claim));
  auto& upstream = shared->upstream;
  const auto executor = upstream.get_executor();
  Direction up{false, FrameScanner(max_message_bytes)};
  Direction down{true, FrameScanner()};
  asio::co_spawn(executor, pump(shared, shared->client, upstream, up, worker, std::move(from_client)), log_spawn_failure);
  asio::co_spawn(executor, pump(shared, upstream, shared->client, down, worker, std::move(from_upstream)),
                 log_spawn_failure);
  // Registered now, so a cut-off or a shutdown from here on closes it; one that came while HA's socket
  // was being opened found nothing to close: asked once more (the shutdown's flag is set before its
  // closes are posted to this worker).
  if (worker.shared.draining)
    shared->tracked.terminate(websocket::close_reason{websocket::close_code::going_away, kShuttingDownReason});
  else if (gate && !gate->still_allowed())
    shared->tracked.terminate(websocket::close_reason{websocket::close_code::policy_error, "Access removed"});
}

// Copies frames both ways until either side ends; `from_client`/`from_upstream` were read before the
// relay began and go first. Each direction runs in a coroutine of its own; nothing else stays. HA's
// leg is kept as what it is: a bare socket when plain (no timers to carry), its TLS stream otherwise.
// `max_message_bytes`: the client's largest message (limits.max_websocket_message_bytes when it opened).
// `gate`: Gatehouse's auth step, if it did one (asked once more when the relay is registered).
template <class Stream>
void splice(Stream client_stream, std::unique_ptr<UpstreamConnection> connection, std::string from_client,
            std::string from_upstream, Worker& worker, SocketOwner owner, ConnectionClaim claim,
            std::size_t max_message_bytes, WebsocketGate* gate) {
  auto& upstream = connection->stream;
  if (upstream.is_tls())
    splice_legs(std::move(client_stream), std::move(upstream.tls()), std::move(from_client), std::move(from_upstream),
                worker, std::move(owner), std::move(claim), max_message_bytes, gate);
  else
    splice_legs(std::move(client_stream), upstream.plain().release_socket(), std::move(from_client),
                std::move(from_upstream), worker, std::move(owner), std::move(claim), max_message_bytes, gate);
}

// HA's address as the pool names it, with the connect timeout of the configuration the websocket opened under.
UpstreamTarget upstream_for(const Worker& worker, const config::Config& config) {
  UpstreamTarget target = worker.upstream.target();
  target.connect_timeout = config.timeouts.upstream_connect;
  return target;
}

// Both legs of a websocket once the handshake is done: HA's connection, and what each side sent after
// its handshake (relayed first).
struct Joined {
  std::unique_ptr<UpstreamConnection> connection;
  std::string from_client;
  std::string from_upstream;
  SocketOwner owner; // whose socket it is, when Gatehouse did the auth step
};

// The upgrade goes to HA as the client sent it; HA's answer goes back as HA sent it.
template <class Stream>
asio::awaitable<std::optional<Joined>> passthrough_handshake(Stream& client_stream, beast::flat_buffer& client_buffer,
                                                             http::request<http::buffer_body>& request,
                                                             const ForwardedClient& client, Worker& worker,
                                                             RelayOutcome& outcome, const config::Config& config) {
  boost::system::error_code ec;
  const UpstreamTarget target = upstream_for(worker, config);
  auto connection = co_await connect_upstream(target, ec);
  if (!connection) {
    co_await close_unavailable(std::move(client_stream), request, outcome);
    co_return std::nullopt;
  }
  auto& upstream = connection->stream;
  std::string from_upstream; // what HA sent right after its 101 (auth_required, typically)
  {
    // The handshake's objects live in this block only: a relayed websocket may stay open for days.
    // The client's upgrade, as HA should see it: its websocket headers (key, version, extensions,
    // subprotocols) untouched, so HA negotiates with the client directly.
    http::request<http::empty_body> upgrade{request.method(), request.target(), 11};
    for (const auto& field : request.base()) upgrade.insert(field.name(), field.name_string(), field.value());
    prepare_upstream_request(upgrade.base(), client);
    upgrade.set(http::field::connection, "Upgrade");
    upgrade.set(http::field::upgrade, "websocket");
    if (client.host.empty())
      upgrade.set(http::field::host, worker.upstream.target().host_header);

    beast::flat_buffer upstream_buffer;
    http::response_parser<http::string_body> answer_parser;
    answer_parser.body_limit(kMaxRefusalBodyBytes);
    upstream.expires_after(config.timeouts.upstream_response);
    auto [write_ec, written] = co_await http::async_write(upstream, upgrade, use_tuple);
    boost::system::error_code read_ec = write_ec;
    if (!write_ec) std::tie(read_ec, std::ignore) = co_await http::async_read(upstream, upstream_buffer, answer_parser, use_tuple);
    if (read_ec) {
      co_await close_unavailable(std::move(client_stream), request, outcome);
      co_return std::nullopt;
    }
    upstream.expires_never();

    auto answer = answer_parser.release();
    if (answer.result() != http::status::switching_protocols) {
      // HA refused the upgrade (404, 403 ban, 503 stopping...): the client hears it as HA said it.
      http::response<http::string_body> refusal = std::move(answer);
      remove_hop_by_hop(refusal.base());
      refusal.version(request.version());
      refusal.keep_alive(false);
      refusal.prepare_payload();
      outcome.status = refusal.result_int();
      beast::get_lowest_layer(client_stream).expires_after(std::chrono::seconds(10));
      co_await http::async_write(client_stream, refusal, use_tuple);
      co_return std::nullopt;
    }

    http::response<http::empty_body> switching{http::status::switching_protocols, request.version()};
    for (const auto& field : answer.base()) switching.insert(field.name(), field.name_string(), field.value());
    remove_hop_by_hop(switching.base());
    switching.set(http::field::connection, "Upgrade");
    switching.set(http::field::upgrade, "websocket");
    beast::get_lowest_layer(client_stream).expires_after(std::chrono::seconds(10));
    auto [switch_ec, switch_n] = co_await http::async_write(client_stream, switching, use_tuple);
    if (switch_ec) co_return std::nullopt;
    beast::get_lowest_layer(client_stream).expires_never();
    from_upstream = beast::buffers_to_string(upstream_buffer.data());
  }
  std::string from_client = beast::buffers_to_string(client_buffer.data());
  co_return Joined{std::move(connection), std::move(from_client), std::move(from_upstream), {}};
}

// Gatehouse answers the handshake and HA's auth step; HA's socket opens only when the gate says so.
template <class Stream>
asio::awaitable<std::optional<Joined>> authenticated_handshake(Stream& client_stream, beast::flat_buffer& client_buffer,
                                                               http::request<http::buffer_body>& request,
                                                               const ForwardedClient& client, Worker& worker,
                                                               WebsocketGate& gate, RelayOutcome& outcome,
                                                               const config::Config& config) {

  // 1. The client's handshake, answered here. Neither leg negotiates extensions, so HA's frames and
  //    the client's pass between them unchanged once both are authenticated.
  const std::string client_key(request[http::field::sec_websocket_key]);
  if (request.method() != http::verb::get || request[http::field::sec_websocket_version] != "13" ||
      !is_valid_client_key(client_key)) {
    auto refusal = web::render(web::RefusalKind::bad_request, false, request.version(), false);
    outcome.status = refusal.result_int();
    beast::get_lowest_layer(client_stream).expires_after(std::chrono::seconds(10));
    co_await http::async_write(client_stream, refusal, use_tuple);
    co_return std::nullopt;
  }
  // HA's upgrade request is made now, from the client's headers, while they are at hand.
  http::request<http::empty_body> upgrade{http::verb::get, "/api/websocket", 11};
  for (const auto& field : request.base()) {
    if (beast::iequals(field.name_string().substr(0, 14), "sec-websocket-")) continue;
    upgrade.insert(field.name(), field.name_string(), field.value());
  }
  prepare_upstream_request(upgrade.base(), client);
  upgrade.set(http::field::connection, "Upgrade");
  upgrade.set(http::field::upgrade, "websocket");
  upgrade.set(http::field::sec_websocket_version, "13");
  upgrade.set(http::field::sec_websocket_key, random_client_key());
  if (client.host.empty())
    upgrade.set(http::field::host, worker.upstream.target().host_header);

  const std::string ha_version = co_await gate.ha_version();
  if (ha_version.empty()) {
    co_await close_unavailable(std::move(client_stream), request, outcome);
    co_return std::nullopt;
  }
  request = {};
  const boost::json::object auth_required{{"type", "auth_required"}, {"ha_version", ha_version}};
  std::string hello = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: " + accept_key(client_key) + "\r\n\r\n" +
                      make_text_frame(boost::json::serialize(auth_required), false);
  beast::get_lowest_layer(client_stream).expires_after(std::chrono::seconds(10));
  auto [hello_ec, hello_n] = co_await asio::async_write(client_stream, asio::buffer(hello), use_tuple);
  if (hello_ec) co_return std::nullopt;

  // 2. The client's auth message (contract §4.2): one text frame {"type":"auth","access_token":...}.
  std::string from_client = beast::buffers_to_string(client_buffer.data());
  client_buffer = {};
  const auto auth_head = co_await read_frame(client_stream, from_client, kMaxAuthMessageBytes, kAuthPhaseTimeout);
  if (!auth_head || !auth_head->masked) {
    // Too slow, too big, not a frame, or closed: HA closes the connection in these cases too.
    const std::string close = make_close_frame(websocket::close_code::policy_error, "auth message expected", false);
    co_await write_and_close(client_stream, close);
    co_return std::nullopt;
  }
  const std::string auth_frame = from_client.substr(0, static_cast<std::size_t>(auth_head->frame_bytes()));
  from_client.erase(0, auth_frame.size());
  // The message as text, unmasked; a frame that is not one whole text frame reaches the gate as "".
  std::string auth_text;
  if (auth_head->fin && auth_head->opcode == 0x1) auth_text = frame_payload(bytes_of(auth_frame), *auth_head);

  // 3. The gate's verdict: a bad token never causes a websocket to HA.
  const auto verdict = co_await gate.check(auth_text);
  using Outcome = WebsocketGate::Verdict::Outcome;
  if (verdict.outcome == Outcome::unavailable) {
    co_await write_and_close(client_stream, unavailable_frame());
    co_return std::nullopt;
  }
  if (verdict.outcome == Outcome::malformed) {
    co_await write_and_close(client_stream, auth_invalid_frame("Auth message incorrectly formatted"));
    co_return std::nullopt;
  }
  if (verdict.outcome != Outcome::open) {
    co_await write_and_close(client_stream, auth_invalid_frame("Invalid access token or password"));
    co_return std::nullopt;
  }

  // 4. HA's socket, authenticated with the client's own auth message; HA's answer goes to the client.
  boost::system::error_code connect_ec;
  const UpstreamTarget target = upstream_for(worker, config);
  auto connection = co_await connect_upstream(target, connect_ec);
  if (!connection) {
    co_await write_and_close(client_stream, unavailable_frame());
    co_return std::nullopt;
  }
  auto& upstream = connection->stream;
  std::string from_upstream;
  {
    http::response_parser<http::string_body> answer_parser;
    answer_parser.body_limit(kMaxRefusalBodyBytes);
    upstream.expires_after(std::chrono::seconds(30));
    auto [write_ec, written] = co_await http::async_write(upstream, upgrade, use_tuple);
    boost::system::error_code read_ec = write_ec;
    if (!write_ec) std::tie(read_ec, std::ignore) = co_await http::async_read(upstream, connection->buffer, answer_parser, use_tuple);
    const auto& answer = answer_parser.get();
    if (read_ec || answer.result() != http::status::switching_protocols ||
        answer.find(http::field::sec_websocket_extensions) != answer.end()) {
      if (!read_ec) logging::warn("Home Assistant refused the websocket", {{"status", answer.result_int()}});
      co_await write_and_close(client_stream, unavailable_frame());
      co_return std::nullopt;
    }
    from_upstream = beast::buffers_to_string(connection->buffer.data());
    connection->buffer = {};
  }
  const auto required_head = co_await read_frame(upstream, from_upstream, kMaxHandshakeFrameBytes, std::chrono::seconds(30));
  const auto required = required_head ? frame_json(from_upstream, *required_head) : std::nullopt;
  if (type_of(required) != "auth_required") {
    co_await write_and_close(client_stream, unavailable_frame());
    co_return std::nullopt;
  }
  if (const auto* version = required->if_contains("ha_version"); version && version->is_string())
    gate.heard_ha_version(std::string(version->as_string()));
  from_upstream.erase(0, static_cast<std::size_t>(required_head->frame_bytes()));
  upstream.expires_after(std::chrono::seconds(30));
  auto [auth_ec, auth_n] = co_await asio::async_write(upstream, asio::buffer(auth_frame), use_tuple);
  std::optional<FrameHead> answer_head;
  if (!auth_ec) answer_head = co_await read_frame(upstream, from_upstream, kMaxHandshakeFrameBytes, std::chrono::seconds(30));
  const auto answer = answer_head ? frame_json(from_upstream, *answer_head) : std::nullopt;
  if (type_of(answer) != "auth_ok" && type_of(answer) != "auth_invalid") {
    co_await write_and_close(client_stream, unavailable_frame());
    co_return std::nullopt;
  }
  const std::string answer_frame = from_upstream.substr(0, static_cast<std::size_t>(answer_head->frame_bytes()));
  from_upstream.erase(0, answer_frame.size());
  if (type_of(answer) == "auth_invalid") {
    // Valid a moment ago, refused now: the session was revoked meanwhile.
    gate.ha_refused_token();
    co_await write_and_close(client_stream, answer_frame + make_close_frame(websocket::close_code::normal, "", false));
    co_return std::nullopt;
  }
  beast::get_lowest_layer(client_stream).expires_after(std::chrono::seconds(10));
  auto [ok_ec, ok_n] = co_await asio::async_write(client_stream, asio::buffer(answer_frame), use_tuple);
  if (ok_ec) co_return std::nullopt;
  beast::get_lowest_layer(client_stream).expires_never();
  upstream.expires_never();

  co_return Joined{std::move(connection), std::move(from_client), std::move(from_upstream), verdict.owner};
}

// The relay's own coroutine: the handshake's objects go with its frame, and only what a relayed
// websocket needs stays for its lifetime (it may stay open for days).
template <class Stream>
asio::awaitable<void> websocket_session(Stream client_stream, beast::flat_buffer client_buffer,
                                        http::request<http::buffer_body> request, ForwardedClient client,
                                        Worker& worker, std::unique_ptr<WebsocketGate> gate, ConnectionClaim claim,
                                        std::shared_ptr<const config::Config> config,
                                        std::function<void(unsigned)> handshake_done) {
  RelayOutcome outcome;
  // Not one conditional expression with two co_awaits: GCC 12 miscompiles that.
  std::optional<Joined> joined;
  if (gate)
    joined = co_await authenticated_handshake(client_stream, client_buffer, request, client, worker, *gate, outcome, *config);
  else
    joined = co_await passthrough_handshake(client_stream, client_buffer, request, client, worker, outcome, *config);
  handshake_done(outcome.status);
  if (!joined) co_return;
  // splice() hands the legs to coroutines of their own; this frame (and the handshake's state) ends now.
  splice(std::move(client_stream), std::move(joined->connection), std::move(joined->from_client),
         std::move(joined->from_upstream), worker, std::move(joined->owner), std::move(claim),
         config->limits.max_websocket_message_bytes, gate.get());
}

} // namespace

template <class Stream>
void start_websocket_relay(Stream client_stream, beast::flat_buffer client_buffer,
                           http::request<http::buffer_body> request, const ForwardedClient& client, Worker& worker,
                           std::unique_ptr<WebsocketGate> gate, ConnectionClaim claim,
                           std::shared_ptr<const config::Config> config, std::function<void(unsigned)> handshake_done) {
  auto executor = client_stream.get_executor();
  asio::co_spawn(executor,
                 websocket_session(std::move(client_stream), std::move(client_buffer), std::move(request), client, worker,
                                   std::move(gate), std::move(claim), std::move(config), std::move(handshake_done)),
                 log_spawn_failure);
}

template void start_websocket_relay<PlainStream>(PlainStream, beast::flat_buffer, http::request<http::buffer_body>,
                                                 const ForwardedClient&, Worker&, std::unique_ptr<WebsocketGate>,
                                                 ConnectionClaim, std::shared_ptr<const config::Config>,
                                               std::function<void(unsigned)>);
template void start_websocket_relay<TlsStream>(TlsStream, beast::flat_buffer, http::request<http::buffer_body>,
                                               const ForwardedClient&, Worker&, std::unique_ptr<WebsocketGate>,
                                               ConnectionClaim, std::shared_ptr<const config::Config>,
                                               std::function<void(unsigned)>);

} // namespace gatehouse::net
