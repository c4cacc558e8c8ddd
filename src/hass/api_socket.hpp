// hass/api_socket: owns opening HA's websocket API (contract §4.1–4.2) up to HA's first message:
// connect (plain or TLS, net/upstream), upgrade (with the client's address in X-Forwarded-For when
// Gatehouse acts for a client), and read `auth_required`. The admin connection and the token checks both start this way, and
// read the type of HA's messages the same way.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/upstream.hpp"

namespace gatehouse::hass {

using ApiSocket = boost::beast::websocket::stream<net::UpstreamStream>;

struct ApiSocketOpening {
  std::unique_ptr<ApiSocket> socket;     // open, auth_required read
  std::optional<std::string> ha_version; // set once auth_required arrived ("" if it named no version)
  std::string failure;                   // otherwise what went wrong, for the operator (no secrets)
  explicit operator bool() const { return ha_version.has_value(); }
};

// The `type` of a message from HA's websocket API ("auth_ok", "result", ...), or "" when it has none.
// Only reads `message` (boost::json::object::operator[] may insert and reallocate); the view points
// into it.
std::string_view message_type(const boost::json::object& message);

// `client_address` empty: Gatehouse connects in its own name (no X-Forwarded-For).
// `timeout` bounds each step (connecting, the upgrade, auth_required).
boost::asio::awaitable<ApiSocketOpening> open_api_socket(net::UpstreamTarget ha, std::string client_address,
                                                         std::chrono::milliseconds timeout);

// A short conversation with HA's websocket API (a token check, ending a user's sessions): opened, then
// one message at a time, each read and write within `timeout`, answers of at most 64 KiB.
class ApiConversation {
public:
  explicit ApiConversation(std::chrono::milliseconds timeout);
  // Connected, upgraded and HA's auth_required read: its ha_version, or nullopt.
  boost::asio::awaitable<std::optional<std::string>> open(const net::UpstreamTarget& ha,
                                                          const std::string& client_address);
  // The next message, or nullopt (closed, timed out, not a JSON object).
  boost::asio::awaitable<std::optional<boost::json::object>> read();
  boost::asio::awaitable<bool> write(const boost::json::object& message);
  void drop();

private:
  std::unique_ptr<ApiSocket> ws_; // once open
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
};

} // namespace gatehouse::hass
