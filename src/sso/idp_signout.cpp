// sso/idp_signout: ending the IdP session of a browser that signed out of HA (providers[].logout: idp) or
// asked to sign in as someone else after a refusal, before its next sign-in (oidc/idp_signout).
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

#include "logging/log.hpp"
#include "oidc/idp_signout.hpp"
#include "oidc/pending_login.hpp"
#include "sso/sign_in.hpp"
#include "web/form.hpp"
#include "web/query.hpp"
#include "web/refusal.hpp"

namespace gatehouse::sso {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

std::string SignIn::signout_cookie(std::string_view value, bool clear) const {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  const bool secure = config.external_url.starts_with("https://");
  return std::string(oidc::kSignoutCookie) + "=" + std::string(value) + "; Path=/; Max-Age=" +
         (clear ? "0" : std::to_string(oidc::kSignoutLifetimeMs / 1000)) + "; HttpOnly; SameSite=Lax" +
         (secure ? "; Secure" : "");
}

std::string SignIn::save_signout(const oidc::IdpSignout& signout) {
  const auto cookie = oidc::random_token();
  oidc::save_idp_signout(store_, cookie, signout, store::now_unix_ms());
  return signout_cookie(cookie, false);
}

void SignIn::arm_idp_signout(web::Response& revoke_answer, std::string_view refresh_token,
                             const std::string& client_address) {
  if (revoke_answer.result() != http::status::ok || refresh_token.empty()) return;
  const auto session = session_ends_.idp_session_of(oidc::binding_hash(refresh_token));
  if (!session) return;
  const auto config_now = current_.get();
  const config::Provider* provider = nullptr;
  for (const auto& candidate : config_now->providers)
    if (candidate.issuer == session->issuer && candidate.logout == config::ProviderLogout::idp) provider = &candidate;
  if (!provider) return;
  revoke_answer.insert(http::field::set_cookie, save_signout({provider->id, session->id_token, true, {}, {}}));
  store_.append_audit({0, store::now_unix_ms(), "idp_signout_armed", "", client_address,
                       json::serialize(json::object{{"provider", provider->id}})});
}

asio::awaitable<std::optional<web::Response>> SignIn::end_idp_session_first(const front_door::RequestFacts& facts,
                                                                            std::optional<std::string> continue_url,
                                                                            bool armed_only) {
  const config::Config& config = *facts.config;
  const auto cookie = facts.own_cookie(oidc::kSignoutCookie);
  if (!cookie) co_return std::nullopt;
  const std::string cookie_value(*cookie);
  auto signout = oidc::find_idp_signout(store_, cookie_value, store::now_unix_ms());
  if (!signout || (armed_only && !signout->armed)) co_return std::nullopt;
  // Held while it is used: a reload may replace the providers meanwhile.
  const auto provider = oidc::provider_with_id(*providers_.of(config.providers), signout->provider_id);
  oidc::OidcResult<oidc::ProviderMetadata> discovered;
  if (provider) discovered = co_await provider->metadata(); // not inside ?: (GCC 12 and co_await)
  if (!provider || !discovered || !discovered.value->end_session_endpoint) {
    // Nothing Gatehouse can end there: the sign-in goes on as usual.
    oidc::drop_idp_signout(store_, cookie_value);
    logging::warn("cannot end the IdP session before this sign-in",
                  {{"provider", signout->provider_id},
                   {"detail", !provider      ? "the provider is no longer configured"
                              : !discovered ? discovered.failure.reason
                                            : "the IdP's discovery has no end_session_endpoint"}});
    co_return std::nullopt;
  }
  const std::string next = continue_url.value_or(signout->continue_url.value_or(config.external_url + "/"));
  const std::string state = oidc::random_token();
  oidc::start_idp_signout(store_, cookie_value, state, next);
  store_.append_audit({0, store::now_unix_ms(), "idp_signout_started", "", facts.client_address,
                       json::serialize(json::object{{"provider", signout->provider_id}})});
  co_return web::redirect(provider->end_session_url(*discovered.value, signout->id_token,
                                                  config.external_url + std::string(oidc::kSignedOutPath), state),
                        facts.version);
}

asio::awaitable<web::Response> SignIn::switch_account(const front_door::RequestFacts& facts) {
  const config::Config& config = *facts.config;
  auto started = co_await end_idp_session_first(facts, std::nullopt, false);
  if (started) co_return std::move(*started);
  web::Page page{"Sign in to Home Assistant",
                 {"There is no sign-in at your identity provider to end from this browser (any more)."},
                 {{config.external_url + "/", "Open Home Assistant"}},
                 "Gatehouse"};
  co_return web::page_response(http::status::ok, page, facts.version);
}

web::Response SignIn::signed_out(const front_door::RequestFacts& facts) {
  const config::Config& config = *facts.config;
  const auto query = web::parse_query(facts.target.query, 4096);
  const auto cookie = facts.own_cookie(oidc::kSignoutCookie);
  const auto state = query.get("state");
  std::optional<oidc::IdpSignout> signout;
  if (cookie && !state.empty()) signout = oidc::take_idp_signout(store_, *cookie, state, store::now_unix_ms());
  if (!signout || !signout->continue_url) {
    web::Page page{"This sign-out is finished or unknown",
                   {"Your identity provider sent you back, but this browser has no sign-out in progress."},
                   {{config.external_url + "/", "Open Home Assistant"}},
                   "Gatehouse · 400"};
    auto response = web::page_response(http::status::bad_request, page, facts.version);
    if (cookie) response.insert(http::field::set_cookie, signout_cookie("", true));
    return response;
  }
  store_.append_audit({0, store::now_unix_ms(), "idp_signout_finished", "", facts.client_address,
                       json::serialize(json::object{{"provider", signout->provider_id}})});
  auto response = web::redirect(*signout->continue_url, facts.version);
  response.insert(http::field::set_cookie, signout_cookie("", true));
  return response;
}

asio::awaitable<web::Response> SignIn::relay_revoke(const http::request_header<>& head, std::string body,
                                                    net::ForwardedClient client) {
  const auto form = web::Form::read(head[http::field::content_type], body);
  if (!form) co_return unreadable_form(head.version());
  const web::Form& fields = *form;
  std::string sent = body; // named: GCC 12 and temporaries inside co_await
  auto relayed = co_await relay_to_home_assistant(head, std::move(sent), client);
  if (!relayed) co_return web::render(web::RefusalKind::upstream_unavailable, false, head.version(), false);
  auto response = response_from(std::move(*relayed), head.version());
  arm_idp_signout(response, fields.value("token"), client.address_text);
  co_return response;
}

} // namespace gatehouse::sso
