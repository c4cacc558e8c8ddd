// hass/token_probe: one short websocket to HA per unknown token.
#include "hass/token_probe.hpp"

#include "hass/api_socket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace gatehouse::hass {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;

class ProbeSocket {
public:
  explicit ProbeSocket(asio::any_io_executor executor, std::chrono::milliseconds timeout)
      : ws_(executor), timeout_(timeout) {
    ws_.read_message_max(kMaxAnswerBytes);
  }

  // Connected and upgraded, HA's auth_required read: its ha_version, or nullopt.
  asio::awaitable<std::optional<std::string>> open(const std::string& host, std::uint16_t port,
                                                   const std::string& client_address) {
    auto opening = co_await open_api_socket(ws_, host, port, client_address, timeout_);
    co_return opening.ha_version;
  }

  asio::awaitable<std::optional<json::object>> read() {
    buffer_.clear();
    beast::get_lowest_layer(ws_).expires_after(timeout_);
    auto [ec, n] = co_await ws_.async_read(buffer_, use_tuple);
    if (ec) co_return std::nullopt;
    boost::system::error_code parse_ec;
    auto value = json::parse(beast::buffers_to_string(buffer_.data()), parse_ec);
    if (parse_ec || !value.is_object()) co_return std::nullopt;
    co_return std::move(value.as_object());
  }

  asio::awaitable<bool> write(const json::object& message) {
    const std::string text = json::serialize(message);
    beast::get_lowest_layer(ws_).expires_after(timeout_);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(text), use_tuple);
    co_return !ec;
  }

  void drop() {
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

private:
  ApiSocket ws_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
};

} // namespace

asio::awaitable<TokenProbe> probe_access_token(std::string host, std::uint16_t port, std::string token,
                                               std::string client_address, std::chrono::milliseconds timeout) {
  TokenProbe probe;
  ProbeSocket socket(co_await asio::this_coro::executor, timeout);
  auto version = co_await socket.open(host, port, client_address);
  if (!version) co_return probe;
  probe.ha_version = std::move(*version);
  const json::object auth{{"type", "auth"}, {"access_token", token}};
  if (!co_await socket.write(auth)) co_return probe;
  auto answer = co_await socket.read();
  if (!answer) co_return probe;
  if (message_type(*answer) == "auth_invalid") {
    probe.outcome = TokenProbe::Outcome::refused;
    socket.drop();
    co_return probe;
  }
  if (message_type(*answer) != "auth_ok") co_return probe;
  const json::object who{{"id", 1}, {"type", "auth/current_user"}};
  if (!co_await socket.write(who)) co_return probe;
  auto reply = co_await socket.read();
  socket.drop();
  if (!reply) co_return probe;
  const auto* result = reply->if_contains("result");
  const auto* id = result && result->is_object() ? result->as_object().if_contains("id") : nullptr;
  if (!id || !id->is_string()) co_return probe;
  probe.outcome = TokenProbe::Outcome::valid;
  probe.user_id = std::string(id->as_string());
  co_return probe;
}

asio::awaitable<std::string> fetch_ha_version(std::string host, std::uint16_t port, std::chrono::milliseconds timeout) {
  ProbeSocket socket(co_await asio::this_coro::executor, timeout);
  auto version = co_await socket.open(host, port, "");
  socket.drop();
  co_return version.value_or("");
}

} // namespace gatehouse::hass
