// sso/app_handoff: the Android app's web view waits on Gatehouse's own page while the person signs in
// in their browser (oidc/app_handoff holds the record; sso/sign_in.cpp starts it at /auth/authorize and
// asks the person at /sso/callback).
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

#include "logging/log.hpp"
#include "oidc/app_handoff.hpp"
#include "oidc/pending_login.hpp"
#include "sso/sign_in.hpp"

namespace gatehouse::sso {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr unsigned kWaitingPageReloadSeconds = 2;

bool looks_like_id(std::string_view id) {
  if (id.size() != 43) return false; // oidc::random_token: 256 bits, base64url
  for (const char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

} // namespace

std::string SignIn::handoff_cookie(std::string_view handoff_id, std::string_view value, bool clear) const {
  const bool secure = config_.external_url.starts_with("https://");
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(oidc::kPendingLoginLifetime).count();
  return std::string(oidc::kHandoffCookiePrefix) + std::string(handoff_id.substr(0, 8)) + "=" + std::string(value) +
         "; Path=/sso/; Max-Age=" + (clear ? "0" : std::to_string(lifetime)) + "; HttpOnly; SameSite=Lax" +
         (secure ? "; Secure" : "");
}

bool SignIn::holds_waiter_secret(const front_door::RequestFacts& facts, const oidc::AppHandoff& handoff) const {
  const auto secret = facts.own_cookie(std::string(oidc::kHandoffCookiePrefix) + handoff.id.substr(0, 8));
  return secret && oidc::binding_matches(*secret, handoff.waiter_hash);
}

web::Response SignIn::handoff_page(const front_door::RequestFacts& facts) {
  const std::string id(facts.target.path.substr(oidc::kHandoffPathPrefix.size()));
  const auto now_ms = store::now_unix_ms();
  const auto handoff = looks_like_id(id) ? oidc::find_handoff(store_, id) : std::nullopt;
  auto page_answer = [&](http::status status, web::Page page) {
    page.footer = "Gatehouse · " + std::to_string(static_cast<unsigned>(status));
    return web::page_response(status, page, facts.version);
  };
  if (!handoff)
    return page_answer(http::status::not_found,
                       {"This sign-in is unknown or long over", {"Go back to the Home Assistant app and sign in again."}});
  if (!holds_waiter_secret(facts, *handoff)) {
    // Someone has the address, not the app that started the sign-in: nothing of it is shown or given.
    store::audit_refusal(store_, refused_sign_ins_,
                         {0, now_ms, "login_refused", "", facts.client_address,
                          json::serialize(json::object{{"reason", "handoff_waiter_mismatch"}})},
                         "handoff_waiter_mismatch");
    return page_answer(http::status::forbidden,
                       {"This page belongs to the app that started the sign-in",
                        {"The sign-in continues in the Home Assistant app that opened it, not here. Open Home "
                         "Assistant again if you want to sign in on this device."}});
  }
  if (handoff->expires_at_ms <= now_ms && handoff->status != oidc::HandoffStatus::collected) {
    auto response = page_answer(http::status::gone,
                                {"This sign-in expired",
                                 {"A sign-in has to be finished within 10 minutes. Start again: your browser opens "
                                  "once more."},
                                 {{handoff->restart_url, "Sign in again"}}});
    response.insert(http::field::set_cookie, handoff_cookie(id, "", true));
    return response;
  }
  switch (handoff->status) {
  case oidc::HandoffStatus::waiting: {
    web::Page page{"Continue in your browser",
                   {"Your identity provider's sign-in page opens in your browser, where passkeys and authenticator "
                    "apps work. When you have signed in there, come back here: the app continues by itself.",
                    "Your browser shows this code before you allow the sign-in; allow it only if it is the same:"},
                   {{handoff->idp_url, "Open the sign-in page"}},
                   {},
                   {},
                   handoff->user_code,
                   kWaitingPageReloadSeconds};
    return page_answer(http::status::ok, std::move(page));
  }
  case oidc::HandoffStatus::approved:
  case oidc::HandoffStatus::denied: {
    const auto sealed = oidc::collect_handoff(store_, id, now_ms);
    const auto to_app = sealed ? directory_.master_key().open(*sealed, oidc::kHandoffSealPurpose) : std::nullopt;
    if (!to_app) break; // collected a moment ago by another load of this page, or not sealed with this key
    store_.append_audit({0, now_ms, "handoff_collected", "", facts.client_address,
                         json::serialize(json::object{{"approved", handoff->status == oidc::HandoffStatus::approved}})});
    auto response = web::redirect(*to_app, facts.version);
    response.insert(http::field::set_cookie, handoff_cookie(id, "", true));
    return response;
  }
  case oidc::HandoffStatus::collected: break;
  }
  auto response = page_answer(http::status::gone, {"This sign-in is finished",
                                                   {"The app already received it. Go back to the Home Assistant app."}});
  response.insert(http::field::set_cookie, handoff_cookie(id, "", true));
  return response;
}

web::Response SignIn::settle_for_app(const std::string& handoff_id, bool approved, const std::string& app_redirect,
                                     const std::string& username, const std::string& client_address) {
  const auto now_ms = store::now_unix_ms();
  const bool settled = oidc::settle_handoff(
      store_, handoff_id, approved, directory_.master_key().seal(app_redirect, oidc::kHandoffSealPurpose), now_ms);
  store_.append_audit({0, now_ms, settled ? "handoff_settled" : "handoff_too_late", username, client_address,
                       json::serialize(json::object{{"approved", approved}})});
  logging::info(settled ? "app sign-in answered for the waiting app" : "app sign-in answered after it ended",
                {{"user", username}, {"approved", approved}});
  web::Page page = !settled ? web::Page{"This sign-in is over",
                                        {"The app stopped waiting for it (it expired after 10 minutes, or was "
                                         "finished another way). Start again in the Home Assistant app."}}
                   : approved ? web::Page{"You are signed in",
                                          {"Go back to the Home Assistant app: it continues by itself. You can close "
                                           "this page."}}
                              : web::Page{"Sign-in denied",
                                          {"The Home Assistant app that waited for it was told. You can close this "
                                           "page."}};
  page.footer = "Gatehouse";
  return web::page_response(settled ? http::status::ok : http::status::gone, page);
}

} // namespace gatehouse::sso
