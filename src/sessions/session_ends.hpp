// sessions/session_ends: owns ending single HA sessions while the person keeps the rest, which is what
// an IdP's back-channel logout asks for (OpenID Connect Back-Channel Logout 1.0): it names one IdP
// session (sid) or everyone's sessions of one person (sub). Gatehouse learns, for each HA refresh token
// a sign-in's code became, the IdP session the sign-in came from (sso/token_relay), so a logout ends
// exactly the HA sessions that IdP session produced. An end is a row in the store; the serving process's
// watch (sessions/cut_off apply_cut_offs) applies it within a second — the session's relayed websockets
// close, its access tokens are refused at the door (CutOffs::refuses), its refresh gets HA's
// invalid_grant — and then deletes the refresh token in HA itself. Each logout token is taken once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace gatehouse::sessions {

// The IdP session a sign-in came from. `sid` is empty when the IdP named none in the ID token.
struct IdpSession {
  std::string issuer;
  std::string subject;
  std::string sid;
  std::int64_t signed_in_at_ms = 0; // when Gatehouse verified the ID token
  std::string id_token;             // kept only with providers[].logout: idp (the hint to end it there)
  // With providers[].revalidate: the IdP's refresh token of this sign-in, sealed (users/master_key), and
  // how often to refresh it.
  std::string refresh_token_sealed;
  std::int64_t revalidate_every_ms = 0;
};

// What a verified logout token named (oidc::LogoutToken, without oidc/ in this module).
struct IdpLogout {
  std::string issuer;
  std::optional<std::string> subject;
  std::optional<std::string> sid;
  std::string jti;
};

class SessionEnds {
public:
  explicit SessionEnds(store::Store& store) : store_(store) {}

  // The HA refresh token a code of Gatehouse's sign-ins became (its id, and the SHA-256 of the token: a
  // revoke names the token), with the IdP session behind it (none for a trusted device).
  void record_refresh_token(std::string_view token_id, std::string_view token_digest, std::string_view ha_user_id,
                            std::string_view client_id, const std::optional<IdpSession>& idp_session);
  // The IdP session of the refresh token with this digest, when its ID token was kept (logout: idp).
  std::optional<IdpSession> idp_session_of(std::string_view token_digest) const;
  // Whether that IdP session was logged out since the sign-in (a code redeemed after its session's
  // logout must not become a session).
  bool logged_out(const IdpSession& idp_session) const;

  struct Logout {
    bool replayed = false;           // this jti was taken before: nothing done
    std::size_t sessions = 0;        // HA sessions asked to end
    std::vector<std::string> people; // their usernames
  };
  // The session a refresh token recorded here stands for is to end (a code of a logged-out IdP session
  // was redeemed: HA made a session nobody gets; the IdP refused to refresh it). `source` is audited.
  // False when it was asked to end before (or is not recorded).
  bool end_refresh_token(std::string_view token_id, std::string_view source);
  // Every session recorded for this HA user is to end (the IdP says they lost their access). Returns
  // how many were not asked to end before.
  std::size_t end_person(std::string_view ha_user_id, std::string_view source);

  // Re-validation (providers[].revalidate): the sign-ins whose IdP refresh token is due, at most `limit`.
  struct Revalidation {
    std::string token_id;
    std::string ha_user_id;
    std::string username;
    std::string issuer;
    std::string subject;
    std::string refresh_token_sealed;
  };
  std::vector<Revalidation> due_for_revalidation(std::int64_t now_ms, std::size_t limit) const;
  // The IdP still vouches: next time at `next_at_ms`, with its rotated refresh token if it sent one.
  void revalidated(std::string_view token_id, const std::optional<std::string>& rotated_sealed, std::int64_t next_at_ms);
  // No more re-validation of that sign-in (its session ended).
  void stop_revalidating(std::string_view token_id);
  // Takes a back-channel logout: the HA sessions it names are asked to end (`source` for the audit).
  Logout take_logout(const IdpLogout& logout, std::string_view provider_id);

  struct Pending {
    std::string token_id;
    std::string ha_user_id;
    std::string username;
    std::int64_t requested_at_ms = 0;
  };
  // Ends not applied yet (their websockets open, their cached tokens known).
  std::vector<Pending> pending() const;
  void mark_applied(const std::vector<Pending>& ends, std::size_t websockets_closed);

  // One person's sessions to delete in HA: applied, not done in HA, the person not cut off (a cut-off
  // ends all of their sessions anyway).
  struct InHa {
    std::string ha_user_id;
    std::string username;
    std::vector<std::string> token_ids;
    std::int64_t requested_at_ms = 0; // the earliest
  };
  std::vector<InHa> to_end_in_ha() const;
  void mark_ended_in_ha(const InHa& person);
  void note_not_ended_in_ha(const InHa& person, const std::string& failure);
  // HA will not let Gatehouse end them (`reason`): never asked again; the door keeps refusing them.
  void note_left_in_ha(const InHa& person, const std::string& reason);

  // Every minute: logouts older than a logout token may be, and ends done in HA a day ago, leave the store.
  void housekeeping();

private:
  store::Store& store_;
};

} // namespace gatehouse::sessions
