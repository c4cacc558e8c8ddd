// shield/access_token: owns what Gatehouse can tell about an HA access token without HA (contract
// §2.2–2.3): the token must arrive as "Authorization: Bearer <token>" (HA accepts only that spelling),
// be an HS256 JWT of at most 8192 characters whose claims carry iss (the refresh token id), iat and exp
// (times within jose::numeric_date's range), and not be expired (HA's 10 s leeway). Garbage and expired
// tokens are refused here, without asking HA. The signature cannot be checked here: its key is private
// to HA.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::shield {

enum class TokenProblem {
  missing,       // no Authorization header
  not_bearer,    // another scheme, or "bearer" spelled otherwise than HA accepts
  too_long,      // over HA's 8192 characters
  malformed,     // not an HS256 JWT with iss, iat and exp (times in range)
  expired,       // exp (+10 s) has passed
};

std::string_view describe(TokenProblem problem);

struct AccessToken {
  std::string_view token;       // the raw token (never logged)
  std::string refresh_token_id; // its "iss"
  std::int64_t expires_at = 0;  // its "exp", Unix seconds
};

struct TokenReading {
  std::optional<AccessToken> token;
  TokenProblem problem = TokenProblem::missing;
  explicit operator bool() const { return token.has_value(); }
};

constexpr std::int64_t kLeewaySeconds = 10; // HA's leeway on exp and iat
constexpr std::size_t kMaxTokenLength = 8192;

// `token` as a client sent it in a websocket auth message or after "Bearer ".
TokenReading read_access_token(std::string_view token, std::int64_t now_unix_seconds);
// The value of an Authorization header (empty when there was none).
TokenReading read_authorization(std::string_view header, std::int64_t now_unix_seconds);
// The token in "Bearer <token>" (HA accepts only that spelling), unread; nullopt for anything else.
std::optional<std::string_view> bearer_token(std::string_view authorization_header);

} // namespace gatehouse::shield
