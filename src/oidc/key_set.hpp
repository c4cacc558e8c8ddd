// oidc/key_set: the signing keys one issuer publishes at a JWKS URL, cached for every worker thread:
// fetched when first needed, again after an hour, and once more (at most every 10 s) when a token names
// a kid the cache lacks, so a key rotation is picked up without letting tokens with made-up kids make
// Gatehouse hammer the issuer; when a refetch fails, the keys held are used 30 s more (an outage of the
// JWKS neither refuses everyone nor makes every request fetch). Used for ID and logout tokens (oidc/provider) and for the signed
// assertions of a forward-auth proxy (sso/header_sign_in). Only verifies signatures: the claims are
// each caller's to check.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "jose/jwk.hpp"
#include "jose/jws.hpp"
#include "net/http_client.hpp"

namespace gatehouse::oidc {

struct KeySetResult {
  std::optional<jose::VerifiedJws> verified; // set when the signature holds
  bool keys_unavailable = false;              // the JWKS could not be fetched or read (not the token's fault)
  std::string reason;                         // why not, for logs; never token content
};

class KeySet {
public:
  // `http` must outlive the set.
  explicit KeySet(net::HttpClient& http) : http_(http) {}

  // Verifies `token`'s signature with the keys at `jwks_uri`, under one of `algorithms`.
  boost::asio::awaitable<KeySetResult> verify(std::string token, std::string jwks_uri,
                                              std::span<const std::string> algorithms);

private:
  struct Refreshed {
    std::shared_ptr<const jose::JwkSet> keys; // those of `jwks_uri` to verify with; null: none
    std::string problem;                      // why none
  };
  // Fetches the keys again (an unknown kid: at most every 10 s, else the ones held). When the fetch fails,
  // keys this URL gave before are used 30 s more.
  boost::asio::awaitable<Refreshed> refresh(const std::string& jwks_uri, bool unknown_kid);
  // The keys held for `jwks_uri` (fresh ones only with `fresh_only`); null: none.
  std::shared_ptr<const jose::JwkSet> cached(const std::string& jwks_uri, bool fresh_only);

  net::HttpClient& http_;
  std::mutex mutex_; // guards the fields below
  std::shared_ptr<const jose::JwkSet> keys_;
  std::string keys_uri_; // where keys_ came from: keys of another URL are never used
  std::chrono::steady_clock::time_point fresh_until_{};
  std::chrono::steady_clock::time_point last_unknown_kid_refetch_{};
};

} // namespace gatehouse::oidc
