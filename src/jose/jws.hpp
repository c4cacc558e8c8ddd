// jose/jws: owns verifying a JWS in compact serialization (an ID token) against a JWKS: which algorithms
// are acceptable, which key may verify the token, and the signature itself; and reading a JWT's parts and
// time claims the one way every caller reads them. It checks no claims (iss, aud, exp, nonce: the OIDC
// module does) and does no I/O. Failure messages never contain token content.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "jose/jwk.hpp"

namespace gatehouse::jose {

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

enum class Failure {
  malformed,        // not three canonical base64url segments, header or payload not a JSON object, crit, ...
  too_large,        // token over kMaxTokenBytes
  alg_not_allowed,  // alg outside the caller's list, unsupported, "none" or HS* (always refused)
  key_not_found,    // the header's kid is not in the set: the caller may refetch the JWKS once
  key_mismatch,     // the kid's key cannot verify this alg, or without a kid no single key fits
  bad_signature,    // the signature does not verify (including an ECDSA/RSA signature of the wrong length)
};
std::string_view to_string(Failure failure);

struct VerifiedJws {
  boost::json::object header;
  boost::json::object payload;
};

struct VerifyResult {
  std::optional<VerifiedJws> verified;  // set on success
  Failure failure = Failure::malformed; // meaningful only when !verified
  std::string message;                  // why, for logs; fixed text of ours, never token content
  bool ok() const { return verified.has_value(); }
};

// Verifies `token` with a key from `keys`. `alg` must be in `allowed_algs` and supported here; "none"
// and HS* are refused even if listed (HS* with a public key as secret is the classic confusion attack).
// The key is the one whose kid equals the header's kid, or, without a kid, the only key that fits alg.
VerifyResult verify_compact(std::string_view token, const JwkSet& keys, std::span<const std::string> allowed_algs);

// "The JWKS may be stale": the token names a kid the set does not have. Refetch once, then verify again.
inline bool is_unknown_key(const VerifyResult& result) {
  return !result.ok() && result.failure == Failure::key_not_found;
}

// A compact JWS as its three parts, base64url-decoded: the one way Gatehouse splits a JWT, whether it
// verifies it (verify_compact) or only reads it (an HA token's iss and exp, an authSig's exp: HMACs
// whose keys only HA has).
struct CompactParts {
  std::string header;             // decoded bytes of each part
  std::string payload;
  std::string signature;
  std::string_view signing_input; // "header.payload" as sent (points into the token)
};
// nullopt unless `token` is exactly three canonical unpadded base64url segments.
std::optional<CompactParts> split_compact(std::string_view token);
// `text` parsed as a JSON object; nullopt if it is not one.
std::optional<boost::json::object> parse_object(std::string_view text);

// The latest time numeric_date reads: 9999-12-31T23:59:59Z. Any claim in ±this range plus or minus a
// leeway stays far inside int64, so callers can do that arithmetic without overflow.
inline constexpr std::int64_t kMaxNumericDate = 253'402'300'799;
// A time claim (exp, iat, nbf: a NumericDate, RFC 7519 §2) as whole Unix seconds (a fraction is dropped),
// or nullopt when the claim is absent, not a JSON number, or outside ±kMaxNumericDate. The range is
// checked in the number's own type before any conversion (a double like 1e300 has no int64 value).
std::optional<std::int64_t> numeric_date(const boost::json::object& claims, std::string_view name);
// The audiences a token's aud claim names (RFC 7519 §4.1.3: one string or an array of them; entries that
// are not strings are left out); empty when there is none.
std::vector<std::string> audiences(const boost::json::object& claims);

// verify_compact's signature step on its own: whether `signature` (raw bytes, not base64url) over
// `signing_input` verifies with `key` under `alg`; false if alg is unsupported or does not fit the key.
// For known-answer tests; callers should use verify_compact, which adds the allowlist and key choice.
bool verify_signature(std::string_view alg, const Jwk& key, std::string_view signing_input, std::string_view signature);

} // namespace gatehouse::jose
