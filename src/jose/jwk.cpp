// jose/jwk: JWKS parsing with OpenSSL 3's EVP_PKEY_fromdata. Every key is built from its public members
// only and passed through EVP_PKEY_public_check, so a key in the set is one OpenSSL agrees is valid.
#include "jose/jwk.hpp"

#include <algorithm>
#include <array>
#include <span>

#include <boost/json.hpp>
#include <openssl/core_names.h>

#include "jose/alg.hpp"
#include "jose/base64url.hpp"

namespace gatehouse::jose {
namespace {

using boost::json::object;

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384; // OpenSSL's own ceiling; also bounds the cost of each verification

// A JWKS is public; any of these members means the provider is leaking a private key, which we refuse to use.
constexpr std::array<std::string_view, 8> kPrivateMembers{"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

struct Curve {
  std::string_view crv;
  const char* openssl_name;
  std::size_t public_bytes; // EC: bytes of x and of y; OKP: bytes of x
};
constexpr std::array<Curve, 3> kEcCurves{{{"P-256", "prime256v1", 32}, {"P-384", "secp384r1", 48}, {"P-521", "secp521r1", 66}}};
constexpr std::array<Curve, 2> kOkpCurves{{{"Ed25519", "ED25519", 32}, {"Ed448", "ED448", 57}}};

const Curve* find_curve(std::span<const Curve> curves, std::string_view crv) {
  const auto found = std::find_if(curves.begin(), curves.end(), [&](const Curve& c) { return c.crv == crv; });
  return found == curves.end() ? nullptr : &*found;
}

// Either a key or the reason there is none.
struct Built {
  PkeyPtr key;
  const char* reason = nullptr;
};
Built refused(const char* reason) { return {nullptr, reason}; }

const unsigned char* bytes_of(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// False when the member is present but not a string; `out` is set when it is a string.
bool read_optional_string(const object& jwk, std::string_view name, std::optional<std::string>& out) {
  const auto* value = jwk.if_contains(name);
  if (value == nullptr) return true;
  if (!value->is_string()) return false;
  out.emplace(value->get_string());
  return true;
}

// The decoded bytes of a base64url member; nullopt when it is missing, not a string or not canonical.
std::optional<std::string> read_bytes(const object& jwk, std::string_view name) {
  const auto* value = jwk.if_contains(name);
  if (value == nullptr || !value->is_string()) return std::nullopt;
  return base64url_decode(value->get_string());
}

PkeyPtr from_params(const char* type, OSSL_PARAM_BLD* builder) {
  const ParamsPtr params(OSSL_PARAM_BLD_to_param(builder));
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  PkeyPtr key(raw);
  // EC: the point is on the curve (fromdata alone does not promise it in every 3.x); RSA: n odd, e sane.
  const PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

Built rsa_key(const object& jwk) {
  const auto n = read_bytes(jwk, "n");
  const auto e = read_bytes(jwk, "e");
  if (!n || n->empty()) return refused("n is missing or not base64url");
  if (!e || e->empty()) return refused("e is missing or not base64url");
  const BignumPtr modulus(BN_bin2bn(bytes_of(*n), static_cast<int>(n->size()), nullptr));
  const BignumPtr exponent(BN_bin2bn(bytes_of(*e), static_cast<int>(e->size()), nullptr));
  if (!modulus || !exponent) return refused("out of memory");
  const int bits = BN_num_bits(modulus.get());
  if (bits < kMinRsaBits) return refused("RSA modulus is shorter than 2048 bits");
  if (bits > kMaxRsaBits) return refused("RSA modulus is longer than 16384 bits");
  const ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    return refused("out of memory");
  }
  auto key = from_params("RSA", builder.get());
  return key ? Built{std::move(key)} : refused("RSA key fails OpenSSL's public key check");
}

Built ec_key(const object& jwk, std::string_view crv) {
  const Curve* curve = find_curve(kEcCurves, crv);
  if (curve == nullptr) return refused("EC crv is not P-256, P-384 or P-521");
  const auto x = read_bytes(jwk, "x");
  const auto y = read_bytes(jwk, "y");
  // RFC 7518 6.2.1.2: coordinates are exactly the field size, leading zeros included.
  if (!x || x->size() != curve->public_bytes) return refused("EC x is missing, not base64url or of the wrong length");
  if (!y || y->size() != curve->public_bytes) return refused("EC y is missing, not base64url or of the wrong length");
  const std::string point = '\x04' + *x + *y; // SEC 1 uncompressed point
  const ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->openssl_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return refused("out of memory");
  }
  auto key = from_params("EC", builder.get());
  return key ? Built{std::move(key)} : refused("EC point is not on the curve");
}

Built okp_key(const object& jwk, std::string_view crv) {
  const Curve* curve = find_curve(kOkpCurves, crv);
  if (curve == nullptr) return refused("OKP crv is not Ed25519 or Ed448");
  const auto x = read_bytes(jwk, "x");
  if (!x || x->size() != curve->public_bytes) return refused("OKP x is missing, not base64url or of the wrong length");
  const ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, x->data(), x->size()) != 1) {
    return refused("out of memory");
  }
  auto key = from_params(curve->openssl_name, builder.get());
  return key ? Built{std::move(key)} : refused("OKP key fails OpenSSL's public key check");
}

// key_ops, when present, must allow verification; "use" and "key_ops" are both checked since providers set either.
bool allows_verify(const boost::json::value& key_ops) {
  if (!key_ops.is_array()) return false;
  const auto& ops = key_ops.get_array();
  return std::any_of(ops.begin(), ops.end(), [](const auto& op) { return op.is_string() && op.get_string() == "verify"; });
}

// Fills `jwk` or returns why this entry is skipped.
const char* parse_key(const boost::json::value& entry, Jwk& jwk) {
  if (!entry.is_object()) return "not a JSON object";
  const object& member = entry.get_object();
  if (!read_optional_string(member, "kid", jwk.kid)) return "kid is not a string";
  const auto* kty = member.if_contains("kty");
  if (kty == nullptr || !kty->is_string()) return "kty is missing or not a string";
  jwk.kty = kty->get_string();
  if (!read_optional_string(member, "use", jwk.use)) return "use is not a string";
  if (jwk.use && *jwk.use != "sig") return "use is not sig";
  if (const auto* ops = member.if_contains("key_ops"); ops != nullptr && !allows_verify(*ops)) {
    return "key_ops does not include verify";
  }
  for (const auto name : kPrivateMembers) {
    if (member.contains(name)) return "publishes private key members";
  }
  if (!read_optional_string(member, "alg", jwk.alg)) return "alg is not a string";
  if (jwk.kty == "EC" || jwk.kty == "OKP") {
    const auto* crv = member.if_contains("crv");
    if (crv == nullptr || !crv->is_string()) return "crv is missing or not a string";
    jwk.crv = crv->get_string();
  }
  if (jwk.kty != "RSA" && jwk.kty != "EC" && jwk.kty != "OKP") return "kty is not RSA, EC or OKP";
  if (jwk.alg) {
    const JwsAlg* alg = find_alg(*jwk.alg);
    if (alg == nullptr) return "alg is not a supported signature algorithm";
    if (!key_type_fits(*alg, jwk.kty, jwk.crv)) return "alg does not fit the key's kty/crv";
  }

  Built built = jwk.kty == "RSA" ? rsa_key(member) : jwk.kty == "EC" ? ec_key(member, jwk.crv) : okp_key(member, jwk.crv);
  if (!built.key) return built.reason;
  jwk.key = std::move(built.key);
  return nullptr;
}

} // namespace

JwksParse parse_jwks(std::string_view json) {
  const OpenSslErrorScope openssl_errors;
  if (json.size() > kMaxJwksBytes) return {std::nullopt, "JWKS document is larger than 256 KiB"};
  boost::system::error_code ec;
  const boost::json::value document = boost::json::parse(json, ec);
  if (ec) return {std::nullopt, "JWKS document is not JSON"};
  const auto* keys = document.is_object() ? document.get_object().if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) return {std::nullopt, "JWKS document has no \"keys\" array"};
  if (keys->get_array().size() > kMaxJwksKeys) return {std::nullopt, "JWKS document has more than 64 keys"};

  JwkSet set;
  std::size_t index = 0;
  for (const auto& entry : keys->get_array()) {
    Jwk jwk;
    if (const char* reason = parse_key(entry, jwk)) {
      set.skipped.push_back({index, std::move(jwk.kid), reason});
    } else {
      set.keys.push_back(std::move(jwk));
    }
    ++index;
  }
  return {std::move(set), {}};
}

} // namespace gatehouse::jose
