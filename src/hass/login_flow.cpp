// hass/login_flow: the two POSTs of HA's homeassistant-provider login flow.
#include "hass/login_flow.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::hass {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using Failure = LoginFlowResult::Failure;

namespace {

json::object parse_object(const std::string& body) {
  boost::system::error_code ec;
  auto value = json::parse(body, ec);
  if (ec || !value.is_object()) return {};
  return std::move(value.as_object());
}

std::string string_at(const json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

} // namespace

LoginFlowClient::LoginFlowClient(const config::HomeAssistant& home_assistant)
    : base_url_(home_assistant.url), http_(net::HttpClient::Options{home_assistant.ca_file, std::chrono::seconds(30), 256 * 1024}) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

asio::awaitable<LoginFlowResult> LoginFlowClient::sign_in(std::string username, std::string password,
                                                          std::string client_id, std::string redirect_uri,
                                                          std::string client_address) {
  LoginFlowResult result;
  auto post = [&](const std::string& path, const json::object& body) -> asio::awaitable<net::OutboundResult> {
    net::OutboundRequest request;
    request.method = http::verb::post;
    request.url = base_url_ + path;
    request.headers = {{"Content-Type", "application/json"}};
    if (!client_address.empty()) request.headers.emplace_back("X-Forwarded-For", client_address);
    request.body = json::serialize(body);
    co_return co_await http_.send(request);
  };

  json::object create{{"client_id", client_id},
                      {"handler", json::array{"homeassistant", nullptr}},
                      {"redirect_uri", redirect_uri}};
  const std::string create_path = "/auth/login_flow";
  auto created = co_await post(create_path, create);
  if (!created) {
    result.reason = "login flow: " + created.message;
    co_return result;
  }
  auto step = parse_object(created.response->body);
  if (created.response->status != 200 || string_at(step, "type") != "form") {
    result.failure = Failure::refused;
    result.reason = "HA refused to start a login flow (HTTP " + std::to_string(created.response->status) + " " +
                    string_at(step, "message").substr(0, 200) + ")";
    co_return result;
  }
  const std::string flow_id = string_at(step, "flow_id");
  json::object credentials{{"client_id", client_id}, {"username", username}, {"password", password}};
  const std::string flow_path = "/auth/login_flow/" + flow_id;
  auto finished = co_await post(flow_path, credentials);
  if (!finished) {
    result.reason = "login flow: " + finished.message;
    co_return result;
  }
  auto outcome = parse_object(finished.response->body);
  const auto status = finished.response->status;
  if (status == 200 && string_at(outcome, "type") == "create_entry" && !string_at(outcome, "result").empty()) {
    result.code = string_at(outcome, "result");
    co_return result;
  }
  if (status == 200 && string_at(outcome, "type") == "form") {
    const auto* errors = outcome.if_contains("errors");
    const bool invalid_auth = errors && errors->is_object() && errors->as_object().if_contains("base") &&
                              errors->as_object().at("base") == "invalid_auth";
    const std::string step_id = string_at(outcome, "step_id");
    result.failure = invalid_auth                                          ? Failure::invalid_auth
                     : step_id == "mfa" || step_id == "select_mfa_module" ? Failure::mfa_required
                                                                          : Failure::refused;
    result.reason = invalid_auth ? "HA did not accept the managed password"
                                 : "HA asked for another step (" + step_id.substr(0, 40) +
                                       "): multi-factor authentication in HA is not supported for SSO users";
    net::OutboundRequest abort;
    abort.method = http::verb::delete_;
    abort.url = base_url_ + flow_path;
    if (!client_address.empty()) abort.headers = {{"X-Forwarded-For", client_address}};
    co_await http_.send(abort);
    co_return result;
  }
  result.failure = status == 403 ? Failure::blocked : Failure::refused;
  result.reason = "HA answered HTTP " + std::to_string(status) + ": " + string_at(outcome, "message").substr(0, 200);
  co_return result;
}

} // namespace gatehouse::hass
