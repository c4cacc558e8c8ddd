// hass/token_probe: one short websocket to HA per unknown token.
#include "hass/token_probe.hpp"

#include "hass/api_socket.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

namespace gatehouse::hass {
namespace asio = boost::asio;
namespace json = boost::json;

asio::awaitable<TokenProbe> probe_access_token(std::string host, std::uint16_t port, std::string token,
                                               std::string client_address, std::chrono::milliseconds timeout) {
  TokenProbe probe;
  ApiConversation socket(co_await asio::this_coro::executor, timeout);
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
  ApiConversation socket(co_await asio::this_coro::executor, timeout);
  auto version = co_await socket.open(host, port, "");
  socket.drop();
  co_return version.value_or("");
}

} // namespace gatehouse::hass
