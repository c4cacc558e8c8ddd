// oidc/idp_signout: owns the record of a browser's IdP session that is to end before that browser signs
// in again (OpenID Connect RP-Initiated Logout 1.0). Signing out of HA ends HA's session only; the IdP's
// would sign the person straight back in. With providers[].logout: idp, HA's "Log out" (its refresh token
// revoked through Gatehouse) leaves an armed record: the next /auth/authorize from that browser first
// sends it to the IdP's end_session_endpoint with the ID token as id_token_hint, and continues with the
// sign-in when the IdP sends it back. A refusal page after a sign-in leaves an unarmed one, used only if
// the person follows "Sign in as someone else". The browser holds a random cookie; only its hash is
// stored. At most kMaxSignouts records (oldest first out), each for a day.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace gatehouse::oidc {

constexpr std::string_view kSignoutCookie = "gatehouse_idp_signout";
// Where the IdP sends the browser back (post_logout_redirect_uri, under external_url).
constexpr std::string_view kSignedOutPath = "/sso/signed-out";
constexpr std::int64_t kSignoutLifetimeMs = 24 * 60 * 60 * 1000;
constexpr std::size_t kMaxSignouts = 10'000;

struct IdpSignout {
  std::string provider_id;
  std::string id_token;
  bool armed = false;
  std::optional<std::string> continue_url; // a path of Gatehouse's own: where the sign-in goes on
  std::optional<std::string> state;        // sent to the IdP's end_session_endpoint
};

// Records one for the browser that will hold `cookie` (a random_token()).
void save_idp_signout(store::Store& store, std::string_view cookie, const IdpSignout& signout, std::int64_t now_ms);
// The browser's record, if it has one that has not expired.
std::optional<IdpSignout> find_idp_signout(const store::Store& store, std::string_view cookie, std::int64_t now_ms);
// The browser is on its way to the IdP: the state sent, and where to go on afterwards.
void start_idp_signout(store::Store& store, std::string_view cookie, std::string_view state, std::string_view continue_url);
// Removes and returns the browser's record when `state` is the one sent to the IdP.
std::optional<IdpSignout> take_idp_signout(store::Store& store, std::string_view cookie, std::string_view state,
                                           std::int64_t now_ms);
// Removes the browser's record (nothing to end at the IdP after all).
void drop_idp_signout(store::Store& store, std::string_view cookie);
// Every minute: expired records leave the store.
void sweep_idp_signouts(store::Store& store, std::int64_t now_ms);

} // namespace gatehouse::oidc
