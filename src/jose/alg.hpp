// jose/alg: owns the table of JWS algorithms this module verifies and which key types can verify each.
// One table, so JWK parsing and JWS verification cannot disagree about what "ES256" means. There is no
// "none" and no HS* here on purpose: a name missing from this table is never verified.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

namespace gatehouse::jose {

enum class AlgFamily { rsa_pkcs1, rsa_pss, ecdsa, eddsa };

struct JwsAlg {
  std::string_view name;
  AlgFamily family;
  const char* digest;            // OpenSSL digest name; nullptr for EdDSA, which hashes internally
  std::string_view curve;        // ECDSA only: the JWK crv the key must have
  std::size_t coordinate_bytes;  // ECDSA only: length of R and of S in the JWS signature
};

inline constexpr std::array<JwsAlg, 10> kJwsAlgs{{
    {"RS256", AlgFamily::rsa_pkcs1, "SHA256", {}, 0},
    {"RS384", AlgFamily::rsa_pkcs1, "SHA384", {}, 0},
    {"RS512", AlgFamily::rsa_pkcs1, "SHA512", {}, 0},
    {"PS256", AlgFamily::rsa_pss, "SHA256", {}, 0},
    {"PS384", AlgFamily::rsa_pss, "SHA384", {}, 0},
    {"PS512", AlgFamily::rsa_pss, "SHA512", {}, 0},
    {"ES256", AlgFamily::ecdsa, "SHA256", "P-256", 32},
    {"ES384", AlgFamily::ecdsa, "SHA384", "P-384", 48},
    {"ES512", AlgFamily::ecdsa, "SHA512", "P-521", 66},
    {"EdDSA", AlgFamily::eddsa, nullptr, {}, 0},
}};

// nullptr unless `name` is exactly (case-sensitively) one of the algorithms above.
inline const JwsAlg* find_alg(std::string_view name) {
  const auto* found = std::find_if(kJwsAlgs.begin(), kJwsAlgs.end(), [&](const JwsAlg& a) { return a.name == name; });
  return found == kJwsAlgs.end() ? nullptr : found;
}

// Whether a key of this kty (and crv, for EC and OKP) can verify signatures made with `alg`.
inline bool key_type_fits(const JwsAlg& alg, std::string_view kty, std::string_view crv) {
  switch (alg.family) {
  case AlgFamily::rsa_pkcs1:
  case AlgFamily::rsa_pss: return kty == "RSA";
  case AlgFamily::ecdsa: return kty == "EC" && crv == alg.curve;
  case AlgFamily::eddsa: return kty == "OKP" && (crv == "Ed25519" || crv == "Ed448");
  }
  return false;
}

} // namespace gatehouse::jose
