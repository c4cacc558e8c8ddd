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

std::string_view message_type(const boost::json::object& message) {
  const auto* type = message.if_contains("type");
  return type && type->is_string() ? std::string_view(type->get_string()) : std::string_view();
}

asio::awaitable<ApiSocketOpening> open_api_socket(ApiSocket& ws, std::string host, std::uint16_t port,
                                                  std::string client_address, std::chrono::milliseconds timeout) {
  constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
  ApiSocketOpening opening;
  const std::string port_text = std::to_string(port);
  tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port_text, use_tuple);
  if (resolve_ec) {
    opening.failure = "cannot resolve " + host + ": " + resolve_ec.message();
    co_return opening;
  }
  beast::get_lowest_layer(ws).expires_after(timeout);
  auto [connect_ec, endpoint] = co_await beast::get_lowest_layer(ws).async_connect(endpoints, use_tuple);
  if (connect_ec) {
    opening.failure = "cannot connect to " + host + ":" + port_text + ": " + connect_ec.message();
    co_return opening;
  }
  if (!client_address.empty()) {
    ws.set_option(websocket::stream_base::decorator([client_address](websocket::request_type& request) {
      request.set("X-Forwarded-For", client_address);
    }));
  }
  auto [handshake_ec] = co_await ws.async_handshake(host + ":" + port_text, "/api/websocket", use_tuple);
  if (handshake_ec) {
    opening.failure = "websocket handshake with HA failed: " + handshake_ec.message();
    co_return opening;
  }
  beast::flat_buffer buffer;
  beast::get_lowest_layer(ws).expires_after(timeout);
  auto [read_ec, n] = co_await ws.async_read(buffer, use_tuple);
  boost::system::error_code parse_ec;
  const auto hello = read_ec ? boost::json::value() : boost::json::parse(beast::buffers_to_string(buffer.data()), parse_ec);
  const auto* type = hello.is_object() ? hello.as_object().if_contains("type") : nullptr;
  if (read_ec || parse_ec || !type || *type != "auth_required") {
    opening.failure = "HA did not start the websocket auth handshake";
    co_return opening;
  }
  const auto* version = hello.as_object().if_contains("ha_version");
  opening.ha_version = version && version->is_string() ? std::string(version->as_string()) : std::string();
  co_return opening;
}

ApiConversation::ApiConversation(asio::any_io_executor executor, std::chrono::milliseconds timeout)
    : ws_(executor), timeout_(timeout) {
  ws_.read_message_max(64 * 1024);
}

asio::awaitable<std::optional<std::string>> ApiConversation::open(const std::string& host, std::uint16_t port,
                                                                  const std::string& client_address) {
  auto opening = co_await open_api_socket(ws_, host, port, client_address, timeout_);
  co_return opening.ha_version;
}

asio::awaitable<std::optional<boost::json::object>> ApiConversation::read() {
  buffer_.clear();
  beast::get_lowest_layer(ws_).expires_after(timeout_);
  auto [ec, n] = co_await ws_.async_read(buffer_, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::nullopt;
  boost::system::error_code parse_ec;
  auto value = boost::json::parse(beast::buffers_to_string(buffer_.data()), parse_ec);
  if (parse_ec || !value.is_object()) co_return std::nullopt;
  co_return std::move(value.as_object());
}

asio::awaitable<bool> ApiConversation::write(const boost::json::object& message) {
  const std::string text = boost::json::serialize(message);
  beast::get_lowest_layer(ws_).expires_after(timeout_);
  auto [ec, n] = co_await ws_.async_write(asio::buffer(text), asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

void ApiConversation::drop() {
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

} // namespace gatehouse::hass
