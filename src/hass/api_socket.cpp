// hass/api_socket: HA's websocket API, opened up to auth_required.
#include "hass/api_socket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::hass {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {
constexpr std::size_t kMaxOpeningMessageBytes = 64 * 1024;
} // namespace

std::string_view message_type(const boost::json::object& message) {
  const auto* type = message.if_contains("type");
  return type && type->is_string() ? std::string_view(type->get_string()) : std::string_view();
}

asio::awaitable<ApiSocketOpening> open_api_socket(net::UpstreamTarget ha, std::string client_address,
                                                  std::chrono::milliseconds timeout) {
  constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
  ApiSocketOpening opening;
  const std::string port_text = std::to_string(ha.port);
  ha.connect_timeout = timeout;
  boost::system::error_code connect_ec;
  auto connection = co_await net::connect_upstream(ha, connect_ec);
  if (!connection) {
    opening.failure = "cannot connect to " + ha.host + ":" + port_text + ": " + connect_ec.message();
    co_return opening;
  }
  auto ws = std::make_unique<ApiSocket>(std::move(connection->stream));
  if (!client_address.empty()) {
    ws->set_option(websocket::stream_base::decorator([client_address](websocket::request_type& request) {
      request.set("X-Forwarded-For", client_address);
    }));
  }
  // HA's first message is small (contract §4.2); the admin connection raises the limit once authenticated.
  ws->read_message_max(kMaxOpeningMessageBytes);
  const std::string host_header = ha.host_header;
  beast::get_lowest_layer(*ws).expires_after(timeout);
  auto [handshake_ec] = co_await ws->async_handshake(host_header, "/api/websocket", use_tuple);
  if (handshake_ec) {
    opening.failure = "websocket handshake with HA failed: " + handshake_ec.message();
    co_return opening;
  }
  beast::flat_buffer buffer;
  beast::get_lowest_layer(*ws).expires_after(timeout);
  auto [read_ec, n] = co_await ws->async_read(buffer, use_tuple);
  boost::system::error_code parse_ec;
  const auto hello = read_ec ? boost::json::value() : boost::json::parse(beast::buffers_to_string(buffer.data()), parse_ec);
  const auto* type = hello.is_object() ? hello.as_object().if_contains("type") : nullptr;
  if (read_ec || parse_ec || !type || *type != "auth_required") {
    opening.failure = "HA did not start the websocket auth handshake";
    co_return opening;
  }
  const auto* version = hello.as_object().if_contains("ha_version");
  opening.ha_version = version && version->is_string() ? std::string(version->as_string()) : std::string();
  opening.socket = std::move(ws);
  co_return opening;
}

ApiConversation::ApiConversation(std::chrono::milliseconds timeout) : timeout_(timeout) {}

asio::awaitable<std::optional<std::string>> ApiConversation::open(const net::UpstreamTarget& ha,
                                                                  const std::string& client_address) {
  auto opening = co_await open_api_socket(ha, client_address, timeout_);
  if (!opening) co_return std::nullopt;
  ws_ = std::move(opening.socket); // its messages stay within the opening's 64 KiB
  co_return opening.ha_version;
}

asio::awaitable<std::optional<boost::json::object>> ApiConversation::read() {
  if (!ws_) co_return std::nullopt;
  buffer_.clear();
  beast::get_lowest_layer(*ws_).expires_after(timeout_);
  auto [ec, n] = co_await ws_->async_read(buffer_, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::nullopt;
  boost::system::error_code parse_ec;
  auto value = boost::json::parse(beast::buffers_to_string(buffer_.data()), parse_ec);
  if (parse_ec || !value.is_object()) co_return std::nullopt;
  co_return std::move(value.as_object());
}

asio::awaitable<bool> ApiConversation::write(const boost::json::object& message) {
  if (!ws_) co_return false;
  const std::string text = boost::json::serialize(message);
  beast::get_lowest_layer(*ws_).expires_after(timeout_);
  auto [ec, n] = co_await ws_->async_write(asio::buffer(text), asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

void ApiConversation::drop() {
  if (!ws_) return;
  boost::system::error_code ignored;
  beast::get_lowest_layer(*ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(*ws_).socket().close(ignored);
}

} // namespace gatehouse::hass
