// Tests for jose/: strict base64url, JWKS parsing (every skip reason, document limits) and compact JWS
// verification: every supported alg with keys generated here, the RFC 7515/8037 known answers, and each
// refusal (alg none, HS* key confusion, wrong key type, unknown kid, tampering, malformed tokens, ...).
#include "jose/base64url.hpp"
#include "jose/jwk.hpp"
#include "jose/jws.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <tuple>
#include <vector>

#include <boost/json.hpp>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace gatehouse::jose {
namespace {

namespace json = boost::json;

// ---- Test-only key generation, JWK export and signing ----------------------------------------------------

PkeyPtr generate_rsa(unsigned bits) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  EXPECT_TRUE(key);
  return key;
}
PkeyPtr generate_ec(const char* curve) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  EXPECT_TRUE(key);
  return key;
}
PkeyPtr generate_ed(const char* type) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
  EXPECT_TRUE(key);
  return key;
}

// Generated once: RSA key generation dominates the run time otherwise.
struct TestKeys {
  PkeyPtr rsa = generate_rsa(2048);
  PkeyPtr rsa_other = generate_rsa(2048);
  PkeyPtr rsa_1024 = generate_rsa(1024);
  PkeyPtr p256 = generate_ec("P-256");
  PkeyPtr p384 = generate_ec("P-384");
  PkeyPtr p521 = generate_ec("P-521");
  PkeyPtr ed25519 = generate_ed("ED25519");
  PkeyPtr ed448 = generate_ed("ED448");
};
const TestKeys& test_keys() {
  static const TestKeys keys;
  return keys;
}

std::string bn_param(EVP_PKEY* key, const char* name, std::size_t width = 0) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &raw), 1) << name;
  const BignumPtr bn(raw);
  std::string out(width != 0 ? width : static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
  EXPECT_GT(BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())), 0);
  return out;
}

std::string ec_crv(EVP_PKEY* key) {
  std::array<char, 64> group{};
  std::size_t length = 0;
  EXPECT_EQ(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &length), 1);
  const std::string name(group.data(), length);
  if (name == "prime256v1") return "P-256";
  if (name == "secp384r1") return "P-384";
  if (name == "secp521r1") return "P-521";
  ADD_FAILURE() << "unexpected group " << name;
  return name;
}

// The public half of `key` as a JWK object, the way an identity provider would publish it.
json::object public_jwk(EVP_PKEY* key, std::string_view kid = {}) {
  json::object jwk;
  if (EVP_PKEY_is_a(key, "RSA")) {
    jwk["kty"] = "RSA";
    jwk["n"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N));
    jwk["e"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E));
  } else if (EVP_PKEY_is_a(key, "EC")) {
    const auto width = static_cast<std::size_t>((EVP_PKEY_get_bits(key) + 7) / 8);
    jwk["kty"] = "EC";
    jwk["crv"] = ec_crv(key);
    jwk["x"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, width));
    jwk["y"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, width));
  } else {
    std::array<unsigned char, 64> public_key{};
    std::size_t length = 0;
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, public_key.data(), public_key.size(), &length), 1);
    jwk["kty"] = "OKP";
    jwk["crv"] = EVP_PKEY_is_a(key, "ED25519") ? "Ed25519" : "Ed448";
    jwk["x"] = base64url_encode(std::span<const unsigned char>(public_key.data(), length));
  }
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

std::string jwks_document(std::vector<json::object> jwks) {
  json::array keys;
  for (auto& jwk : jwks) keys.emplace_back(std::move(jwk));
  return json::serialize(json::object{{"keys", std::move(keys)}});
}

JwkSet key_set(std::vector<json::object> jwks) {
  const std::size_t count = jwks.size();
  auto parsed = parse_jwks(jwks_document(std::move(jwks)));
  EXPECT_TRUE(parsed.set) << parsed.error;
  if (!parsed.set) return {};
  EXPECT_EQ(parsed.set->keys.size(), count);
  for (const auto& skipped : parsed.set->skipped) ADD_FAILURE() << "key " << skipped.index << " skipped: " << skipped.reason;
  return std::move(*parsed.set);
}

const char* digest_of(std::string_view alg) {
  if (alg.ends_with("256")) return "SHA256";
  if (alg.ends_with("384")) return "SHA384";
  if (alg.ends_with("512")) return "SHA512";
  return nullptr; // EdDSA
}

struct SignOptions {
  int pss_salt = RSA_PSS_SALTLEN_DIGEST;
  bool ecdsa_der = false; // leave ECDSA signatures in OpenSSL's DER rather than JWS R||S
};

// Signs as a JWS producer would for `alg`: PKCS#1 v1.5, PSS, ECDSA (converted to R||S) or EdDSA.
std::string sign(std::string_view alg, EVP_PKEY* key, std::string_view input, SignOptions options = {}) {
  const MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pkey_ctx, digest_of(alg), nullptr, nullptr, key, nullptr), 1) << alg;
  if (alg.starts_with("PS")) {
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pkey_ctx, digest_of(alg), nullptr), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, options.pss_salt), 1);
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t length = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()), 1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data, input.size()), 1);
  signature.resize(length);
  if (!alg.starts_with("ES") || options.ecdsa_der) return signature;

  const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
  const OpenSslPtr<ECDSA_SIG, ECDSA_SIG_free> parsed(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())));
  EXPECT_TRUE(parsed);
  const std::size_t half = alg == "ES256" ? 32 : alg == "ES384" ? 48 : 66;
  std::string raw(2 * half, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), out, static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), out + half, static_cast<int>(half));
  return raw;
}

std::string segment(std::string_view json_text) { return base64url_encode(json_text); }

// A compact JWS from literal header and payload JSON, signed for `sign_alg` (normally the header's alg).
std::string token(std::string_view header, std::string_view payload, std::string_view sign_alg, EVP_PKEY* key,
                  SignOptions options = {}) {
  const std::string input = segment(header) + "." + segment(payload);
  return input + "." + base64url_encode(sign(sign_alg, key, input, options));
}

std::string token(const json::object& header, std::string_view payload, EVP_PKEY* key, SignOptions options = {}) {
  return token(json::serialize(header), payload, header.at("alg").as_string(), key, options);
}

constexpr std::string_view kPayload = R"({"iss":"https://idp.example","sub":"alice","exp":2000000000})";

const std::vector<std::string> kAllAlgs{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                        "ES256", "ES384", "ES512", "EdDSA"};

std::vector<std::string> only(std::string alg) { return {std::move(alg)}; }

std::string replace_segment(std::string_view compact, std::size_t index, std::string_view replacement) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot; (dot = compact.find('.', start)) != std::string_view::npos; start = dot + 1) {
    parts.emplace_back(compact.substr(start, dot - start));
  }
  parts.emplace_back(compact.substr(start));
  parts.at(index) = replacement;
  std::string out = parts[0];
  for (std::size_t i = 1; i < parts.size(); ++i) out += "." + parts[i];
  return out;
}

std::string decode(std::string_view text) {
  auto decoded = base64url_decode(text);
  EXPECT_TRUE(decoded) << text;
  return decoded.value_or("");
}

// ---- base64url -----------------------------------------------------------------------------------------

TEST(JoseBase64url, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64url_encode(std::string_view("")), "");
  EXPECT_EQ(base64url_encode(std::string_view("f")), "Zg");
  EXPECT_EQ(base64url_encode(std::string_view("fo")), "Zm8");
  EXPECT_EQ(base64url_encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64url_encode(std::string_view("foob")), "Zm9vYg");
  EXPECT_EQ(base64url_encode(std::string_view("fooba")), "Zm9vYmE");
  EXPECT_EQ(base64url_encode(std::string_view("foobar")), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode(std::string_view("\xfb\xff\xbf", 3)), "-_-_"); // the two URL-safe characters
}

TEST(JoseBase64url, DecodesRfc4648Vectors) {
  EXPECT_EQ(base64url_decode(""), "");
  EXPECT_EQ(base64url_decode("Zg"), "f");
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_EQ(base64url_decode("Zm9v"), "foo");
  EXPECT_EQ(base64url_decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf", 3));
}

TEST(JoseBase64url, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base64url_decode(base64url_encode(bytes)), bytes) << "length " << bytes.size();
    bytes.push_back(static_cast<char>((i * 37 + 11) & 0xFF));
  }
}

TEST(JoseBase64url, EncodesPkceS256ChallengeFromRfc7636AppendixB) {
  const std::string_view verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  std::array<unsigned char, 32> digest{};
  unsigned length = 0;
  ASSERT_EQ(EVP_Digest(verifier.data(), verifier.size(), digest.data(), &length, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(base64url_encode(digest), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(JoseBase64url, RejectsPadding) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("Zm9v===="));
  EXPECT_FALSE(base64url_decode("===="));
}

TEST(JoseBase64url, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(base64url_decode("Zm+v")); // standard base64, not base64url
  EXPECT_FALSE(base64url_decode("Zm/v"));
  EXPECT_FALSE(base64url_decode("Zm9v\n"));
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm9v\0Zg", 7)));
  EXPECT_FALSE(base64url_decode("Zm9v.Zg"));
  EXPECT_FALSE(base64url_decode("Zm9\xc3\xa9"));
}

TEST(JoseBase64url, RejectsImpossibleLength) {
  EXPECT_FALSE(base64url_decode("Z"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));
}

TEST(JoseBase64url, RejectsNonCanonicalTrailingBits) {
  EXPECT_FALSE(base64url_decode("Zh"));  // "f" is "Zg"; "Zh" sets one of the 4 unused bits
  EXPECT_FALSE(base64url_decode("Zv"));
  EXPECT_FALSE(base64url_decode("Zm9")); // "fo" is "Zm8"; "Zm9" sets one of the 2 unused bits
  EXPECT_FALSE(base64url_decode("Zm9vYh"));
  EXPECT_TRUE(base64url_decode("Zm8"));
}

// ---- JWKS parsing --------------------------------------------------------------------------------------

TEST(JwkParse, BuildsEverySupportedKeyType) {
  const auto& k = test_keys();
  const auto set = key_set({public_jwk(k.rsa.get(), "rsa"), public_jwk(k.p256.get(), "p256"),
                            public_jwk(k.p384.get(), "p384"), public_jwk(k.p521.get(), "p521"),
                            public_jwk(k.ed25519.get(), "ed25519"), public_jwk(k.ed448.get(), "ed448")});
  ASSERT_EQ(set.keys.size(), 6u);
  const std::array<std::pair<const char*, const char*>, 6> expected{
      {{"RSA", ""}, {"EC", "P-256"}, {"EC", "P-384"}, {"EC", "P-521"}, {"OKP", "Ed25519"}, {"OKP", "Ed448"}}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(set.keys[i].kty, expected[i].first);
    EXPECT_EQ(set.keys[i].crv, expected[i].second);
    EXPECT_TRUE(set.keys[i].key);
  }
  EXPECT_EQ(set.keys[0].kid, "rsa");
  EXPECT_EQ(EVP_PKEY_get_bits(set.keys[0].key.get()), 2048);
  EXPECT_EQ(EVP_PKEY_eq(set.keys[1].key.get(), k.p256.get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(set.keys[4].key.get(), k.ed25519.get()), 1);
}

TEST(JwkParse, ReadsOptionalMembers) {
  auto jwk = public_jwk(test_keys().rsa.get());
  jwk["alg"] = "RS256";
  jwk["use"] = "sig";
  jwk["key_ops"] = json::array{"verify"};
  jwk["x5t"] = "ignored";
  const auto set = key_set({jwk, public_jwk(test_keys().p256.get())});
  ASSERT_EQ(set.keys.size(), 2u);
  EXPECT_FALSE(set.keys[0].kid);
  EXPECT_EQ(set.keys[0].alg, "RS256");
  EXPECT_EQ(set.keys[0].use, "sig");
  EXPECT_FALSE(set.keys[1].alg);
  EXPECT_FALSE(set.keys[1].use);
}

// Parses a one-key document and returns why the key was skipped ("" if it was not).
std::string skip_reason(const json::value& jwk) {
  auto parsed = parse_jwks(json::serialize(json::object{{"keys", json::array{jwk}}}));
  EXPECT_TRUE(parsed.set) << parsed.error;
  if (!parsed.set || parsed.set->skipped.empty()) return "";
  EXPECT_TRUE(parsed.set->keys.empty());
  return parsed.set->skipped.front().reason;
}

TEST(JwkParse, SkipsKeysNotForSignatures) {
  auto enc = public_jwk(test_keys().rsa.get(), "enc");
  enc["use"] = "enc";
  EXPECT_EQ(skip_reason(enc), "use is not sig");
  auto ops = public_jwk(test_keys().rsa.get());
  ops["key_ops"] = json::array{"encrypt", "wrapKey"};
  EXPECT_EQ(skip_reason(ops), "key_ops does not include verify");
}

TEST(JwkParse, SkipsKeysThatPublishPrivateMembers) {
  auto ec = public_jwk(test_keys().p256.get());
  ec["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
  EXPECT_EQ(skip_reason(ec), "publishes private key members");
  for (const char* member : {"p", "q", "dp", "dq", "qi", "d"}) {
    auto rsa = public_jwk(test_keys().rsa.get());
    rsa[member] = "AQAB";
    EXPECT_EQ(skip_reason(rsa), "publishes private key members") << member;
  }
  EXPECT_EQ(skip_reason(json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}}), "publishes private key members");
}

TEST(JwkParse, SkipsUnsupportedKeyTypesAndCurves) {
  EXPECT_EQ(skip_reason(json::object{{"kty", "oct"}, {"kid", "hmac"}}), "kty is not RSA, EC or OKP");
  EXPECT_EQ(skip_reason(json::object{{"kty", "rsa"}}), "kty is not RSA, EC or OKP");
  auto secp256k1 = public_jwk(test_keys().p256.get());
  secp256k1["crv"] = "secp256k1";
  EXPECT_EQ(skip_reason(secp256k1), "EC crv is not P-256, P-384 or P-521");
  auto x25519 = public_jwk(test_keys().ed25519.get());
  x25519["crv"] = "X25519";
  EXPECT_EQ(skip_reason(x25519), "OKP crv is not Ed25519 or Ed448");
}

TEST(JwkParse, SkipsRsaKeysBelow2048Bits) {
  EXPECT_EQ(skip_reason(public_jwk(test_keys().rsa_1024.get())), "RSA modulus is shorter than 2048 bits");
}

TEST(JwkParse, SkipsEcPointNotOnCurve) {
  auto jwk = public_jwk(test_keys().p256.get());
  std::string y = decode(jwk["y"].as_string());
  y.back() = static_cast<char>(y.back() ^ 1);
  jwk["y"] = base64url_encode(y);
  EXPECT_EQ(skip_reason(jwk), "EC point is not on the curve");
}

TEST(JwkParse, SkipsRsaKeysFailingThePublicKeyCheck) {
  auto even = public_jwk(test_keys().rsa.get());
  std::string n = decode(even["n"].as_string());
  n.back() = static_cast<char>(n.back() & ~1); // an RSA modulus is odd
  even["n"] = base64url_encode(n);
  EXPECT_EQ(skip_reason(even), "RSA key fails OpenSSL's public key check");
}

TEST(JwkParse, SkipsMalformedMembers) {
  const auto& k = test_keys();
  auto bad_n = public_jwk(k.rsa.get());
  bad_n["n"] = "not+base64url";
  EXPECT_EQ(skip_reason(bad_n), "n is missing or not base64url");
  auto no_e = public_jwk(k.rsa.get());
  no_e.erase("e");
  EXPECT_EQ(skip_reason(no_e), "e is missing or not base64url");
  auto short_x = public_jwk(k.p384.get());
  short_x["x"] = base64url_encode(decode(short_x["x"].as_string()).substr(1)); // leading zeros are required
  EXPECT_EQ(skip_reason(short_x), "EC x is missing, not base64url or of the wrong length");
  auto okp_x = public_jwk(k.ed448.get());
  okp_x["x"] = 57;
  EXPECT_EQ(skip_reason(okp_x), "OKP x is missing, not base64url or of the wrong length");
  auto no_crv = public_jwk(k.p256.get());
  no_crv.erase("crv");
  EXPECT_EQ(skip_reason(no_crv), "crv is missing or not a string");
  auto kid = public_jwk(k.rsa.get());
  kid["kid"] = 7;
  EXPECT_EQ(skip_reason(kid), "kid is not a string");
  EXPECT_EQ(skip_reason(json::object{{"n", "AQAB"}}), "kty is missing or not a string");
  EXPECT_EQ(skip_reason(json::array{}), "not a JSON object");
  EXPECT_EQ(skip_reason("RSA"), "not a JSON object");
}

TEST(JwkParse, SkipsKeysWhoseAlgIsUnsupportedOrDoesNotFit) {
  const auto& k = test_keys();
  auto hs = public_jwk(k.rsa.get());
  hs["alg"] = "HS256";
  EXPECT_EQ(skip_reason(hs), "alg is not a supported signature algorithm");
  auto oaep = public_jwk(k.rsa.get());
  oaep["alg"] = "RSA-OAEP";
  EXPECT_EQ(skip_reason(oaep), "alg is not a supported signature algorithm");
  auto ec_as_rsa = public_jwk(k.p256.get());
  ec_as_rsa["alg"] = "RS256";
  EXPECT_EQ(skip_reason(ec_as_rsa), "alg does not fit the key's kty/crv");
  auto wrong_curve = public_jwk(k.p384.get());
  wrong_curve["alg"] = "ES256";
  EXPECT_EQ(skip_reason(wrong_curve), "alg does not fit the key's kty/crv");
}

TEST(JwkParse, KeepsGoodKeysAndRecordsWhereSkippedOnesWere) {
  const auto& k = test_keys();
  auto enc = public_jwk(k.rsa_other.get(), "enc-key");
  enc["use"] = "enc";
  auto parsed = parse_jwks(jwks_document({public_jwk(k.rsa.get(), "a"), enc, public_jwk(k.rsa_1024.get()),
                                          public_jwk(k.p256.get(), "b")}));
  ASSERT_TRUE(parsed.set) << parsed.error;
  ASSERT_EQ(parsed.set->keys.size(), 2u);
  EXPECT_EQ(parsed.set->keys[0].kid, "a");
  EXPECT_EQ(parsed.set->keys[1].kid, "b");
  ASSERT_EQ(parsed.set->skipped.size(), 2u);
  EXPECT_EQ(parsed.set->skipped[0].index, 1u);
  EXPECT_EQ(parsed.set->skipped[0].kid, "enc-key");
  EXPECT_EQ(parsed.set->skipped[1].index, 2u);
  EXPECT_FALSE(parsed.set->skipped[1].kid);
}

TEST(JwkParse, AcceptsDocumentWithNoUsableKeys) {
  auto parsed = parse_jwks(R"({"keys":[]})");
  ASSERT_TRUE(parsed.set) << parsed.error;
  EXPECT_TRUE(parsed.set->keys.empty());
  EXPECT_TRUE(parsed.set->skipped.empty());
}

TEST(JwkParse, RejectsDocumentThatIsNotJson) {
  for (const char* text : {"", "not json", "{\"keys\":[", "<html>502 Bad Gateway</html>"}) {
    const auto parsed = parse_jwks(text);
    EXPECT_FALSE(parsed.set) << text;
    EXPECT_EQ(parsed.error, "JWKS document is not JSON") << text;
  }
}

TEST(JwkParse, RejectsDocumentWithoutKeysArray) {
  for (const char* text : {"{}", "[]", R"({"keys":{}})", R"({"keys":"none"})", R"({"Keys":[]})", "null"}) {
    const auto parsed = parse_jwks(text);
    EXPECT_FALSE(parsed.set) << text;
    EXPECT_EQ(parsed.error, "JWKS document has no \"keys\" array") << text;
  }
}

TEST(JwkParse, EnforcesKeyCountLimit) {
  const auto jwk = public_jwk(test_keys().ed25519.get());
  std::vector<json::object> keys(kMaxJwksKeys, jwk);
  auto at_limit = parse_jwks(jwks_document(keys));
  ASSERT_TRUE(at_limit.set) << at_limit.error;
  EXPECT_EQ(at_limit.set->keys.size(), kMaxJwksKeys);
  keys.push_back(jwk);
  const auto over = parse_jwks(jwks_document(keys));
  EXPECT_FALSE(over.set);
  EXPECT_EQ(over.error, "JWKS document has more than 64 keys");
}

TEST(JwkParse, EnforcesDocumentSizeLimit) {
  std::string document = R"({"keys":[],"padding":")";
  document += std::string(kMaxJwksBytes, 'a') + "\"}";
  const auto parsed = parse_jwks(document);
  EXPECT_FALSE(parsed.set);
  EXPECT_EQ(parsed.error, "JWKS document is larger than 256 KiB");
}

TEST(JwkParse, LeavesNoOpenSslErrorsBehind) {
  ERR_clear_error();
  auto bad = public_jwk(test_keys().p256.get());
  bad["y"] = bad["x"];
  EXPECT_EQ(skip_reason(bad), "EC point is not on the curve");
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

// ---- RFC known answers ---------------------------------------------------------------------------------

// RFC 7515 Appendix A.2/A.3 payload: {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
constexpr std::string_view kRfc7515Payload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

void expect_rfc7515_claims(const VerifyResult& result) {
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.verified->payload.at("iss"), "joe");
  EXPECT_EQ(result.verified->payload.at("exp"), 1300819380);
  EXPECT_EQ(result.verified->payload.at("http://example.com/is_root"), true);
}

TEST(JoseRfcVectors, Rfc7515AppendixA2Rs256) {
  const auto set = key_set({json::object{
      {"kty", "RSA"},
      {"n", "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-"
            "SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-"
            "UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_"
            "h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"},
      {"e", "AQAB"}}});
  const std::string jws =
      "eyJhbGciOiJSUzI1NiJ9." + std::string(kRfc7515Payload) +
      ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr"
      "7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--"
      "xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_"
      "IoypGlUPQGe77Rw";
  const auto result = verify_compact(jws, set, only("RS256"));
  expect_rfc7515_claims(result);
  EXPECT_EQ(result.verified->header, (json::object{{"alg", "RS256"}}));
}

TEST(JoseRfcVectors, Rfc7515AppendixA3Es256) {
  const auto set = key_set({json::object{{"kty", "EC"},
                                         {"crv", "P-256"},
                                         {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                                         {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}});
  const std::string jws = "eyJhbGciOiJFUzI1NiJ9." + std::string(kRfc7515Payload) +
                          ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  expect_rfc7515_claims(verify_compact(jws, set, only("ES256")));
}

// Its payload is the text "Example of Ed25519 signing", not a JSON object, so the signature is checked
// through verify_signature; verify_compact then gets past the signature and stops at the payload.
TEST(JoseRfcVectors, Rfc8037AppendixA4Ed25519) {
  const auto set = key_set(
      {json::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}});
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  const std::string signature_text =
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
  const std::string signature = decode(signature_text);
  EXPECT_EQ(decode("RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"), "Example of Ed25519 signing");
  EXPECT_TRUE(verify_signature("EdDSA", set.keys.at(0), input, signature));
  EXPECT_FALSE(verify_signature("EdDSA", set.keys.at(0), input + "x", signature));
  EXPECT_FALSE(verify_signature("ES256", set.keys.at(0), input, signature)); // alg does not fit an OKP key

  const auto result = verify_compact(input + "." + signature_text, set, only("EdDSA"));
  EXPECT_EQ(result.failure, Failure::malformed);
  EXPECT_EQ(result.message, "payload is not a JSON object");
}

// ---- Successful verification ---------------------------------------------------------------------------

TEST(JoseVerify, VerifiesEveryAlgorithm) {
  const auto& k = test_keys();
  const auto set = key_set({public_jwk(k.rsa.get(), "rsa"), public_jwk(k.p256.get(), "p256"),
                            public_jwk(k.p384.get(), "p384"), public_jwk(k.p521.get(), "p521"),
                            public_jwk(k.ed25519.get(), "ed25519"), public_jwk(k.ed448.get(), "ed448")});
  const std::array<std::tuple<const char*, const char*, EVP_PKEY*>, 11> cases{{
      {"RS256", "rsa", k.rsa.get()},     {"RS384", "rsa", k.rsa.get()},        {"RS512", "rsa", k.rsa.get()},
      {"PS256", "rsa", k.rsa.get()},     {"PS384", "rsa", k.rsa.get()},        {"PS512", "rsa", k.rsa.get()},
      {"ES256", "p256", k.p256.get()},   {"ES384", "p384", k.p384.get()},      {"ES512", "p521", k.p521.get()},
      {"EdDSA", "ed25519", k.ed25519.get()}, {"EdDSA", "ed448", k.ed448.get()},
  }};
  for (const auto& [alg, kid, key] : cases) {
    const auto jws = token(json::object{{"alg", alg}, {"kid", kid}, {"typ", "JWT"}}, kPayload, key);
    const auto result = verify_compact(jws, set, kAllAlgs);
    ASSERT_TRUE(result.ok()) << alg << "/" << kid << ": " << result.message;
    EXPECT_EQ(result.verified->header.at("alg"), alg);
    EXPECT_EQ(result.verified->header.at("kid"), kid);
    EXPECT_EQ(result.verified->payload.at("sub"), "alice");
    EXPECT_EQ(result.verified->payload.at("exp"), 2000000000);
  }
}

TEST(JoseVerify, SelectsKeyByKidAmongSeveralOfTheSameType) {
  const auto& k = test_keys();
  const auto set = key_set({public_jwk(k.rsa.get(), "old"), public_jwk(k.rsa_other.get(), "new")});
  EXPECT_TRUE(verify_compact(token(json::object{{"alg", "RS256"}, {"kid", "new"}}, kPayload, k.rsa_other.get()), set,
                             only("RS256")).ok());
  EXPECT_TRUE(verify_compact(token(json::object{{"alg", "RS256"}, {"kid", "old"}}, kPayload, k.rsa.get()), set,
                             only("RS256")).ok());
}

TEST(JoseVerify, WithoutKidUsesTheOnlyKeyThatFitsTheAlg) {
  const auto& k = test_keys();
  const auto set = key_set({public_jwk(k.rsa.get(), "rsa"), public_jwk(k.p256.get(), "ec"),
                            public_jwk(k.p384.get(), "ec384")});
  EXPECT_TRUE(verify_compact(token(json::object{{"alg", "ES256"}}, kPayload, k.p256.get()), set, kAllAlgs).ok());
  EXPECT_TRUE(verify_compact(token(json::object{{"alg", "PS384"}}, kPayload, k.rsa.get()), set, kAllAlgs).ok());
}

TEST(JoseVerify, AcceptsJwkAlgEqualToHeaderAlg) {
  auto jwk = public_jwk(test_keys().p256.get(), "ec");
  jwk["alg"] = "ES256";
  const auto set = key_set({jwk});
  const auto jws = token(json::object{{"alg", "ES256"}, {"kid", "ec"}}, kPayload, test_keys().p256.get());
  EXPECT_TRUE(verify_compact(jws, set, only("ES256")).ok());
}

// ---- Refusals ------------------------------------------------------------------------------------------

struct Fixture {
  JwkSet set = key_set({public_jwk(test_keys().rsa.get(), "rsa"), public_jwk(test_keys().p256.get(), "ec")});
};

void expect_failure(const VerifyResult& result, Failure failure, std::string_view message = {}) {
  EXPECT_FALSE(result.ok());
  EXPECT_FALSE(result.verified);
  EXPECT_EQ(to_string(result.failure), to_string(failure)) << result.message;
  if (!message.empty()) {
    EXPECT_EQ(result.message, message);
  }
}

TEST(JoseRefuse, AlgNone) {
  const Fixture f;
  const std::string unsigned_token = segment(R"({"alg":"none"})") + "." + segment(kPayload) + ".";
  expect_failure(verify_compact(unsigned_token, f.set, kAllAlgs), Failure::alg_not_allowed, "alg none is never accepted");
  // Even when the caller lists it, and even with some bytes where the signature goes.
  const std::vector<std::string> with_none{"none", "RS256"};
  expect_failure(verify_compact(unsigned_token, f.set, with_none), Failure::alg_not_allowed);
  expect_failure(verify_compact(unsigned_token + "AAAA", f.set, with_none), Failure::alg_not_allowed);
  expect_failure(verify_compact(segment(R"({"alg":"None"})") + "." + segment(kPayload) + ".AAAA", f.set, kAllAlgs),
                 Failure::alg_not_allowed);
}

// The classic confusion: an HS256 token whose HMAC secret is the RSA public key as the verifier stores it.
TEST(JoseRefuse, Hs256SignedWithThePublicKeyAsSecret) {
  const Fixture f;
  const OpenSslPtr<BIO, BIO_free> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), test_keys().rsa.get()), 1);
  char* pem_data = nullptr;
  const long pem_size = BIO_get_mem_data(bio.get(), &pem_data);
  const std::string pem(pem_data, static_cast<std::size_t>(pem_size));
  const std::string jwk_text = json::serialize(public_jwk(test_keys().rsa.get(), "rsa"));
  const std::vector<std::string> careless{"HS256", "RS256"};

  for (const std::string& secret : {pem, jwk_text}) {
    const std::string input = segment(R"({"alg":"HS256","kid":"rsa"})") + "." + segment(kPayload);
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned mac_length = 0;
    ASSERT_TRUE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                     reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &mac_length));
    const std::string jws = input + "." + base64url_encode(std::span<const unsigned char>(mac.data(), mac_length));
    expect_failure(verify_compact(jws, f.set, careless), Failure::alg_not_allowed, "HMAC algs (HS*) are never accepted");
  }
}

TEST(JoseRefuse, AlgOutsideTheAllowlist) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS384"}, {"kid", "rsa"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(jws, f.set, only("RS256")), Failure::alg_not_allowed, "alg RS384 is not in the allowed list");
  expect_failure(verify_compact(jws, f.set, {}), Failure::alg_not_allowed);
}

TEST(JoseRefuse, UnsupportedAlgEvenIfAllowedAndNeverEchoed) {
  const Fixture f;
  const std::vector<std::string> allowed{"ES256K", "RS256"};
  const auto jws = segment(R"({"alg":"ES256K","kid":"ec"})") + "." + segment(kPayload) + ".AAAA";
  expect_failure(verify_compact(jws, f.set, allowed), Failure::alg_not_allowed, "alg is not supported");
  const auto injected = segment(R"({"alg":"\n<script>evil"})") + "." + segment(kPayload) + ".AAAA";
  const auto result = verify_compact(injected, f.set, allowed);
  expect_failure(result, Failure::alg_not_allowed);
  EXPECT_EQ(result.message.find("evil"), std::string::npos);
}

TEST(JoseRefuse, Rs256HeaderWithEcKey) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "ec"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::key_mismatch,
                 "the key with the token's kid cannot verify the token's alg");
}

TEST(JoseRefuse, Es256HeaderWithP384Key) {
  const auto set = key_set({public_jwk(test_keys().p384.get(), "ec")});
  const auto jws = token(json::object{{"alg", "ES256"}, {"kid", "ec"}}, kPayload, test_keys().p256.get());
  expect_failure(verify_compact(jws, set, kAllAlgs), Failure::key_mismatch);
}

TEST(JoseRefuse, UnknownKidIsKeyNotFound) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rotated"}}, kPayload, test_keys().rsa_other.get());
  const auto result = verify_compact(jws, f.set, kAllAlgs);
  expect_failure(result, Failure::key_not_found, "no key in the JWKS has the token's kid");
  EXPECT_TRUE(is_unknown_key(result));
  // After the caller refetches and the set has the new key, the same token verifies.
  const auto refetched = key_set({public_jwk(test_keys().rsa_other.get(), "rotated")});
  EXPECT_TRUE(verify_compact(jws, refetched, kAllAlgs).ok());
}

TEST(JoseRefuse, KidIsMatchedExactly) {
  const Fixture f;
  for (const char* kid : {"RSA", "rsa ", "rs", ""}) {
    const auto jws = token(json::object{{"alg", "RS256"}, {"kid", kid}}, kPayload, test_keys().rsa.get());
    expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::key_not_found);
  }
}

TEST(JoseRefuse, OtherFailuresAreNotUnknownKey) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "ec"}}, kPayload, test_keys().rsa.get());
  EXPECT_FALSE(is_unknown_key(verify_compact(jws, f.set, kAllAlgs)));
  const auto good = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, kPayload, test_keys().rsa.get());
  EXPECT_FALSE(is_unknown_key(verify_compact(good, f.set, kAllAlgs)));
}

TEST(JoseRefuse, TamperedPayload) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, kPayload, test_keys().rsa.get());
  const auto forged = replace_segment(jws, 1, segment(R"({"iss":"https://idp.example","sub":"admin","exp":2000000000})"));
  expect_failure(verify_compact(forged, f.set, kAllAlgs), Failure::bad_signature, "signature does not verify");
}

TEST(JoseRefuse, TamperedHeader) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "ES256"}, {"kid", "ec"}}, kPayload, test_keys().p256.get());
  const auto forged = replace_segment(jws, 0, segment(R"({"alg":"ES256","kid":"ec","typ":"JWT"})"));
  expect_failure(verify_compact(forged, f.set, kAllAlgs), Failure::bad_signature);
}

TEST(JoseRefuse, TamperedSignature) {
  const Fixture f;
  for (const auto& [alg, kid, key] : {std::tuple{"RS256", "rsa", test_keys().rsa.get()},
                                      std::tuple{"ES256", "ec", test_keys().p256.get()}}) {
    const auto jws = token(json::object{{"alg", alg}, {"kid", kid}}, kPayload, key);
    std::string signature = decode(jws.substr(jws.rfind('.') + 1));
    signature[signature.size() / 2] = static_cast<char>(signature[signature.size() / 2] ^ 0x01);
    expect_failure(verify_compact(replace_segment(jws, 2, base64url_encode(signature)), f.set, kAllAlgs),
                   Failure::bad_signature);
  }
}

TEST(JoseRefuse, SignatureFromAnotherKeyOfTheSameType) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, kPayload, test_keys().rsa_other.get());
  expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::bad_signature);
}

TEST(JoseRefuse, Es256SignatureOfWrongLength) {
  const Fixture f;
  const std::string header = R"({"alg":"ES256","kid":"ec"})";
  const std::string input = segment(header) + "." + segment(kPayload);
  const std::string raw = sign("ES256", test_keys().p256.get(), input);
  ASSERT_EQ(raw.size(), 64u);
  const std::string der = sign("ES256", test_keys().p256.get(), input, {.ecdsa_der = true});
  for (const std::string& signature : {der, raw.substr(0, 63), raw + std::string(1, '\0'), std::string(1, '\0') + raw,
                                       raw.substr(0, 32)}) {
    SCOPED_TRACE(std::to_string(signature.size()) + " bytes");
    expect_failure(verify_compact(input + "." + base64url_encode(signature), f.set, kAllAlgs), Failure::bad_signature);
  }
  EXPECT_TRUE(verify_compact(input + "." + base64url_encode(raw), f.set, kAllAlgs).ok());
}

TEST(JoseRefuse, RsaSignatureOfWrongLength) {
  const Fixture f;
  const std::string input = segment(R"({"alg":"RS256","kid":"rsa"})") + "." + segment(kPayload);
  const std::string signature = sign("RS256", test_keys().rsa.get(), input);
  expect_failure(verify_compact(input + "." + base64url_encode(std::string(1, '\0') + signature), f.set, kAllAlgs),
                 Failure::bad_signature);
}

TEST(JoseRefuse, Ps256SignatureVerifiedAsRs256) {
  const Fixture f;
  const std::string header = R"({"alg":"RS256","kid":"rsa"})";
  expect_failure(verify_compact(token(header, kPayload, "PS256", test_keys().rsa.get()), f.set, kAllAlgs),
                 Failure::bad_signature);
  const std::string pss_header = R"({"alg":"PS256","kid":"rsa"})";
  expect_failure(verify_compact(token(pss_header, kPayload, "RS256", test_keys().rsa.get()), f.set, kAllAlgs),
                 Failure::bad_signature);
  // PSS with a hash other than the header's.
  expect_failure(verify_compact(token(pss_header, kPayload, "PS384", test_keys().rsa.get()), f.set, kAllAlgs),
                 Failure::bad_signature);
}

TEST(JoseRefuse, Ps256WithSaltLengthOtherThanHashLength) {
  const Fixture f;
  const std::string header = R"({"alg":"PS256","kid":"rsa"})";
  EXPECT_TRUE(verify_compact(token(header, kPayload, "PS256", test_keys().rsa.get()), f.set, kAllAlgs).ok());
  expect_failure(verify_compact(token(header, kPayload, "PS256", test_keys().rsa.get(), {.pss_salt = 20}), f.set, kAllAlgs),
                 Failure::bad_signature);
  expect_failure(verify_compact(token(header, kPayload, "PS256", test_keys().rsa.get(), {.pss_salt = RSA_PSS_SALTLEN_MAX}),
                                f.set, kAllAlgs),
                 Failure::bad_signature);
}

TEST(JoseRefuse, NonCanonicalBase64url) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "ES256"}, {"kid", "ec"}}, kPayload, test_keys().p256.get());
  ASSERT_TRUE(verify_compact(jws, f.set, kAllAlgs).ok());
  const std::string msg = "a segment is not canonical unpadded base64url";
  expect_failure(verify_compact(jws + "==", f.set, kAllAlgs), Failure::malformed, msg); // padded signature
  const std::string header = jws.substr(0, jws.find('.'));
  expect_failure(verify_compact(replace_segment(jws, 0, header + "="), f.set, kAllAlgs), Failure::malformed, msg);
  std::string signature = jws.substr(jws.rfind('.') + 1);
  signature.front() = '+'; // standard base64, not base64url
  expect_failure(verify_compact(replace_segment(jws, 2, signature), f.set, kAllAlgs), Failure::malformed, msg);
  expect_failure(verify_compact(replace_segment(jws, 1, segment(kPayload) + " "), f.set, kAllAlgs), Failure::malformed, msg);
  expect_failure(verify_compact(replace_segment(jws, 1, segment(kPayload) + "A"), f.set, kAllAlgs), Failure::malformed, msg);
}

TEST(JoseRefuse, NonCanonicalTrailingBitsInSignature) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "ES256"}, {"kid", "ec"}}, kPayload, test_keys().p256.get());
  std::string signature = jws.substr(jws.rfind('.') + 1);
  // The last character of a 64-byte signature encodes 2 data bits and 4 zero bits; set the lowest one.
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const auto value = alphabet.find(signature.back());
  ASSERT_EQ(value % 16, 0u);
  signature.back() = alphabet[value | 1];
  expect_failure(verify_compact(replace_segment(jws, 2, signature), f.set, kAllAlgs), Failure::malformed,
                 "a segment is not canonical unpadded base64url");
}

TEST(JoseRefuse, WrongNumberOfSegments) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, kPayload, test_keys().rsa.get());
  const std::string msg = "token is not three dot-separated segments";
  expect_failure(verify_compact(jws + ".", f.set, kAllAlgs), Failure::malformed, msg);
  expect_failure(verify_compact(jws + ".AAAA", f.set, kAllAlgs), Failure::malformed, msg);
  expect_failure(verify_compact(jws.substr(0, jws.rfind('.')), f.set, kAllAlgs), Failure::malformed, msg);
  expect_failure(verify_compact("", f.set, kAllAlgs), Failure::malformed, msg);
  expect_failure(verify_compact("..", f.set, kAllAlgs), Failure::malformed);
}

TEST(JoseRefuse, HeaderNotAJsonObject) {
  const Fixture f;
  const std::string msg = "header is not a JSON object";
  for (const char* header : {R"(["RS256"])", R"("RS256")", "{\"alg\":\"RS256\"", "not json", "null", ""}) {
    const std::string input = segment(header) + "." + segment(kPayload);
    expect_failure(verify_compact(input + ".AAAA", f.set, kAllAlgs), Failure::malformed, msg);
  }
}

TEST(JoseRefuse, HeaderWithoutAlgString) {
  const Fixture f;
  for (const char* header : {R"({"kid":"rsa"})", R"({"alg":256})", R"({"alg":["RS256"]})", R"({"alg":null})"}) {
    expect_failure(verify_compact(segment(header) + "." + segment(kPayload) + ".AAAA", f.set, kAllAlgs),
                   Failure::malformed, "header has no alg string");
  }
}

// RFC 7515 5.2 allows either refusing duplicate header names or using the last one; Boost.JSON keeps the last.
TEST(JoseRefuse, DuplicateHeaderMemberUsesTheLastOne) {
  const Fixture f;
  const auto last_none = token(R"({"alg":"RS256","kid":"rsa","alg":"none"})", kPayload, "RS256", test_keys().rsa.get());
  expect_failure(verify_compact(last_none, f.set, kAllAlgs), Failure::alg_not_allowed);
  const auto last_rs256 = token(R"({"alg":"none","kid":"rsa","alg":"RS256"})", kPayload, "RS256", test_keys().rsa.get());
  const auto result = verify_compact(last_rs256, f.set, kAllAlgs);
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.verified->header.at("alg"), "RS256");
}

TEST(JoseRefuse, HeaderKidNotAString) {
  const Fixture f;
  const auto jws = token(R"({"alg":"RS256","kid":1})", kPayload, "RS256", test_keys().rsa.get());
  expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::malformed, "header kid is not a string");
}

TEST(JoseRefuse, CritPresent) {
  const Fixture f;
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}, {"crit", json::array{"exp"}}, {"exp", 1}},
                         kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::malformed, "header has crit; no extension is supported");
  const auto b64 = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}, {"b64", false}, {"crit", json::array{"b64"}}},
                         kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(b64, f.set, kAllAlgs), Failure::malformed);
}

TEST(JoseRefuse, JwkAlgDiffersFromHeaderAlg) {
  auto jwk = public_jwk(test_keys().rsa.get(), "rsa");
  jwk["alg"] = "PS256";
  const auto set = key_set({jwk});
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(jws, set, kAllAlgs), Failure::key_mismatch);
  const auto no_kid = token(json::object{{"alg", "RS256"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(no_kid, set, kAllAlgs), Failure::key_mismatch, "no key in the JWKS can verify the token's alg");
}

TEST(JoseRefuse, TokenOver16KiB) {
  const Fixture f;
  const std::string payload = R"({"sub":"alice","padding":")" + std::string(13 * 1024, 'a') + "\"}";
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, payload, test_keys().rsa.get());
  ASSERT_GT(jws.size(), kMaxTokenBytes);
  expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::too_large, "token is larger than 16 KiB");
  expect_failure(verify_compact(std::string(kMaxTokenBytes + 1, 'A'), f.set, kAllAlgs), Failure::too_large);
}

TEST(JoseRefuse, NoKidAndTwoFittingKeysIsAmbiguous) {
  const auto set = key_set({public_jwk(test_keys().rsa.get(), "a"), public_jwk(test_keys().rsa_other.get(), "b")});
  const auto jws = token(json::object{{"alg", "RS256"}}, kPayload, test_keys().rsa.get());
  const auto result = verify_compact(jws, set, kAllAlgs);
  expect_failure(result, Failure::key_mismatch, "token has no kid and several keys fit its alg");
  EXPECT_FALSE(is_unknown_key(result));
}

TEST(JoseRefuse, DuplicateKidWithTwoFittingKeysIsAmbiguous) {
  const auto set = key_set({public_jwk(test_keys().rsa.get(), "same"), public_jwk(test_keys().rsa_other.get(), "same")});
  const auto jws = token(json::object{{"alg", "RS256"}, {"kid", "same"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(jws, set, kAllAlgs), Failure::key_mismatch, "several keys with the token's kid fit its alg");
}

TEST(JoseRefuse, EmptyKeySet) {
  const auto jws = token(json::object{{"alg", "RS256"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(jws, JwkSet{}, kAllAlgs), Failure::key_mismatch);
  const auto with_kid = token(json::object{{"alg", "RS256"}, {"kid", "rsa"}}, kPayload, test_keys().rsa.get());
  expect_failure(verify_compact(with_kid, JwkSet{}, kAllAlgs), Failure::key_not_found);
}

TEST(JoseRefuse, EmptySignature) {
  const Fixture f;
  const auto input = segment(R"({"alg":"RS256","kid":"rsa"})") + "." + segment(kPayload);
  expect_failure(verify_compact(input + ".", f.set, kAllAlgs), Failure::malformed, "signature is empty");
}

TEST(JoseRefuse, PayloadNotAJsonObject) {
  const Fixture f;
  for (const char* payload : {"[]", "\"alice\"", "{\"sub\":", "", "null"}) {
    const auto jws = token(R"({"alg":"RS256","kid":"rsa"})", payload, "RS256", test_keys().rsa.get());
    expect_failure(verify_compact(jws, f.set, kAllAlgs), Failure::malformed, "payload is not a JSON object");
  }
}

TEST(JoseRefuse, LeavesNoOpenSslErrorsBehind) {
  const Fixture f;
  ERR_clear_error();
  const auto jws = token(json::object{{"alg", "ES256"}, {"kid", "ec"}}, kPayload, test_keys().p256.get());
  std::string signature = decode(jws.substr(jws.rfind('.') + 1));
  std::fill(signature.begin(), signature.begin() + 32, '\0'); // r = 0
  expect_failure(verify_compact(replace_segment(jws, 2, base64url_encode(signature)), f.set, kAllAlgs),
                 Failure::bad_signature);
  EXPECT_EQ(ERR_peek_error(), 0ul);
}

TEST(JoseFailure, NamesEveryFailure) {
  EXPECT_EQ(to_string(Failure::malformed), "malformed");
  EXPECT_EQ(to_string(Failure::too_large), "too_large");
  EXPECT_EQ(to_string(Failure::alg_not_allowed), "alg_not_allowed");
  EXPECT_EQ(to_string(Failure::key_not_found), "key_not_found");
  EXPECT_EQ(to_string(Failure::key_mismatch), "key_mismatch");
  EXPECT_EQ(to_string(Failure::bad_signature), "bad_signature");
}

// ---- Time claims ------------------------------------------------------------------------------------------

std::optional<std::int64_t> date_of(std::string_view claim_json) {
  return numeric_date(json::parse(claim_json).as_object(), "exp");
}

TEST(JoseNumericDate, ReadsWholeSecondsOfNumbersInADatesRange) {
  EXPECT_EQ(date_of(R"({"exp":1800000000})"), 1800000000);
  EXPECT_EQ(date_of(R"({"exp":1800000000.75})"), 1800000000); // RFC 7519 §2 allows fractions; dropped
  EXPECT_EQ(date_of(R"({"exp":-1.5})"), -1);
  EXPECT_EQ(date_of(R"({"exp":0})"), 0);
  EXPECT_EQ(date_of(R"({"exp":253402300799})"), kMaxNumericDate);
  EXPECT_EQ(date_of(R"({"exp":-253402300799})"), -kMaxNumericDate);
  EXPECT_EQ(date_of(R"({"exp":253402300799.0})"), kMaxNumericDate);
}

TEST(JoseNumericDate, NothingOutsideTheRangeOrNotANumber) {
  for (const char* text : {R"({"exp":9223372036854775807})", R"({"exp":-9223372036854775808})",
                           R"({"exp":9223372036854775808})", R"({"exp":18446744073709551615})",
                           R"({"exp":1e300})", R"({"exp":-1e300})", R"({"exp":1e19})", R"({"exp":-1e19})",
                           R"({"exp":1.7976931348623157e308})", R"({"exp":253402300800})",
                           R"({"exp":-253402300800})", R"({"exp":253402300799.001})", R"({"exp":"1800000000"})",
                           R"({"exp":true})", R"({"exp":null})", R"({"exp":[1]})", R"({"iat":1800000000})"})
    EXPECT_EQ(date_of(text), std::nullopt) << text;
}

} // namespace
} // namespace gatehouse::jose
