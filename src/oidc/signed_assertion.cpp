#include "oidc/signed_assertion.hpp"

#include <algorithm>

#include "jose/jws.hpp"

namespace gatehouse::oidc {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::int64_t kClockSkewSeconds = 60;
// Cloudflare's assertions are about 1 KB; anything far beyond is not one.
constexpr std::size_t kMaxAssertionBytes = 16 * 1024;

} // namespace

std::optional<std::string> assertion_claims_problem(const json::object& claims, const config::SignedAssertion& settings,
                                                    std::int64_t now) {
  const auto* iss = claims.if_contains("iss");
  if (!iss || !iss->is_string() || iss->as_string() != settings.issuer) return "iss is not the configured issuer";
  const auto audiences = jose::audiences(claims);
  if (std::find(audiences.begin(), audiences.end(), settings.audience) == audiences.end())
    return "aud does not name the configured audience";
  const auto exp = jose::numeric_date(claims, "exp");
  if (!exp) return claims.contains("exp") ? "exp is not a usable time" : "no exp";
  if (now >= *exp + kClockSkewSeconds) return "expired";
  for (const char* name : {"iat", "nbf"}) {
    if (!claims.contains(name)) continue;
    const auto time = jose::numeric_date(claims, name);
    if (!time) return std::string(name) + " is not a usable time";
    if (*time > now + kClockSkewSeconds) return std::string("not valid yet (") + name + ")";
  }
  const auto* sub = claims.if_contains("sub");
  if (!sub || !sub->is_string() || sub->as_string().empty() || sub->as_string().size() > 255) return "no usable sub";
  return std::nullopt;
}

SignedAssertions::SignedAssertions(const config::SignedAssertion& settings)
    : settings_(settings), http_(net::HttpClient::Options{settings.ca_file, std::chrono::seconds(10), 1024 * 1024}) {}

asio::awaitable<CheckedAssertion> SignedAssertions::check(std::string token, std::int64_t now) {
  CheckedAssertion result;
  if (token.size() > kMaxAssertionBytes) {
    result.reason = "assertion: too long";
    co_return result;
  }
  std::string jwks_uri = settings_.jwks_uri;
  auto verified = co_await keys_.verify(std::move(token), std::move(jwks_uri), settings_.algorithms);
  if (!verified.verified) {
    result.keys_unavailable = verified.keys_unavailable;
    result.reason = "assertion: " + verified.reason;
    co_return result;
  }
  if (auto problem = assertion_claims_problem(verified.verified->payload, settings_, now)) {
    result.reason = "assertion: " + *problem;
    co_return result;
  }
  result.claims = std::move(verified.verified->payload);
  co_return result;
}

} // namespace gatehouse::oidc
