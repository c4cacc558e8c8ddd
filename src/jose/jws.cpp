// jose/jws: compact JWS verification on OpenSSL 3's EVP_DigestVerify. Checks run cheapest and most
// structural first; the payload is parsed only after its signature verified, so unauthenticated bytes
// reach the JSON parser only as the (small, size-capped) header.
#include "jose/jws.hpp"

#include <algorithm>

#include <boost/json.hpp>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "jose/alg.hpp"
#include "jose/base64url.hpp"

namespace gatehouse::jose {
namespace {

VerifyResult refuse(Failure failure, std::string message) { return {std::nullopt, failure, std::move(message)}; }

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

bool fits(const Jwk& key, const JwsAlg& alg) {
  return key.key && key_type_fits(alg, key.kty, key.crv) && (!key.alg || *key.alg == alg.name);
}

// Defence in depth for hand-built Jwk values: the OpenSSL key itself must be of the family alg needs.
bool pkey_is_family(EVP_PKEY* key, AlgFamily family) {
  switch (family) {
  case AlgFamily::rsa_pkcs1:
  case AlgFamily::rsa_pss: return EVP_PKEY_is_a(key, "RSA") == 1;
  case AlgFamily::ecdsa: return EVP_PKEY_is_a(key, "EC") == 1;
  case AlgFamily::eddsa: return EVP_PKEY_is_a(key, "ED25519") == 1 || EVP_PKEY_is_a(key, "ED448") == 1;
  }
  return false;
}

// JWS carries ECDSA signatures as fixed-size R||S (RFC 7518 3.4); OpenSSL verifies DER.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw) {
  const int half = static_cast<int>(raw.size() / 2);
  BignumPtr r(BN_bin2bn(bytes_of(raw), half, nullptr));
  BignumPtr s(BN_bin2bn(bytes_of(raw.substr(raw.size() / 2)), half, nullptr));
  const OpenSslPtr<ECDSA_SIG, ECDSA_SIG_free> signature(ECDSA_SIG_new());
  if (!r || !s || !signature || ECDSA_SIG_set0(signature.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release(); // now owned by `signature`
  (void)s.release();
  const int size = i2d_ECDSA_SIG(signature.get(), nullptr);
  if (size <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(signature.get(), &out) != size) return std::nullopt;
  return der;
}

bool verify_with(const JwsAlg& alg, EVP_PKEY* key, std::string_view signing_input, std::string_view signature) {
  if (!pkey_is_family(key, alg.family)) return false;
  std::string der;
  switch (alg.family) {
  case AlgFamily::rsa_pkcs1:
  case AlgFamily::rsa_pss:
    // RFC 8017: the signature is exactly the modulus length; OpenSSL would also take a shorter one.
    if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) return false;
    break;
  case AlgFamily::ecdsa: {
    if (signature.size() != 2 * alg.coordinate_bytes) return false;
    auto converted = ecdsa_raw_to_der(signature);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
    break;
  }
  case AlgFamily::eddsa: break;
  }

  const MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr; // owned by ctx
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pkey_ctx, alg.digest, nullptr, nullptr, key, nullptr) != 1) {
    return false;
  }
  if (alg.family == AlgFamily::rsa_pkcs1 && EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) return false;
  // RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash; any other salt length fails.
  if (alg.family == AlgFamily::rsa_pss &&
      (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_mgf1_md_name(pkey_ctx, alg.digest, nullptr) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(signing_input),
                          signing_input.size()) == 1;
}

struct KeyChoice {
  const Jwk* key = nullptr;
  Failure failure = Failure::key_mismatch;
  const char* message = nullptr;
};

KeyChoice choose_key(const JwkSet& set, const JwsAlg& alg, const std::optional<std::string_view>& kid) {
  const Jwk* chosen = nullptr;
  std::size_t named = 0;
  std::size_t fitting = 0;
  for (const auto& key : set.keys) {
    if (kid && (!key.kid || *key.kid != *kid)) continue;
    ++named;
    if (!fits(key, alg)) continue;
    ++fitting;
    chosen = &key;
  }
  if (kid && named == 0) return {nullptr, Failure::key_not_found, "no key in the JWKS has the token's kid"};
  if (fitting == 0) {
    return {nullptr, Failure::key_mismatch,
            kid ? "the key with the token's kid cannot verify the token's alg" : "no key in the JWKS can verify the token's alg"};
  }
  // Trying each candidate would let a token pick among keys; refuse instead, the provider should set kid.
  if (fitting > 1) {
    return {nullptr, Failure::key_mismatch,
            kid ? "several keys with the token's kid fit its alg" : "token has no kid and several keys fit its alg"};
  }
  return {chosen};
}

} // namespace

std::string_view to_string(Failure failure) {
  switch (failure) {
  case Failure::malformed: return "malformed";
  case Failure::too_large: return "too_large";
  case Failure::alg_not_allowed: return "alg_not_allowed";
  case Failure::key_not_found: return "key_not_found";
  case Failure::key_mismatch: return "key_mismatch";
  case Failure::bad_signature: return "bad_signature";
  }
  return "unknown";
}

std::optional<boost::json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

std::vector<std::string> audiences(const boost::json::object& claims) {
  std::vector<std::string> named;
  const auto* aud = claims.if_contains("aud");
  if (aud && aud->is_string()) named.emplace_back(aud->as_string());
  if (aud && aud->is_array())
    for (const auto& entry : aud->as_array())
      if (entry.is_string()) named.emplace_back(entry.as_string());
  return named;
}

std::optional<std::int64_t> numeric_date(const boost::json::object& claims, std::string_view name) {
  const auto* value = claims.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) {
    const std::int64_t seconds = value->get_int64();
    if (seconds < -kMaxNumericDate || seconds > kMaxNumericDate) return std::nullopt;
    return seconds;
  }
  if (value->is_uint64()) {
    const std::uint64_t seconds = value->get_uint64();
    if (seconds > static_cast<std::uint64_t>(kMaxNumericDate)) return std::nullopt;
    return static_cast<std::int64_t>(seconds);
  }
  if (value->is_double()) {
    const double seconds = value->get_double();
    constexpr auto limit = static_cast<double>(kMaxNumericDate); // exact: below 2^53
    if (!(seconds >= -limit && seconds <= limit)) return std::nullopt;
    return static_cast<std::int64_t>(seconds);
  }
  return std::nullopt;
}

std::optional<CompactParts> split_compact(std::string_view token) {
  const auto first_dot = token.find('.');
  const auto second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos)
    return std::nullopt;
  auto header = base64url_decode(token.substr(0, first_dot));
  auto payload = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  auto signature = base64url_decode(token.substr(second_dot + 1));
  if (!header || !payload || !signature) return std::nullopt;
  return CompactParts{std::move(*header), std::move(*payload), std::move(*signature), token.substr(0, second_dot)};
}

VerifyResult verify_compact(std::string_view token, const JwkSet& keys, std::span<const std::string> allowed_algs) {
  const OpenSslErrorScope openssl_errors;
  if (token.size() > kMaxTokenBytes) return refuse(Failure::too_large, "token is larger than 16 KiB");
  if (std::count(token.begin(), token.end(), '.') != 2) {
    return refuse(Failure::malformed, "token is not three dot-separated segments");
  }
  const auto parts = split_compact(token);
  if (!parts) return refuse(Failure::malformed, "a segment is not canonical unpadded base64url");
  const std::string_view signing_input = parts->signing_input;
  const std::string& signature = parts->signature;

  // Of duplicate member names Boost.JSON keeps the last, one of the two behaviours RFC 7515 5.2 allows.
  auto header = parse_object(parts->header);
  if (!header) return refuse(Failure::malformed, "header is not a JSON object");
  const auto* alg_value = header->if_contains("alg");
  if (alg_value == nullptr || !alg_value->is_string()) return refuse(Failure::malformed, "header has no alg string");
  // crit names extensions the signer requires us to understand; we implement none (RFC 7515 4.1.11).
  if (header->contains("crit")) return refuse(Failure::malformed, "header has crit; no extension is supported");
  const std::string_view alg_name = alg_value->get_string();
  const JwsAlg* alg = find_alg(alg_name);
  if (alg == nullptr) {
    // Only our own words in the message: alg is attacker-chosen text.
    return refuse(Failure::alg_not_allowed, alg_name == "none"          ? "alg none is never accepted"
                                            : alg_name.starts_with("HS") ? "HMAC algs (HS*) are never accepted"
                                                                         : "alg is not supported");
  }
  if (std::find(allowed_algs.begin(), allowed_algs.end(), alg->name) == allowed_algs.end()) {
    return refuse(Failure::alg_not_allowed, "alg " + std::string(alg->name) + " is not in the allowed list");
  }
  std::optional<std::string_view> kid;
  if (const auto* kid_value = header->if_contains("kid")) {
    if (!kid_value->is_string()) return refuse(Failure::malformed, "header kid is not a string");
    kid = kid_value->get_string();
  }

  // After the alg checks, so an unsigned "none" token is reported as the refused alg it is.
  if (signature.empty()) return refuse(Failure::malformed, "signature is empty");

  const KeyChoice choice = choose_key(keys, *alg, kid);
  if (choice.key == nullptr) return refuse(choice.failure, choice.message);
  if (!verify_with(*alg, choice.key->key.get(), signing_input, signature)) {
    return refuse(Failure::bad_signature, "signature does not verify");
  }
  auto payload = parse_object(parts->payload);
  if (!payload) return refuse(Failure::malformed, "payload is not a JSON object");
  return {VerifiedJws{std::move(*header), std::move(*payload)}, {}, {}};
}

bool verify_signature(std::string_view alg_name, const Jwk& key, std::string_view signing_input,
                      std::string_view signature) {
  const OpenSslErrorScope openssl_errors;
  const JwsAlg* alg = find_alg(alg_name);
  return alg != nullptr && fits(key, *alg) && verify_with(*alg, key.key.get(), signing_input, signature);
}

} // namespace gatehouse::jose
