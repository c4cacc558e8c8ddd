// sso/app_handoff: the Android app's web view waits on Gatehouse's own page while the person signs in
// in their browser (oidc/app_handoff holds the record; sso/sign_in.cpp starts it at /auth/authorize and
// asks the person at /sso/callback).
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

#include "logging/log.hpp"
#include "oidc/app_handoff.hpp"
#include "oidc/pending_login.hpp"
#include "web/form.hpp"
#include "web/query.hpp"
#include "sso/sign_in.hpp"

namespace gatehouse::sso {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr unsigned kWaitingPageReloadSeconds = 2;
constexpr std::string_view kDevicePath = "/sso/device";

bool looks_like_id(std::string_view id) {
  if (id.size() != 43) return false; // oidc::random_token: 256 bits, base64url
  for (const char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

} // namespace

std::string SignIn::handoff_cookie(std::string_view handoff_id, std::string_view value, bool clear) const {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  const bool secure = config.external_url.starts_with("https://");
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
  const config::Config& config = *facts.config;
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
    // Another device can take the code only where browsers are offered the choice (sign_in_choice).
    // A very long external_url fits no QR code: then the page offers only the address and the code.
    auto qr = config.sign_in_choice
                  ? web::qr_encode(config.external_url + std::string(kDevicePath) + "?code=" + handoff->user_code)
                  : std::nullopt;
    const std::string elsewhere = !config.sign_in_choice ? ""
                                  : ", or sign in with another device: " +
                                        std::string(qr ? "scan the QR code below with its camera, or " : "") + "open " +
                                        config.external_url + std::string(kDevicePath) + " there and enter the code";
    web::Page page{"Sign in to continue",
                   {"Open the sign-in page in your browser (passkeys and authenticator apps work there)" + elsewhere +
                        ". When you have signed in, this page continues by itself.",
                    "The device you sign in with shows this code before you allow the sign-in; allow it only if it is "
                    "the same:"},
                   {{handoff->idp_url, "Open the sign-in page"}},
                   {},
                   {},
                   handoff->user_code,
                   kWaitingPageReloadSeconds};
    page.qr = std::move(qr);
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
                                        {"The app or device stopped waiting for it (it expired after 10 minutes, "
                                         "or was finished another way). Start signing in there again."}}
                   : approved ? web::Page{"You are signed in",
                                          {"Go back to the app or device that waits: it continues by itself. You can "
                                           "close this page."}}
                              : web::Page{"Sign-in denied",
                                          {"The app or device that waited for it was told. You can close this page."}};
  page.footer = "Gatehouse";
  return web::page_response(settled ? http::status::ok : http::status::gone, page);
}

web::Response SignIn::device_entry(const front_door::RequestFacts& facts, const std::string& body) {
  const config::Config& config = *facts.config;
  auto form_page = [&](http::status status, std::string title, std::vector<std::string> paragraphs,
                       std::string code = {}) {
    web::Page page{std::move(title), std::move(paragraphs), {}, "Gatehouse · " + std::to_string(static_cast<unsigned>(status))};
    page.forms.push_back({std::string(kDevicePath), {}, "Continue", "code", "Code", std::move(code)});
    return web::page_response(status, page, facts.version);
  };
  if (facts.method == http::verb::get) {
    // From the waiting device's QR code (a camera app opens it: the person's own navigation) the code is
    // filled in, and the person still checks it and continues; a link on another site fills in nothing.
    using front_door::FetchSite;
    const bool own_navigation = facts.fetch_site == FetchSite::none || facts.fetch_site == FetchSite::same_origin;
    const std::string scanned =
        own_navigation ? oidc::normalized_user_code(web::parse_query(facts.target.query, 64).get("code")) : std::string();
    return form_page(http::status::ok, "Sign in a waiting device",
                     {scanned.empty() ? "Enter the code the device shows (like KXBR-TMPD). You sign in here, then allow "
                                        "the device; it continues by itself."
                                      : "Check that the device you want to sign in shows this code, then continue. "
                                        "You sign in here, then allow the device; it continues by itself."},
                     scanned);
  }
  // A code comes from the person's own typing (or their camera) on this page, never from another site's
  // form: the browser must say this origin sent it, or (a browser too old to say) its Origin must be ours.
  const bool from_this_page = facts.fetch_site == front_door::FetchSite::same_origin ||
                              (facts.fetch_site == front_door::FetchSite::unknown &&
                               (facts.origin.empty() || facts.origin == config.external_url));
  if (!from_this_page)
    return form_page(http::status::forbidden, "Enter the code here",
                     {"Another site sent this code. Type the code the waiting device shows into this page yourself."});
  const auto now_ms = store::now_unix_ms();
  if (!device_codes_.spend(net::client_key(facts.client.address), shield::CheckBudget::Clock::now()))
    return form_page(http::status::too_many_requests, "Too many codes tried",
                     {"This address tried more codes than Gatehouse allows in a minute. Wait a minute, then enter the "
                      "code the device shows."});
  const auto form = web::Form::read(facts.content_type, body).value_or(web::Form{});
  const auto handoff = oidc::find_waiting_handoff_by_code(store_, form.value("code"), now_ms);
  if (!handoff) {
    store::audit_refusal(store_, refused_sign_ins_,
                         {0, now_ms, "login_refused", "", facts.client_address,
                          json::serialize(json::object{{"reason", "device_code_unknown"}})},
                         "device_code_unknown");
    return form_page(http::status::bad_request, "No sign-in waits for this code",
                     {"Check the code on the waiting device and enter it again. A code works once, for 10 minutes; if "
                      "the device shows none any more, start signing in on it again."});
  }
  store_.append_audit({0, now_ms, "handoff_code_entered", "", facts.client_address,
                       json::serialize(json::object{{"device_address", handoff->client_address}})});
  // A page that goes on by itself, not a 302: browsers hold a redirect after a POST to the page's
  // form-action, which names only Gatehouse.
  web::Page page{"Continue to sign in", {"Your identity provider's sign-in page opens now."},
                 {{handoff->idp_url, "Open the sign-in page"}}, "Gatehouse"};
  page.continue_to = handoff->idp_url;
  return web::page_response(http::status::ok, page, facts.version);
}

} // namespace gatehouse::sso
