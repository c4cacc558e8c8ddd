// sso/token_relay: POST /auth/token through Gatehouse, and the refresh-token ids it teaches us.
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>

#include "jose/base64url.hpp"
#include "oidc/pending_login.hpp"
#include "shield/access_token.hpp"
#include "logging/log.hpp"
#include "sessions/cut_off.hpp"
#include "sso/sign_in.hpp"
#include "store/statement.hpp"
#include "web/form.hpp"
#include "web/refusal.hpp"

namespace gatehouse::sso {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr auto kCodeLifetime = std::chrono::minutes(10);
constexpr std::size_t kMaxIssuedCodes = 10'000;

// The access token HA just issued, with its refresh token's id (the iss, contract §2.2) and exp. HA
// made this token for us just now, so only its shape is read here; HA keeps checking its signature.
struct IssuedAccessToken {
  std::string token;
  std::string refresh_token_id;
  std::int64_t expires_at = 0;
  std::string refresh_token; // only when a code is redeemed
};

std::optional<IssuedAccessToken> issued_access_token(std::string_view response_body) {
  boost::system::error_code ec;
  auto value = json::parse(response_body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto* access = value.as_object().if_contains("access_token");
  if (!access || !access->is_string()) return std::nullopt;
  const std::string_view token = access->as_string();
  const auto reading = shield::read_access_token(token, 0);
  if (!reading) return std::nullopt;
  const auto* refresh = value.as_object().if_contains("refresh_token");
  return IssuedAccessToken{std::string(token), reading.token->refresh_token_id, reading.token->expires_at,
                           refresh && refresh->is_string() ? std::string(refresh->as_string()) : std::string()};
}

} // namespace

std::optional<std::string> SignIn::user_of_refresh_token(const std::string& refresh_token_id) {
  std::optional<std::string> user;
  store_.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT ha_user_id FROM refresh_tokens WHERE token_id = ?", "find a refresh token's user");
    select.bind_text(1, refresh_token_id);
    if (select.step()) user = select.column_text(0);
  });
  return user;
}

void SignIn::remember_code(const std::string& client_id, const std::string& code, const std::string& ha_user_id,
                           const std::optional<sessions::IdpSession>& idp_session) {
  std::lock_guard lock(issued_mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(issued_codes_, [&](const auto& entry) { return entry.second.expires <= now; });
  if (issued_codes_.size() >= kMaxIssuedCodes) issued_codes_.erase(issued_codes_.begin());
  issued_codes_[client_id + '\n' + code] = IssuedCode{ha_user_id, idp_session, now + kCodeLifetime};
}

std::optional<SignIn::IssuedCode> SignIn::take_code(const std::string& client_id, const std::string& code) {
  std::lock_guard lock(issued_mutex_);
  auto it = issued_codes_.find(client_id + '\n' + code);
  if (it == issued_codes_.end()) return std::nullopt;
  auto issued = it->second.expires > std::chrono::steady_clock::now() ? std::optional(std::move(it->second)) : std::nullopt;
  issued_codes_.erase(it);
  return issued;
}

web::Response SignIn::response_from(net::OutboundResponse answer, unsigned version) {
  web::Response response{static_cast<http::status>(answer.status), version};
  for (const auto& header : answer.headers) {
    const auto name = header.name();
    if (name == http::field::content_length || name == http::field::transfer_encoding) continue;
    response.insert(name, header.name_string(), header.value());
  }
  net::remove_hop_by_hop(response.base());
  response.body() = std::move(answer.body);
  response.prepare_payload();
  return response;
}

asio::awaitable<std::optional<net::OutboundResponse>> SignIn::relay_to_home_assistant(const http::request_header<>& head,
                                                                                      std::string body,
                                                                                      net::ForwardedClient client) {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  http::fields forwarded = head;
  net::prepare_upstream_request(forwarded, client);
  net::OutboundRequest outbound;
  outbound.method = head.method();
  std::string base = config.home_assistant.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  outbound.url = base + std::string(head.target());
  for (const auto& header : forwarded) {
    const auto name = header.name();
    if (name == http::field::host || name == http::field::content_length || name == http::field::transfer_encoding)
      continue;
    outbound.headers.emplace_back(std::string(header.name_string()), std::string(header.value()));
  }
  outbound.body = std::move(body);
  auto answer = co_await home_assistant_http_.send(outbound);
  co_return std::move(answer.response);
}

asio::awaitable<web::Response> SignIn::relay_app_registration(const http::request_header<>& head, std::string body,
                                                              net::ForwardedClient client, std::string ha_user_id) {
  if (webhooks_ && !ha_user_id.empty() && !webhooks_->has_room(ha_user_id)) {
    logging::warn("app registration refused: too many for one person", {{"ha_user_id", ha_user_id}});
    web::Response refused{http::status::too_many_requests, head.version()};
    refused.set(http::field::content_type, "application/json");
    refused.set(http::field::cache_control, "no-store");
    refused.body() = R"({"message":"Too many app registrations for this user. Ask your administrator."})";
    refused.prepare_payload();
    co_return refused;
  }
  auto answer = co_await relay_to_home_assistant(head, std::move(body), client);
  if (!answer) co_return web::render(web::RefusalKind::upstream_unavailable, false, head.version(), false);
  // HA's 201 names the webhook the app will call without authentication (contract §7.2).
  if (answer->status == 201 && webhooks_ && !ha_user_id.empty()) {
    boost::system::error_code ec;
    const auto reply = json::parse(answer->body, ec);
    const auto* id = !ec && reply.is_object() ? reply.as_object().if_contains("webhook_id") : nullptr;
    if (id && id->is_string()) webhooks_->learn(id->as_string(), ha_user_id);
  }
  co_return response_from(std::move(*answer), head.version());
}

web::Response SignIn::unreadable_form(unsigned version) {
  web::Response refused{http::status::bad_request, version};
  refused.set(http::field::content_type, "application/json");
  refused.set(http::field::cache_control, "no-store");
  refused.body() = json::serialize(json::object{
      {"error", "invalid_request"},
      {"error_description", "the form could not be read (at most " + std::to_string(web::Form::kMaxFields) +
                                " fields, multipart parts whole)"}});
  refused.prepare_payload();
  return refused;
}

asio::awaitable<web::Response> SignIn::relay_token_request(const http::request_header<>& head, std::string body,
                                                           net::ForwardedClient client) {
  // Read as HA reads it (web/form): a body HA would not take for a form redeems no code here either.
  const auto form = web::Form::read(head[http::field::content_type], body);
  if (!form) co_return unreadable_form(head.version());
  const web::Form& fields = *form;
  std::string sent = body; // named: GCC 12 and temporaries inside co_await
  auto relayed = co_await relay_to_home_assistant(head, std::move(sent), client);
  if (!relayed) co_return web::render(web::RefusalKind::upstream_unavailable, false, head.version(), false);

  const auto issued = relayed->status == 200 ? issued_access_token(relayed->body) : std::nullopt;
  std::optional<std::string> owner;
  bool idp_session_ended = false;
  if (fields.value("grant_type") == "authorization_code") {
    auto code = take_code(fields.value("client_id"), fields.value("code"));
    if (code && issued) {
      owner = code->ha_user_id;
      session_ends_.record_refresh_token(issued->refresh_token_id, oidc::binding_hash(issued->refresh_token), *owner,
                                         fields.value("client_id"), code->idp_session);
      // The IdP session this sign-in came from was logged out before its code was redeemed.
      idp_session_ended = code->idp_session && session_ends_.logged_out(*code->idp_session);
      if (idp_session_ended) session_ends_.end_refresh_token(issued->refresh_token_id, "backchannel_logout");
    }
  } else if (issued) {
    owner = user_of_refresh_token(issued->refresh_token_id);
  }
  // A person cut off, or a session ended, gets what HA answers for a session that no longer exists
  // (contract §1.10): the companion apps show their "signed out" screen on it. The token HA issued goes
  // to nobody.
  // Otherwise a token HA has just issued through Gatehouse is known valid: the shield need not ask HA.
  const auto refused = [&] { return idp_session_ended || cut_offs_.refuses(*owner, issued->refresh_token_id); };
  if (issued && owner &&
      (token_cache_ ? token_cache_->refused_else_remember(issued->token, issued->expires_at,
                                                          shield::TokenOwner{*owner, issued->refresh_token_id}, 0, refused)
                    : refused())) {
    web::Response refused{http::status::bad_request, head.version()};
    refused.set(http::field::content_type, "application/json");
    refused.set(http::field::cache_control, "no-store");
    refused.body() = R"({"error":"invalid_grant"})";
    refused.prepare_payload();
    co_return refused;
  }

  auto response = response_from(std::move(*relayed), head.version());
  // iOS signs out through /auth/token action=revoke (contract §1.11), as /auth/revoke does.
  if (fields.value("action") == "revoke") arm_idp_signout(response, fields.value("token"), client.address_text);
  co_return response;
}

} // namespace gatehouse::sso
