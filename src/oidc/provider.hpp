// oidc/provider: owns Gatehouse's side of one OpenID provider: discovery (the issuer must match the
// configured one exactly), its signing keys (oidc/key_set), the code exchange (PKCE,
// client_secret_basic or _post, over verified TLS; the token response must say token_type Bearer),
// ID-token verification (signature via jose, then iss, aud, azp, exp, iat, nbf, nonce), and userinfo
// (whose sub must match). Shared by every worker thread; the caches are behind mutexes, I/O runs on the
// caller's thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "jose/jwk.hpp"
#include "jose/jws.hpp"
#include "net/http_client.hpp"
#include "oidc/key_set.hpp"

namespace gatehouse::oidc {

struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::optional<std::string> userinfo_endpoint;
  std::optional<std::string> end_session_endpoint; // RP-initiated logout, when the IdP offers it
};

// Why a step with the IdP failed. `idp_unreachable` is the IdP's fault or the network's (502 page);
// `misconfigured` means the IdP and Gatehouse's providers[] entry disagree (discovery names another
// issuer): retrying cannot help, an administrator must fix one of them (502 page that says so); the
// others mean the IdP's answer must not be trusted (400 page). `reason` is for audit and logs and never
// holds a token, code or secret.
struct OidcFailure {
  enum class Kind { idp_unreachable, misconfigured, idp_refused, invalid_id_token, invalid_userinfo } kind;
  std::string reason;
};

struct SignedInIdentity {
  std::string issuer;
  std::string subject;
  boost::json::object claims; // ID token claims, completed from userinfo
  std::string id_token;       // as the IdP sent it: the hint when the IdP is later asked to end this session
  std::string refresh_token;  // the IdP's, when it sent one (re-validation); never logged
};

// What a verified back-channel logout token names (OpenID Connect Back-Channel Logout 1.0): an IdP
// session (sid), a person (sub), or both.
struct LogoutToken {
  std::string issuer;
  std::optional<std::string> subject;
  std::optional<std::string> sid;
  std::string jti;
};
// A logout token older than this is refused, so its jti need only be remembered this long.
inline constexpr std::int64_t kLogoutTokenMaxAgeSeconds = 600;

// What the IdP said when a sign-in's refresh token was refreshed (re-validation).
struct Refreshed {
  enum class Outcome {
    vouched,    // the grant still holds: `claims` are the person's now (empty when the IdP gave none)
    refused,    // invalid_grant: the IdP no longer vouches for this sign-in
    unreachable // anything else (network, IdP errors, answers that do not check out): try again later
  } outcome = Outcome::unreachable;
  std::string refresh_token; // rotated by the IdP; empty: keep the one used
  boost::json::object claims;
  std::string reason;        // for logs; never a token
};

template <class T>
struct OidcResult {
  std::optional<T> value;
  OidcFailure failure{OidcFailure::Kind::idp_unreachable, ""};
  explicit operator bool() const { return value.has_value(); }
};

class Provider {
public:
  explicit Provider(const config::Provider& config);
  const config::Provider& config() const { return config_; }

  // The IdP's discovery document: kept for an hour; a failed fetch is the answer for 10 s.
  boost::asio::awaitable<OidcResult<ProviderMetadata>> metadata();
  // The URL that sends the browser to the IdP for this login.
  std::string authorization_url(const ProviderMetadata& metadata, std::string_view redirect_uri, std::string_view state,
                                std::string_view nonce, std::string_view code_verifier) const;
  // The URL that sends the browser to the IdP to end its session there (OpenID Connect RP-Initiated
  // Logout 1.0); only when metadata.end_session_endpoint is set.
  std::string end_session_url(const ProviderMetadata& metadata, std::string_view id_token_hint,
                              std::string_view post_logout_redirect_uri, std::string_view state) const;
  // Exchanges the code, verifies the ID token, completes the claims from userinfo.
  boost::asio::awaitable<OidcResult<SignedInIdentity>> finish_login(std::string code, std::string redirect_uri,
                                                                    std::string code_verifier, std::string nonce);

  // Refreshes a sign-in's IdP refresh token and reads who the person is now (userinfo, else the refreshed
  // ID token), which must still be `subject`.
  boost::asio::awaitable<Refreshed> refresh_session(std::string refresh_token, std::string subject);
  // Verifies a back-channel logout token (signature with the IdP's keys, then check_logout_token).
  boost::asio::awaitable<OidcResult<LogoutToken>> verify_logout_token(std::string token);

private:
  // A POST of `form` to the token endpoint, with the client's authentication (client_secret_basic or _post).
  net::OutboundRequest request_to_token_endpoint(const ProviderMetadata& metadata, std::string form) const;
  // The signature of a JWS from this IdP, with its cached keys (refetched once for an unknown kid).
  boost::asio::awaitable<OidcResult<jose::VerifiedJws>> verify_signed(std::string token, std::string jwks_uri);

  config::Provider config_;
  net::HttpClient http_;
  KeySet keys_{http_};
  // The discovery document, fetched anew (no cache).
  boost::asio::awaitable<OidcResult<ProviderMetadata>> fetch_metadata();

  std::mutex mutex_; // guards the metadata cache below
  std::optional<ProviderMetadata> metadata_;
  std::chrono::steady_clock::time_point metadata_fetched_{};
  std::optional<OidcFailure> discovery_failure_; // the last fetch's, answered for 10 s instead of fetching again
  std::chrono::steady_clock::time_point discovery_failed_at_{};
};

// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
std::string pkce_challenge(std::string_view code_verifier);

// The checks of a verified ID token's claims (OIDC Core §3.1.3.7) for `provider` and this login's nonce
// at `now_unix_seconds`: iss, aud/azp, exp, iat and nbf (60 s skew each way; each must be a time in
// jose::numeric_date's range, nbf only when present), nonce, sub. nullopt when the token holds.
std::optional<OidcFailure> check_id_token_claims(const boost::json::object& claims, const config::Provider& provider,
                                                 std::string_view nonce, std::int64_t now_unix_seconds);

// The checks of a verified logout token for `provider` at `now_unix_seconds` (Back-Channel Logout §2.6):
// typ (logout+jwt, or JWT as Keycloak sends), iss, aud/azp, iat (60 s skew, at most
// kLogoutTokenMaxAgeSeconds old), exp when present, the back-channel logout event, no nonce, a jti, and
// sub and/or sid. Replay of the jti is the caller's to refuse.
OidcResult<LogoutToken> check_logout_token(const jose::VerifiedJws& token, const config::Provider& provider,
                                           std::int64_t now_unix_seconds);

} // namespace gatehouse::oidc
