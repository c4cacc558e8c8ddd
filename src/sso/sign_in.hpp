// sso/sign_in: owns the login journey a person makes through Gatehouse: /auth/authorize (the URL every
// HA client opens) → the provider chooser, if several → the IdP → /sso/callback → the HA user made
// ready (users::Directory) → HA's own login flow for that user with the client's client_id and
// redirect_uri (hass::LoginFlowClient) → back to the client with HA's code. Each step that fails ends
// on a page that says what happened and what to do, with a correlation id that is also in the audit
// log; nothing reaches HA's login flow before the IdP's answer has been verified. The journey's ends are
// here too: HA's revoke relayed (with providers[].logout: idp, the IdP session then ends before the
// browser's next sign-in), "Sign in as someone else" on refusal pages, and the IdP's back-channel logout.
// The Android app's sign-in is handed to the system browser while its web view waits on
// /sso/handoff/<id> (oidc/app_handoff; sso/app_handoff.cpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/current.hpp"
#include "front_door/request_facts.hpp"
#include "hass/login_flow.hpp"
#include "net/forwarding.hpp"
#include "net/http_client.hpp"
#include "oidc/app_handoff.hpp"
#include "oidc/client_discovery.hpp"
#include "oidc/idp_signout.hpp"
#include "oidc/provider.hpp"
#include "oidc/provider_set.hpp"
#include "oidc/signed_assertion.hpp"
#include "shield/check_budget.hpp"
#include "shield/token_cache.hpp"
#include "sso/client_trust.hpp"
#include "store/refusal_summary.hpp"
#include "store/store.hpp"
#include "users/directory.hpp"
#include "web/page.hpp"

#include "sessions/app_webhooks.hpp"
#include "sessions/cut_off.hpp"
#include "sessions/session_ends.hpp"

namespace gatehouse::scim {
class People;
}

namespace gatehouse::sso {

// The refusal pages' texts for a sign-in SCIM turns away (scim::People::Refusal): its User inactive, or
// the email SCIM matches on one the IdP says is not verified.
inline constexpr std::string_view kScimInactiveText =
    "Your identity provider marked your account inactive for Home Assistant. Ask your administrator if you "
    "think this is a mistake, and give them the reference below.";
inline constexpr std::string_view kUnverifiedEmailText =
    "Your identity provider says your email address is not verified, and Home Assistant's provisioning knows "
    "people by their email address, so Gatehouse cannot tell whose account this is. Verify your address with "
    "your identity provider, or ask your administrator and give them the reference below.";

// The refusal page's text for a person cut off (sessions/cut_off), whatever found it.
inline constexpr std::string_view kCutOffText =
    "Your administrator removed your access. Ask them if you think this is a mistake, and give them the "
    "reference below.";

class SignIn {
public:
  // A person cut off (sessions/cut_off) gets no code and no refreshed token; nor does one whose SCIM User
  // is inactive (`people`, null without SCIM). All must outlive it. What a reload does not apply (the
  // providers, header_identity, client_discovery, HA's address) is taken from `at_start`; everything
  // else from each request's configuration, or `current`'s in the background.
  SignIn(const config::Config& at_start, const config::Current& current, store::Store& store,
         users::Directory& directory, const sessions::CutOffs& cut_offs, const scim::People* people = nullptr);

  // A reload's limits (refused sign-ins audited per address) for what comes next.
  void retune(const config::Config& config);

  // Whether the request is for one of the routes this owns: /auth/authorize (with providers or
  // trusted devices), /sso/login/<id>, /sso/callback, /sso/consent and /sso/device (with providers).
  bool handles(const front_door::RequestFacts& facts) const;
  // Whether /auth/authorize from this client is answered here: always with providers; with trusted
  // devices only, only for the devices (everyone else gets HA's own login page, where local_login allows).
  bool answers_authorize(const front_door::RequestFacts& facts) const {
    return !facts.config->providers.empty() || trusted_device_for(*facts.config, facts.client.address) != nullptr ||
           (facts.identity && facts.identity->from_proxy);
  }
  // The consent answer is a form of at most this many bytes, read before handle().
  static constexpr std::uint64_t kMaxFormBytes = 8 * 1024;
  // The code typed at /sso/device, read before handle().
  static constexpr std::uint64_t kMaxDeviceFormBytes = 1024;
  // Answers one request on those routes, with the method the endpoint table lets through.
  boost::asio::awaitable<web::Response> handle(const front_door::RequestFacts& facts, std::string body);

  // POST /auth/token, relayed to HA as it is (sso/token_relay.cpp); when it redeems a code this login
  // journey obtained, the new refresh token's id is recorded under the HA user it belongs to. A form
  // Gatehouse cannot read is answered 400 here, never relayed.
  boost::asio::awaitable<web::Response> relay_token_request(const boost::beast::http::request_header<>& head,
                                                            std::string body, net::ForwardedClient client);

  // HA's side of a cut-off (sessions/cut_off): every HA session of the person ended (signed in as them
  // through HA's login flow, in Gatehouse's own name, then hass/user_sessions), then their HA user
  // deactivated; and of a lift: the HA user active again.
  boost::asio::awaitable<sessions::HomeAssistantSide::CutOff> cut_off_in_ha(std::string ha_user_id, std::string username,
                                                                            std::string source);
  boost::asio::awaitable<std::string> restore_in_ha(std::string ha_user_id);
  // And of a role SCIM's Groups give: the HA user put in that group.
  boost::asio::awaitable<sessions::HomeAssistantSide::SetRole> set_role_in_ha(std::string ha_user_id, std::string ha_group,
                                                                              std::string source);
  // And the HA users SCIM wants made before their people sign in (scim/people): whether some wait;
  // making them (true: all made).
  bool scim_users_waiting() const;
  // Whether HA can be reached now (the admin connection is up).
  bool home_assistant_ready() const { return directory_.home_assistant_ready(); }
  boost::asio::awaitable<bool> make_scim_users();

  // POST /auth/revoke (HA's "Log out"), relayed to HA as it is; when HA revoked a refresh token of a
  // sign-in whose provider has logout: idp, the browser gets a cookie so its next sign-in first ends its
  // IdP session (oidc/idp_signout). /auth/token with action=revoke does the same (relay_token_request).
  boost::asio::awaitable<web::Response> relay_revoke(const boost::beast::http::request_header<>& head, std::string body,
                                                     net::ForwardedClient client);

  // POST /api/mobile_app/registrations, relayed to HA as it is; the webhook_id HA answers is noted as
  // `ha_user_id`'s (sessions/app_webhooks), so a cut-off stops it. `ha_user_id` empty: nothing noted.
  boost::asio::awaitable<web::Response> relay_app_registration(const boost::beast::http::request_header<>& head,
                                                               std::string body, net::ForwardedClient client,
                                                               std::string ha_user_id);

  // Re-validation (providers[].revalidate, sso/revalidation.cpp): for as long as the server runs, each
  // sign-in's IdP refresh token is refreshed when due; the IdP refusing it (invalid_grant) ends that HA
  // session, the person no longer in a group that gives access ends all of theirs, a changed group sets
  // their new role in HA. IdP trouble (down, errors) only delays the next try.
  boost::asio::awaitable<void> revalidate_forever();
  static constexpr std::string_view kIdpRefreshTokenPurpose = "idp-refresh-token";

  // Back-channel logouts (POST /sso/backchannel-logout, a form with the IdP's logout_token): the token
  // verified with the provider whose issuer it names, and the HA sessions it names asked to end. 200 on
  // success, 400 with an OAuth-style error otherwise (Back-Channel Logout §2.8).
  static constexpr std::uint64_t kMaxLogoutFormBytes = 32 * 1024;
  boost::asio::awaitable<web::Response> backchannel_logout(const front_door::RequestFacts& facts, std::string body);
  // The single sessions it ends, applied by the serving process's watch.
  sessions::SessionEnds& session_ends() { return session_ends_; }
  // And HA's side of them: the named refresh tokens of one person deleted in HA (signed in as them).
  boost::asio::awaitable<sessions::HomeAssistantSide::EndSessions> end_sessions_in_ha(
      std::string ha_user_id, std::string username, std::vector<std::string> token_ids);

  // Access tokens HA issues through relay_token_request are recorded here as valid, with their user.
  void learn_tokens_into(shield::TokenCache& cache) { token_cache_ = &cache; }
  // The companion apps' webhooks relay_app_registration learns go here.
  void learn_webhooks_into(sessions::AppWebhooks& webhooks) { webhooks_ = &webhooks; }

  // Every minute (and at exit): the `sign_in_refusals` count goes to the audit log, expired pending
  // logins leave the store.
  void housekeeping();

private:
  // What an HA client asked for at /auth/authorize, carried through its sign-in.
  struct ClientRequest {
    std::string client_id;
    std::string redirect_uri;
    std::optional<std::string> state;
    std::string address;
    // And the IdP session the person signed in with (none for a trusted device): the HA session the
    // code becomes ends with it (sessions/session_ends).
    std::optional<sessions::IdpSession> idp_session;
    bool started_on_another_site = false; // sso/client_trust: the person is asked even for a trusted client
  };
  struct Refusal {
    boost::beast::http::status status = boost::beast::http::status::bad_gateway;
    std::string reason;
    std::string title;
    std::vector<std::string> paragraphs;
    boost::json::object detail;
  };
  struct Handoff {
    std::optional<web::Response> redirect; // to the client's redirect_uri with HA's code
    Refusal refusal;                       // otherwise
  };
  // The last steps of every sign-in: HA's login flow for `user` with the client's own client_id and
  // redirect_uri, the audit entry, and the redirect back to the client with HA's code.
  // Empty on success, else what failed.
  // `token_ids` empty: all of the person's.
  // `left`: HA would not sign Gatehouse in as the person (it asked for an MFA code); trying again does not help.
  boost::asio::awaitable<sessions::HomeAssistantSide::EndSessions> end_ha_sessions(
      std::string ha_user_id, std::string username, std::vector<std::string> token_ids = {});
  // HA's login flow for a user Gatehouse manages, with their derived password; when HA rejects it (the
  // master key was replaced, someone changed it in HA), the password is repaired once and tried again.
  boost::asio::awaitable<hass::LoginFlowResult> sign_in_at_ha(std::string ha_user_id, std::string username,
                                                              std::string password, std::string client_id,
                                                              std::string redirect_uri, std::string client_address);
  boost::asio::awaitable<Handoff> hand_code_to_client(users::ReadyUser user, ClientRequest client,
                                                      boost::json::object detail);
  // A client that is not trusted to get codes silently (sso/client_trust): the person sees a page that
  // names it and the HA user, and allows or denies it (answer_consent). Bound to this browser by an
  // HttpOnly, SameSite=Strict cookie; single use; 5 minutes. With `handoff`, the person answers in their
  // browser for the app's web view that waits (oidc/app_handoff): the page shows the code to compare, and
  // the answer goes to the hand-off, not to this browser.
  web::Response ask_consent(users::ReadyUser user, ClientRequest client, const ClientTrust& trust,
                            boost::json::object detail, const oidc::AppHandoff* handoff = nullptr);
  boost::asio::awaitable<web::Response> answer_consent(const front_door::RequestFacts& facts, std::string body);
  // What the directory needs besides the claims of a person signing in: with SCIM, the HA user SCIM made
  // for them, and their SCIM Groups put in the groups claim when scim.roles_from_groups says so.
  // `config`: the sign-in's (its users mapping reads the claims). Nothing of SCIM's for a sign-in through
  // another source than scim.provider (`provider_id`: a provider's id, or header_identity's label).
  // `issuer`, `subject`: the sign-in's identity (the SCIM User it is bound to counts first).
  users::Provisioning provisioning_for(std::shared_ptr<const config::Config> config, boost::json::object& claims,
                                       std::string_view provider_id, std::string_view issuer,
                                       std::string_view subject) const;
  // SCIM's people, for a sign-in through scim.provider; null for any other source (or without SCIM).
  const scim::People* scim_people_for(const config::Config& config, std::string_view provider_id) const;
  // A refused sign-in's page, with a reference that is also in the audit log (rationed per address) and the log.
  web::Response refuse_sign_in(Refusal refusal, const std::string& username, const std::string& client_address,
                               std::string_view log_message);
  // A person a forward-auth proxy names in its headers (config header_identity), or in the token it signs
  // (header_identity.assertion, checked first), signs in like an IdP's (sso/header_sign_in.cpp): their HA
  // user made or updated, roles from the groups header or claim, consent for clients that need it.
  boost::asio::awaitable<web::Response> sign_in_from_headers(std::shared_ptr<const config::Config> config_now,
                                                             front_door::IdentityHeaders identity, ClientRequest client);
  // A client on a trusted device's network signs in as that device's user, without an IdP.
  // `config_now`: the request's (the device is one of its trusted_devices).
  boost::asio::awaitable<web::Response> sign_in_device(std::shared_ptr<const config::Config> config_now,
                                                       const config::TrustedDevice& device, ClientRequest client);
  static const config::TrustedDevice* trusted_device_for(const config::Config& config,
                                                         const boost::asio::ip::address& client);

  std::optional<std::string> user_of_refresh_token(const std::string& refresh_token_id);
  // One round of re-validation: true when more were due than it took.
  boost::asio::awaitable<bool> revalidate_due();
  // HA's answer as the client gets it (hop-by-hop headers out, the length for the body we have).
  static web::Response response_from(net::OutboundResponse answer, unsigned version);
  // The answer to a body that claims to be a form and cannot be read as one (web/form): not relayed, since
  // HA might read a form there (its parser has no field limit) whose code or token Gatehouse never saw.
  static web::Response unreadable_form(unsigned version);

  // Ending the IdP session of a browser before it signs in again (sso/idp_signout.cpp, oidc/idp_signout).
  // The Set-Cookie value of the browser's sign-out cookie (`clear`: removing it).
  std::string signout_cookie(std::string_view value, bool clear) const;
  // Records a browser's sign-out (oidc/idp_signout); the Set-Cookie that binds it to the browser.
  std::string save_signout(const oidc::IdpSignout& signout);
  // HA's answer to a revoke of `refresh_token`: when HA revoked it and that session's provider has
  // logout: idp, it gets the Set-Cookie that arms the browser's sign-out.
  void arm_idp_signout(web::Response& revoke_answer, std::string_view refresh_token, const std::string& client_address);
  // The redirect to the IdP's end_session_endpoint when this browser has a sign-out waiting (only an armed
  // one with `armed_only`); nullopt when there is none, or nothing the IdP can end (the sign-in goes on).
  boost::asio::awaitable<std::optional<web::Response>> end_idp_session_first(const front_door::RequestFacts& facts,
                                                                             std::optional<std::string> continue_url,
                                                                             bool armed_only);
  // GET /sso/switch-account (the refusal page's link) and GET /sso/signed-out (the IdP sends the browser
  // back there, with the state Gatehouse sent; the sign-in then goes on where it was).
  boost::asio::awaitable<web::Response> switch_account(const front_door::RequestFacts& facts);
  web::Response signed_out(const front_door::RequestFacts& facts);

  // App hand-offs (sso/app_handoff.cpp). The Set-Cookie of a web view's waiter secret (`clear`: removing it).
  std::string handoff_cookie(std::string_view handoff_id, std::string_view value, bool clear) const;
  // Whether this request carries the waiter secret of `handoff`.
  bool holds_waiter_secret(const front_door::RequestFacts& facts, const oidc::AppHandoff& handoff) const;
  // GET /sso/handoff/<id>: the web view's waiting page, reloaded every 2 s; once the browser settled the
  // sign-in, a redirect to the app (HA's code, or the refusal), exactly once.
  web::Response handoff_page(const front_door::RequestFacts& facts);
  // GET /sso/device: a form for the code a waiting device shows; POST: that code, and the browser goes
  // to the IdP for that device's sign-in (its consent page follows). Wrong codes are budgeted per address.
  web::Response device_entry(const front_door::RequestFacts& facts, const std::string& body);
  // The person's answer in the browser, kept for the waiting web view (`app_redirect`: where the app is sent).
  web::Response settle_for_app(const std::string& handoff_id, bool approved, const std::string& app_redirect,
                               const std::string& username, const std::string& client_address);
  boost::asio::awaitable<web::Response> authorize(const front_door::RequestFacts& facts, std::string only_provider);
  boost::asio::awaitable<web::Response> callback(const front_door::RequestFacts& facts);

  struct PendingConsent {
    users::ReadyUser user;
    ClientRequest client;
    std::string client_name; // as the page showed it
    std::string browser_binding_hash;
    std::string handoff_id; // the answer is for this waiting web view (oidc/app_handoff)
    boost::json::object detail;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex consent_mutex_;
  std::map<std::string, PendingConsent> consents_; // by consent id

  // Codes HA gave this journey, until redeemed (HA's own lifetime: 10 minutes, contract §1.9).
  struct IssuedCode {
    std::string ha_user_id;
    std::optional<sessions::IdpSession> idp_session;
    std::chrono::steady_clock::time_point expires;
  };
  void remember_code(const std::string& client_id, const std::string& code, const std::string& ha_user_id,
                     const std::optional<sessions::IdpSession>& idp_session);
  // nullopt for a code not issued here or expired.
  std::optional<IssuedCode> take_code(const std::string& client_id, const std::string& code);

  const config::Current& current_;
  store::Store& store_;
  std::mutex issued_mutex_;
  std::map<std::string, IssuedCode> issued_codes_;
  net::HttpClient home_assistant_http_;
  users::Directory& directory_;
  const sessions::CutOffs& cut_offs_;
  sessions::SessionEnds session_ends_;
  const scim::People* people_;
  hass::LoginFlowClient login_flow_;
  oidc::ProviderSet providers_; // each request's providers (a reload may change them)
  // header_identity.assertion's checker (its keys cached) with the settings it checks, made anew when they
  // change; held by each check while it runs.
  struct Assertions {
    explicit Assertions(const config::SignedAssertion& of) : settings(of), checker(settings) {}
    config::SignedAssertion settings;
    oidc::SignedAssertions checker; // refers to `settings`, declared before it
  };
  std::mutex assertions_mutex_;
  std::shared_ptr<Assertions> assertions_;
  std::shared_ptr<Assertions> assertions_before_; // the settings before a reload: requests read before it
  // The checker for `settings` (null when it cannot be set up: its CA bundle).
  std::shared_ptr<oidc::SignedAssertions> assertions_for(const config::SignedAssertion& settings);
  shield::TokenCache* token_cache_ = nullptr;
  sessions::AppWebhooks* webhooks_ = nullptr;
  // A small request relayed to HA as it is (Gatehouse's own cookies are already out of `head`); nullopt
  // when HA cannot be reached.
  boost::asio::awaitable<std::optional<net::OutboundResponse>> relay_to_home_assistant(
      const boost::beast::http::request_header<>& head, std::string body, net::ForwardedClient client);
  // Refused sign-ins: the first few of each address per minute get a `login_refused` entry with the
  // reference on their page, the rest are counted (anyone can make sign-ins fail as fast as they like).
  store::RefusalSummary refused_sign_ins_;
  // Third-party clients whose redirect_uri is on another site: their page says whether it is theirs.
  oidc::ClientDiscovery discovery_;
  // Codes typed at /sso/device, per client address: guessing one must take longer than it lives.
  shield::CheckBudget device_codes_{{.per_minute = 10, .burst = 10, .concurrent = 1'000'000}};
};

} // namespace gatehouse::sso
