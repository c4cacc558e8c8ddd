// shield/shield: owns the pre-authentication decision for every request Gatehouse does not answer
// itself: which route class it is in (shield/routes), and for classes that need one, whether its HA
// access token is valid — from the token cache, or by asking HA once (hass/token_probe) with the
// client's address. Garbage and expired tokens are refused without HA. In `report` mode the decision
// is logged and the request forwarded anyway.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/current.hpp"
#include "net/http_client.hpp"
#include "net/upstream.hpp"
#include "store/store.hpp"
#include "web/page.hpp"
#include "shield/access_token.hpp"
#include "front_door/request_facts.hpp"
#include "shield/check_budget.hpp"
#include "store/refusal_summary.hpp"
#include "shield/routes.hpp"
#include "shield/token_cache.hpp"

namespace gatehouse::sessions {
class CutOffs;
}

namespace gatehouse::shield {

struct TokenDecision {
  // over_budget: HA was not asked, the client is over its budget of token checks (shield/check_budget).
  enum class Outcome { valid, refused, unreachable, over_budget } outcome = Outcome::refused;
  TokenOwner owner;        // when valid
  std::string reason;      // when refused: for the log (never the token)
  bool asked_home_assistant = false;
};

// Refusals are counted per class and client and written to the audit log as one `shield_refusals` entry
// per minute with activity (store/refusal_summary; one entry per refused request would let a scanner
// flood the store).
enum class RefusalClass {
  ambiguous_request, unauthenticated, websocket_auth_invalid, local_login_closed, too_many_token_checks,
  identity_header_ignored, // header_identity's headers from an address that is not one of its proxies
  count };
std::string_view name_of(RefusalClass refusal);

struct Admission {
  enum class Action {
    forward,       // relay to HA as is
    forward_shell, // relay to HA as "GET /" (an app page opened in a browser)
    websocket,     // Gatehouse does the websocket auth step itself
    websocket_passthrough, // relay the upgrade to HA as it is (a path the admin listed)
    refuse,        // 401 (or 400 / 403 / 429 / 502) without forwarding
    ask_home_assistant, // from decide() only: admit() must ask HA (an unknown token, onboarding state)
  } action = Action::refuse;
  RefusalClass refusal_class = RefusalClass::unauthenticated;
  RouteClass route = RouteClass::protected_path;
  unsigned refusal_status = 401;
  std::string reason; // why refused, for the log
};

class Shield {
public:
  // `current` and `cut_offs` must outlive the shield. The shield's lists, its mode and local_login are
  // read from each request's configuration (a reload applies them to the next request).
  Shield(const config::Current& current, store::Store& store, const sessions::CutOffs& cut_offs);

  static bool enforcing(const config::Config& config) { return config.shield.mode == config::ShieldMode::enforce; }
  bool enforcing() const { return enforcing(*current_.get()); }

  // The decision from what is known (cache, configuration): no waiting, no coroutine, which is all
  // that authenticated traffic with a known token needs. `ask_home_assistant` means: call admit().
  Admission decide(const front_door::RequestFacts& facts);
  // The whole decision, asking HA when decide() cannot tell.
  boost::asio::awaitable<Admission> admit(const front_door::RequestFacts& facts);

  // HA's own login (its page, /auth/providers, /auth/login_flow*) for this client: local_login, or a
  // break-glass cookie of this browser.
  bool local_login_open(const front_door::RequestFacts& facts) const;
  bool has_break_glass(const front_door::RequestFacts& facts) const;
  // GET /sso/breakglass/<token>: the page, with the browser's cookie when the grant opens.
  web::Response answer_break_glass(std::string_view path, const std::string& client_address);

  void count_refusal(RefusalClass refusal, const boost::asio::ip::address& client);
  void count_refusal(RefusalClass refusal, std::string_view client_address);
  // Writes the counts since the last call as one audit entry each (`shield_refusals`,
  // `breakglass_refusals`), if any (called every minute and at exit).
  void flush_refusal_counts();

  // A token from the client (websocket auth step, or a bearer header already read): known → at once;
  // garbage or expired → refused without HA; a session Gatehouse saw issued whose person is cut off (or
  // which was ended) → refused without HA; otherwise asked of HA once, if the client's budget of checks
  // allows (otherwise over_budget, without HA).
  boost::asio::awaitable<TokenDecision> check_token(std::string_view token, const std::string& client_address);
  // The decision without waiting, when the cache or the token's shape already tells (no HA needed).
  // `with_owner`: fill in whose token it is (websockets are registered under their user; HTTP needs not).
  std::optional<TokenDecision> known_decision(std::string_view token, std::int64_t now_unix_seconds,
                                              bool with_owner = true) const;

  // HA's version for the auth_required message Gatehouse sends in HA's place.
  boost::asio::awaitable<std::string> ha_version();
  void note_ha_version(std::string version);

  TokenCache& tokens() { return tokens_; }
  // Whether a valid token's person was cut off or its session ended (sessions/cut_off, session_ends),
  // read from the store now.
  bool refuses_session_of(std::string_view ha_user_id, std::string_view refresh_token_id) const;
  // A reload's limits (token checks, refusals audited per address) for what comes next.
  void retune(const config::Config& config);

private:
  Shield(const config::Current& current, const config::Config& at_start, store::Store& store,
         const sessions::CutOffs& cut_offs);
  boost::asio::awaitable<bool> onboarding_open();
  static void apply(Admission& admission, const TokenDecision& decision);
  // The route lists of `config`, built once per configuration and thread.
  struct Routes {
    PublicPaths public_paths;
    PublicPaths websocket_passthrough;
  };
  const Routes& routes(const std::shared_ptr<const config::Config>& config) const;
  // Counts a refusal, or in report mode logs it and lets it through.
  Admission settled(Admission admission, const front_door::RequestFacts& facts);

  const config::Current& current_;
  const std::uint64_t id_; // tells this shield's per-thread route lists from another's
  store::Store& store_;
  const sessions::CutOffs& cut_offs_;
  // From the configuration at start (keys a reload does not apply): HA's address, the cookie's Secure.
  const std::string ha_url_;
  const bool secure_cookies_;
  net::UpstreamTarget ha_; // HA's websocket API, for token checks
  TokenCache tokens_;
  net::HttpClient http_;
  std::atomic<bool> onboarded_{false}; // once HA reports onboarding done, it stays done
  CheckBudget check_budget_;
  store::RefusalSummary refusals_;
  store::RefusalSummary break_glass_refusals_;
  std::mutex version_mutex_;
  std::string ha_version_;
};

} // namespace gatehouse::shield
