// oidc/pending_login: owns the server-side record of a login between /auth/authorize and
// /sso/callback. Keyed by the unguessable `state` sent to the IdP, so any number of logins from one
// browser run side by side; taken exactly once (a replayed callback finds nothing); expires after 10
// minutes; kept in the store, so a Gatehouse restart in the middle of a login loses nothing. The
// browser that started the login holds a binding secret in a cookie; only its hash is stored.
// Anyone can start logins, so the store holds at most `total` of them and at most `per_address` of one
// client (net/client_key); a login over either limit is not saved (another client's are never removed to
// make room), and expired ones are swept every minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "oidc/app_handoff.hpp"
#include "store/store.hpp"

namespace gatehouse::oidc {

constexpr std::chrono::minutes kPendingLoginLifetime{10};

struct PendingLogin {
  std::string state;         // sent to the IdP; 256 random bits, base64url
  std::string provider_id;
  std::string nonce;         // 256 random bits
  std::string code_verifier; // PKCE (RFC 7636), 256 random bits
  std::string client_id;     // the HA client's, as it sent them to /auth/authorize
  std::string redirect_uri;
  std::optional<std::string> client_state;
  std::string client_address; // HA pins its login flow to one address (contract §1.6)
  std::string browser_binding_hash; // empty for a hand-off: the browser that finishes it never saw Gatehouse
  std::string handoff_id;           // an app's web view waits for this sign-in (oidc/app_handoff)
  bool started_on_another_site = false; // the browser said another site sent it to /auth/authorize
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;
};

// 256 bits from the OS CSPRNG, base64url (43 characters).
std::string random_token();
// What is stored for a browser binding secret (SHA-256, base64url).
std::string binding_hash(std::string_view secret);
// Whether `secret` is the one `stored_hash` was made from (compared in constant time).
bool binding_matches(std::string_view secret, std::string_view stored_hash);

struct PendingLoginLimits {
  std::size_t total = 10'000;
  std::size_t per_address = 50;  // per client (net/client_key: an IPv4 address, an IPv6 /64)
  std::size_t per_network = 200; // per network (net/network_key: an IPv6 /48)
};
enum class SaveOutcome { saved, address_full, network_full, all_full };

// Saves `login` unless the limits are reached (expired logins are removed first and do not count); with
// `handoff`, that too, under the same limits counted over unexpired hand-offs.
SaveOutcome save_pending_login(store::Store& store, const PendingLogin& login, const PendingLoginLimits& limits,
                               std::int64_t now_ms, const AppHandoff* handoff = nullptr);
// Removes every expired login; returns how many.
std::size_t sweep_expired_pending_logins(store::Store& store, std::int64_t now_ms);
// The login for `state`, left in place (a callback checks the browser binding before taking it).
std::optional<PendingLogin> find_pending_login(const store::Store& store, std::string_view state);
// Removes and returns the login for `state`, if there is one; expired logins are removed too but not
// returned (`expired` tells the caller why nothing came back). Also sweeps every expired login.
std::optional<PendingLogin> take_pending_login(store::Store& store, std::string_view state, std::int64_t now_ms,
                                               bool& expired);

} // namespace gatehouse::oidc
