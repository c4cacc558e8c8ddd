// sso/sign_in: /auth/authorize, /sso/login/<provider>, /sso/callback.
#include "sso/sign_in.hpp"

#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/rand.h>

#include "hass/user_sessions.hpp"
#include "logging/log.hpp"
#include "metrics/metrics.hpp"
#include "scim/people.hpp"
#include "sessions/cut_off.hpp"
#include "oidc/client_check.hpp"
#include "oidc/idp_signout.hpp"
#include "oidc/pending_login.hpp"
#include "web/form.hpp"
#include "web/query.hpp"

namespace gatehouse::sso {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

metrics::Counter sign_ins_counted("gatehouse_sign_ins_total",
                                  "Sign-ins that ended, by provider (a configured id, trusted_device, header or "
                                  "unknown) and outcome (succeeded, refused, denied at the consent page)",
                                  {"provider", "outcome"});
metrics::Histogram idp_leg_seconds("gatehouse_sign_in_duration_seconds",
                                   "Time from a sign-in's start at /auth/authorize to the IdP's verified answer",
                                   {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}, {"provider"});

// Who a sign-in's audit detail says it came through.
std::string_view provider_label(const json::object& detail) {
  const auto* provider = detail.if_contains("provider");
  const auto* source = detail.if_contains("source");
  if ((provider && provider->is_string() && provider->as_string().starts_with("header:")) ||
      (source && source->is_string() && source->as_string() == "header_identity"))
    return "header"; // one label, whichever header named the person
  if (provider && provider->is_string()) return provider->as_string();
  if (detail.contains("trusted_device")) return "trusted_device";
  return "unknown";
}

constexpr std::string_view kAuthorizePath = "/auth/authorize";
constexpr std::string_view kCallbackPath = "/sso/callback";
constexpr std::string_view kLoginPathPrefix = "/sso/login/";
constexpr std::string_view kConsentPath = "/sso/consent";
constexpr std::string_view kSwitchAccountPath = "/sso/switch-account";
constexpr std::string_view kDevicePath = "/sso/device";
// Added to /auth/authorize by the choice page (sign_in_choice): "here" or "elsewhere".
constexpr std::string_view kWhereParameter = "gatehouse_where";
// Carries "another site started this sign-in" along the links of Gatehouse's own choice pages, which the
// browser calls same-origin; only ever added, so leaving it out of a link changes nothing.
constexpr std::string_view kAnotherSiteParameter = "gatehouse_from_another_site";
using oidc::kHandoffPathPrefix;
using oidc::kSignedOutPath;
constexpr std::string_view kConsentCookiePrefix = "gatehouse_consent_";
constexpr auto kConsentLifetime = std::chrono::minutes(5);
constexpr std::size_t kMaxPendingConsents = 1000;
constexpr std::string_view kCookiePrefix = "gatehouse_login_";
constexpr std::size_t kMaxParameterBytes = 4096;
constexpr std::string_view kBreakGlassHint =
    "If this keeps failing, an administrator can still sign in to Home Assistant locally.";
constexpr std::string_view kMisconfiguredText =
    "Gatehouse's configuration and the identity provider disagree about the provider's issuer, so nobody can sign "
    "in through it. This is not an outage and trying again will not help: an administrator must correct "
    "providers[].issuer in Gatehouse's configuration, or the issuer the identity provider announces.";

std::string correlation_id() {
  std::array<unsigned char, 8> bytes{};
  RAND_bytes(bytes.data(), static_cast<int>(bytes.size()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (auto b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

// An OAuth error code from the IdP is shown and logged only if it looks like one.
std::string safe_error_code(std::string_view code) {
  if (code.empty() || code.size() > 64) return "unknown_error";
  for (char c : code)
    if (!(std::islower(static_cast<unsigned char>(c)) || c == '_')) return "unknown_error";
  return std::string(code);
}

std::string cookie_name(std::string_view state) { return std::string(kCookiePrefix) + std::string(state.substr(0, 8)); }

using web::redirect;

// The /auth/authorize request a client made, again: a sign-in starting over from `url` (a path of
// Gatehouse's, absolute), with the client's own parameters only.
std::string authorize_again(std::string url, const std::string& client_id, const std::string& redirect_uri,
                            const std::optional<std::string>& state, bool started_on_another_site = false) {
  std::vector<std::pair<std::string, std::string>> again{
      {"response_type", "code"}, {"client_id", client_id}, {"redirect_uri", redirect_uri}};
  if (state) again.emplace_back("state", *state);
  if (started_on_another_site) again.emplace_back(kAnotherSiteParameter, "1");
  return oidc::with_query_parameters(url, again);
}

// Why HA's sessions of a user an admin deactivated in HA are left as they are.
constexpr std::string_view kInactiveInHaText =
    "their HA user is inactive in HA, so HA would not sign Gatehouse in as them (and refuses every token of theirs)";

// Where a client is sent when the person (or Gatehouse for them) refused its sign-in (RFC 6749 §4.1.2.1).
std::string access_denied_to(std::string_view redirect_uri, const std::optional<std::string>& state) {
  std::vector<std::pair<std::string, std::string>> parameters{{"error", "access_denied"}};
  if (state) parameters.emplace_back("state", *state);
  return oidc::with_query_parameters(redirect_uri, parameters);
}

// scheme://host:port, lowercased, with the scheme's default port written out; "" when not a URL.
std::string origin_of(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return {};
  std::string origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host()) + ":";
  if (parsed->has_port()) origin += std::string(parsed->port());
  else origin += parsed->scheme() == "https" ? "443" : "80";
  for (auto& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return origin;
}

} // namespace

SignIn::SignIn(const config::Config& config, const config::Current& current, store::Store& store,
               users::Directory& directory, const sessions::CutOffs& cut_offs, const scim::People* people)
    : current_(current), store_(store),
      home_assistant_http_(net::HttpClient::Options{config.home_assistant.ca_file, std::chrono::seconds(60), 256 * 1024}),
      directory_(directory), cut_offs_(cut_offs), session_ends_(store), people_(people), login_flow_(config.home_assistant),
      refused_sign_ins_("sign_in_refusals", {.own_entries_per_client = config.limits.audited_refusals_per_address}),
      discovery_(config.client_discovery), providers_(config.providers) {
  if (config.header_identity && config.header_identity->assertion)
    assertions_ = std::make_shared<Assertions>(*config.header_identity->assertion);
}

std::shared_ptr<oidc::SignedAssertions> SignIn::assertions_for(const config::SignedAssertion& settings) {
  std::lock_guard lock(assertions_mutex_);
  for (const auto& kept : {assertions_, assertions_before_})
    if (kept && kept->settings == settings) return std::shared_ptr<oidc::SignedAssertions>(kept, &kept->checker);
  std::shared_ptr<Assertions> made;
  try {
    made = std::make_shared<Assertions>(settings);
  } catch (const std::exception& error) {
    // Its CA bundle no longer loads: no checker, so the sign-in is refused (never believed unchecked).
    logging::error("header_identity.assertion could not be set up", {{"error", error.what()}});
    return nullptr;
  }
  assertions_before_ = std::exchange(assertions_, made);
  return std::shared_ptr<oidc::SignedAssertions>(made, &made->checker);
}

void SignIn::retune(const config::Config& config) {
  refused_sign_ins_.retune({.own_entries_per_client = config.limits.audited_refusals_per_address});
}

bool SignIn::handles(const front_door::RequestFacts& facts) const {
  const config::Config& config = *facts.config;
  const auto& path = facts.target.path;
  if (path == kAuthorizePath)
    return !config.providers.empty() || !config.trusted_devices.empty() || config.header_identity.has_value();
  // Header sign-ins ask consent for clients that need it too.
  if (path == kConsentPath) return !config.providers.empty() || config.header_identity.has_value();
  // Without providers (a reload removed them) a sign-in's way back still ends here, refused as unknown.
  if (config.providers.empty()) return path == kCallbackPath || path.starts_with(kLoginPathPrefix);
  return path == kCallbackPath || path == kConsentPath || path == kSwitchAccountPath || path == kSignedOutPath ||
         (path == kDevicePath && config.sign_in_choice) || path.starts_with(kLoginPathPrefix) ||
         path.starts_with(kHandoffPathPrefix);
}

// The method is the endpoint table's (front_door/front_door.cpp): GET everywhere, POST for consent.
asio::awaitable<web::Response> SignIn::handle(const front_door::RequestFacts& facts, std::string body) {
  const auto& path = facts.target.path;
  if (path == kConsentPath) co_return co_await answer_consent(facts, std::move(body));
  if (path == kCallbackPath) co_return co_await callback(facts);
  if (path == kSwitchAccountPath) co_return co_await switch_account(facts);
  if (path == kSignedOutPath) co_return signed_out(facts);
  if (path.starts_with(kHandoffPathPrefix)) co_return handoff_page(facts);
  if (path == kDevicePath) co_return device_entry(facts, body);
  std::string only_provider;
  if (path.starts_with(kLoginPathPrefix)) only_provider = std::string(path.substr(kLoginPathPrefix.size()));
  co_return co_await authorize(facts, only_provider);
}

asio::awaitable<web::Response> SignIn::authorize(const front_door::RequestFacts& facts, std::string only_provider) {
  const config::Config& config = *facts.config;
  const std::string& client_address = facts.client_address;
  // Every refusal here is a page with a correlation id that is also in the audit log and the log.
  auto refuse = [&](http::status status, std::string reason, std::string title, std::vector<std::string> paragraphs,
                    json::object detail = {}) {
    const auto id = correlation_id();
    detail["reason"] = reason;
    detail["ref"] = id;
    sign_ins_counted.add({provider_label(detail), "refused"});
    store::audit_refusal(store_, refused_sign_ins_,
                         {0, store::now_unix_ms(), "login_refused", "", client_address, json::serialize(detail)}, reason);
    logging::warn("sign-in refused", {{"reason", reason}, {"ref", id}, {"client", client_address}});
    web::Page page{std::move(title), std::move(paragraphs), {},
                   "Gatehouse · " + std::to_string(static_cast<unsigned>(status)) + " · ref " + id};
    return web::page_response(status, page);
  };

  const web::Query query = web::parse_query(facts.target.query, kMaxParameterBytes);
  const std::string client_id = query.get("client_id");
  const std::string redirect_uri = query.get("redirect_uri");
  if (!query.valid)
    co_return refuse(http::status::bad_request, "malformed_request", "This sign-in request cannot be read",
                     {"Open Home Assistant again and start over."});
  // Decided once, here: the browser says another site sent it (or it came through Gatehouse's own
  // choice pages from one).
  using front_door::FetchSite;
  // The parameter counts whatever its value: a link cannot take the flag back by saying "=0".
  const bool started_on_another_site = facts.fetch_site == FetchSite::cross_site ||
                                       facts.fetch_site == FetchSite::same_site ||
                                       query.has(std::string(kAnotherSiteParameter));
  const std::string carried_query =
      std::string(facts.target.query) +
      (started_on_another_site && !query.has(std::string(kAnotherSiteParameter))
           ? "&" + std::string(kAnotherSiteParameter) + "=1"
           : std::string());
  auto redirect_check = oidc::check_redirect(client_id, redirect_uri);
  if (redirect_check == oidc::RedirectCheck::needs_discovery) {
    // HA accepts a redirect_uri on another site when the client's page lists it (contract §1.8 step 4).
    std::string page = client_id;
    std::string asker = client_address;
    std::string ha_version = directory_.ha_version();
    const auto discovered = co_await discovery_.redirect_uris(std::move(page), std::move(asker), std::move(ha_version));
    const auto& listed = discovered.redirect_uris;
    if (std::find(listed.begin(), listed.end(), redirect_uri) != listed.end()) {
      redirect_check = oidc::RedirectCheck::accepted;
    } else {
      const std::string why = discovered.problem.empty() ? "its page lists other addresses" : discovered.problem;
      const std::string shown = discovered.problem.empty() ? why : discovered.shown;
      co_return refuse(http::status::bad_request, "redirect_uri_not_listed", "This sign-in request was refused",
                       {"The app that sent you here asked to be sent back to an address on another site than its own "
                        "(redirect_uri does not match client_id). Home Assistant allows that only when the app's own "
                        "page lists that address, and Gatehouse could not find it there: " + shown + ".",
                        "Nothing was sent to your identity provider."},
                       json::object{{"client_id", client_id}, {"why", why}});
    }
  }
  switch (redirect_check) {
  case oidc::RedirectCheck::accepted: break;
  case oidc::RedirectCheck::bad_client_id:
    co_return refuse(http::status::bad_request, "bad_client_id", "This sign-in request was refused",
                     {"The app that sent you here identified itself with an address Home Assistant does not accept "
                      "(client_id). Nothing was sent to your identity provider."});
  case oidc::RedirectCheck::bad_redirect_uri:
    co_return refuse(http::status::bad_request, "bad_redirect_uri", "This sign-in request was refused",
                     {"The app that sent you here asked to be sent back to an address that is not valid "
                      "(redirect_uri). Nothing was sent to your identity provider."});
  case oidc::RedirectCheck::needs_discovery: break; // answered above
  }

  // A person the forward-auth proxy in front names (header_identity): signed in as them, without the IdP.
  if (facts.identity && facts.identity->from_proxy && only_provider.empty()) {
    std::optional<std::string> state;
    if (query.has("state")) state = query.get("state");
    ClientRequest client{client_id, redirect_uri, state, client_address}; // named: GCC 12 and co_await temporaries
    client.started_on_another_site = started_on_another_site;
    co_return co_await sign_in_from_headers(facts.config, *facts.identity, std::move(client));
  }
  // A wall tablet or dashboard on its configured network: its service user, without the IdP.
  if (only_provider.empty()) {
    if (const auto* device = trusted_device_for(config, facts.client.address)) {
      std::optional<std::string> state;
      if (query.has("state")) state = query.get("state");
      ClientRequest client{client_id, redirect_uri, state, client_address}; // named: GCC 12 and co_await temporaries
      client.started_on_another_site = started_on_another_site;
      co_return co_await sign_in_device(facts.config, *device, std::move(client));
    }
  }
  // The providers of this request's configuration, held for the whole sign-in (a reload may replace them).
  const auto providers = providers_.of(config.providers);
  if (providers->empty())
    co_return refuse(http::status::forbidden, "not_a_trusted_device", "This device cannot sign in here",
                     {"Only the trusted devices configured in Gatehouse sign in on this Home Assistant, and this "
                      "device's address is not one of them."});

  // This browser signed out of HA (providers[].logout: idp): its IdP session ends first, then this
  // sign-in goes on from here.
  auto signing_out = co_await end_idp_session_first(
      facts, config.external_url + std::string(facts.target.path) + "?" + std::string(facts.target.query), true);
  if (signing_out) co_return std::move(*signing_out);

  // Browsers choose first (sign_in_choice): here, or with another device, which then signs in with the
  // code this one shows (a hand-off, as the Android app's web view always gets).
  const std::string where = query.get(std::string(kWhereParameter));
  const bool app_hands_off =
      trust_of(client_id, redirect_uri, config.external_url, config.trusted_clients).web_view_stays_on_host;
  if (config.sign_in_choice && where.empty() && !app_hands_off) {
    const std::string here = std::string(facts.target.path) + "?" + carried_query + "&" + std::string(kWhereParameter);
    web::Page page{"Sign in to Home Assistant",
                   {"Sign in on this device, or with another one: your phone, for example, when this is a wall tablet "
                    "or a TV, or when your passkey or authenticator app is there."},
                   {{here + "=here", "Sign in here"}, {here + "=elsewhere", "Sign in with another device"}},
                   "Gatehouse"};
    co_return web::page_response(http::status::ok, page);
  }

  oidc::Provider* provider = nullptr;
  if (!only_provider.empty()) {
    provider = oidc::provider_with_id(*providers, only_provider).get();
    if (!provider)
      co_return refuse(http::status::not_found, "unknown_provider", "Unknown sign-in provider",
                       {"This sign-in option does not exist (any more). Open Home Assistant again and start over."});
  } else if (providers->size() == 1) {
    provider = providers->front().get();
  } else {
    const std::string query_text = carried_query.empty() ? "" : "?" + carried_query;
    web::Page page{"Sign in to Home Assistant", {"Choose how to sign in:"}, {}, "Gatehouse"};
    for (const auto& p : *providers)
      page.links.push_back({std::string(kLoginPathPrefix) + p->config().id + query_text, p->config().name});
    co_return web::page_response(http::status::ok, page);
  }

  auto discovered = co_await provider->metadata();
  if (!discovered && discovered.failure.kind == oidc::OidcFailure::Kind::misconfigured)
    co_return refuse(http::status::bad_gateway, "idp_misconfigured", "Sign-in is misconfigured",
                     {std::string(kMisconfiguredText), std::string(kBreakGlassHint)},
                     {{"provider", provider->config().id}, {"detail", discovered.failure.reason}});
  if (!discovered) {
    co_return refuse(http::status::bad_gateway, "idp_unreachable", "Your identity provider cannot be reached",
                     {"Gatehouse could not reach " + provider->config().name + " to sign you in. Try again in a minute.",
                      std::string(kBreakGlassHint)},
                     {{"provider", provider->config().id}, {"detail", discovered.failure.reason}});
  }

  oidc::PendingLogin login;
  login.state = oidc::random_token();
  login.provider_id = provider->config().id;
  login.nonce = oidc::random_token();
  login.code_verifier = oidc::random_token();
  login.client_id = client_id;
  login.redirect_uri = redirect_uri;
  if (query.has("state")) login.client_state = query.get("state");
  login.client_address = client_address;
  login.started_on_another_site = started_on_another_site;
  const std::string binding = oidc::random_token();
  login.browser_binding_hash = oidc::binding_hash(binding);
  login.created_at_ms = store::now_unix_ms();
  login.expires_at_ms = login.created_at_ms + std::chrono::milliseconds(oidc::kPendingLoginLifetime).count();
  const std::string callback_url = config.external_url + std::string(kCallbackPath);
  const std::string idp_url =
      provider->authorization_url(*discovered.value, callback_url, login.state, login.nonce, login.code_verifier);

  // The Android app's web view would send the IdP's page to the system browser and never hear back: it
  // waits here instead, and the browser finishes the sign-in (oidc/app_handoff). An IdP served from
  // Gatehouse's own address stays in the web view: no hand-off.
  std::optional<oidc::AppHandoff> handoff;
  std::string waiter; // the web view's secret, with a hand-off
  if ((app_hands_off && origin_of(idp_url) != origin_of(config.external_url)) ||
      (config.sign_in_choice && where == "elsewhere")) {
    handoff.emplace();
    waiter = oidc::random_token();
    handoff->id = oidc::random_token();
    handoff->waiter_hash = oidc::binding_hash(waiter);
    handoff->user_code = oidc::new_user_code();
    handoff->client_address = client_address;
    // The person must sign in at the IdP (not pass through on an existing session): someone who sends them
    // another app's link cannot have it allowed in one click.
    handoff->idp_url = oidc::with_query_parameters(idp_url, {{"prompt", "login"}});
    handoff->restart_url = authorize_again(config.external_url + std::string(facts.target.path), client_id,
                                           redirect_uri, login.client_state, started_on_another_site);
    handoff->created_at_ms = login.created_at_ms;
    handoff->expires_at_ms = login.expires_at_ms;
    login.handoff_id = handoff->id;
    login.browser_binding_hash.clear(); // the browser that finishes it never saw Gatehouse
  }
  // Anyone can start sign-ins: the store keeps a bounded number (oidc/pending_login).
  const oidc::PendingLoginLimits pending{config.limits.max_pending_logins, config.limits.max_pending_logins_per_address,
                                         config.limits.max_pending_logins_per_network};
  if (const auto saved = oidc::save_pending_login(store_, login, pending, login.created_at_ms, handoff ? &*handoff : nullptr);
      saved != oidc::SaveOutcome::saved) {
    const bool yours = saved == oidc::SaveOutcome::address_full || saved == oidc::SaveOutcome::network_full;
    co_return refuse(http::status::too_many_requests,
                     yours ? "too_many_pending_logins_from_address" : "too_many_pending_logins",
                     "Too many sign-ins in progress",
                     {yours ? "More sign-ins were started from your network in the last 10 minutes than Gatehouse "
                              "keeps open."
                            : "Gatehouse is keeping as many unfinished sign-ins as it can right now.",
                      "Finish a sign-in you already started, or try again in a few minutes."});
  }

  if (handoff) {
    store_.append_audit({0, login.created_at_ms, "handoff_started", "", client_address,
                         json::serialize(json::object{{"provider", provider->config().id}, {"client_id", client_id}})});
    auto waiting = redirect(config.external_url + std::string(kHandoffPathPrefix) + handoff->id);
    waiting.set(http::field::set_cookie, handoff_cookie(handoff->id, waiter, false));
    co_return waiting;
  }
  auto response = redirect(idp_url);
  const bool secure = config.external_url.starts_with("https://");
  response.set(http::field::set_cookie, cookie_name(login.state) + "=" + binding +
                                            "; Path=/sso/; Max-Age=600; HttpOnly; SameSite=Lax" +
                                            (secure ? "; Secure" : ""));
  co_return response;
}

const config::TrustedDevice* SignIn::trusted_device_for(const config::Config& config,
                                                        const boost::asio::ip::address& address) {
  for (const auto& device : config.trusted_devices)
    if (net::is_trusted(address, device.networks)) return &device;
  return nullptr;
}

const scim::People* SignIn::scim_people_for(const config::Config& config, std::string_view provider_id) const {
  return people_ && config.scim && config.scim->provisions(provider_id) ? people_ : nullptr;
}

users::Provisioning SignIn::provisioning_for(std::shared_ptr<const config::Config> config_now, json::object& claims,
                                             std::string_view provider_id, std::string_view issuer,
                                             std::string_view subject) const {
  const config::Config& config = *config_now;
  users::Provisioning provisioning;
  provisioning.config = std::move(config_now);
  const scim::People* people = scim_people_for(config, provider_id);
  if (!people) return provisioning;
  const auto user_id = people->user_of({issuer, subject, claims});
  if (!user_id) return provisioning;
  // With scim.roles_from_groups, the SCIM Groups of the person's User decide the role, not the claim.
  if (auto groups = people->groups_of_user(*user_id)) {
    json::array names;
    for (auto& name : *groups) names.emplace_back(std::move(name));
    claims[config.users.groups_claim] = std::move(names);
  }
  provisioning.scim_made_user = [people, id = *user_id] { return people->made_ha_user(id); };
  provisioning.scim_user_id = *user_id;
  return provisioning;
}

web::Response SignIn::refuse_sign_in(Refusal refusal, const std::string& username, const std::string& client_address,
                                     std::string_view log_message) {
  const auto id = correlation_id();
  refusal.detail["reason"] = refusal.reason;
  refusal.detail["ref"] = id;
  sign_ins_counted.add({provider_label(refusal.detail), "refused"});
  store::audit_refusal(store_, refused_sign_ins_,
                       {0, store::now_unix_ms(), "login_refused", username, client_address, json::serialize(refusal.detail)},
                       refusal.reason);
  logging::warn(log_message, {{"reason", refusal.reason}, {"ref", id}, {"client", client_address}});
  web::Page page{refusal.title, refusal.paragraphs, {},
                 "Gatehouse · " + std::to_string(static_cast<unsigned>(refusal.status)) + " · ref " + id};
  return web::page_response(refusal.status, page);
}

asio::awaitable<web::Response> SignIn::sign_in_device(std::shared_ptr<const config::Config> config_now,
                                                      const config::TrustedDevice& device, ClientRequest client) {
  const config::Config& config = *config_now;
  auto refuse = [&](Refusal refusal) {
    refusal.detail["trusted_device"] = device.name;
    return refuse_sign_in(std::move(refusal), device.user, client.address, "trusted device sign-in refused");
  };
  // Nobody sees or allows anything on a trusted device: its codes go only to HA's own frontend and the
  // clients the admin listed, never to a client a link named.
  if (!trust_of(client.client_id, client.redirect_uri, config.external_url, config.trusted_clients,
                client.started_on_another_site)
           .serves_devices()) {
    Refusal refusal;
    refusal.status = http::status::forbidden;
    refusal.reason = "client_not_for_devices";
    refusal.title = "This device signs in only to Home Assistant itself";
    refusal.paragraphs = {"This device is signed in by its address, so it only signs in to Home Assistant's own web "
                          "page and the clients your administrator listed (when the sign-in is opened here, not from "
                          "a link on another site), not to other apps or sites."};
    refusal.detail["client_id"] = client.client_id;
    if (client.started_on_another_site) refusal.detail["started_on_another_site"] = true;
    co_return refuse(refusal);
  }
  // The device's user is keyed like an IdP identity, under an issuer no IdP can have.
  json::object claims{{config.users.username_claim, device.user}, {config.users.name_claim, device.name}};
  std::string issuer = "gatehouse:trusted-device";
  std::string provider = "trusted-device:" + device.name;
  const users::Provisioning provisioning{.role = device.role, .link_by_username = true, .config = config_now};
  auto prepared = co_await directory_.prepare(std::move(issuer), device.name, std::move(provider), std::move(claims),
                                              client.address, provisioning);
  if (!prepared.user) {
    Refusal refusal;
    refusal.detail["detail"] = prepared.refusal.reason;
    if (prepared.refusal.kind == users::DirectoryRefusal::Kind::cut_off) {
      refusal.status = http::status::forbidden;
      refusal.reason = "cut_off";
      refusal.title = "Your access to Home Assistant was removed";
      refusal.paragraphs = {std::string(kCutOffText)};
    } else if (prepared.refusal.kind == users::DirectoryRefusal::Kind::conflict) {
      refusal.status = http::status::forbidden;
      refusal.reason = "link_conflict";
      refusal.title = "This device's user belongs to someone else";
      refusal.paragraphs = {"The HA user configured for this device is already linked to another identity. Ask your "
                            "administrator, and give them the reference below."};
    } else {
      refusal.reason = "ha_unavailable";
      refusal.title = "Home Assistant is unavailable";
      refusal.paragraphs = {"Gatehouse could not prepare this device's Home Assistant user. Try again in a minute."};
    }
    co_return refuse(refusal);
  }
  json::object detail{{"trusted_device", device.name}};
  auto handoff = co_await hand_code_to_client(*prepared.user, client, std::move(detail));
  if (!handoff.redirect) co_return refuse(handoff.refusal);
  co_return std::move(*handoff.redirect);
}

asio::awaitable<web::Response> SignIn::callback(const front_door::RequestFacts& facts) {
  const config::Config& config = *facts.config;
  const std::string& client_address = facts.client_address;
  const web::Query query = web::parse_query(facts.target.query, kMaxParameterBytes);
  const std::string state = query.get("state");
  std::string subject;
  json::object base_detail;
  // Once the IdP's answer is verified, a refusal page offers "Sign in as someone else": that IdP session
  // would otherwise sign the same person straight back in.
  std::optional<oidc::IdpSignout> switch_offer;
  // A refused hand-off is told to the app that waits for it, rather than left waiting until it expires.
  std::optional<oidc::PendingLogin> refused_for_app;
  auto finish = [&](web::Response response) {
    if (!state.empty()) {
      const bool secure = config.external_url.starts_with("https://");
      response.insert(http::field::set_cookie, cookie_name(state) + "=; Path=/sso/; Max-Age=0; HttpOnly; SameSite=Lax" +
                                                   (secure ? "; Secure" : ""));
    }
    return response;
  };
  auto refuse = [&](http::status status, std::string reason, std::string title, std::vector<std::string> paragraphs,
                    json::object detail = {}) {
    const auto id = correlation_id();
    for (const auto& member : base_detail) detail[member.key()] = member.value();
    detail["reason"] = reason;
    detail["ref"] = id;
    sign_ins_counted.add({provider_label(detail), "refused"});
    store::audit_refusal(store_, refused_sign_ins_,
                         {0, store::now_unix_ms(), "login_refused", subject, client_address, json::serialize(detail)}, reason);
    logging::warn("sign-in refused", {{"reason", reason}, {"ref", id}, {"client", client_address}});
    if (refused_for_app && !refused_for_app->handoff_id.empty())
      settle_for_app(refused_for_app->handoff_id, false,
                     access_denied_to(refused_for_app->redirect_uri, refused_for_app->client_state), subject,
                     client_address);
    web::Page page{std::move(title), std::move(paragraphs), {},
                   "Gatehouse · " + std::to_string(static_cast<unsigned>(status)) + " · ref " + id};
    std::optional<std::string> switch_cookie;
    if (switch_offer) {
      switch_cookie = save_signout(*switch_offer);
      page.links.push_back({std::string(kSwitchAccountPath), "Sign in as someone else"});
    }
    auto response = finish(web::page_response(status, page));
    if (switch_cookie) response.insert(http::field::set_cookie, *switch_cookie);
    return response;
  };
  const std::string start_over = "Open Home Assistant again to sign in.";

  if (!query.valid || state.empty())
    co_return refuse(http::status::bad_request, "unknown_state", "No sign-in in progress",
                     {"This address only finishes a sign-in that Gatehouse started. " + start_over});
  // The browser binding is checked before the login is taken: a callback from another browser (or a
  // link someone forged with a stolen state) changes nothing, and the rightful browser can still finish.
  const auto now_ms = store::now_unix_ms();
  const auto waiting = oidc::find_pending_login(store_, state);
  const auto binding = facts.own_cookie(cookie_name(state));
  // A hand-off's browser never saw Gatehouse before: the person compares the codes on the consent page.
  const auto bound = [&](const oidc::PendingLogin& pending) {
    return !pending.handoff_id.empty() || (binding && oidc::binding_matches(*binding, pending.browser_binding_hash));
  };
  if (waiting && waiting->expires_at_ms > now_ms && !bound(*waiting)) {
    base_detail["provider"] = waiting->provider_id;
    co_return refuse(http::status::bad_request, "browser_mismatch", "This sign-in was started in another browser",
                     {"For your safety a sign-in must finish in the browser that started it. " + start_over});
  }
  bool expired = false;
  auto login = oidc::take_pending_login(store_, state, now_ms, expired);
  if (!login) {
    if (expired)
      co_return refuse(http::status::bad_request, "expired_state", "This sign-in took too long",
                       {"A sign-in has to be finished within 10 minutes. " + start_over});
    co_return refuse(http::status::bad_request, "unknown_state", "This sign-in is already finished or unknown",
                     {"Each sign-in link works once. " + start_over});
  }
  refused_for_app = login;
  if (!bound(*login))
    co_return refuse(http::status::bad_request, "browser_mismatch", "This sign-in was started in another browser",
                     {"For your safety a sign-in must finish in the browser that started it. " + start_over});
  base_detail["provider"] = login->provider_id;
  // Held for the whole callback: a reload may replace the providers meanwhile.
  const auto provider_held = oidc::provider_with_id(*providers_.of(config.providers), login->provider_id);
  oidc::Provider* provider = provider_held.get();
  if (!provider)
    co_return refuse(http::status::bad_request, "unknown_provider", "Unknown sign-in provider", {start_over});
  if (query.has("error")) {
    const auto error = safe_error_code(query.get("error"));
    co_return refuse(http::status::bad_request, "idp_error", provider->config().name + " did not sign you in",
                     {"It answered: " + error + ". " + start_over}, {{"idp_error", error}});
  }
  const std::string code = query.get("code");
  if (code.empty())
    co_return refuse(http::status::bad_request, "no_code", provider->config().name + " did not sign you in",
                     {start_over});

  const std::string callback_url = config.external_url + std::string(kCallbackPath);
  const auto signed_in_at_ms = store::now_unix_ms(); // before the IdP is asked: a logout meanwhile counts
  auto identity = co_await provider->finish_login(code, callback_url, login->code_verifier, login->nonce);
  if (!identity) {
    using Kind = oidc::OidcFailure::Kind;
    const auto& failure = identity.failure;
    if (failure.kind == Kind::misconfigured)
      co_return refuse(http::status::bad_gateway, "idp_misconfigured", "Sign-in is misconfigured",
                       {std::string(kMisconfiguredText), std::string(kBreakGlassHint)}, {{"detail", failure.reason}});
    if (failure.kind == Kind::idp_unreachable)
      co_return refuse(http::status::bad_gateway, "idp_unreachable", "Your identity provider cannot be reached",
                       {"Gatehouse could not finish the sign-in with " + provider->config().name +
                            ". Try again in a minute.",
                        std::string(kBreakGlassHint)},
                       {{"detail", failure.reason}});
    const std::string reason = failure.kind == Kind::idp_refused      ? "idp_refused"
                               : failure.kind == Kind::invalid_userinfo ? "invalid_userinfo"
                                                                        : "invalid_id_token";
    co_return refuse(http::status::bad_request, reason, "The sign-in could not be verified",
                     {"The answer from " + provider->config().name +
                          " did not pass Gatehouse's checks, so you were not signed in. " + start_over,
                      "If this happens again, give the reference below to your administrator."},
                     {{"detail", failure.reason}});
  }

  idp_leg_seconds.observe({login->provider_id}, static_cast<double>(store::now_unix_ms() - login->created_at_ms) / 1000.0);
  switch_offer = oidc::IdpSignout{provider->config().id, identity.value->id_token, false,
                                  authorize_again(config.external_url + std::string(kAuthorizePath), login->client_id,
                                                  login->redirect_uri, login->client_state,
                                                  login->started_on_another_site),
                                  {}};
  // The IdP deactivated this person through SCIM (or SCIM cannot tell who they are): no HA user is made
  // or updated for them.
  if (const auto* people = scim_people_for(config, login->provider_id)) {
    const auto scim_refusal =
        people->refusal_for({identity.value->issuer, identity.value->subject, identity.value->claims});
    if (scim_refusal == scim::People::Refusal::inactive)
      co_return refuse(http::status::forbidden, "cut_off", "Your access to Home Assistant was removed",
                       {std::string(kScimInactiveText)},
                       {{"source", "scim"}});
    if (scim_refusal == scim::People::Refusal::unverified_email)
      co_return refuse(http::status::forbidden, "email_unverified", "Your email address is not verified",
                       {std::string(kUnverifiedEmailText)}, {{"source", "scim"}});
  }
  json::object claims = identity.value->claims;
  auto provisioning =
      provisioning_for(facts.config, claims, login->provider_id, identity.value->issuer, identity.value->subject);
  auto prepared = co_await directory_.prepare(identity.value->issuer, identity.value->subject, login->provider_id,
                                              std::move(claims), client_address, std::move(provisioning));
  if (!prepared.user) {
    using Kind = users::DirectoryRefusal::Kind;
    const auto& refusal = prepared.refusal;
    if (refusal.kind == Kind::no_role)
      co_return refuse(http::status::forbidden, "no_role", "You do not have access to Home Assistant",
                       {"You signed in at " + provider->config().name +
                            ", but your account is not in any group that gives access to Home Assistant.",
                        "Ask your administrator to add you to one of those groups, and give them the reference "
                        "below."});
    if (refusal.kind == Kind::conflict)
      co_return refuse(http::status::forbidden, "link_conflict", "Your account cannot be matched",
                       {"The Home Assistant user meant for your account already belongs to someone else. Ask your "
                        "administrator, and give them the reference below."},
                       {{"detail", refusal.reason}});
    if (refusal.kind == Kind::cut_off)
      co_return refuse(http::status::forbidden, "cut_off", "Your access to Home Assistant was removed",
                       {std::string(kCutOffText)}, {{"detail", refusal.reason}});
    co_return refuse(http::status::bad_gateway, "ha_unavailable", "Home Assistant is unavailable",
                     {"Gatehouse could not prepare your Home Assistant user. Try again in a minute."},
                     {{"detail", refusal.reason}});
  }
  const auto& user = *prepared.user;
  subject = user.username;

  // Named first: GCC 12 mishandles braced temporaries inside co_await.
  const auto* sid = identity.value->claims.if_contains("sid");
  ClientRequest client{login->client_id, login->redirect_uri, login->client_state, client_address,
                       sessions::IdpSession{identity.value->issuer, identity.value->subject,
                                            sid && sid->is_string() ? std::string(sid->as_string()) : std::string(),
                                            signed_in_at_ms,
                                            provider->config().logout == config::ProviderLogout::idp
                                                ? identity.value->id_token
                                                : std::string(),
                                            {}, 0}};
  // With providers[].revalidate, the IdP's refresh token of this sign-in is kept, sealed, to ask the IdP
  // about the person later (sso/revalidation).
  if (const auto every = provider->config().revalidate) {
    if (identity.value->refresh_token.empty()) {
      logging::warn("the IdP sent no refresh token: this sign-in cannot be re-validated (let the client have "
                    "refresh tokens, e.g. the offline_access scope)",
                    {{"provider", provider->config().id}});
    } else {
      client.idp_session->refresh_token_sealed =
          directory_.master_key().seal(identity.value->refresh_token, kIdpRefreshTokenPurpose);
      client.idp_session->revalidate_every_ms = every->count();
    }
  }
  json::object detail{{"provider", login->provider_id}};
  const auto trust = trust_of(client.client_id, client.redirect_uri, config.external_url, config.trusted_clients,
                              login->started_on_another_site);
  if (!login->handoff_id.empty()) {
    const auto handoff = oidc::find_handoff(store_, login->handoff_id);
    if (!handoff)
      co_return refuse(http::status::bad_request, "unknown_handoff", "This sign-in is already finished or unknown",
                       {"The app that started it no longer waits for it. " + start_over});
    // The web view itself came back (the IdP was opened in it after all): it is signed in directly.
    detail["app_address"] = handoff->client_address;
    if (!holds_waiter_secret(facts, *handoff))
      co_return finish(ask_consent(user, std::move(client), trust, std::move(detail), &*handoff));
    oidc::close_handoff(store_, handoff->id);
  }
  if (trust.asks_person()) co_return finish(ask_consent(user, std::move(client), trust, std::move(detail)));
  auto handoff = co_await hand_code_to_client(user, std::move(client), std::move(detail));
  if (!handoff.redirect)
    co_return refuse(handoff.refusal.status, handoff.refusal.reason, handoff.refusal.title, handoff.refusal.paragraphs,
                     handoff.refusal.detail);
  co_return finish(std::move(*handoff.redirect));
}

asio::awaitable<sessions::HomeAssistantSide::EndSessions> SignIn::end_ha_sessions(std::string ha_user_id,
                                                                                 std::string username,
                                                                                 std::vector<std::string> token_ids) {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  // As the instance's own frontend: a client HA accepts from anyone, whose code Gatehouse redeems itself.
  const std::string client_id = config.external_url + "/";
  const std::string redirect_uri = config.external_url + "/?auth_callback=1";
  // Arguments named first: GCC 12 mishandles non-trivial temporaries inside co_await.
  std::string password = directory_.password_for(ha_user_id);
  std::string no_client; // in Gatehouse's own name
  auto flow = co_await sign_in_at_ha(ha_user_id, username, password, client_id, redirect_uri, no_client);
  if (!flow.code)
    co_return sessions::HomeAssistantSide::EndSessions{"HA's login flow for the person failed: " + flow.reason,
                        flow.failure == hass::LoginFlowResult::Failure::mfa_required};
  std::string code = std::move(*flow.code);
  std::string client = client_id;
  auto failure = co_await hass::end_sessions_with_code(config.home_assistant, std::move(code), std::move(client),
                                                       std::move(token_ids));
  co_return sessions::HomeAssistantSide::EndSessions{std::move(failure)};
}

asio::awaitable<sessions::HomeAssistantSide::EndSessions> SignIn::end_sessions_in_ha(std::string ha_user_id,
                                                                                    std::string username,
                                                                                    std::vector<std::string> token_ids) {
  if (token_ids.empty()) co_return sessions::HomeAssistantSide::EndSessions{}; // never "all of them"
  // A user HA no longer has took its sessions with it: done. An inactive one HA would not sign Gatehouse
  // in as (and each try is a failed login against Gatehouse's own address): left, and refused at the
  // door. Named: GCC 12 and co_await.
  std::string asked_id = ha_user_id;
  const auto state = co_await directory_.ha_user_state(std::move(asked_id));
  if (!state) co_return sessions::HomeAssistantSide::EndSessions{"HA's user list could not be read"};
  if (*state == users::Directory::HaUserState::gone) co_return sessions::HomeAssistantSide::EndSessions{};
  if (*state == users::Directory::HaUserState::inactive)
    co_return sessions::HomeAssistantSide::EndSessions{std::string(kInactiveInHaText), true};
  co_return co_await end_ha_sessions(std::move(ha_user_id), std::move(username), std::move(token_ids));
}

asio::awaitable<sessions::HomeAssistantSide::CutOff> SignIn::cut_off_in_ha(std::string ha_user_id, std::string username,
                                                                          std::string source) {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  sessions::HomeAssistantSide::CutOff outcome;
  // An HA user deleted meanwhile (by an admin in HA) has no sessions left to end, nor a user to
  // deactivate: done, never retried, and never signed in as (HA would count a failed login against
  // Gatehouse's own address). The cut-off itself stays: sign-in refuses the person. Named: GCC 12.
  // One an admin deactivated in HA is never signed in as either (HA refuses it, and counts a failed
  // login): its sessions are left, and HA refuses every token of an inactive user.
  std::string asked_id = ha_user_id;
  const auto state = co_await directory_.ha_user_state(std::move(asked_id));
  if (!state) {
    outcome.failure = "HA's user list could not be read";
    co_return outcome;
  }
  if (*state == users::Directory::HaUserState::gone) {
    outcome.not_deactivated = "the HA user no longer exists";
    outcome.ha_user = sessions::HaUserAfterCutOff::gone;
    co_return outcome;
  }
  if (*state == users::Directory::HaUserState::inactive) {
    outcome.not_deactivated = "the HA user was inactive in HA already";
    outcome.sessions_left = std::string(kInactiveInHaText);
    outcome.ha_user = sessions::HaUserAfterCutOff::inactive_already;
    co_return outcome;
  }
  // Sessions first: an inactive user cannot be signed in as. Arguments named: GCC 12 and co_await.
  std::string user_id = ha_user_id;
  auto ended = co_await end_ha_sessions(std::move(user_id), std::move(username));
  if (!ended.failure.empty()) {
    if (!ended.left) {
      outcome.failure = std::move(ended.failure);
      co_return outcome;
    }
    // HA will not sign Gatehouse in as them (they set up multi-factor authentication in HA), so their
    // sessions cannot be listed; asking again every round would not change that. Deactivated (or deleted)
    // below, HA refuses every token and refresh of theirs all the same.
    outcome.sessions_left = std::move(ended.failure);
  }
  if (source == "scim" && config.scim && config.scim->on_deactivate == config::Scim::OnDeactivate::delete_user) {
    std::string deleted_id = ha_user_id;
    const auto removed = co_await directory_.delete_user(std::move(deleted_id));
    if (!removed.failure.empty()) {
      outcome.failure = removed.failure;
      co_return outcome;
    }
    if (removed.deleted) { // nothing left to deactivate; HA dropped the user's sessions with it
      outcome.sessions_left.clear();
      co_return outcome;
    }
    // The owner (or a system user): never deleted; deactivated below, which HA refuses for the owner.
  }
  sessions::note_deactivating(store_, ha_user_id);
  auto updated = co_await directory_.set_active(std::move(ha_user_id), false);
  if (updated.ok) co_return outcome;
  // HA refuses to deactivate the owner or a system user (contract §4.4); a user deleted meanwhile has
  // nothing left to deactivate. Done either way: Gatehouse still refuses them in front of HA.
  if (updated.error_code == "cannot_deactivate_owner" || updated.error_code == "cannot_modify_system_generated" ||
      updated.error_code == "not_found") {
    outcome.not_deactivated = "HA keeps this user active (" + updated.error_code + ")";
    co_return outcome;
  }
  outcome.failure = "HA did not deactivate the user (" + updated.error_code + ")";
  co_return outcome;
}

asio::awaitable<std::string> SignIn::restore_in_ha(std::string ha_user_id) {
  auto updated = co_await directory_.set_active(std::move(ha_user_id), true);
  if (updated.ok || updated.error_code == "not_found") co_return std::string();
  co_return "HA did not activate the user again (" + updated.error_code + ")";
}

asio::awaitable<sessions::HomeAssistantSide::SetRole> SignIn::set_role_in_ha(std::string ha_user_id, std::string ha_group,
                                                                             std::string source) {
  auto outcome = co_await directory_.set_role(std::move(ha_user_id), std::move(ha_group), std::move(source));
  co_return sessions::HomeAssistantSide::SetRole{std::move(outcome.failure), std::move(outcome.not_set)};
}

bool SignIn::scim_users_waiting() const { return people_ && !people_->users_to_make().empty(); }

asio::awaitable<bool> SignIn::make_scim_users() {
  if (!people_) co_return true;
  bool all = true;
  for (const auto& wanted : people_->users_to_make()) {
    const scim::People* people = people_;
    std::string display_name = wanted.display_name;
    std::string username = wanted.username;
    std::string ha_group = wanted.ha_group;
    // Named first: GCC 12 mishandles non-trivial temporaries inside co_await.
    std::function<bool()> still_wanted = [people, id = wanted.scim_user_id] { return people->still_to_make(id); };
    std::function<void(const users::MadeUser&)> made = [people, wanted](const users::MadeUser& user) {
      people->made(wanted, user.ha_user_id, user.username);
    };
    auto failure = co_await directory_.make_for_scim(std::move(display_name), std::move(username), std::move(ha_group),
                                                     std::move(still_wanted), std::move(made));
    if (!failure.empty()) {
      all = false;
      logging::warn("cannot make the HA user of a SCIM User yet; trying again",
                    {{"scim_user_id", wanted.scim_user_id}, {"detail", failure}});
    }
  }
  co_return all;
}

asio::awaitable<hass::LoginFlowResult> SignIn::sign_in_at_ha(std::string ha_user_id, std::string username,
                                                             std::string password, std::string client_id,
                                                             std::string redirect_uri, std::string client_address) {
  auto flow = co_await login_flow_.sign_in(username, password, client_id, redirect_uri, client_address);
  if (!flow.code && flow.failure == hass::LoginFlowResult::Failure::invalid_auth) {
    const bool repaired = co_await directory_.repair_password(ha_user_id, username);
    if (repaired) flow = co_await login_flow_.sign_in(username, password, client_id, redirect_uri, client_address);
  }
  co_return flow;
}

asio::awaitable<SignIn::Handoff> SignIn::hand_code_to_client(users::ReadyUser user, ClientRequest client,
                                                             json::object detail) {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  Handoff handoff;
  if (cut_offs_.is_cut_off(user.ha_user_id)) {
    handoff.refusal = {http::status::forbidden, "cut_off", "Your access to Home Assistant was removed",
                       {std::string(kCutOffText)},
                       {{"ha_user_id", user.ha_user_id}}};
    co_return handoff;
  }
  auto flow = co_await sign_in_at_ha(user.ha_user_id, user.username, user.password, client.client_id,
                                    client.redirect_uri, client.address);
  if (!flow.code) {
    if (flow.failure == hass::LoginFlowResult::Failure::blocked)
      handoff.refusal = {http::status::forbidden, "ha_blocked", "Home Assistant did not let you in",
                         {"Your Home Assistant user may be deactivated. Ask your administrator, and give them the "
                          "reference below."},
                         {{"detail", flow.reason}}};
    else
      handoff.refusal = {http::status::bad_gateway, "ha_login_failed", "Home Assistant did not finish the sign-in",
                         {"Try again in a minute."}, {{"detail", flow.reason}}};
    co_return handoff;
  }

  detail["ha_user_id"] = user.ha_user_id;
  detail["client_id"] = client.client_id;
  sign_ins_counted.add({provider_label(detail), "succeeded"});
  store_.append_audit({0, store::now_unix_ms(), "login_succeeded", user.username, client.address, json::serialize(detail)});
  logging::info("signed in", {{"user", user.username}, {"client", client.address}});

  remember_code(client.client_id, *flow.code, user.ha_user_id, client.idp_session);
  std::vector<std::pair<std::string, std::string>> parameters{{"code", *flow.code}};
  if (client.state) parameters.emplace_back("state", *client.state);
  // The HA frontend of this very instance keeps its tokens when asked to (contract §1.3 step 6, §9.4).
  if (client.client_id == config.external_url + "/") parameters.emplace_back("storeToken", "true");
  handoff.redirect = redirect(oidc::with_query_parameters(client.redirect_uri, parameters));
  co_return handoff;
}

web::Response SignIn::ask_consent(users::ReadyUser user, ClientRequest client, const ClientTrust& trust,
                                  json::object detail, const oidc::AppHandoff* handoff) {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  const std::string id = oidc::random_token();
  const std::string secret = oidc::random_token();
  const std::string client_name = trust.name.empty() ? trust.origin : trust.name + " (" + trust.origin + ")";
  detail["ha_user_id"] = user.ha_user_id;
  detail["client_id"] = client.client_id;
  if (handoff) detail["handoff"] = true;
  store_.append_audit({0, store::now_unix_ms(), "consent_requested", user.username, client.address, json::serialize(detail)});
  logging::info("sign-in waits for consent", {{"user", user.username}, {"client", client.address}});

  const std::string allow_label = "Allow " + (trust.name.empty() ? trust.origin : trust.name);
  const std::string can_do_everything =
      "If you allow it, it can see and do in Home Assistant everything this user can, until the session is removed "
      "in your Home Assistant profile.";
  // The same two answers either way; only what the person reads differs.
  web::Page page{"Allow access to Home Assistant?",
                 {client_name + " wants to use Home Assistant as " + user.display_name + " (" + user.username + ").",
                  can_do_everything + " Allow it only if you started signing in to it yourself just now.",
                  "It will be sent to " + client.redirect_uri + "."},
                 {},
                 "Gatehouse · sign-in approval",
                 {{std::string(kConsentPath), {{"consent", id}, {"answer", "allow"}}, allow_label},
                  {std::string(kConsentPath), {{"consent", id}, {"answer", "deny"}}, "Deny"}}};
  if (handoff) {
    page.title = "Allow the waiting sign-in?";
    page.paragraphs = {(trust.name.empty() ? client_name : trust.name) + " waits to be signed in as " +
                       user.display_name + " (" + user.username + "). It started signing in from the address " +
                       handoff->client_address +
                       (handoff->client_address == client.address ? ", the one you use now." : ", not the one you use now.")};
    if (trust.asks_person())
      page.paragraphs.push_back(can_do_everything + " It will be sent to " + client.redirect_uri + ".");
    page.paragraphs.push_back(
        "If someone gave you a code or a link to get here, Deny: whoever holds the waiting device would be in your "
        "Home Assistant as you. Allow it only if you started signing in there yourself just now, and it shows this "
        "same code:");
    page.code = handoff->user_code;
  }
  // Either answer redirects to the client: browsers must let the form lead there.
  if (!handoff) page.form_target = client.redirect_uri;
  {
    std::lock_guard lock(consent_mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(consents_, [&](const auto& entry) { return entry.second.expires <= now; });
    if (consents_.size() >= kMaxPendingConsents) consents_.erase(consents_.begin());
    consents_[id] = PendingConsent{std::move(user),      std::move(client),
                                   client_name,          oidc::binding_hash(secret),
                                   handoff ? handoff->id : std::string(), std::move(detail),
                                   now + kConsentLifetime};
  }
  auto response = web::page_response(http::status::ok, page);
  const bool secure = config.external_url.starts_with("https://");
  // SameSite=Strict: a form posted from another site arrives without it, so it cannot answer for the person.
  response.insert(http::field::set_cookie, std::string(kConsentCookiePrefix) + id.substr(0, 8) + "=" + secret +
                                               "; Path=/sso/; Max-Age=" +
                                               std::to_string(std::chrono::seconds(kConsentLifetime).count()) +
                                               "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : ""));
  return response;
}

asio::awaitable<web::Response> SignIn::answer_consent(const front_door::RequestFacts& facts, std::string body) {
  const config::Config& config = *facts.config;
  const auto form = web::Form::read(facts.content_type, body).value_or(web::Form{});
  const std::string id = form.value("consent");
  const std::string answer = form.value("answer");
  auto refuse = [&](http::status status, std::string reason, std::string title, std::vector<std::string> paragraphs) {
    const auto ref = correlation_id();
    json::object detail{{"reason", reason}, {"ref", ref}};
    store_.append_audit({0, store::now_unix_ms(), "consent_refused", "", facts.client_address, json::serialize(detail)});
    logging::warn("consent answer refused", {{"reason", reason}, {"ref", ref}, {"client", facts.client_address}});
    web::Page page{std::move(title), std::move(paragraphs), {},
                   "Gatehouse · " + std::to_string(static_cast<unsigned>(status)) + " · ref " + ref};
    return web::page_response(status, page, facts.version);
  };
  if (id.empty() || id.size() > 64 || (answer != "allow" && answer != "deny"))
    co_return refuse(http::status::bad_request, "malformed_consent", "This answer cannot be read",
                     {"Open the app you were signing in to and start over."});

  // Checked before the consent is taken: an answer from another browser or a forged cross-site form
  // changes nothing, and the person's own browser can still answer.
  std::optional<PendingConsent> consent;
  {
    std::lock_guard lock(consent_mutex_);
    auto it = consents_.find(id);
    const auto cookie = facts.own_cookie(std::string(kConsentCookiePrefix) + id.substr(0, 8));
    if (it != consents_.end() && it->second.expires > std::chrono::steady_clock::now() && cookie &&
        oidc::binding_matches(*cookie, it->second.browser_binding_hash)) {
      consent = std::move(it->second);
      consents_.erase(it);
    }
  }
  if (!consent)
    co_return refuse(http::status::forbidden, "consent_not_found", "This approval is not valid here",
                     {"It was already answered, took longer than 5 minutes, or came from another browser or site. "
                      "Open the app you were signing in to and start over."});

  auto detail = consent->detail;
  const bool secure = config.external_url.starts_with("https://");
  const std::string clear_cookie = std::string(kConsentCookiePrefix) + id.substr(0, 8) +
                                   "=; Path=/sso/; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "");
  if (answer == "deny") {
    sign_ins_counted.add({provider_label(detail), "denied"});
    store_.append_audit({0, store::now_unix_ms(), "consent_denied", consent->user.username, facts.client_address,
                         json::serialize(detail)});
    logging::info("sign-in denied by the person", {{"user", consent->user.username}, {"client", facts.client_address}});
    const auto to_app = access_denied_to(consent->client.redirect_uri, consent->client.state);
    auto response = consent->handoff_id.empty()
                        ? redirect(to_app)
                        : settle_for_app(consent->handoff_id, false, to_app, consent->user.username, facts.client_address);
    response.insert(http::field::set_cookie, clear_cookie);
    co_return response;
  }
  // A hand-off that stopped waiting gets no HA code made for nobody.
  if (!consent->handoff_id.empty()) {
    const auto handoff = oidc::find_handoff(store_, consent->handoff_id);
    if (!handoff || handoff->status != oidc::HandoffStatus::waiting || handoff->expires_at_ms <= store::now_unix_ms()) {
      auto response = settle_for_app(consent->handoff_id, true, "", consent->user.username, facts.client_address);
      response.insert(http::field::set_cookie, clear_cookie);
      co_return response;
    }
  }
  store_.append_audit({0, store::now_unix_ms(), "consent_allowed", consent->user.username, facts.client_address,
                       json::serialize(detail)});
  // HA pins its login flow to one address: the one the sign-in started from (contract §1.6).
  ClientRequest client = consent->client;
  auto handoff = co_await hand_code_to_client(consent->user, std::move(client), std::move(detail));
  if (!handoff.redirect) {
    sign_ins_counted.add({provider_label(consent->detail), "refused"});
    auto response = refuse(handoff.refusal.status, handoff.refusal.reason, handoff.refusal.title, handoff.refusal.paragraphs);
    // The waiting app hears of it too, rather than waiting until its sign-in expires.
    if (!consent->handoff_id.empty())
      settle_for_app(consent->handoff_id, false, access_denied_to(consent->client.redirect_uri, consent->client.state),
                     consent->user.username, facts.client_address);
    response.insert(http::field::set_cookie, clear_cookie);
    co_return response;
  }
  if (!consent->handoff_id.empty()) {
    auto response = settle_for_app(consent->handoff_id, true, std::string(handoff.redirect->at(http::field::location)),
                                   consent->user.username, facts.client_address);
    response.insert(http::field::set_cookie, clear_cookie);
    co_return response;
  }
  handoff.redirect->insert(http::field::set_cookie, clear_cookie);
  co_return std::move(*handoff.redirect);
}

} // namespace gatehouse::sso
