// oidc/signed_assertion: the JWT a forward-auth proxy signs for each request it lets through
// (config header_identity.assertion: Cloudflare Access's Cf-Access-Jwt-Assertion, Pomerium's
// X-Pomerium-Jwt-Assertion). Owns its check: the signature with the proxy's published keys
// (oidc/key_set, fetched over verified TLS), then iss exact, the configured audience among aud, exp
// (required), iat and nbf when present (60 s skew each way), and a sub. Nothing of the token is believed
// before all of these hold.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "net/http_client.hpp"
#include "oidc/key_set.hpp"

namespace gatehouse::oidc {

struct CheckedAssertion {
  std::optional<boost::json::object> claims; // set when the assertion holds
  bool keys_unavailable = false;              // the proxy's keys could not be fetched: not the person's fault
  std::string reason;                         // why not, for audit and logs; never token content
};

class SignedAssertions {
public:
  // `settings` must outlive this. Throws std::runtime_error when its CA file cannot be loaded.
  explicit SignedAssertions(const config::SignedAssertion& settings);
  boost::asio::awaitable<CheckedAssertion> check(std::string token, std::int64_t now_unix_seconds);

private:
  const config::SignedAssertion& settings_;
  net::HttpClient http_;
  KeySet keys_{http_};
};

// The claim checks on their own (after the signature): nullopt when they hold, else why not.
std::optional<std::string> assertion_claims_problem(const boost::json::object& claims,
                                                    const config::SignedAssertion& settings,
                                                    std::int64_t now_unix_seconds);

} // namespace gatehouse::oidc
