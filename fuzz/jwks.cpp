// Fuzz target: jose::parse_jwks, an identity provider's published keys. Input: the JWKS document.
// Every key it keeps must be usable, the limits hold, and the tokens the fixture keys signed
// (jose_fixture.inc) are verified against the fuzzed set, so key choice (kid, alg, several fitting keys)
// runs against keys the fuzzer made. A token that verifies must name a kid of the set, or fit one key.
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
  std::fprintf(stderr, "jwks invariant broken: %s\n", what);
  std::abort();
}

const std::vector<std::string> kAllAlgs{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view document(reinterpret_cast<const char*>(data), size);
  const auto parsed = gatehouse::jose::parse_jwks(document);
  if (!parsed.set) {
    if (parsed.error.empty()) fail("no set and no error");
    return 0;
  }
  const auto& set = *parsed.set;
  if (size > gatehouse::jose::kMaxJwksBytes) fail("a document over the size limit was parsed");
  if (set.keys.size() > gatehouse::jose::kMaxJwksKeys) fail("more keys than the limit");
  for (const auto& key : set.keys) {
    if (!key.key) fail("a kept key has no OpenSSL key");
    if (key.kty != "RSA" && key.kty != "EC" && key.kty != "OKP") fail("a kept key has an unsupported kty");
    if (key.use && *key.use != "sig") fail("a kept key is not for signatures");
  }
  for (const auto& skipped : set.skipped) {
    if (skipped.reason.empty()) fail("a skipped key has no reason");
  }

  for (const auto token : kFixtureTokens) {
    const auto result = gatehouse::jose::verify_compact(token, set, kAllAlgs);
    if (!result.ok()) continue;
    const auto* kid = result.verified->header.if_contains("kid");
    if (kid) {
      bool named = false;
      for (const auto& key : set.keys) named = named || (key.kid && *key.kid == kid->get_string());
      if (!named) fail("a token verified with a key that does not have its kid");
    }
  }
  return 0;
}
