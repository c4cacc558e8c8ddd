// sso/revalidation: asking the IdP, through each sign-in's refresh token, whether the person may still use
// HA (providers[].revalidate), for IdPs that neither provision by SCIM nor send back-channel logouts.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "logging/log.hpp"
#include "scim/people.hpp"
#include "sso/sign_in.hpp"

namespace gatehouse::sso {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t kPerRound = 20;            // sign-ins asked about per round, one after the other
constexpr auto kRoundInterval = std::chrono::seconds(1);
constexpr std::int64_t kRetryAfterTroubleMs = 60'000; // the IdP did not answer usefully: at most this long

} // namespace

asio::awaitable<void> SignIn::revalidate_forever() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    bool more = false;
    try {
      more = co_await revalidate_due();
    } catch (const std::exception& error) {
      logging::error("re-validation failed; trying again", {{"error", error.what()}});
    }
    timer.expires_after(more ? std::chrono::seconds(0) : kRoundInterval);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

asio::awaitable<bool> SignIn::revalidate_due() {
  const auto config_now = current_.get();
  const config::Config& config = *config_now;
  // Only while a provider asks for it (a reload may switch it on or off).
  if (std::none_of(config.providers.begin(), config.providers.end(),
                   [](const config::Provider& provider) { return provider.revalidate.has_value(); }))
    co_return false;
  const auto providers = providers_.of(config.providers); // held for the round
  const auto due = session_ends_.due_for_revalidation(store::now_unix_ms(), kPerRound);
  for (const auto& sign_in : due) {
    oidc::Provider* provider = nullptr;
    for (auto& candidate : *providers)
      if (candidate->config().issuer == sign_in.issuer && candidate->config().revalidate) provider = candidate.get();
    const auto refresh_token = directory_.master_key().open(sign_in.refresh_token_sealed, kIdpRefreshTokenPurpose);
    if (!provider || !refresh_token) {
      // Re-validation was switched off for that IdP, or the master key was replaced.
      session_ends_.stop_revalidating(sign_in.token_id);
      continue;
    }
    const auto every_ms = provider->config().revalidate->count();
    std::string token = *refresh_token; // named: GCC 12 and co_await
    std::string subject = sign_in.subject;
    auto refreshed = co_await provider->refresh_session(std::move(token), std::move(subject));
    const auto now = store::now_unix_ms();
    auto refuse = [&](std::string reason, std::size_t sessions) {
      session_ends_.stop_revalidating(sign_in.token_id);
      store_.append_audit({0, now, "revalidation_refused", sign_in.username, "",
                           json::serialize(json::object{{"ha_user_id", sign_in.ha_user_id},
                                                        {"provider", provider->config().id},
                                                        {"reason", reason},
                                                        {"sessions", sessions}})});
      logging::info("re-validation: the IdP no longer vouches for a sign-in",
                    {{"user", sign_in.username}, {"provider", provider->config().id}, {"reason", reason}});
    };
    using Outcome = oidc::Refreshed::Outcome;
    if (refreshed.outcome == Outcome::unreachable) {
      logging::warn("re-validation: the IdP could not be asked; trying again later",
                    {{"provider", provider->config().id}, {"detail", refreshed.reason}});
      session_ends_.revalidated(sign_in.token_id, std::nullopt, now + std::min(every_ms, kRetryAfterTroubleMs));
      continue;
    }
    if (refreshed.outcome == Outcome::refused) {
      // That sign-in is over at the IdP (the person disabled, their session or grant revoked).
      session_ends_.end_refresh_token(sign_in.token_id, "revalidation");
      refuse("the IdP refused to refresh the sign-in (" + refreshed.reason + ")", 1);
      continue;
    }
    std::optional<std::string> rotated;
    if (!refreshed.refresh_token.empty())
      rotated = directory_.master_key().seal(refreshed.refresh_token, kIdpRefreshTokenPurpose);
    // The role from the groups the IdP names now (unless SCIM's Groups decide roles).
    const auto* people = scim_people_for(config, provider->config().id);
    // An email now unverified names no User for sure: the role stays as it is (never the claim's instead).
    const bool scim_decides = people && (users::is_unverified_email(refreshed.claims, config.scim->match_claim) ||
                                         people->groups_for({sign_in.issuer, sign_in.subject, refreshed.claims})
                                             .has_value());
    if (!refreshed.claims.empty() && !scim_decides) {
      auto role = users::role_from_claims(refreshed.claims, config.users);
      if (!role && !config.users.deny_without_role) role = config.users.default_role;
      if (!role) {
        const auto ended = session_ends_.end_person(sign_in.ha_user_id, "revalidation");
        refuse("no longer in a group that gives access to Home Assistant", ended);
        continue;
      }
      sessions::request_role(store_, {sign_in.ha_user_id, sign_in.username}, users::ha_group_of(*role), "revalidation");
    }
    session_ends_.revalidated(sign_in.token_id, rotated, now + every_ms);
  }
  co_return due.size() == kPerRound;
}

} // namespace gatehouse::sso
