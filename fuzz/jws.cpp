// Fuzz target: jose::verify_compact, an ID token's signature check. Input: the compact JWS.
// It is verified against a fixed real JWKS (RSA 2048, EC P-256, Ed25519; jose_fixture.inc) with all ten
// algorithms allowed. Besides "no crash": a token that verifies has the header and payload it carries,
// an alg Gatehouse refuses (none, HS*) never verifies, and the answer does not change when asked twice.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "jose/jwk.hpp"
#include "jose/jws.hpp"

namespace {

#include "jose_fixture.inc"

void fail(const char* what) {
  std::fprintf(stderr, "jws invariant broken: %s\n", what);
  std::abort();
}

const gatehouse::jose::JwkSet& fixture_keys() {
  static const gatehouse::jose::JwkSet keys = [] {
    auto parsed = gatehouse::jose::parse_jwks(kFixtureJwks);
    if (!parsed.set || parsed.set->keys.size() != 3) fail("the fixture JWKS does not give three keys");
    return std::move(*parsed.set);
  }();
  return keys;
}

const std::vector<std::string> kAllAlgs{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const auto& keys = fixture_keys();
  const auto result = gatehouse::jose::verify_compact(token, keys, kAllAlgs);
  (void)gatehouse::jose::to_string(result.failure);
  const auto again = gatehouse::jose::verify_compact(token, keys, kAllAlgs);
  if (again.ok() != result.ok() || again.failure != result.failure) fail("a second verification answers differently");
  (void)gatehouse::jose::split_compact(token);
  if (!result.ok()) return 0;

  const auto parts = gatehouse::jose::split_compact(token);
  if (!parts) fail("a verified token does not split");
  const auto header = gatehouse::jose::parse_object(parts->header);
  const auto payload = gatehouse::jose::parse_object(parts->payload);
  if (!header || *header != result.verified->header) fail("the verified header is not the token's");
  if (!payload || *payload != result.verified->payload) fail("the verified payload is not the token's");
  const auto* alg = header->if_contains("alg");
  if (!alg || !alg->is_string()) fail("a verified token has no alg");
  const std::string_view alg_name = alg->get_string();
  if (alg_name == "none" || alg_name.starts_with("HS")) fail("a refused alg verified");
  return 0;
}
