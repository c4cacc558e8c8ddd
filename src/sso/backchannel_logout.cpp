// sso/backchannel_logout: POST /sso/backchannel-logout, the IdP telling Gatehouse that a session of its
// own ended (OpenID Connect Back-Channel Logout 1.0).
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

#include "jose/jws.hpp"
#include "logging/log.hpp"
#include "sso/sign_in.hpp"
#include "web/form.hpp"

namespace gatehouse::sso {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// §2.8: 200 when the logout succeeded, 400 with an OAuth-style error otherwise; never cached.
web::Response logout_answer(http::status status, unsigned version, std::string_view error = {},
                            std::string_view description = {}) {
  web::Response response{status, version};
  response.set(http::field::cache_control, "no-store");
  if (!error.empty()) {
    response.set(http::field::content_type, "application/json");
    response.body() = json::serialize(json::object{{"error", error}, {"error_description", description}});
  }
  response.prepare_payload();
  return response;
}

} // namespace

asio::awaitable<web::Response> SignIn::backchannel_logout(const front_door::RequestFacts& facts, std::string body) {
  auto refuse = [&](std::string_view error, std::string reason) {
    store::audit_refusal(store_, refused_sign_ins_,
                         {0, store::now_unix_ms(), "backchannel_logout_refused", "", facts.client_address,
                          json::serialize(json::object{{"reason", reason}})},
                         "backchannel_logout");
    logging::warn("back-channel logout refused", {{"reason", reason}, {"client", facts.client_address}});
    return logout_answer(http::status::bad_request, facts.version, error, reason);
  };
  if (web::media_type(facts.content_type) != "application/x-www-form-urlencoded")
    co_return refuse("invalid_request", "the body must be a form (application/x-www-form-urlencoded)");
  const auto form = web::Form::read(facts.content_type, body);
  const auto token = form ? form->get("logout_token") : std::nullopt;
  if (!token || token->empty()) co_return refuse("invalid_request", "no logout_token");

  // The provider is the one whose issuer the token names; its keys then decide whether the token holds
  // (the unverified iss only picks which keys to try).
  const auto parts = jose::split_compact(*token);
  const auto payload = parts ? jose::parse_object(parts->payload) : std::nullopt;
  const auto* iss = payload ? payload->if_contains("iss") : nullptr;
  std::shared_ptr<oidc::Provider> provider; // held for the check: a reload may replace the providers meanwhile
  if (iss && iss->is_string()) provider = oidc::provider_with_issuer(*providers_.of(facts.config->providers), iss->as_string());
  if (!provider) co_return refuse("invalid_request", "the logout token is not from a configured provider");

  std::string token_text(*token); // named: GCC 12 and co_await
  auto verified = co_await provider->verify_logout_token(std::move(token_text));
  if (!verified) {
    using Kind = oidc::OidcFailure::Kind;
    const bool ours = verified.failure.kind == Kind::idp_unreachable || verified.failure.kind == Kind::misconfigured;
    co_return refuse(ours ? "temporarily_unavailable" : "invalid_request", verified.failure.reason);
  }
  const auto& logout = *verified.value;
  sessions::SessionEnds::Logout taken;
  try {
    taken = session_ends_.take_logout({logout.issuer, logout.subject, logout.sid, logout.jti}, provider->config().id);
  } catch (const std::exception& error) {
    logging::error("cannot record a back-channel logout", {{"error", error.what()}});
    co_return logout_answer(http::status::service_unavailable, facts.version, "temporarily_unavailable",
                            "Gatehouse could not record the logout; send it again");
  }
  if (taken.replayed) co_return refuse("invalid_request", "this logout token was used already (jti)");
  co_return logout_answer(http::status::ok, facts.version);
}

} // namespace gatehouse::sso
