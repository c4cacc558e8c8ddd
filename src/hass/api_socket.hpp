// hass/api_socket: owns opening HA's websocket API (contract §4.1–4.2) up to HA's first message:
// resolve, connect, upgrade (with the client's address in X-Forwarded-For when Gatehouse acts for a
// client), and read `auth_required`. The admin connection and the token checks both start this way, and
// read the type of HA's messages the same way.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::hass {

using ApiSocket = boost::beast::websocket::stream<boost::beast::tcp_stream>;

struct ApiSocketOpening {
  std::optional<std::string> ha_version; // set once auth_required arrived ("" if it named no version)
  std::string failure;                   // otherwise what went wrong, for the operator (no secrets)
  explicit operator bool() const { return ha_version.has_value(); }
};

// The `type` of a message from HA's websocket API ("auth_ok", "result", ...), or "" when it has none.
// Only reads `message` (boost::json::object::operator[] may insert and reallocate); the view points
// into it.
std::string_view message_type(const boost::json::object& message);

// `client_address` empty: Gatehouse connects in its own name (no X-Forwarded-For).
boost::asio::awaitable<ApiSocketOpening> open_api_socket(ApiSocket& ws, std::string host, std::uint16_t port,
                                                         std::string client_address,
                                                         std::chrono::milliseconds timeout);

// A short conversation with HA's websocket API (a token check, ending a user's sessions): opened, then
// one message at a time, each read and write within `timeout`, answers of at most 64 KiB.
class ApiConversation {
public:
  ApiConversation(boost::asio::any_io_executor executor, std::chrono::milliseconds timeout);
  // Connected, upgraded and HA's auth_required read: its ha_version, or nullopt.
  boost::asio::awaitable<std::optional<std::string>> open(const std::string& host, std::uint16_t port,
                                                          const std::string& client_address);
  // The next message, or nullopt (closed, timed out, not a JSON object).
  boost::asio::awaitable<std::optional<boost::json::object>> read();
  boost::asio::awaitable<bool> write(const boost::json::object& message);
  void drop();

private:
  ApiSocket ws_;
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
};

} // namespace gatehouse::hass
