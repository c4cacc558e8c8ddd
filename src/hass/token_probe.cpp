// hass/token_probe: one short websocket to HA per unknown token.
#include "hass/token_probe.hpp"

#include "hass/api_socket.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

namespace gatehouse::hass {
namespace asio = boost::asio;
namespace json = boost::json;

asio::awaitable<TokenProbe> probe_access_token(net::UpstreamTarget ha, std::string token, std::string client_address,
                                               std::chrono::milliseconds timeout) {
  TokenProbe probe;
  ApiConversation socket(timeout);
  auto version = co_await socket.open(ha, client_address);
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

asio::awaitable<std::string> fetch_ha_version(net::UpstreamTarget ha, std::chrono::milliseconds timeout) {
  ApiConversation socket(timeout);
  const std::string own_name; // no X-Forwarded-For
  auto version = co_await socket.open(ha, own_name);
  socket.drop();
  co_return version.value_or("");
}

} // namespace gatehouse::hass
