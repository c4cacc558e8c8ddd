// shield/shield: route class + token decision for each request.
#include "shield/shield.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <chrono>

#include "hass/token_probe.hpp"
#include "sessions/cut_off.hpp"
#include "net/client_key.hpp"
#include "logging/log.hpp"
#include "metrics/metrics.hpp"
#include "net/forwarding.hpp"
#include "web/refusal.hpp"
#include "shield/break_glass.hpp"
#include <boost/json/serialize.hpp>

namespace gatehouse::shield {
namespace http = boost::beast::http;
namespace asio = boost::asio;

namespace {

metrics::Counter refusals_counted("gatehouse_refusals_total",
                                  "Requests the shield refused, by class (no_token, invalid_token, cut_off, ...)",
                                  {"class"});
metrics::Counter token_checks_asked("gatehouse_ha_token_checks_total",
                                    "Access tokens Gatehouse asked Home Assistant about (not answered from its cache), "
                                    "by HA's answer",
                                    {"result"});

constexpr std::chrono::seconds kProbeTimeout{10};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::atomic<std::uint64_t> next_shield_id{1};

CheckBudget::Limits check_limits(const config::Limits& limits) {
  return {limits.token_checks_per_minute, limits.token_check_burst, limits.max_concurrent_token_checks};
}


} // namespace

Shield::Shield(const config::Current& current, store::Store& store, const sessions::CutOffs& cut_offs)
    : Shield(current, *current.get(), store, cut_offs) {}

Shield::Shield(const config::Current& current, const config::Config& at_start, store::Store& store,
               const sessions::CutOffs& cut_offs)
    : current_(current),
      id_(next_shield_id++),
      store_(store),
      cut_offs_(cut_offs),
      ha_url_(at_start.home_assistant.url),
      secure_cookies_(at_start.external_url.starts_with("https://")),
      ha_(net::upstream_target(at_start)),
      http_(net::HttpClient::Options{at_start.home_assistant.ca_file, std::chrono::seconds(10), 64 * 1024}),
      check_budget_(check_limits(at_start.limits)),
      refusals_("shield_refusals", {}),
      break_glass_refusals_("breakglass_refusals", {.own_entries_per_client = at_start.limits.audited_refusals_per_address}) {}

const Shield::Routes& Shield::routes(const std::shared_ptr<const config::Config>& config) const {
  // Per thread: each worker reads its own copy of the configuration (config/current), so this never
  // contends; a reload's new copy builds new lists on the thread's next request.
  struct Built {
    std::uint64_t shield = 0;
    std::shared_ptr<const config::Config> config; // kept, so a new configuration is never taken for it
    std::optional<Routes> routes;
  };
  thread_local Built built;
  if (built.shield != id_ || built.config != config || !built.routes) {
    built.routes.reset();
    built.routes.emplace(Routes{PublicPaths(config->shield.public_paths, config->shield.local_files),
                                PublicPaths::only(config->shield.websocket_passthrough)});
    built.shield = id_;
    built.config = config;
  }
  return *built.routes;
}

std::string_view name_of(RefusalClass refusal) {
  switch (refusal) {
    case RefusalClass::ambiguous_request: return "ambiguous_request";
    case RefusalClass::identity_header_ignored: return "identity_header_ignored";
    case RefusalClass::unauthenticated: return "unauthenticated";
    case RefusalClass::websocket_auth_invalid: return "websocket_auth_invalid";
    case RefusalClass::local_login_closed: return "local_login_closed";
    case RefusalClass::too_many_token_checks: return "too_many_token_checks";
    case RefusalClass::count: break;
  }
  return "other";
}

std::optional<TokenDecision> Shield::known_decision(std::string_view token, std::int64_t now, bool with_owner) const {
  TokenDecision decision;
  if (token.empty() || token.size() > kMaxTokenLength) {
    decision.reason = std::string(describe(token.empty() ? TokenProblem::missing : TokenProblem::too_long));
    return decision;
  }
  // The cache first: the common case is a token seen before, and hashing it is cheaper than parsing it.
  TokenCache::Entry known;
  if (with_owner) known = tokens_.find(token, now);
  else known.known = tokens_.known(token, now);
  if (known.known == TokenCache::Known::valid) {
    decision.outcome = TokenDecision::Outcome::valid;
    decision.owner = std::move(known.owner);
    return decision;
  }
  if (known.known == TokenCache::Known::refused) {
    decision.reason = "access token refused by Home Assistant earlier";
    return decision;
  }
  if (const auto reading = read_access_token(token, now); !reading) {
    decision.reason = std::string(describe(reading.problem));
    return decision;
  }
  return std::nullopt;
}

bool Shield::refuses_session_of(std::string_view ha_user_id, std::string_view refresh_token_id) const {
  return cut_offs_.refuses(ha_user_id, refresh_token_id);
}

asio::awaitable<TokenDecision> Shield::check_token(std::string_view token, const std::string& client_address) {
  const std::int64_t now = now_seconds();
  if (auto decision = known_decision(token, now)) co_return std::move(*decision);
  const auto reading = read_access_token(token, now);
  TokenDecision decision;
  // A session Gatehouse saw issued to someone cut off (or one that was ended) needs no word from HA.
  if (cut_offs_.refuses_session(reading.token->refresh_token_id)) {
    decision.reason = "this person's access was removed or this session ended";
    tokens_.remember_refused(token, reading.token->expires_at);
    co_return decision;
  }
  // Held until HA has answered: it is also one of the checks in flight.
  const auto ticket = check_budget_.spend(net::client_key(client_address), CheckBudget::Clock::now());
  if (!ticket) {
    decision.outcome = TokenDecision::Outcome::over_budget;
    decision.reason = ticket.verdict() == CheckBudget::Verdict::too_many_at_once
                          ? "too many token checks with Home Assistant at once"
                          : "too many token checks from this address";
    co_return decision;
  }
  // Named first: GCC 12 mishandles temporaries inside co_await.
  std::string token_text(token);
  auto probe = co_await hass::probe_access_token(ha_, std::move(token_text), client_address, kProbeTimeout);
  decision.asked_home_assistant = true;
  token_checks_asked.add({probe.outcome == hass::TokenProbe::Outcome::valid     ? "valid"
                          : probe.outcome == hass::TokenProbe::Outcome::refused ? "refused"
                                                                                : "unreachable"});
  if (!probe.ha_version.empty()) note_ha_version(probe.ha_version);
  switch (probe.outcome) {
    case hass::TokenProbe::Outcome::valid:
    {
      // HA vouches for the token, but its person was cut off or its session ended (sessions/cut_off,
      // sessions/session_ends): refused here until HA itself refuses it.
      const TokenOwner owner{probe.user_id, reading.token->refresh_token_id};
      if (tokens_.refused_else_remember(token, reading.token->expires_at, owner, now,
                                        [&] { return cut_offs_.refuses(owner.ha_user_id, owner.refresh_token_id); })) {
        decision.reason = "this person's access was removed or this session ended";
        tokens_.remember_refused(token, reading.token->expires_at);
        break;
      }
      decision.outcome = TokenDecision::Outcome::valid;
      decision.owner = owner;
      break;
    }
    case hass::TokenProbe::Outcome::refused:
      decision.reason = "access token refused by Home Assistant";
      tokens_.remember_refused(token, reading.token->expires_at);
      break;
    case hass::TokenProbe::Outcome::unreachable:
      decision.outcome = TokenDecision::Outcome::unreachable;
      decision.reason = "Home Assistant could not be asked about the token";
      break;
  }
  co_return decision;
}

Admission Shield::decide(const front_door::RequestFacts& facts) {
  Admission admission;
  const Routes& lists = routes(facts.config);
  const Route route = classify(facts, lists.public_paths, lists.websocket_passthrough);
  admission.route = route.route_class;
  switch (admission.route) {
    case RouteClass::local_login:
      if (local_login_open(facts)) {
        admission.action = Admission::Action::forward;
      } else {
        admission.refusal_status = 403;
        admission.refusal_class = RefusalClass::local_login_closed;
        admission.reason = "local login is switched off";
      }
      break;
    case RouteClass::signed_path:
      // HA honours a link while the session that signed it exists, even for a person who is no longer
      // active (§9.5): a cut-off person's links, and an ended session's, stop here.
      if (cut_offs_.refuses_session(route.signing_session)) admission.reason = "this person's access was removed or this session ended";
      else admission.action = Admission::Action::forward;
      break;
    case RouteClass::public_path:
    case RouteClass::auth_endpoint:
    case RouteClass::cors_preflight:
      admission.action = Admission::Action::forward;
      break;
    case RouteClass::navigation:
      admission.action = Admission::Action::forward_shell;
      break;
    case RouteClass::websocket:
      admission.action = enforcing(*facts.config) ? Admission::Action::websocket : Admission::Action::websocket_passthrough;
      break;
    case RouteClass::websocket_passthrough:
      admission.action = Admission::Action::websocket_passthrough;
      break;
    case RouteClass::bad_upgrade:
      // Not an authentication question: refused in report mode too (settled() keeps it).
      admission.refusal_status = 400;
      admission.refusal_class = RefusalClass::ambiguous_request;
      admission.reason = "upgrade to something other than HA's websocket API";
      break;
    case RouteClass::onboarding:
      if (onboarded_.load(std::memory_order_relaxed)) admission.reason = "onboarding is finished";
      else admission.action = Admission::Action::ask_home_assistant;
      break;
    case RouteClass::protected_path: {
      const auto token = bearer_token(facts.authorization);
      if (!token) {
        admission.reason = std::string(describe(facts.authorization.empty() ? TokenProblem::missing : TokenProblem::not_bearer));
        break;
      }
      const auto known = known_decision(*token, facts.now_unix_seconds, false);
      if (!known) {
        // Report mode never asks HA: it only says what enforce would do with what it already knows.
        admission.action = enforcing(*facts.config) ? Admission::Action::ask_home_assistant : Admission::Action::forward;
        break;
      }
      apply(admission, *known);
      break;
    }
  }
  return settled(admission, facts);
}

void Shield::apply(Admission& admission, const TokenDecision& decision) {
  if (decision.outcome == TokenDecision::Outcome::valid) {
    admission.action = Admission::Action::forward;
  } else if (decision.outcome == TokenDecision::Outcome::unreachable) {
    admission.refusal_status = 502;
    admission.reason = decision.reason;
  } else if (decision.outcome == TokenDecision::Outcome::over_budget) {
    admission.refusal_status = 429;
    admission.refusal_class = RefusalClass::too_many_token_checks;
    admission.reason = decision.reason;
  } else {
    admission.reason = decision.reason;
  }
}

Admission Shield::settled(Admission admission, const front_door::RequestFacts& facts) {
  if (admission.action != Admission::Action::refuse) return admission;
  if (enforcing(*facts.config) || admission.route == RouteClass::bad_upgrade) {
    count_refusal(admission.refusal_class, facts.client.address);
    return admission;
  }
  if (logging::enabled(logging::Level::warn)) // a line not written is not built either (it is per request)
    logging::warn("shield would refuse (report mode: forwarded)",
                  {{"route", std::string(name_of(admission.route))}, {"reason", admission.reason}, {"client", facts.client_address}});
  admission.action = Admission::Action::forward;
  return admission;
}

asio::awaitable<Admission> Shield::admit(const front_door::RequestFacts& facts) {
  Admission admission = decide(facts);
  if (admission.action != Admission::Action::ask_home_assistant) co_return admission;
  admission.action = Admission::Action::refuse;
  if (admission.route == RouteClass::onboarding) {
    if (co_await onboarding_open()) admission.action = Admission::Action::forward;
    else admission.reason = "onboarding is finished";
  } else {
    const auto token = bearer_token(facts.authorization).value_or("");
    auto decision = co_await check_token(token, facts.client_address);
    apply(admission, decision);
  }
  co_return settled(admission, facts);
}

bool Shield::has_break_glass(const front_door::RequestFacts& facts) const {
  const auto cookie = facts.own_cookie(kBreakGlassCookie);
  return cookie && break_glass_allows(store_, *cookie);
}

bool Shield::local_login_open(const front_door::RequestFacts& facts) const {
  const config::Config& config = *facts.config;
  switch (config.local_login) {
    case config::LocalLogin::allowed: return true;
    case config::LocalLogin::networks:
      if (net::is_trusted(facts.client.address, config.local_login_networks)) return true;
      break;
    case config::LocalLogin::disabled: break;
  }
  return has_break_glass(facts);
}

web::Response Shield::answer_break_glass(std::string_view path, const std::string& client_address) {
  const auto token = path.substr(kBreakGlassPathPrefix.size());
  auto redemption = redeem_break_glass(store_, token, client_address);
  using Outcome = Redemption::Outcome;
  if (redemption.outcome != Outcome::opened) {
    // Anyone can try made-up links as fast as they like: a few per address get an entry of their own.
    const auto outcome = name_of(redemption.outcome);
    const boost::json::object detail{{"outcome", outcome}, {"expires_at_ms", redemption.expires_at_ms}};
    store::audit_refusal(store_, break_glass_refusals_,
                         {0, store::now_unix_ms(), "breakglass_refused", "", client_address, boost::json::serialize(detail)},
                         outcome);
    logging::warn("break-glass link refused", {{"client", client_address}});
    const std::string why = redemption.outcome == Outcome::already_used ? "This break-glass link was already used."
                            : redemption.outcome == Outcome::expired   ? "This break-glass link has expired."
                            : redemption.outcome == Outcome::closed    ? "This break-glass link was closed."
                                                                       : "This break-glass link is not valid.";
    web::Page page{"Break-glass link refused",
                   {why, "Each link opens local login for one browser, once. Run \"gatehouse breakglass\" on the "
                         "Gatehouse server for a new one."},
                   {},
                   "Gatehouse · 403 breakglass_refused"};
    return web::page_response(http::status::forbidden, page);
  }
  logging::warn("break-glass opened local login for one browser", {{"client", client_address}});
  const auto remaining_s = std::max<std::int64_t>(1, (redemption.expires_at_ms - store::now_unix_ms()) / 1000);
  web::Page page{"Local login is open in this browser",
                 {"Home Assistant's own password login is open in this browser only, for the next " +
                      std::to_string((remaining_s + 59) / 60) + " minute(s). Every use is in Gatehouse's audit log.",
                  "Open Home Assistant and sign in with an HA username and password."},
                 {{"/", "Open Home Assistant"}},
                 "Gatehouse · break-glass"};
  auto response = web::page_response(http::status::ok, page);
  const bool secure = secure_cookies_;
  response.set(http::field::set_cookie, std::string(kBreakGlassCookie) + "=" + redemption.browser_secret +
                                            "; Path=/auth/; Max-Age=" + std::to_string(remaining_s) +
                                            "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : ""));
  return response;
}

void Shield::count_refusal(RefusalClass refusal, const boost::asio::ip::address& client) {
  refusals_counted.add({name_of(refusal)});
  refusals_.count(name_of(refusal), client);
}

void Shield::count_refusal(RefusalClass refusal, std::string_view client_address) {
  refusals_counted.add({name_of(refusal)});
  refusals_.count(name_of(refusal), client_address);
}

void Shield::retune(const config::Config& config) {
  check_budget_.retune(check_limits(config.limits));
  break_glass_refusals_.retune({.own_entries_per_client = config.limits.audited_refusals_per_address});
}

void Shield::flush_refusal_counts() {
  const auto now = store::now_unix_ms();
  refusals_.flush(store_, now);
  break_glass_refusals_.flush(store_, now);
}

asio::awaitable<bool> Shield::onboarding_open() {
  if (onboarded_.load(std::memory_order_relaxed)) co_return false;
  net::OutboundRequest request;
  request.url = ha_url_ + "/api/onboarding";
  auto result = co_await http_.send(request);
  if (!result || result.response->status != 200) co_return false; // unknown: closed
  boost::system::error_code ec;
  const auto steps = boost::json::parse(result.response->body, ec);
  if (ec || !steps.is_array()) co_return false;
  bool all_done = true;
  for (const auto& step : steps.as_array()) {
    const auto* done = step.is_object() ? step.as_object().if_contains("done") : nullptr;
    if (!done || !done->is_bool() || !done->as_bool()) all_done = false;
  }
  if (all_done) onboarded_.store(true, std::memory_order_relaxed);
  co_return !all_done;
}

asio::awaitable<std::string> Shield::ha_version() {
  {
    std::lock_guard lock(version_mutex_);
    if (!ha_version_.empty()) co_return ha_version_;
  }
  auto version = co_await hass::fetch_ha_version(ha_, kProbeTimeout);
  if (!version.empty()) note_ha_version(version);
  co_return version;
}

void Shield::note_ha_version(std::string version) {
  std::lock_guard lock(version_mutex_);
  if (version == ha_version_) return;
  logging::info("home assistant version", {{"ha_version", version}});
  ha_version_ = std::move(version);
}

} // namespace gatehouse::shield
