// oidc/provider: discovery, keys, code exchange, ID-token checks and userinfo for one provider.
#include "oidc/provider.hpp"

#include <algorithm>
#include <cctype>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "jose/base64url.hpp"
#include "jose/jws.hpp"
#include "logging/log.hpp"

namespace gatehouse::oidc {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using Kind = OidcFailure::Kind;

namespace {

using jose::parse_object;

constexpr auto kMetadataLifetime = std::chrono::hours(1);
constexpr auto kDiscoveryRetryAfter = std::chrono::seconds(10);
constexpr std::int64_t kClockSkewSeconds = 60;


std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// TLS, or plain HTTP to this machine only (the same rule as for the issuer in the config).
bool endpoint_acceptable(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return false;
  if (parsed->scheme() == "https") return true;
  if (parsed->scheme() != "http") return false;
  const std::string host(parsed->encoded_host());
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::optional<std::string> string_member(const json::object& object, std::string_view name) {
  auto it = object.find(name);
  if (it == object.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

// An OAuth error code is safe to log; anything else the IdP wrote is not echoed.
std::string oauth_error_of(std::string_view body) {
  auto object = parse_object(body);
  if (!object) return "";
  auto error = string_member(*object, "error");
  if (!error || error->size() > 64) return "";
  for (char c : *error)
    if (!(std::islower(static_cast<unsigned char>(c)) || c == '_')) return "";
  return *error;
}

// Why a token response cannot be used, judged by its token_type: OIDC Core §3.1.3.3 and RFC 6749 §7.1
// require Bearer (compared case-insensitively), the only kind Gatehouse knows how to present at
// userinfo. A short plain token_type is named in the reason; anything else the IdP wrote is not echoed.
std::optional<std::string> token_type_problem(const json::object& tokens) {
  const auto token_type = string_member(tokens, "token_type");
  if (!token_type) return "token endpoint gave no token_type (Bearer is required)";
  if (boost::algorithm::iequals(*token_type, "Bearer")) return std::nullopt;
  const bool plain = !token_type->empty() && token_type->size() <= 32 &&
                     std::all_of(token_type->begin(), token_type->end(), [](unsigned char c) {
                       return std::isalnum(c) || c == '-' || c == '_';
                     });
  return "token endpoint gave token_type " + (plain ? "'" + *token_type + "'" : std::string("of another kind")) +
         ", not Bearer";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string without_trailing_slash(std::string_view url) {
  std::string out(url);
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

} // namespace

std::string pkce_challenge(std::string_view code_verifier) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(code_verifier.data()), code_verifier.size(), digest.data());
  return jose::base64url_encode(std::span<const unsigned char>(digest));
}

Provider::Provider(const config::Provider& config)
    : config_(config), http_(net::HttpClient::Options{config.ca_file, std::chrono::seconds(10), 1024 * 1024}) {}

asio::awaitable<OidcResult<ProviderMetadata>> Provider::metadata() {
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (metadata_ && now - metadata_fetched_ < kMetadataLifetime) co_return OidcResult<ProviderMetadata>{*metadata_};
    // A failed fetch is the answer for a while: unauthenticated requests (a back-channel logout, the
    // start of a sign-in) cannot make Gatehouse call an IdP that is down, or misconfigured, each time.
    // A document fetched before stays in use meanwhile (an IdP's endpoints rarely move).
    if (discovery_failure_ && now - discovery_failed_at_ < kDiscoveryRetryAfter) {
      if (metadata_) co_return OidcResult<ProviderMetadata>{*metadata_};
      OidcResult<ProviderMetadata> failed;
      failed.failure = *discovery_failure_;
      co_return failed;
    }
  }
  auto result = co_await fetch_metadata();
  std::lock_guard lock(mutex_);
  if (result) {
    metadata_ = *result.value;
    metadata_fetched_ = std::chrono::steady_clock::now();
    discovery_failure_.reset();
    co_return result;
  }
  discovery_failure_ = result.failure;
  discovery_failed_at_ = std::chrono::steady_clock::now();
  // Unreachable: the last document serves. Misconfigured (another issuer) is the IdP's answer now: not.
  if (result.failure.kind == Kind::misconfigured) metadata_.reset();
  if (metadata_) {
    logging::warn("identity provider's discovery could not be fetched again; using the one from before",
                  {{"provider", config_.id}, {"detail", result.failure.reason}});
    co_return OidcResult<ProviderMetadata>{*metadata_};
  }
  co_return result;
}

asio::awaitable<OidcResult<ProviderMetadata>> Provider::fetch_metadata() {
  OidcResult<ProviderMetadata> result;
  net::OutboundRequest request;
  request.url = without_trailing_slash(config_.issuer) + "/.well-known/openid-configuration";
  request.headers = {{"Accept", "application/json"}};
  auto response = co_await http_.send(request);
  if (!response) {
    result.failure = {Kind::idp_unreachable, "discovery: " + response.message};
    co_return result;
  }
  if (response.response->status != 200) {
    result.failure = {Kind::idp_unreachable, "discovery answered HTTP " + std::to_string(response.response->status)};
    co_return result;
  }
  auto document = parse_object(response.response->body);
  if (!document) {
    result.failure = {Kind::idp_unreachable, "discovery document is not a JSON object"};
    co_return result;
  }
  ProviderMetadata metadata;
  metadata.issuer = string_member(*document, "issuer").value_or("");
  if (metadata.issuer != config_.issuer) {
    result.failure = {Kind::misconfigured, "the IdP's discovery document names issuer '" +
                                               metadata.issuer.substr(0, 200) + "', but providers[].issuer is '" +
                                               config_.issuer + "'"};
    co_return result;
  }
  for (auto [name, target] : {std::pair{"authorization_endpoint", &metadata.authorization_endpoint},
                              std::pair{"token_endpoint", &metadata.token_endpoint},
                              std::pair{"jwks_uri", &metadata.jwks_uri}}) {
    auto value = string_member(*document, name);
    if (!value || !endpoint_acceptable(*value)) {
      result.failure = {Kind::idp_unreachable,
                        std::string("discovery has no usable ") + name + " (an https URL is required)"};
      co_return result;
    }
    *target = *value;
  }
  if (auto userinfo = string_member(*document, "userinfo_endpoint"); userinfo && endpoint_acceptable(*userinfo))
    metadata.userinfo_endpoint = *userinfo;
  if (auto end_session = string_member(*document, "end_session_endpoint"); end_session && endpoint_acceptable(*end_session))
    metadata.end_session_endpoint = *end_session;
  result.value = std::move(metadata);
  co_return result;
}

std::string Provider::authorization_url(const ProviderMetadata& metadata, std::string_view redirect_uri,
                                        std::string_view state, std::string_view nonce,
                                        std::string_view code_verifier) const {
  boost::urls::url url(metadata.authorization_endpoint);
  std::string scope;
  for (const auto& s : config_.scopes) scope += (scope.empty() ? "" : " ") + s;
  auto params = url.params();
  params.append({"response_type", "code"});
  params.append({"client_id", config_.client_id});
  params.append({"redirect_uri", redirect_uri});
  params.append({"scope", scope});
  params.append({"state", state});
  params.append({"nonce", nonce});
  const std::string challenge = pkce_challenge(code_verifier);
  params.append({"code_challenge", challenge});
  params.append({"code_challenge_method", "S256"});
  return std::string(url.buffer());
}

std::string Provider::end_session_url(const ProviderMetadata& metadata, std::string_view id_token_hint,
                                      std::string_view post_logout_redirect_uri, std::string_view state) const {
  boost::urls::url url(*metadata.end_session_endpoint);
  auto params = url.params();
  params.append({"id_token_hint", id_token_hint});
  params.append({"client_id", config_.client_id});
  params.append({"post_logout_redirect_uri", post_logout_redirect_uri});
  params.append({"state", state});
  return std::string(url.buffer());
}

namespace {

// iss and aud/azp, read the same way for ID tokens and logout tokens (OIDC Core §3.1.3.7 steps 2-5).
std::optional<std::string> issuer_or_audience_problem(const json::object& claims, const config::Provider& provider) {
  if (string_member(claims, "iss") != provider.issuer) return "iss is not the configured issuer";
  const auto audiences = jose::audiences(claims);
  if (std::find(audiences.begin(), audiences.end(), provider.client_id) == audiences.end())
    return "aud does not name this client";
  auto azp = string_member(claims, "azp");
  if (audiences.size() > 1 && !azp) return "several audiences and no azp";
  if (azp && *azp != provider.client_id) return "azp is another client";
  return std::nullopt;
}

} // namespace

std::optional<OidcFailure> check_id_token_claims(const json::object& claims, const config::Provider& provider,
                                                 std::string_view nonce, std::int64_t now) {
  auto invalid = [](std::string reason) { return OidcFailure{Kind::invalid_id_token, "ID token: " + std::move(reason)}; };
  if (auto problem = issuer_or_audience_problem(claims, provider)) return invalid(*problem);
  // Times are read in range (jose::numeric_date) before the skew is added; one that is present but not
  // a usable time is refused, never skipped.
  auto exp = jose::numeric_date(claims, "exp");
  if (!exp) return invalid(claims.contains("exp") ? "exp is not a usable time" : "no exp");
  if (now >= *exp + kClockSkewSeconds) return invalid("expired");
  auto iat = jose::numeric_date(claims, "iat");
  if (!iat) return invalid(claims.contains("iat") ? "iat is not a usable time" : "no iat");
  if (*iat > now + kClockSkewSeconds) return invalid("issued in the future (iat)");
  if (claims.contains("nbf")) { // RFC 7519 §4.1.5
    auto nbf = jose::numeric_date(claims, "nbf");
    if (!nbf) return invalid("nbf is not a usable time");
    if (*nbf > now + kClockSkewSeconds) return invalid("not valid yet (nbf)");
  }
  auto token_nonce = string_member(claims, "nonce");
  if (!token_nonce || !constant_time_equal(*token_nonce, nonce)) return invalid("nonce does not match this login");
  auto sub = string_member(claims, "sub");
  if (!sub || sub->empty() || sub->size() > 255) return invalid("no usable sub");
  return std::nullopt;
}

asio::awaitable<OidcResult<jose::VerifiedJws>> Provider::verify_signed(std::string token, std::string jwks_uri) {
  OidcResult<jose::VerifiedJws> result;
  auto checked = co_await keys_.verify(std::move(token), std::move(jwks_uri), config_.algorithms);
  if (!checked.verified) {
    result.failure = {checked.keys_unavailable ? Kind::idp_unreachable : Kind::invalid_id_token, std::move(checked.reason)};
    co_return result;
  }
  result.value = std::move(*checked.verified);
  co_return result;
}

OidcResult<LogoutToken> check_logout_token(const jose::VerifiedJws& token, const config::Provider& provider,
                                           std::int64_t now) {
  OidcResult<LogoutToken> result;
  auto invalid = [&](std::string reason) {
    result.failure = {Kind::invalid_id_token, "logout token: " + std::move(reason)};
    return result;
  };
  // Explicit typing (Back-Channel Logout §2.4) where the IdP uses it; Keycloak and older IdPs say JWT.
  if (auto typ = string_member(token.header, "typ")) {
    std::string type = *typ;
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
    if (type.rfind("application/", 0) == 0) type.erase(0, 12);
    if (type != "logout+jwt" && type != "jwt") return invalid("typ is neither logout+jwt nor JWT");
  }
  const auto& claims = token.payload;
  if (auto problem = issuer_or_audience_problem(claims, provider)) return invalid(*problem);
  auto iat = jose::numeric_date(claims, "iat");
  if (!iat) return invalid(claims.contains("iat") ? "iat is not a usable time" : "no iat");
  if (*iat > now + kClockSkewSeconds) return invalid("issued in the future (iat)");
  if (*iat < now - kLogoutTokenMaxAgeSeconds - kClockSkewSeconds) return invalid("too old (iat)");
  if (claims.contains("exp")) {
    auto exp = jose::numeric_date(claims, "exp");
    if (!exp) return invalid("exp is not a usable time");
    if (now >= *exp + kClockSkewSeconds) return invalid("expired");
  }
  const auto* events = claims.if_contains("events");
  const auto* logout_event =
      events && events->is_object() ? events->as_object().if_contains("http://schemas.openid.net/event/backchannel-logout")
                                    : nullptr;
  if (!logout_event || !logout_event->is_object()) return invalid("events has no back-channel logout event");
  // An ID token (which has a nonce) must never pass for a logout token (§2.4).
  if (claims.contains("nonce")) return invalid("has a nonce");
  auto jti = string_member(claims, "jti");
  if (!jti || jti->empty() || jti->size() > 255) return invalid("no usable jti");
  LogoutToken logout{provider.issuer, {}, {}, *jti};
  if (claims.contains("sub")) {
    auto sub = string_member(claims, "sub");
    if (!sub || sub->empty() || sub->size() > 255) return invalid("sub is not usable");
    logout.subject = *sub;
  }
  if (claims.contains("sid")) {
    auto sid = string_member(claims, "sid");
    if (!sid || sid->empty() || sid->size() > 255) return invalid("sid is not usable");
    logout.sid = *sid;
  }
  if (!logout.subject && !logout.sid) return invalid("names neither sub nor sid");
  result.value = std::move(logout);
  return result;
}

asio::awaitable<OidcResult<LogoutToken>> Provider::verify_logout_token(std::string token) {
  OidcResult<LogoutToken> result;
  auto discovered = co_await metadata();
  if (!discovered) {
    result.failure = discovered.failure;
    co_return result;
  }
  std::string jwks_uri = discovered.value->jwks_uri;
  auto verified = co_await verify_signed(std::move(token), std::move(jwks_uri));
  if (!verified) {
    result.failure = verified.failure;
    if (result.failure.kind == Kind::invalid_id_token) result.failure.reason = "logout token: " + result.failure.reason;
    co_return result;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  co_return check_logout_token(*verified.value, config_, now);
}

net::OutboundRequest Provider::request_to_token_endpoint(const ProviderMetadata& metadata, std::string form) const {
  net::OutboundRequest token_request;
  token_request.method = http::verb::post;
  token_request.url = metadata.token_endpoint;
  token_request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  token_request.body = std::move(form);
  if (config_.client_auth == config::ClientAuth::client_secret_post) {
    token_request.body += "&client_id=" + net::form_encode(config_.client_id) +
                          "&client_secret=" + net::form_encode(config_.client_secret);
  } else {
    // RFC 6749 §2.3.1: both parts form-encoded before base64.
    token_request.headers.emplace_back(
        "Authorization", "Basic " + base64(net::form_encode(config_.client_id) + ":" + net::form_encode(config_.client_secret)));
  }
  return token_request;
}

asio::awaitable<Refreshed> Provider::refresh_session(std::string refresh_token, std::string subject) {
  Refreshed result;
  auto discovered = co_await metadata();
  if (!discovered) {
    result.reason = discovered.failure.reason;
    co_return result;
  }
  const ProviderMetadata& endpoints = *discovered.value;
  auto token_request = request_to_token_endpoint(
      endpoints, "grant_type=refresh_token&refresh_token=" + net::form_encode(refresh_token));
  auto token_response = co_await http_.send(token_request);
  if (!token_response) {
    result.reason = "token endpoint: " + token_response.message;
    co_return result;
  }
  const auto status = token_response.response->status;
  if (status != 200) {
    const auto error = oauth_error_of(token_response.response->body);
    result.reason = "token endpoint answered HTTP " + std::to_string(status) + (error.empty() ? "" : " " + error);
    // Only the IdP saying the grant is gone counts against the person; anything else is the IdP's trouble.
    if (status == 400 && error == "invalid_grant") result.outcome = Refreshed::Outcome::refused;
    co_return result;
  }
  auto tokens = parse_object(token_response.response->body);
  if (!tokens || token_type_problem(*tokens)) {
    result.reason = "token endpoint's answer is not a Bearer token response";
    co_return result;
  }
  if (auto rotated = string_member(*tokens, "refresh_token")) result.refresh_token = *rotated;
  // Who the person is now: userinfo with the new access token, else the new ID token (verified, the same
  // subject; refreshed ID tokens carry no nonce).
  auto access_token = string_member(*tokens, "access_token");
  if (config_.userinfo && endpoints.userinfo_endpoint && access_token) {
    net::OutboundRequest userinfo_request;
    userinfo_request.url = *endpoints.userinfo_endpoint;
    userinfo_request.headers = {{"Authorization", "Bearer " + *access_token}, {"Accept", "application/json"}};
    auto userinfo_response = co_await http_.send(userinfo_request);
    if (!userinfo_response || userinfo_response.response->status != 200) {
      result.reason = "userinfo did not answer";
      co_return result;
    }
    auto userinfo = parse_object(userinfo_response.response->body);
    if (!userinfo || string_member(*userinfo, "sub") != subject) {
      result.reason = "userinfo is not about this person";
      co_return result;
    }
    result.claims = std::move(*userinfo);
  } else if (auto id_token = string_member(*tokens, "id_token")) {
    std::string signed_token = std::move(*id_token); // named: GCC 12 and co_await
    std::string jwks_uri = endpoints.jwks_uri;
    auto verified = co_await verify_signed(std::move(signed_token), std::move(jwks_uri));
    if (!verified) {
      result.reason = "refreshed ID token: " + verified.failure.reason;
      co_return result;
    }
    const auto& claims = verified.value->payload;
    if (auto problem = issuer_or_audience_problem(claims, config_)) {
      result.reason = "refreshed ID token: " + *problem;
      co_return result;
    }
    if (string_member(claims, "sub") != subject) {
      result.reason = "refreshed ID token is about another subject";
      co_return result;
    }
    result.claims = claims;
  }
  result.outcome = Refreshed::Outcome::vouched;
  co_return result;
}

asio::awaitable<OidcResult<SignedInIdentity>> Provider::finish_login(std::string code, std::string redirect_uri,
                                                                      std::string code_verifier, std::string nonce) {
  OidcResult<SignedInIdentity> result;
  auto discovered = co_await metadata();
  if (!discovered) {
    result.failure = discovered.failure;
    co_return result;
  }
  const ProviderMetadata& endpoints = *discovered.value;

  auto token_request = request_to_token_endpoint(
      endpoints, "grant_type=authorization_code&code=" + net::form_encode(code) + "&redirect_uri=" +
                     net::form_encode(redirect_uri) + "&code_verifier=" + net::form_encode(code_verifier));
  auto token_response = co_await http_.send(token_request);
  if (!token_response) {
    result.failure = {Kind::idp_unreachable, "token endpoint: " + token_response.message};
    co_return result;
  }
  if (token_response.response->status != 200) {
    const auto error = oauth_error_of(token_response.response->body);
    result.failure = {Kind::idp_refused, "token endpoint answered HTTP " +
                                             std::to_string(token_response.response->status) +
                                             (error.empty() ? "" : " " + error)};
    co_return result;
  }
  auto tokens = parse_object(token_response.response->body);
  auto id_token = tokens ? string_member(*tokens, "id_token") : std::nullopt;
  if (!id_token) {
    result.failure = {Kind::idp_refused, "token endpoint gave no id_token"};
    co_return result;
  }
  if (auto problem = token_type_problem(*tokens)) {
    result.failure = {Kind::idp_refused, *problem};
    co_return result;
  }

  std::string signed_token = *id_token; // named: GCC 12 and co_await
  std::string jwks_uri = endpoints.jwks_uri;
  auto verified = co_await verify_signed(std::move(signed_token), std::move(jwks_uri));
  if (!verified) {
    result.failure = verified.failure;
    if (result.failure.kind == Kind::invalid_id_token) result.failure.reason = "ID token: " + result.failure.reason;
    co_return result;
  }
  auto& claims = verified.value->payload;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  if (auto failure = check_id_token_claims(claims, config_, nonce, now)) {
    result.failure = *failure;
    co_return result;
  }
  SignedInIdentity identity{config_.issuer, *string_member(claims, "sub"), claims, *id_token,
                            string_member(*tokens, "refresh_token").value_or("")};

  auto access_token = tokens ? string_member(*tokens, "access_token") : std::nullopt;
  if (config_.userinfo && endpoints.userinfo_endpoint && access_token) {
    net::OutboundRequest userinfo_request;
    userinfo_request.url = *endpoints.userinfo_endpoint;
    userinfo_request.headers = {{"Authorization", "Bearer " + *access_token}, {"Accept", "application/json"}};
    auto userinfo_response = co_await http_.send(userinfo_request);
    if (!userinfo_response) {
      result.failure = {Kind::idp_unreachable, "userinfo: " + userinfo_response.message};
      co_return result;
    }
    if (userinfo_response.response->status != 200) {
      result.failure = {Kind::idp_refused,
                        "userinfo answered HTTP " + std::to_string(userinfo_response.response->status)};
      co_return result;
    }
    auto userinfo = parse_object(userinfo_response.response->body);
    if (!userinfo) {
      result.failure = {Kind::invalid_userinfo, "userinfo is not a JSON object"};
      co_return result;
    }
    if (string_member(*userinfo, "sub") != identity.subject) {
      result.failure = {Kind::invalid_userinfo, "userinfo is about another subject"};
      co_return result;
    }
    for (const auto& member : *userinfo)
      if (!identity.claims.contains(member.key())) identity.claims.emplace(member.key(), member.value());
  }
  result.value = std::move(identity);
  co_return result;
}

} // namespace gatehouse::oidc
