// front_door/front_door: one request, one decision.
#include "front_door/front_door.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <chrono>

#include "logging/log.hpp"
#include "store/store.hpp"
#include "metrics/metrics.hpp"
#include "net/ip_network.hpp"
#include "people/people_page.hpp"
#include "scim/service.hpp"
#include "sessions/app_webhooks.hpp"
#include "sessions/cut_off.hpp"
#include "shield/access_token.hpp"
#include "shield/break_glass.hpp"
#include "shield/shield.hpp"
#include "shield/websocket_gate.hpp"
#include "sso/sign_in.hpp"

namespace gatehouse::front_door {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using net::Decision;

namespace {

std::int64_t unix_now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A decision about a request whose facts were read: its client and whether refusals are pages go with it.
Decision decision_for(Decision::Kind kind, const RequestFacts& facts, const char* route = "gatehouse") {
  Decision decision;
  decision.kind = kind;
  decision.route = route;
  decision.client = facts.client;
  decision.wants_html = facts.wants_html;
  return decision;
}

web::RefusalKind refusal_kind(unsigned status) {
  switch (status) {
    case 502: return web::RefusalKind::upstream_unavailable;
    case 403: return web::RefusalKind::local_login_closed;
    case 400: return web::RefusalKind::bad_request;
    case 429: return web::RefusalKind::too_many_token_checks;
    default: return web::RefusalKind::unauthorized;
  }
}

asio::awaitable<web::Response> health_answer(web::HealthProbe& health, unsigned version) {
  const bool reachable = co_await health.home_assistant_reachable();
  web::Response response{reachable ? http::status::ok : http::status::service_unavailable, version};
  const boost::json::object body{{"status", reachable ? "ok" : "unavailable"},
                                 {"home_assistant", boost::json::object{{"reachable", reachable}}}};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.body() = boost::json::serialize(body);
  response.prepare_payload();
  co_return response;
}

// Prometheus's scrape, for the addresses of metrics.networks; anyone else is told how to be let in.
web::Response metrics_answer(const config::Metrics& settings, const RequestFacts& facts) {
  const auto client = net::unmap(facts.client.address);
  // Through a proxy on this host that is not in trusted_proxies, anyone would arrive as 127.0.0.1.
  const bool allowed = !facts.client.forwarding_ignored &&
                       std::any_of(settings.networks.begin(), settings.networks.end(),
                                   [&](const net::IpNetwork& network) { return network.contains(client); });
  if (!allowed) return web::render(web::RefusalKind::metrics_not_allowed, facts.wants_html, facts.version, true);
  web::Response response{http::status::ok, facts.version};
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.body() = metrics::render();
  response.prepare_payload();
  return response;
}

} // namespace

FrontDoor::FrontDoor(const config::Current& current, store::Store& store, shield::Shield& shield,
                     sso::SignIn* sign_in, sessions::CutOffs& cut_offs, scim::Service* scim,
                     sessions::AppWebhooks* webhooks, people::PeoplePage* people)
    : current_(current), store_(store), shield_(shield), sign_in_(sign_in), cut_offs_(cut_offs), people_(people),
      health_(net::upstream_target(*current.get())) {
  // Which endpoints exist is fixed here (by what was built: sign-in, SCIM, the people page); whether a
  // row applies and what it does is read from each request's configuration.
  using http::verb;
  auto* sign = sign_in_;
  auto* guard = &shield_;
  auto* health = &health_;
  const auto signs_in = [sign](const RequestFacts& facts) { return sign && sign->handles(facts); };
  const Handler sign_in_handler = [sign](const RequestFacts& facts, const http::request_header<>&,
                                         std::string body) { return sign->handle(facts, std::move(body)); };

  endpoints_.add({.path = "/healthz",
                  .handler = [health](const RequestFacts& facts, const http::request_header<>&, std::string) {
                    return health_answer(*health, facts.version);
                  }});
  endpoints_.add({.path = "/metrics",
                  .methods = {verb::get},
                  .active = [](const RequestFacts& facts) { return facts.config->metrics.enabled; },
                  .handler = [](const RequestFacts& facts, const http::request_header<>&,
                                std::string) -> asio::awaitable<web::Response> {
                    co_return metrics_answer(facts.config->metrics, facts);
                  },
                  .route = "metrics"});
  // HA's own token endpoint, read here so Gatehouse learns whose refresh token each code became.
  endpoints_.add({.path = "/auth/token",
                  .methods = {verb::post},
                  .body_limit = 64 * 1024, // HA's forms are tiny
                  .other_methods = OtherMethods::to_home_assistant,
                  .active = [sign](const RequestFacts&) { return sign != nullptr; },
                  .handler = [sign](const RequestFacts& facts, const http::request_header<>& head, std::string body) {
                    return sign->relay_token_request(head, std::move(body), facts.client);
                  },
                  .route = "auth_token"});
  // HA's revocation endpoint (the frontend's "Log out"), read here so a browser signing out with
  // providers[].logout: idp ends its IdP session before its next sign-in.
  endpoints_.add({.path = "/auth/revoke",
                  .methods = {verb::post},
                  .body_limit = 64 * 1024,
                  .other_methods = OtherMethods::to_home_assistant,
                  .active = [sign](const RequestFacts&) { return sign != nullptr; },
                  .handler = [sign](const RequestFacts& facts, const http::request_header<>& head, std::string body) {
                    return sign->relay_revoke(head, std::move(body), facts.client);
                  },
                  .route = "auth_revoke"});
  endpoints_.add({.path = shield::kBreakGlassPathPrefix,
                  .prefix = true,
                  .methods = {verb::get},
                  .handler = [guard](const RequestFacts& facts, const http::request_header<>&,
                                     std::string) -> asio::awaitable<web::Response> {
                    co_return guard->answer_break_glass(facts.target.path, facts.client_address);
                  }});
  // HA's login page address: single sign-on, unless this browser holds a break-glass grant or nobody
  // here signs in through Gatehouse (trusted devices only, and this is not one).
  endpoints_.add({.path = "/auth/authorize",
                  .methods = {verb::get},
                  .other_methods = OtherMethods::to_home_assistant,
                  .active = [sign, guard](const RequestFacts& facts) {
                    return sign && sign->handles(facts) && sign->answers_authorize(facts) && !guard->has_break_glass(facts);
                  },
                  .handler = sign_in_handler,
                  .route = "sso"});
  endpoints_.add({.path = "/sso/login/", .prefix = true, .methods = {verb::get}, .active = signs_in,
                  .handler = sign_in_handler, .route = "sso"});
  endpoints_.add({.path = "/sso/callback", .methods = {verb::get}, .active = signs_in, .handler = sign_in_handler,
                  .route = "sso"});
  // Ending the IdP session before signing in again: the refusal page's link, and where the IdP sends
  // the browser back.
  endpoints_.add({.path = "/sso/switch-account", .methods = {verb::get}, .active = signs_in,
                  .handler = sign_in_handler, .route = "sso"});
  endpoints_.add({.path = "/sso/signed-out", .methods = {verb::get}, .active = signs_in, .handler = sign_in_handler,
                  .route = "sso"});
  // The Android app's web view, waiting while the browser signs in (oidc/app_handoff).
  endpoints_.add({.path = "/sso/handoff/", .prefix = true, .methods = {verb::get}, .active = signs_in,
                  .handler = sign_in_handler, .route = "sso"});
  // Another device's browser, with the code the waiting one shows.
  endpoints_.add({.path = "/sso/device", .methods = {verb::get, verb::post}, .body_limit = sso::SignIn::kMaxDeviceFormBytes,
                  .active = signs_in, .handler = sign_in_handler, .route = "sso"});
  endpoints_.add({.path = "/sso/consent",
                  .methods = {verb::post},
                  .body_limit = sso::SignIn::kMaxFormBytes,
                  .caller = Caller::browser_with_pending_login,
                  .active = signs_in,
                  .handler = sign_in_handler,
                  .route = "sso"});
  // The IdP ending sessions of its own (Back-Channel Logout 1.0), server to server: the signed logout
  // token is the caller's credential, checked by the handler.
  endpoints_.add({.path = "/sso/backchannel-logout",
                  .methods = {verb::post},
                  .body_limit = sso::SignIn::kMaxLogoutFormBytes,
                  .active = [sign](const RequestFacts& facts) { return sign && !facts.config->providers.empty(); },
                  .handler = [sign](const RequestFacts& facts, const http::request_header<>&, std::string body) {
                    return sign->backchannel_logout(facts, std::move(body));
                  },
                  .route = "backchannel_logout"});
  if (sign && webhooks) {
    // A companion app registering: relayed to HA, and the webhook HA gives it noted as its person's.
    endpoints_.add({.path = "/api/mobile_app/registrations",
                    .methods = {verb::post},
                    .body_limit = 64 * 1024, // a registration is a few hundred bytes
                    .caller = Caller::home_assistant_user,
                    .other_methods = OtherMethods::to_home_assistant,
                    .handler = [sign, guard](const RequestFacts& facts, const http::request_header<>& head,
                                             std::string body) {
                      const auto token = shield::bearer_token(facts.authorization).value_or("");
                      const auto known = guard->known_decision(token, unix_now_seconds());
                      std::string owner = known && known->outcome == shield::TokenDecision::Outcome::valid
                                              ? known->owner.ha_user_id
                                              : std::string(); // report mode let an unknown token through
                      return sign->relay_app_registration(head, std::move(body), facts.client, std::move(owner));
                    },
                    .route = "app_registration"});
    // A webhook of a person cut off: HA would still run it (contract §5), so it stops here.
    endpoints_.add({.path = "/api/webhook/",
                    .prefix = true,
                    .methods = {verb::get, verb::head, verb::post, verb::put},
                    .other_methods = OtherMethods::to_home_assistant,
                    .active = [webhooks](const RequestFacts& facts) {
                      const auto id = sessions::webhook_id_of_path(facts.target.path);
                      return id && webhooks->blocked(*id);
                    },
                    .handler = [](const RequestFacts& facts, const http::request_header<>&,
                                  std::string) -> asio::awaitable<web::Response> {
                      logging::info("webhook of a person cut off refused", {{"client", facts.client_address}});
                      // 410: what HA answers for a mobile_app registration that is gone.
                      web::Response gone{http::status::gone, facts.version};
                      gone.set(http::field::content_type, "application/json");
                      gone.set(http::field::cache_control, "no-store");
                      gone.body() = R"({"message":"Access removed","code":"cut_off"})";
                      gone.prepare_payload();
                      co_return gone;
                    },
                    .route = "webhook"});
  }
  if (scim) {
    const auto call_of = [](const RequestFacts& facts) {
      return scim::Call{.method = facts.method,
                        .path = std::string_view(facts.target.path).substr(scim::kPathPrefix.size()),
                        .query = facts.target.query,
                        .authorization = facts.authorization,
                        .content_type = facts.content_type,
                        .client_address = facts.client_address,
                        .version = facts.version};
    };
    endpoints_.add({.path = "/scim/v2/",
                    .prefix = true,
                    .methods = {verb::get, verb::post, verb::put, verb::patch, verb::delete_},
                    .body_limit = scim::Service::kMaxBodyBytes,
                    .caller = Caller::scim_bearer,
                    .caller_refusal = [scim, call_of](const RequestFacts& facts) { return scim->refusal(call_of(facts)); },
                    .handler = [scim, call_of](const RequestFacts& facts, const http::request_header<>& head,
                                               std::string body) -> asio::awaitable<web::Response> {
                      auto call = call_of(facts);
                      call.if_match = head[http::field::if_match];
                      call.if_none_match = head[http::field::if_none_match];
                      call.body = body;
                      co_return scim->answer_admitted(call);
                    },
                    .route = "scim"});
  }
  if (people) {
    // The people-and-sessions page: the page and its files for anyone (they hold no data), the API for
    // HA administrators' bearer tokens.
    endpoints_.add({.path = people::kPagePath, .methods = {verb::get},
                    .handler = [people](const RequestFacts& facts, const http::request_header<>&,
                                        std::string) -> asio::awaitable<web::Response> { co_return people->page(facts); },
                    .route = "people"});
    endpoints_.add({.path = people::kScriptPath, .methods = {verb::get},
                    .handler = [people](const RequestFacts& facts, const http::request_header<>&,
                                        std::string) -> asio::awaitable<web::Response> { co_return people->script(facts); },
                    .route = "people"});
    endpoints_.add({.path = people::kStylePath, .methods = {verb::get},
                    .handler = [people](const RequestFacts& facts, const http::request_header<>&,
                                        std::string) -> asio::awaitable<web::Response> { co_return people->style(facts); },
                    .route = "people"});
    using Api = people::PeoplePage::Api;
    const auto api_row = [&](std::string_view path, http::verb method, Api call, std::size_t body_limit) {
      endpoints_.add({.path = path, .methods = {method}, .body_limit = body_limit,
                      .caller = Caller::home_assistant_admin,
                      .handler = [people, call, sockets = &sockets_](const RequestFacts& facts, const http::request_header<>&,
                                                                     std::string body) {
                        return people->api(call, facts, std::move(body), sockets->load());
                      },
                      .route = "people"});
    };
    api_row(people::kPeopleApiPath, verb::get, Api::people, 0);
    api_row(people::kAuditApiPath, verb::get, Api::audit, 0);
    api_row(people::kActionApiPath, verb::post, Api::act, people::PeoplePage::kMaxActionBytes);
  }
}

asio::awaitable<Decision> FrontDoor::decide(http::request_header<>& head, const asio::ip::address& peer, bool tls,
                                            std::shared_ptr<const config::Config> config) {
  // Every fact about the request is read here, once: the strict target, the client, the upgrade asked
  // for, Gatehouse's own cookies (taken out of the head). Anything ambiguous is refused, never forwarded.
  auto reading = read_facts(head, peer, tls, std::move(config), unix_now_seconds());
  if (!reading.facts) {
    Decision decision;
    decision.refusal = web::RefusalKind::bad_request;
    decision.wants_html = web::wants_html(head[http::field::accept]);
    decision.client.address = refuse_ambiguous(peer, reading.refusal);
    co_return decision;
  }
  RequestFacts& facts = *reading.facts;
  // Identity headers from anyone but the configured proxies were taken out and are not believed.
  if (facts.identity && !facts.identity->from_proxy)
    shield_.count_refusal(shield::RefusalClass::identity_header_ignored, facts.client.address);

  const Match match = endpoints_.find(facts);
  if (match.endpoint) {
    const Endpoint& endpoint = *match.endpoint;
    if (endpoint.caller == Caller::home_assistant_user) {
      // Admitted as any HA API call would be, before its body is read.
      auto admission = shield_.decide(facts);
      if (admission.action == shield::Admission::Action::ask_home_assistant) admission = co_await shield_.admit(facts);
      if (admission.action != shield::Admission::Action::forward) co_return shield_decision(admission, facts);
    }
    if (endpoint.caller == Caller::home_assistant_admin) {
      // HA vouches for the token whatever the shield's mode (report mode lets unknown tokens through).
      shield::TokenDecision verdict;
      verdict.reason = "no bearer token";
      if (const auto token = shield::bearer_token(facts.authorization))
        verdict = co_await shield_.check_token(*token, facts.client_address);
      if (verdict.outcome != shield::TokenDecision::Outcome::valid || verdict.owner.ha_user_id.empty()) {
        co_return refuse_caller(facts, endpoint.route, verdict);
      }
      facts.caller_ha_user_id = verdict.owner.ha_user_id;
    }
    if (endpoint.caller_refusal) {
      if (auto refused = endpoint.caller_refusal(facts)) {
        Decision decision = decision_for(Decision::Kind::answer, facts, endpoint.route);
        decision.response = std::move(*refused);
        co_return decision;
      }
    }
    Decision decision = decision_for(Decision::Kind::answer, facts, endpoint.route);
    decision.body_limit = endpoint.body_limit;
    decision.respond = [&endpoint, facts = std::move(facts)](const http::request_header<>& request_head, std::string body) {
      return endpoint.handler(facts, request_head, std::move(body));
    };
    co_return decision;
  }
  if (match.method_not_allowed) {
    Decision decision = decision_for(Decision::Kind::answer, facts);
    decision.response = method_not_allowed(facts, match.allow);
    co_return decision;
  }
  // Everything that is not Gatehouse's own reaches HA only on the public list or with a valid token.
  auto admission = shield_.decide(facts);
  if (admission.action == shield::Admission::Action::ask_home_assistant) admission = co_await shield_.admit(facts);
  co_return shield_decision(admission, facts);
}

Decision FrontDoor::shield_decision(const shield::Admission& admission, const RequestFacts& facts) {
  const char* route = shield::name_of(admission.route).data();
  using Action = shield::Admission::Action;
  Decision decision = decision_for(Decision::Kind::refuse, facts, route);
  switch (admission.action) {
    case Action::refuse:
      logging::info("shield refused", {{"route", route}, {"reason", admission.reason}, {"client", facts.client_address}});
      decision.refusal = refusal_kind(admission.refusal_status);
      // A 400 is about the request itself: the connection closes after it.
      decision.keep_alive_allowed = admission.refusal_status != 400;
      return decision;
    case Action::websocket:
      decision.kind = Decision::Kind::websocket;
      decision.gate = std::make_unique<shield::WebsocketGate>(shield_, facts.client_address);
      return decision;
    case Action::websocket_passthrough:
      decision.kind = Decision::Kind::websocket;
      return decision;
    case Action::forward_shell:
      // An app page opened in a browser: HA's shell is the same for every page, so HA is asked for "/"
      // and never sees the path (or query) an unauthenticated client chose.
      decision.kind = Decision::Kind::forward;
      decision.target = "/";
      return decision;
    case Action::forward:
    case Action::ask_home_assistant: // admit() never returns it
      decision.kind = Decision::Kind::forward;
      return decision;
  }
  return decision;
}

Decision FrontDoor::refuse_caller(const RequestFacts& facts, const char* route, const shield::TokenDecision& verdict) {
  using Outcome = shield::TokenDecision::Outcome;
  Decision decision = decision_for(Decision::Kind::refuse, facts, route);
  decision.keep_alive_allowed = true;
  switch (verdict.outcome) {
    case Outcome::unreachable: decision.refusal = web::RefusalKind::upstream_unavailable; break;
    case Outcome::over_budget: decision.refusal = web::RefusalKind::too_many_token_checks; break;
    default:
      decision.refusal = web::RefusalKind::unauthorized;
      shield_.count_refusal(shield::RefusalClass::unauthenticated, facts.client.address);
  }
  logging::info("endpoint refused its caller", {{"route", route}, {"reason", verdict.reason}, {"client", facts.client_address}});
  return decision;
}

void FrontDoor::refused_unreadable(const asio::ip::address& peer) { refuse_ambiguous(peer, "obs-fold header line"); }

asio::ip::address FrontDoor::refuse_ambiguous(const asio::ip::address& peer, std::string_view reason) {
  const auto client = net::unmap(peer);
  shield_.count_refusal(shield::RefusalClass::ambiguous_request, client);
  logging::info("request refused", {{"reason", reason}, {"client", client.to_string()}});
  return client;
}

asio::awaitable<void> FrontDoor::watch(net::RelayedSockets& sockets) {
  sockets_.store(&sockets);
  std::optional<sessions::HomeAssistantSide> ha; // only with single sign-on: it signs in as the person
  if (sign_in_) {
    ha.emplace();
    ha->cut_off = [sign_in = sign_in_](std::string ha_user_id, std::string username, std::string source) {
      return sign_in->cut_off_in_ha(std::move(ha_user_id), std::move(username), std::move(source));
    };
    ha->restore = [sign_in = sign_in_](std::string ha_user_id) { return sign_in->restore_in_ha(std::move(ha_user_id)); };
    ha->set_role = [sign_in = sign_in_](std::string ha_user_id, std::string ha_group, std::string source) {
      return sign_in->set_role_in_ha(std::move(ha_user_id), std::move(ha_group), std::move(source));
    };
    ha->end_sessions = [sign_in = sign_in_](std::string ha_user_id, std::string username,
                                            std::vector<std::string> token_ids) {
      return sign_in->end_sessions_in_ha(std::move(ha_user_id), std::move(username), std::move(token_ids));
    };
    ha->more_waiting = [sign_in = sign_in_] { return sign_in->scim_users_waiting(); };
    ha->reachable = [sign_in = sign_in_] { return sign_in->home_assistant_ready(); };
    ha->do_more = [sign_in = sign_in_] { return sign_in->make_scim_users(); };
  }
  // Beside it, re-validation with the IdPs (providers[].revalidate): what it finds is applied by the watch.
  const auto executor = co_await asio::this_coro::executor;
  if (sign_in_) asio::co_spawn(executor, sign_in_->revalidate_forever(), asio::detached);
  sessions::SessionEnds* session_ends = sign_in_ ? &sign_in_->session_ends() : nullptr;
  co_await sessions::apply_cut_offs(cut_offs_, shield_.tokens(), sockets, std::move(ha), {}, session_ends);
}

asio::awaitable<void> FrontDoor::on_start() {
  // Learned now, so the first websocket client's auth step does not wait on a round trip to HA.
  if (shield_.enforcing()) co_await shield_.ha_version();
}

void FrontDoor::housekeeping() {
  shield_.flush_refusal_counts();
  if (people_) people_->keep_last_uses();
  if (sign_in_) sign_in_->housekeeping();
  // The audit log keeps logging.audit_keep_days; what is older leaves in batches (a backlog after an
  // upgrade or a shorter setting goes over a few minutes, without holding the store long).
  constexpr std::int64_t kDayMs = 86'400'000;
  constexpr std::size_t kAuditRowsPerSweep = 10'000;
  const auto keep_days = static_cast<std::int64_t>(current_.get()->logging.audit_keep_days);
  try {
    if (const auto removed = store_.forget_audit_before(store::now_unix_ms() - keep_days * kDayMs, kAuditRowsPerSweep))
      logging::debug("old audit entries removed", {{"count", removed}, {"keep_days", keep_days}});
  } catch (const std::exception& error) {
    logging::error("cannot remove old audit entries; trying again in a minute", {{"error", error.what()}});
  }
}

} // namespace gatehouse::front_door
