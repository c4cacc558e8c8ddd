// jose/jwk: owns turning a JWKS document (the identity provider's published signing keys) into OpenSSL
// public keys. One unusable key is skipped with a reason rather than failing the set, since providers
// publish encryption and future key types alongside the signing keys we need; nothing here does I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jose/openssl.hpp"

namespace gatehouse::jose {

struct Jwk {
  std::optional<std::string> kid;
  std::string kty;                 // "RSA", "EC" or "OKP"
  std::string crv;                 // "P-256", "P-384", "P-521", "Ed25519", "Ed448"; empty for RSA
  std::optional<std::string> alg;  // when present, a supported JWS alg that fits kty/crv
  std::optional<std::string> use;  // when present, "sig"
  PkeyPtr key;                     // public key only; never null in a parsed set
};

// A key left out of the set. `reason` is fixed text of ours ("use is not sig"), safe to log as it is.
struct SkippedJwk {
  std::size_t index = 0;           // position in the document's "keys" array
  std::optional<std::string> kid;  // the provider's kid, when it had a string one
  std::string reason;
};

// Move-only, as it owns the keys: share a fetched set as std::shared_ptr<const JwkSet>. Verifying with one
// set from several threads at once is safe; OpenSSL only reads the keys.
struct JwkSet {
  std::vector<Jwk> keys;
  std::vector<SkippedJwk> skipped;
};

struct JwksParse {
  std::optional<JwkSet> set;  // set on success, even when every key was skipped
  std::string error;          // why there is no set: not JSON, no "keys" array, over a limit
};

inline constexpr std::size_t kMaxJwksBytes = 256 * 1024;
inline constexpr std::size_t kMaxJwksKeys = 64;

// Parses {"keys":[...]}. Supports RSA (n, e; at least 2048 bits), EC (P-256/P-384/P-521; the point must
// be on the curve) and OKP (Ed25519, Ed448). Skips keys whose use is not "sig", whose key_ops lack
// "verify", that carry private members, or that are unsupported or malformed.
JwksParse parse_jwks(std::string_view json);

} // namespace gatehouse::jose
