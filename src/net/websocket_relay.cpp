// net/websocket_relay: websocket relay between a client and HA, frame by frame.
#include "net/websocket_relay.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/session.hpp"

namespace gatehouse::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kFrameChunk = 64 * 1024;

using UpstreamSocket = websocket::stream<beast::tcp_stream>;

// Why a relay is ending, as far as the other side should be told.
struct RelayState {
  std::optional<websocket::close_reason> terminate_reason; // set by shutdown (and later revocation)
};

template <class Ws>
asio::awaitable<void> close_quietly(Ws& ws, websocket::close_reason reason) {
  if (!ws.is_open()) co_return;
  co_await ws.async_close(reason, use_tuple);
}

// Copies one direction until it ends, then tells the other side why.
template <class From, class To>
asio::awaitable<void> pump(From& from, To& to, RelayState& state, bool from_client) {
  beast::flat_buffer buffer;
  bool mid_message = false;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(buffer, kFrameChunk, use_tuple);
    if (ec) {
      websocket::close_reason reason;
      if (ec == websocket::error::closed) reason = from.reason();
      else if (from_client && ec == websocket::error::message_too_big) reason = websocket::close_code::too_big;
      else if (!from_client && state.terminate_reason) reason = *state.terminate_reason;
      else if (from_client) reason = {websocket::close_code::going_away, "client went away"};
      else reason = {websocket::close_code::service_restart, "Home Assistant connection lost"};
      co_await close_quietly(to, reason);
      co_return;
    }
    if (!mid_message) to.binary(from.got_binary());
    const bool done = from.is_message_done();
    auto [write_ec, written] = co_await to.async_write_some(done, buffer.data(), use_tuple);
    buffer.consume(n);
    mid_message = !done;
    if (write_ec) co_return; // the other pump sees that side's end and closes this one
  }
}

template <class ClientWs>
void configure_client_leg(ClientWs& ws, const config::Config& config, const std::string& subprotocol) {
  websocket::permessage_deflate deflate;
  deflate.server_enable = true; // if the client offers it; the upstream leg stays uncompressed
  ws.set_option(deflate);
  ws.read_message_max(config.limits.max_websocket_message_bytes);
  ws.auto_fragment(false);
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = std::chrono::seconds(120); // pings the client after 60 s of silence
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
    res.set(http::field::server, "");
    if (!subprotocol.empty()) res.set(http::field::sec_websocket_protocol, subprotocol);
  }));
}

} // namespace

template <class Stream>
asio::awaitable<RelayOutcome> relay_websocket(Stream client_stream, http::request<http::buffer_body> request,
                                              const ForwardedClient& client, Worker& worker) {
  const auto& config = worker.shared.config;
  RelayOutcome outcome;

  // Upstream first: what HA says to the upgrade decides what the client gets.
  http::fields forwarded = request.base();
  prepare_upstream_request(forwarded, client);
  for (auto name : {http::field::sec_websocket_key, http::field::sec_websocket_version,
                    http::field::sec_websocket_extensions, http::field::host})
    forwarded.erase(name);
  const std::string host = client.host.empty()
                               ? worker.upstream.target().host + ":" + std::to_string(worker.upstream.target().port)
                               : client.host;

  boost::system::error_code ec;
  auto connection = co_await connect_upstream(worker.upstream.target(), ec);
  std::optional<UpstreamSocket> upstream;
  websocket::response_type upstream_answer;
  if (connection) {
    upstream.emplace(std::move(connection->stream));
    upstream->read_message_max(0); // HA's messages may be many MB (contract §4.1); frames are streamed
    upstream->auto_fragment(false);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = config.timeouts.upstream_response;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    upstream->set_option(timeouts);
    upstream->set_option(websocket::stream_base::decorator([&forwarded](websocket::request_type& req) {
      for (const auto& field : forwarded) req.set(field.name_string(), field.value());
    }));
    auto [handshake_ec] = co_await upstream->async_handshake(upstream_answer, host, request.target(), use_tuple);
    if (handshake_ec && handshake_ec == websocket::error::upgrade_declined && upstream_answer.result_int() != 0) {
      // HA refused the upgrade (404, 403 ban, 503 stopping...): the client hears it as HA said it.
      http::response<http::string_body> refusal = upstream_answer;
      remove_hop_by_hop(refusal);
      refusal.version(request.version());
      refusal.keep_alive(false);
      refusal.prepare_payload();
      outcome.status = refusal.result_int();
      beast::get_lowest_layer(client_stream).expires_after(std::chrono::seconds(10));
      co_await http::async_write(client_stream, refusal, use_tuple);
      co_return outcome;
    }
    if (handshake_ec) upstream.reset();
  }

  std::string subprotocol;
  if (upstream) subprotocol = std::string(upstream_answer[http::field::sec_websocket_protocol]);
  websocket::stream<Stream> client_ws(std::move(client_stream));
  configure_client_leg(client_ws, config, subprotocol);
  beast::get_lowest_layer(client_ws).expires_never();
  auto [accept_ec] = co_await client_ws.async_accept(request, use_tuple);
  if (accept_ec) {
    outcome.status = 400;
    co_return outcome;
  }
  if (!upstream) {
    websocket::close_reason unavailable{websocket::close_code::try_again_later, "Home Assistant unavailable"};
    co_await close_quietly(client_ws, unavailable);
    co_return outcome;
  }

  RelayState state;
  TrackedRelay tracked;
  tracked.terminate = [&state, &upstream](websocket::close_reason reason) {
    // Ending the upstream leg makes the HA→client pump close the client with this reason; that pump
    // is the only writer on the client leg, so no second writer races it.
    state.terminate_reason = reason;
    boost::system::error_code ignored;
    beast::get_lowest_layer(*upstream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  };
  ListRegistration registration(worker.relays, tracked);
  co_await (pump(client_ws, *upstream, state, true) && pump(*upstream, client_ws, state, false));
  co_return outcome;
}

template asio::awaitable<RelayOutcome> relay_websocket<PlainStream>(PlainStream, http::request<http::buffer_body>,
                                                                    const ForwardedClient&, Worker&);
template asio::awaitable<RelayOutcome> relay_websocket<TlsStream>(TlsStream, http::request<http::buffer_body>,
                                                                  const ForwardedClient&, Worker&);

} // namespace gatehouse::net
