// oidc: the checks of a verified ID token's claims (OIDC Core §3.1.3.7) at an injected time, above all
// its times (exp, iat, nbf): numbers at and beyond int64's ends, beyond a date's range, fractional, or not
// numbers at all, written as an IdP's JSON would carry them. Build with -fsanitize=undefined to see that
// none of them overflows or converts out of range.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

#include "oidc/provider.hpp"
#include "oidc/signed_assertion.hpp"

namespace json = boost::json;
using gatehouse::oidc::check_id_token_claims;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

gatehouse::config::Provider provider() {
  gatehouse::config::Provider p;
  p.id = "idp";
  p.issuer = "https://idp.example.test";
  p.client_id = "gatehouse";
  return p;
}

// A token that passes, with `name` set to `number_text` as it would be written in the token's JSON
// (an empty text leaves the claim out).
json::object claims_with(std::string_view name = "", std::string_view number_text = "") {
  auto claims = json::parse(R"({"iss":"https://idp.example.test","aud":"gatehouse","sub":"u1","nonce":"n-1",)"
                            R"("exp":1800000300,"iat":1800000000})")
                    .as_object();
  if (!name.empty()) {
    claims.erase(name);
    if (!number_text.empty()) claims[name] = json::parse(number_text);
  }
  return claims;
}

// The reason of the refusal, or "" when the claims hold.
std::string refusal(const json::object& claims) {
  const auto failure = check_id_token_claims(claims, provider(), "n-1", kNow);
  return failure ? failure->reason : "";
}

} // namespace

TEST(IdTokenClaims, AGoodTokenHolds) {
  EXPECT_EQ(refusal(claims_with()), "");
  EXPECT_EQ(refusal(claims_with("nonce", R"("n-2")")), "ID token: nonce does not match this login");
}

TEST(IdTokenClaims, ExpWithTheSkew) {
  EXPECT_EQ(refusal(claims_with("exp", "1800000000")), "");  // 60 s skew
  EXPECT_EQ(refusal(claims_with("exp", "1799999941")), "");
  EXPECT_EQ(refusal(claims_with("exp", "1799999940")), "ID token: expired");
  EXPECT_EQ(refusal(claims_with("exp", "1799999940.9")), "ID token: expired"); // a fraction is dropped
  EXPECT_EQ(refusal(claims_with("exp", "1800000300.5")), "");
  EXPECT_EQ(refusal(claims_with("exp", "")), "ID token: no exp");
}

TEST(IdTokenClaims, TimesThatAreNoDateAreRefusedNotOverflowed) {
  // int64's ends, beyond them (uint64, double), beyond a date's range, and numbers no int64 can hold.
  for (const char* number : {"9223372036854775807", "-9223372036854775808", "9223372036854775808",
                             "18446744073709551615", "1e300", "-1e300", "1e19", "-1e19", "253402300800",
                             "253402300799.5", "-253402300800", "1.7976931348623157e308"}) {
    EXPECT_EQ(refusal(claims_with("exp", number)), "ID token: exp is not a usable time") << number;
    EXPECT_EQ(refusal(claims_with("iat", number)), "ID token: iat is not a usable time") << number;
    EXPECT_EQ(refusal(claims_with("nbf", number)), "ID token: nbf is not a usable time") << number;
  }
  for (const char* other : {R"("1800000300")", "true", "null", "[1800000300]", R"({"t":1})"}) {
    EXPECT_EQ(refusal(claims_with("exp", other)), "ID token: exp is not a usable time") << other;
    EXPECT_EQ(refusal(claims_with("nbf", other)), "ID token: nbf is not a usable time") << other;
  }
  // The last date in range is a date: as an exp it is far in the future, as an iat or nbf too far.
  EXPECT_EQ(refusal(claims_with("exp", "253402300799")), "");
  EXPECT_EQ(refusal(claims_with("iat", "253402300799")), "ID token: issued in the future (iat)");
  EXPECT_EQ(refusal(claims_with("exp", "-253402300799")), "ID token: expired");
}

TEST(IdTokenClaims, IatInTheFutureBeyondTheSkew) {
  EXPECT_EQ(refusal(claims_with("iat", "1800000060")), "");
  EXPECT_EQ(refusal(claims_with("iat", "1800000061")), "ID token: issued in the future (iat)");
  EXPECT_EQ(refusal(claims_with("iat", "1800000060.99")), "");
  EXPECT_EQ(refusal(claims_with("iat", "")), "ID token: no iat");
}

TEST(IdTokenClaims, NbfInTheFutureBeyondTheSkewIsRefused) {
  EXPECT_EQ(refusal(claims_with("nbf", "")), "");
  EXPECT_EQ(refusal(claims_with("nbf", "1799999000")), "");
  EXPECT_EQ(refusal(claims_with("nbf", "1800000060")), "");
  EXPECT_EQ(refusal(claims_with("nbf", "1800000061")), "ID token: not valid yet (nbf)");
  EXPECT_EQ(refusal(claims_with("nbf", "1800003600")), "ID token: not valid yet (nbf)");
}

// A forward-auth proxy's signed assertion (oidc/signed_assertion): the same care with times, its own
// issuer and audience, no nonce.
namespace {

gatehouse::config::SignedAssertion cloudflare() {
  gatehouse::config::SignedAssertion a;
  a.header = "Cf-Access-Jwt-Assertion";
  a.issuer = "https://team.cloudflareaccess.com";
  a.audience = "aud-tag";
  return a;
}

std::optional<std::string> assertion_problem(std::string_view claims_json) {
  return gatehouse::oidc::assertion_claims_problem(json::parse(claims_json).as_object(), cloudflare(), kNow);
}

TEST(SignedAssertionClaims, CloudflaresShapeHoldsAndEachCheckRefusesOnItsOwn) {
  // Cloudflare Access: aud is a list of AUD tags, no nonce, email as the person's name.
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":["other","aud-tag"],"sub":"7335d417",
      "email":"alice@example.com","exp":1800000300,"iat":1800000000,"nbf":1800000000,"type":"app"})"),
            std::nullopt);
  // Pomerium: aud a single string.
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"u","exp":1800000300})"),
            std::nullopt);
  EXPECT_EQ(assertion_problem(R"({"iss":"https://evil.cloudflareaccess.com","aud":"aud-tag","sub":"u","exp":1800000300})"),
            "iss is not the configured issuer");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":["another-app"],"sub":"u","exp":1800000300})"),
            "aud does not name the configured audience");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","sub":"u","exp":1800000300})"),
            "aud does not name the configured audience");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"u"})"), "no exp");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"u","exp":1799999900})"),
            "expired");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"u","exp":1799999970})"),
            std::nullopt) << "60 s of skew";
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"u","exp":1800000300,"nbf":1800000100})"),
            "not valid yet (nbf)");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"u","exp":1800000300,"iat":"soon"})"),
            "iat is not a usable time");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","exp":1800000300})"), "no usable sub");
  EXPECT_EQ(assertion_problem(R"({"iss":"https://team.cloudflareaccess.com","aud":"aud-tag","sub":"","exp":1800000300})"),
            "no usable sub");
}

} // namespace
