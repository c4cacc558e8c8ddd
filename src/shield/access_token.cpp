// shield/access_token: an HA access token's shape, read without HA.
#include "shield/access_token.hpp"

#include <boost/json/value.hpp>

#include "jose/jws.hpp"

namespace gatehouse::shield {

std::string_view describe(TokenProblem problem) {
  switch (problem) {
    case TokenProblem::missing: return "no access token";
    case TokenProblem::not_bearer: return "not a Bearer authorization";
    case TokenProblem::too_long: return "access token too long";
    case TokenProblem::malformed: return "not an HA access token";
    case TokenProblem::expired: return "access token expired";
  }
  return "unknown";
}

namespace {

TokenReading problem(TokenProblem kind) { return TokenReading{std::nullopt, kind}; }

} // namespace

TokenReading read_access_token(std::string_view token, std::int64_t now) {
  if (token.empty()) return problem(TokenProblem::missing);
  if (token.size() > kMaxTokenLength) return problem(TokenProblem::too_long);
  const auto parts = jose::split_compact(token);
  if (!parts || parts->signature.size() != 32) return problem(TokenProblem::malformed);
  const auto header = jose::parse_object(parts->header);
  const auto claims = jose::parse_object(parts->payload);
  if (!header || !claims) return problem(TokenProblem::malformed);
  const auto* alg = header->if_contains("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256") return problem(TokenProblem::malformed);
  const auto* iss = claims->if_contains("iss");
  // Times outside the NumericDate range are no HA token's: refused before any arithmetic on them.
  const auto exp = jose::numeric_date(*claims, "exp");
  const auto iat = jose::numeric_date(*claims, "iat");
  if (!iss || !iss->is_string() || iss->as_string().empty() || !exp || !iat) return problem(TokenProblem::malformed);
  if (*exp + kLeewaySeconds < now) return problem(TokenProblem::expired);
  return TokenReading{AccessToken{token, std::string(iss->as_string()), *exp}, TokenProblem::missing};
}

std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "Bearer ";
  if (!header.starts_with(kScheme)) return std::nullopt;
  return header.substr(kScheme.size());
}

TokenReading read_authorization(std::string_view header, std::int64_t now) {
  if (header.empty()) return problem(TokenProblem::missing);
  const auto token = bearer_token(header);
  if (!token) return problem(TokenProblem::not_bearer);
  return read_access_token(*token, now);
}

} // namespace gatehouse::shield
