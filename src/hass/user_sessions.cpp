// hass/user_sessions: a session of the user's own, used once to delete all of them.
#include "hass/user_sessions.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "hass/api_socket.hpp"
#include "net/http_client.hpp"

namespace gatehouse::hass {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::chrono::seconds kStepTimeout{10};

std::string error_of(const json::object& reply) {
  const auto* error = reply.if_contains("error");
  const auto* code = error && error->is_object() ? error->as_object().if_contains("code") : nullptr;
  return code && code->is_string() ? std::string(code->as_string()) : "no result";
}

} // namespace

asio::awaitable<std::string> end_sessions_with_code(const config::HomeAssistant& home_assistant, std::string code,
                                                    std::string client_id, std::vector<std::string> token_ids) {
  std::string base = home_assistant.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  net::HttpClient http(net::HttpClient::Options{home_assistant.ca_file, kStepTimeout, 64 * 1024});
  net::OutboundRequest exchange;
  exchange.method = boost::beast::http::verb::post;
  exchange.url = base + "/auth/token";
  exchange.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  exchange.body = "grant_type=authorization_code&code=" + net::form_encode(code) + "&client_id=" + net::form_encode(client_id);
  auto exchanged = co_await http.send(exchange);
  if (!exchanged) co_return "the code exchange failed: " + exchanged.message;
  if (exchanged.response->status != 200)
    co_return "HA refused the code exchange (HTTP " + std::to_string(exchanged.response->status) + ")";
  boost::system::error_code ec;
  const auto tokens = json::parse(exchanged.response->body, ec);
  const auto* access = !ec && tokens.is_object() ? tokens.as_object().if_contains("access_token") : nullptr;
  const auto* refresh = !ec && tokens.is_object() ? tokens.as_object().if_contains("refresh_token") : nullptr;
  if (!access || !access->is_string() || !refresh || !refresh->is_string())
    co_return "HA's token answer had no access or refresh token";

  ApiConversation socket(kStepTimeout);
  const auto ha = net::upstream_target(home_assistant);
  const std::string own_name; // no X-Forwarded-For
  if (!co_await socket.open(ha, own_name)) co_return "HA's websocket could not be opened";
  const json::object auth{{"type", "auth"}, {"access_token", access->as_string()}};
  if (!co_await socket.write(auth)) co_return "HA's websocket closed";
  auto answer = co_await socket.read();
  if (!answer || message_type(*answer) != "auth_ok") {
    socket.drop();
    co_return "HA did not accept the session it had just issued";
  }
  std::vector<json::object> commands;
  if (token_ids.empty()) commands.push_back({{"type", "auth/delete_all_refresh_tokens"}});
  for (const auto& id : token_ids) commands.push_back({{"type", "auth/delete_refresh_token"}, {"refresh_token_id", id}});
  std::int64_t next_id = 1;
  for (auto& command : commands) {
    const std::string type(command.at("type").as_string());
    command["id"] = next_id++;
    if (!co_await socket.write(command)) co_return "HA's websocket closed";
    auto reply = co_await socket.read();
    if (!reply) {
      socket.drop();
      co_return "HA did not answer " + type;
    }
    const auto* success = reply->if_contains("success");
    const bool done = success && success->is_bool() && success->as_bool();
    // A refresh token HA no longer has is as ended as it gets (contract §4.4: only the caller's own).
    if (!done && !(type == "auth/delete_refresh_token" && error_of(*reply) == "invalid_token_id")) {
      socket.drop();
      co_return "HA refused " + type + " (" + error_of(*reply) + ")";
    }
  }
  socket.drop();
  // The session used for it goes too, at once: from 2024.2 HA deletes it only 2 s after its answer
  // (contract §4.4). Revoking is always answered 200 (§1.11).
  net::OutboundRequest revoke;
  revoke.method = boost::beast::http::verb::post;
  revoke.url = base + "/auth/revoke";
  revoke.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  revoke.body = "token=" + net::form_encode(refresh->as_string());
  auto revoked = co_await http.send(revoke);
  if (!revoked || revoked.response->status != 200) co_return "HA did not confirm the revocation of Gatehouse's own session of the person";
  co_return std::string();
}

} // namespace gatehouse::hass
