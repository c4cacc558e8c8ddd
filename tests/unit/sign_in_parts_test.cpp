// The pure parts of single sign-on: HA's client_id/redirect_uri rules (contract §1.8), redirect
// building, the master key and derived passwords, pending logins in the store, usernames and roles.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include "oidc/client_check.hpp"
#include "oidc/pending_login.hpp"
#include "oidc/provider.hpp"
#include "store/store.hpp"
#include "users/directory.hpp"
#include "users/master_key.hpp"

namespace fs = std::filesystem;
using gatehouse::oidc::check_redirect;
using gatehouse::oidc::client_id_acceptable;
using gatehouse::oidc::RedirectCheck;

namespace {

class TempDir {
public:
  TempDir() {
    char pattern[] = "/tmp/gatehouse-signin-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

} // namespace

TEST(ClientCheck, ClientIdsHaAccepts) {
  for (const char* id : {"https://ha.example.com/", "https://ha.example.com", "http://localhost:8123/",
                         "http://192.168.1.5:8123/", "http://10.0.0.1/", "http://[fd00::1]/", "https://x.y/?q=1",
                         "http://8.8.8.8:8123/" /* HA's quirk: IP with a port passes as a name */})
    EXPECT_TRUE(client_id_acceptable(id)) << id;
}

TEST(ClientCheck, ClientIdsHaRefuses) {
  for (const char* id : {"", "ftp://x.y/", "https://x.y/a/../b", "https://x.y/./a", "https://x.y/#frag",
                         "https://user:pass@x.y/", "https://x.y:99999/", "http://8.8.8.8/", "javascript:alert(1)",
                         "homeassistant://auth-callback", "http:///x"})
    EXPECT_FALSE(client_id_acceptable(id)) << id;
}

TEST(ClientCheck, SameOriginRedirectIsAccepted) {
  EXPECT_EQ(check_redirect("https://ha.example.com/", "https://ha.example.com/?auth_callback=1"), RedirectCheck::accepted);
  EXPECT_EQ(check_redirect("https://HA.example.com/", "https://ha.example.com/x"), RedirectCheck::accepted);
  EXPECT_EQ(check_redirect("https://pitangui.amazon.com/", "https://pitangui.amazon.com/api/skill/link/M2X"),
            RedirectCheck::accepted);
  EXPECT_EQ(check_redirect("https://oauth-redirect.googleusercontent.com/",
                           "https://oauth-redirect.googleusercontent.com/r/project-x"),
            RedirectCheck::accepted);
}

TEST(ClientCheck, ExplicitDefaultPortIsAnotherOriginAsInHa) {
  EXPECT_EQ(check_redirect("https://x.y:443/", "https://x.y/cb"), RedirectCheck::needs_discovery);
  EXPECT_EQ(check_redirect("https://x.y/", "http://x.y/cb"), RedirectCheck::needs_discovery);
}

TEST(ClientCheck, AppPairsAreAcceptedOnlyExactly) {
  EXPECT_EQ(check_redirect("https://home-assistant.io/iOS", "homeassistant://auth-callback"), RedirectCheck::accepted);
  EXPECT_EQ(check_redirect("https://home-assistant.io/android", "homeassistant://auth-callback"), RedirectCheck::accepted);
  EXPECT_EQ(check_redirect("https://home-assistant.io/android",
                           "https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android"),
            RedirectCheck::accepted);
  EXPECT_EQ(check_redirect("https://home-assistant.io/iOS",
                           "https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android"),
            RedirectCheck::needs_discovery);
  EXPECT_EQ(check_redirect("https://home-assistant.io/ios", "homeassistant://auth-callback"),
            RedirectCheck::needs_discovery);
  EXPECT_EQ(check_redirect("https://home-assistant.io/iOS", "homeassistant://auth-callback/evil"),
            RedirectCheck::needs_discovery);
}

TEST(ClientCheck, DangerousOrForeignRedirectsAreNeverAccepted) {
  EXPECT_EQ(check_redirect("https://evil.example/", "https://other.example/cb"), RedirectCheck::needs_discovery);
  EXPECT_EQ(check_redirect("https://x.y/", "javascript:alert(1)"), RedirectCheck::needs_discovery);
  EXPECT_EQ(check_redirect("https://x.y/", "not a uri"), RedirectCheck::bad_redirect_uri);
  EXPECT_EQ(check_redirect("nonsense", "https://x.y/"), RedirectCheck::bad_client_id);
}

TEST(ClientCheck, ParametersAreAddedToTheQueryBeforeAFragment) {
  using gatehouse::oidc::with_query_parameters;
  EXPECT_EQ(with_query_parameters("https://x.y/?auth_callback=1", {{"code", "abc"}, {"state", "s t"}}),
            "https://x.y/?auth_callback=1&code=abc&state=s%20t");
  EXPECT_EQ(with_query_parameters("homeassistant://auth-callback", {{"code", "abc"}}),
            "homeassistant://auth-callback?code=abc");
  EXPECT_EQ(with_query_parameters("https://x.y/cb#top", {{"code", "a&b"}}), "https://x.y/cb?code=a%26b#top");
  EXPECT_EQ(with_query_parameters("https://x.y/cb", {{"state", "a+b/c=="}}), "https://x.y/cb?state=a%2Bb%2Fc%3D%3D");
}

TEST(Pkce, ChallengeIsRfc7636AppendixB) {
  EXPECT_EQ(gatehouse::oidc::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(MasterKey, CreatedOnceAs0600AndStable) {
  TempDir dir;
  auto first = gatehouse::users::MasterKey::load_or_create(dir.path());
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "master.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(fs::file_size(dir.path() / "master.key"), 32u);
  auto again = gatehouse::users::MasterKey::load_or_create(dir.path());
  EXPECT_EQ(first.password_for("user-1"), again.password_for("user-1"));
  EXPECT_NE(first.password_for("user-1"), first.password_for("user-2"));
  EXPECT_EQ(first.password_for("user-1").size(), 43u); // 256 bits, base64url
}

TEST(MasterKey, AnotherKeyGivesOtherPasswords) {
  TempDir one, two;
  EXPECT_NE(gatehouse::users::MasterKey::load_or_create(one.path()).password_for("u"),
            gatehouse::users::MasterKey::load_or_create(two.path()).password_for("u"));
}

TEST(MasterKey, WiderPermissionsAreNarrowedAndATruncatedFileIsRefused) {
  TempDir dir;
  gatehouse::users::MasterKey::load_or_create(dir.path());
  ::chmod((dir.path() / "master.key").c_str(), 0644);
  gatehouse::users::MasterKey::load_or_create(dir.path());
  struct stat info {};
  ::stat((dir.path() / "master.key").c_str(), &info);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::ofstream(dir.path() / "master.key", std::ios::trunc) << "short";
  EXPECT_THROW(gatehouse::users::MasterKey::load_or_create(dir.path()), std::runtime_error);
}

TEST(MasterKey, SealsASecretOnlyItOpensForThatPurposeAndAnyAlterationIsRefused) {
  TempDir one, two;
  const auto key = gatehouse::users::MasterKey::load_or_create(one.path());
  const auto other = gatehouse::users::MasterKey::load_or_create(two.path());
  const std::string secret = "idp-refresh-token-0123456789";
  const auto sealed = key.seal(secret, "idp-refresh-token");
  EXPECT_EQ(sealed.find(secret), std::string::npos);
  EXPECT_NE(sealed, key.seal(secret, "idp-refresh-token")) << "a fresh nonce each time";
  EXPECT_EQ(key.open(sealed, "idp-refresh-token"), secret);
  EXPECT_EQ(key.open(sealed, "another-purpose"), std::nullopt);
  EXPECT_EQ(other.open(sealed, "idp-refresh-token"), std::nullopt) << "another master key";
  for (std::size_t at : {std::size_t{0}, sealed.size() / 2, sealed.size() - 2}) {
    std::string altered = sealed;
    altered[at] = altered[at] == 'A' ? 'B' : 'A';
    EXPECT_EQ(key.open(altered, "idp-refresh-token"), std::nullopt) << "altered at " << at;
  }
  EXPECT_EQ(key.open("", "idp-refresh-token"), std::nullopt);
  EXPECT_EQ(key.open("not base64url!", "idp-refresh-token"), std::nullopt);
  EXPECT_EQ(key.open(key.seal("", "p"), "p"), std::string());
}

TEST(PendingLogin, TakenExactlyOnce) {
  TempDir dir;
  auto store = gatehouse::store::Store::open(dir.path());
  gatehouse::oidc::PendingLogin login;
  login.state = gatehouse::oidc::random_token();
  login.provider_id = "main";
  login.nonce = "n";
  login.code_verifier = "v";
  login.client_id = "https://x.y/";
  login.redirect_uri = "https://x.y/cb";
  login.client_address = "192.0.2.1";
  login.browser_binding_hash = gatehouse::oidc::binding_hash("secret");
  login.created_at_ms = 1000;
  login.expires_at_ms = 2000;
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*store, login, {}, 1000), gatehouse::oidc::SaveOutcome::saved);
  bool expired = false;
  auto taken = gatehouse::oidc::take_pending_login(*store, login.state, 1500, expired);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->client_id, "https://x.y/");
  EXPECT_FALSE(taken->client_state.has_value());
  EXPECT_EQ(taken->client_address, "192.0.2.1");
  EXPECT_FALSE(gatehouse::oidc::take_pending_login(*store, login.state, 1500, expired));
  EXPECT_FALSE(expired);
}

TEST(PendingLogin, ExpiredIsRefusedAndSaysSo) {
  TempDir dir;
  auto store = gatehouse::store::Store::open(dir.path());
  gatehouse::oidc::PendingLogin login;
  login.state = "s";
  login.client_state = "client-state";
  login.expires_at_ms = 2000;
  gatehouse::oidc::save_pending_login(*store, login, {}, 1000);
  bool expired = false;
  EXPECT_FALSE(gatehouse::oidc::take_pending_login(*store, "s", 2000, expired));
  EXPECT_TRUE(expired);
}

TEST(PendingLogin, RandomTokensAre256BitsAndDiffer) {
  const auto a = gatehouse::oidc::random_token();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, gatehouse::oidc::random_token());
}

// Which SCIM User a sign-in names: the claim's text without case; nobody for an email the IdP says is
// unverified (anyone may type one), as for a missing claim.
TEST(ScimKey, IsTheClaimWithoutCaseAndNoneForAnUnverifiedEmail) {
  using gatehouse::users::scim_key_of;
  EXPECT_EQ(scim_key_of({{"preferred_username", "Bob.Builder"}}, "preferred_username"), "bob.builder");
  EXPECT_EQ(scim_key_of({{"sub", 7}}, "sub"), "");
  EXPECT_EQ(scim_key_of({}, "email"), "");
  EXPECT_EQ(scim_key_of({{"email", "Dad@Example.com"}}, "email"), "dad@example.com"); // Entra ID says nothing
  EXPECT_EQ(scim_key_of({{"email", "dad@example.com"}, {"email_verified", true}}, "email"), "dad@example.com");
  EXPECT_EQ(scim_key_of({{"email", "dad@example.com"}, {"email_verified", false}}, "email"), "");
  // Only the email claim has a verified flag.
  EXPECT_EQ(scim_key_of({{"preferred_username", "dad"}, {"email_verified", false}}, "preferred_username"), "dad");
}

TEST(Usernames, AreCleanLowercaseAndBounded) {
  using gatehouse::users::clean_username;
  EXPECT_EQ(clean_username("Alice"), "alice");
  EXPECT_EQ(clean_username("  Alice Smith  "), "alice-smith");
  EXPECT_EQ(clean_username("bob@example.com"), "bob-example.com");
  EXPECT_EQ(clean_username("Zoë"), "zo");
  EXPECT_EQ(clean_username("--__.."), "");
  EXPECT_EQ(clean_username(std::string(40, 'a')).size(), 32u);
  EXPECT_EQ(clean_username("a/../b"), "a-..-b");
}
