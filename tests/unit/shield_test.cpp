// shield: what an access token tells without HA, the route classes with their default deny, and the
// token cache.
#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/hmac.h>
#include <fstream>
#include <thread>
#include <iterator>

#include "jose/base64url.hpp"
#include "shield/access_token.hpp"
#include "shield/routes.hpp"
#include "shield/token_cache.hpp"

namespace shield = gatehouse::shield;
namespace http = boost::beast::http;
using gatehouse::jose::base64url_encode;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

std::string jwt(const boost::json::object& header, const boost::json::object& claims) {
  const std::string unsigned_part = base64url_encode(boost::json::serialize(header)) + "." +
                                    base64url_encode(boost::json::serialize(claims));
  unsigned char mac[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), "key", 3, reinterpret_cast<const unsigned char*>(unsigned_part.data()), unsigned_part.size(), mac, &length);
  return unsigned_part + "." + base64url_encode(std::span<const unsigned char>(mac, length));
}

std::string ha_token(std::int64_t exp, std::string iss = "0123abcd") {
  return jwt({{"alg", "HS256"}, {"typ", "JWT"}}, {{"iss", iss}, {"iat", exp - 1800}, {"exp", exp}});
}

shield::RouteClass classify(http::verb method, std::string_view path, std::string_view query = "",
                            bool html = false, bool authorization = false) {
  static const shield::PublicPaths public_paths({"/hacsfiles/*"}, false);
  static const auto passthrough = shield::PublicPaths::only({"/api/hassio_ingress/*"});
  gatehouse::front_door::RequestFacts facts;
  facts.method = method;
  facts.target = {std::string(path), std::string(query)};
  facts.wants_html = html;
  facts.authorization = authorization ? "Bearer x" : "";
  facts.now_unix_seconds = kNow;
  return classify(facts, public_paths, passthrough).route_class;
}

// A request head as Beast's parser reads it from the wire.
http::request_header<> parsed_head(const std::string& head_text) {
  http::request_parser<http::empty_body> parser;
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(head_text), ec);
  EXPECT_FALSE(ec) << head_text;
  return std::move(parser.release().base());
}

// The route of a request head read as the front door reads it (upgrade included).
shield::RouteClass classify_head(const std::string& head_text) {
  static const shield::PublicPaths public_paths({}, false);
  static const auto passthrough = shield::PublicPaths::only({"/api/hassio_ingress/*"});
  http::request_parser<http::empty_body> parser;
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(head_text), ec);
  EXPECT_FALSE(ec) << head_text;
  auto reading = gatehouse::front_door::read_facts(parser.get().base(), boost::asio::ip::make_address("127.0.0.2"),
                                                   false, std::make_shared<const gatehouse::config::Config>(), kNow);
  EXPECT_TRUE(reading.facts) << head_text;
  return classify(*reading.facts, public_paths, passthrough).route_class;
}

// An HA-shaped token whose claims carry these JSON texts as exp and iat.
std::string ha_token_with_times(std::string_view exp, std::string_view iat) {
  const auto claims = boost::json::parse(R"({"iss":"0123abcd","iat":)" + std::string(iat) + R"(,"exp":)" +
                                         std::string(exp) + "}");
  return jwt({{"alg", "HS256"}, {"typ", "JWT"}}, claims.as_object());
}

} // namespace

TEST(AccessToken, AnHaShapedTokenIsReadWithItsSessionAndExpiry) {
  const auto token = ha_token(kNow + 600, "f00d");
  const std::string header = "Bearer " + token; // the reading points into it
  const auto reading = shield::read_authorization(header, kNow);
  ASSERT_TRUE(reading);
  EXPECT_EQ(reading.token->refresh_token_id, "f00d");
  EXPECT_EQ(reading.token->expires_at, kNow + 600);
  EXPECT_EQ(reading.token->token, token);
}

TEST(AccessToken, RefusedWithoutHa) {
  const auto fresh = ha_token(kNow + 600);
  EXPECT_EQ(shield::read_authorization("", kNow).problem, shield::TokenProblem::missing);
  EXPECT_EQ(shield::read_authorization("bearer " + fresh, kNow).problem, shield::TokenProblem::not_bearer);
  EXPECT_EQ(shield::read_authorization("Basic " + fresh, kNow).problem, shield::TokenProblem::not_bearer);
  EXPECT_EQ(shield::read_authorization("Bearer  " + fresh, kNow).problem, shield::TokenProblem::malformed);
  EXPECT_EQ(shield::read_access_token("garbage", kNow).problem, shield::TokenProblem::malformed);
  EXPECT_EQ(shield::read_access_token(fresh + "x", kNow).problem, shield::TokenProblem::malformed);
  EXPECT_EQ(shield::read_access_token(std::string(8193, 'a'), kNow).problem, shield::TokenProblem::too_long);
  // HA's leeway is 10 s: 9 s past exp still goes to HA, 11 s does not.
  EXPECT_TRUE(shield::read_access_token(ha_token(kNow - 9), kNow));
  EXPECT_EQ(shield::read_access_token(ha_token(kNow - 11), kNow).problem, shield::TokenProblem::expired);
  // Not HA's shape: another algorithm, no iss, no exp.
  EXPECT_FALSE(shield::read_access_token(jwt({{"alg", "none"}}, {{"iss", "a"}, {"iat", kNow}, {"exp", kNow + 60}}), kNow));
  EXPECT_FALSE(shield::read_access_token(jwt({{"alg", "RS256"}}, {{"iss", "a"}, {"iat", kNow}, {"exp", kNow + 60}}), kNow));
  EXPECT_FALSE(shield::read_access_token(jwt({{"alg", "HS256"}}, {{"iat", kNow}, {"exp", kNow + 60}}), kNow));
  EXPECT_FALSE(shield::read_access_token(jwt({{"alg", "HS256"}}, {{"iss", "a"}, {"iat", kNow}}), kNow));
}

TEST(AccessToken, TimesThatAreNoDateAreNotAnHaTokenAndNeverOverflow) {
  const std::string now = std::to_string(kNow);
  for (const char* time : {"9223372036854775807", "-9223372036854775808", "9223372036854775808",
                           "18446744073709551615", "1e300", "-1e300", "253402300800"}) {
    EXPECT_EQ(shield::read_access_token(ha_token_with_times(time, now), kNow).problem, shield::TokenProblem::malformed)
        << "exp " << time;
    EXPECT_EQ(shield::read_access_token(ha_token_with_times(std::to_string(kNow + 600), time), kNow).problem,
              shield::TokenProblem::malformed)
        << "iat " << time;
  }
  // A fraction is dropped; the leeway applies to the whole seconds.
  const auto fractional = shield::read_access_token(ha_token_with_times(std::to_string(kNow + 600) + ".5", now), kNow);
  ASSERT_TRUE(fractional);
  EXPECT_EQ(fractional.token->expires_at, kNow + 600);
  EXPECT_TRUE(shield::read_access_token(ha_token_with_times(std::to_string(kNow - 10) + ".9", now), kNow));
  EXPECT_EQ(shield::read_access_token(ha_token_with_times(std::to_string(kNow - 11) + ".9", now), kNow).problem,
            shield::TokenProblem::expired);
}

TEST(Routes, PublicListAndDefaultDeny) {
  using shield::RouteClass;
  EXPECT_EQ(classify(http::verb::get, "/frontend_latest/app.js"), RouteClass::public_path);
  EXPECT_EQ(classify(http::verb::post, "/frontend_latest/app.js"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/frontend_latest/"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/manifest.json"), RouteClass::public_path);
  EXPECT_EQ(classify(http::verb::get, "/manifest.json/x"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::post, "/api/webhook/abc"), RouteClass::public_path);
  EXPECT_EQ(classify(http::verb::get, "/hacsfiles/card.js"), RouteClass::public_path);
  EXPECT_EQ(classify(http::verb::post, "/auth/token"), RouteClass::auth_endpoint);
  EXPECT_EQ(classify(http::verb::get, "/auth/token"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::post, "/auth/login_flow/abc"), RouteClass::local_login);
  EXPECT_EQ(classify(http::verb::get, "/api/onboarding"), RouteClass::public_path);
  EXPECT_EQ(classify(http::verb::post, "/api/onboarding/users"), RouteClass::onboarding);
  EXPECT_EQ(classify(http::verb::get, "/local/x.txt"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/API/webhook/abc"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/api/states"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/api/hassio/app/x"), RouteClass::protected_path);
  // HA's own login page belongs with its login flow: open only where local login is.
  EXPECT_EQ(classify(http::verb::get, "/auth/authorize"), RouteClass::local_login);
  EXPECT_EQ(classify(http::verb::post, "/auth/authorize"), RouteClass::protected_path);
}

TEST(Routes, BrowserNavigationsToAppPagesOnly) {
  using shield::RouteClass;
  EXPECT_EQ(classify(http::verb::get, "/lovelace/0", "", true), RouteClass::navigation);
  EXPECT_EQ(classify(http::verb::get, "/", "auth_callback=1&code=x", true), RouteClass::navigation);
  EXPECT_EQ(classify(http::verb::get, "/dashboard-kitchen/", "", true), RouteClass::navigation);
  EXPECT_EQ(classify(http::verb::get, "/lovelace/0", "", false), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/lovelace/0", "", true, true), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::post, "/lovelace/0", "", true), RouteClass::protected_path);
  for (std::string_view path : {"/api/states", "/api/", "/auth/", "/auth/x", "/local/a", "/sso/x", "/frontend_x/y", "/a.b",
                                "/a//b", "/a;b", "/a%20b", "/1/2/3/4/5/6/7/8/9"})
    EXPECT_EQ(classify(http::verb::get, path, "", true), RouteClass::protected_path) << path;
}

TEST(Routes, SignedGetsOnlyWithOneLiveSignature) {
  using shield::RouteClass;
  const auto live = jwt({{"alg", "HS256"}}, {{"iss", "a"}, {"path", "/media/x"}, {"exp", kNow + 30}});
  const auto stale = jwt({{"alg", "HS256"}}, {{"iss", "a"}, {"path", "/media/x"}, {"exp", kNow - 1}});
  EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=" + live), RouteClass::signed_path);
  EXPECT_EQ(classify(http::verb::get, "/media/x", "width=3&authSig=" + live), RouteClass::signed_path);
  EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=" + stale), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=" + live + "&authSig=" + live), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=garbage"), RouteClass::protected_path);
  EXPECT_EQ(classify(http::verb::post, "/media/x", "authSig=" + live), RouteClass::protected_path);
  // The signing session is what the shield checks against cut-offs; without one, HA finds none either.
  EXPECT_EQ(shield::auth_signature_session("width=3&authSig=" + live, kNow).value_or(""), "a");
  for (const auto& claims : {boost::json::object{{"path", "/media/x"}, {"exp", kNow + 30}},
                             boost::json::object{{"iss", ""}, {"path", "/media/x"}, {"exp", kNow + 30}},
                             boost::json::object{{"iss", 7}, {"path", "/media/x"}, {"exp", kNow + 30}}})
    EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=" + jwt({{"alg", "HS256"}}, claims)), RouteClass::protected_path)
        << boost::json::serialize(claims);
}

TEST(Routes, AnAuthSigCountsOnlyOnPathsHaSignsAndGuards) {
  using shield::RouteClass;
  const auto live = jwt({{"alg", "HS256"}}, {{"iss", "a"}, {"path", "/x"}, {"exp", kNow + 30}});
  for (const char* path : {"/media/local/a.mp3", "/api/camera_proxy/camera.door", "/api/camera_proxy_stream/camera.door",
                           "/api/backup/download/abc", "/api/diagnostics/config_entry/1", "/api/error_log",
                           "/api/analytics/devices", "/api/hassio/core/logs/latest", "/api/hassio/addons/x/logs"})
    EXPECT_EQ(classify(http::verb::get, path, "authSig=" + live), RouteClass::signed_path) << path;
  // The review's finding: these are views HA serves without authentication (or refuses only through
  // Gatehouse): an authSig that merely looks like a JWT must not open them.
  for (const char* path : {"/local/secret.txt", "/api/hassio/app/entrypoint.js", "/api/hassio/addons/x/icon",
                           "/auth/external/callback", "/api/states", "/api/websocket", "/media", "/media/",
                           "/api/error_log/x", "/api/hassio/backups/abc/download", "/api/tts_proxy/abc.mp3",
                           "/api/hassio/app/x/logs", "/api/hassio/app/logs/x"})
    EXPECT_EQ(classify(http::verb::get, path, "authSig=" + live), RouteClass::protected_path) << path;
}

TEST(Routes, AnAuthSigWhoseExpIsNoDateIsNotLive) {
  using shield::RouteClass;
  for (const char* exp : {"9223372036854775807", "18446744073709551615", "1e300", "1e19", "253402300800",
                          "\"2100000000\""}) {
    const auto claims = boost::json::parse(R"({"iss":"a","path":"/media/x","exp":)" + std::string(exp) + "}");
    EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=" + jwt({{"alg", "HS256"}}, claims.as_object())),
              RouteClass::protected_path)
        << exp;
  }
  const auto fractional = boost::json::parse(R"({"iss":"a","path":"/media/x","exp":)" + std::to_string(kNow) + ".5}");
  EXPECT_EQ(classify(http::verb::get, "/media/x", "authSig=" + jwt({{"alg", "HS256"}}, fractional.as_object())),
            RouteClass::signed_path);
}

TEST(TokenCache, NotesEachSessionsLastUseAtMostOnceAMinutePerThread) {
  shield::TokenCache cache;
  const std::int64_t start = (kNow / 60) * 60; // the start of a minute
  cache.remember_valid("laptop-token", start + 3600, {"user-1", "laptop"}, cache.forgets());
  cache.remember_valid("phone-token", start + 3600, {"user-1", "phone"}, cache.forgets());
  cache.remember_refused("forged-token", start + 3600);
  EXPECT_TRUE(cache.last_uses().empty()) << "issued is not used";

  EXPECT_EQ(cache.known("laptop-token", start + 5), shield::TokenCache::Known::valid);
  EXPECT_EQ(cache.known("forged-token", start + 6), shield::TokenCache::Known::refused);
  EXPECT_EQ(cache.find("phone-token", start + 7).known, shield::TokenCache::Known::valid); // a websocket's auth
  const std::unordered_map<std::string, std::int64_t> first{{"laptop", start + 5}, {"phone", start + 7}};
  EXPECT_EQ(cache.last_uses(), first);
  EXPECT_EQ(cache.take_new_uses(start + 8), first);
  EXPECT_TRUE(cache.take_new_uses(start + 9).empty()) << "taken once";

  // The same minute again: this thread's copy answers without noting it.
  EXPECT_EQ(cache.known("laptop-token", start + 50), shield::TokenCache::Known::valid);
  EXPECT_EQ(cache.last_uses().at("laptop"), start + 5);
  // The next minute: noted again.
  EXPECT_EQ(cache.known("laptop-token", start + 65), shield::TokenCache::Known::valid);
  EXPECT_EQ(cache.last_uses().at("laptop"), start + 65);
  const std::unordered_map<std::string, std::int64_t> second{{"laptop", start + 65}};
  EXPECT_EQ(cache.take_new_uses(start + 66), second);

  // Another thread notes its own first use of a token at once, though this one noted this minute.
  std::thread([&] { EXPECT_EQ(cache.known("laptop-token", start + 80), shield::TokenCache::Known::valid); }).join();
  EXPECT_EQ(cache.last_uses().at("laptop"), start + 80);

  // A use HA vouched for counts; an issued token does not.
  cache.remember_valid("tablet-token", start + 3600, {"user-2", "tablet"}, cache.forgets(), start + 90);
  cache.remember_valid("watch-token", start + 3600, {"user-2", "watch"}, cache.forgets());
  EXPECT_EQ(cache.last_uses().at("tablet"), start + 90);
  EXPECT_FALSE(cache.last_uses().contains("watch"));

  // Uses that could not be stored are taken again; what is stored is forgotten here after a while.
  auto taken = cache.take_new_uses(start + 100);
  EXPECT_EQ(taken.size(), 2u);
  cache.put_back(taken);
  EXPECT_EQ(cache.take_new_uses(start + 101), taken);
  cache.take_new_uses(start + 80 + shield::TokenCache::kLastUseKeptFor + 1);
  EXPECT_FALSE(cache.last_uses().contains("laptop"));
  EXPECT_TRUE(cache.last_uses().contains("tablet"));
}

TEST(TokenCache, RemembersUntilExpiryAndForgetsRevokedSessions) {
  shield::TokenCache cache;
  cache.remember_valid("token-a", kNow + 100, {"user-1", "session-1"}, cache.forgets());
  cache.remember_refused("token-b", kNow + 100);
  EXPECT_EQ(cache.find("token-a", kNow).known, shield::TokenCache::Known::valid);
  EXPECT_EQ(cache.find("token-a", kNow).owner.ha_user_id, "user-1");
  EXPECT_EQ(cache.find("token-b", kNow).known, shield::TokenCache::Known::refused);
  EXPECT_EQ(cache.find("token-c", kNow).known, shield::TokenCache::Known::unknown);
  EXPECT_EQ(cache.find("token-a", kNow + 111).known, shield::TokenCache::Known::unknown);
  cache.forget_session("session-1");
  EXPECT_EQ(cache.find("token-a", kNow).known, shield::TokenCache::Known::refused);
}

// The shield read "not cut off" from the store, then the cut-off was applied (its tokens forgotten)
// before the shield remembered the token: remembering it now would undo the cut-off until it expires.
TEST(TokenCache, AValidTokenIsNotRememberedOverAForgetThatCameAfterTheStoreWasAsked) {
  shield::TokenCache cache;
  const auto before = cache.forgets();
  cache.forget_user("user-1"); // the cut-off's watch, in between
  EXPECT_FALSE(cache.remember_valid("token-a", kNow + 100, {"user-1", "session-1"}, before));
  EXPECT_EQ(cache.find("token-a", kNow).known, shield::TokenCache::Known::unknown) << "HA is asked again next time";
  const auto after_session_end = cache.forgets();
  cache.forget_session("session-9");
  EXPECT_FALSE(cache.remember_valid("token-a", kNow + 100, {"user-1", "session-1"}, after_session_end));
  EXPECT_TRUE(cache.remember_valid("token-a", kNow + 100, {"user-1", "session-1"}, cache.forgets()));
  EXPECT_EQ(cache.find("token-a", kNow).known, shield::TokenCache::Known::valid);
}

// The one place that protocol lives: the store is asked, and asked again when a cut-off's forget came
// while it was being asked (here, from inside the first answer, as the watch would).
TEST(TokenCache, RefusedElseRememberAsksTheStoreAgainAfterAForget) {
  shield::TokenCache cache;
  int asked = 0;
  EXPECT_TRUE(cache.refused_else_remember("token-a", kNow + 100, {"user-1", "session-1"}, 0, [&] {
    if (++asked > 1) return true; // the row is there now
    cache.forget_user("user-1");
    return false;
  }));
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(cache.find("token-a", kNow).known, shield::TokenCache::Known::unknown);
  EXPECT_FALSE(cache.refused_else_remember("token-b", kNow + 100, {"user-2", "session-2"}, 0, [] { return false; }));
  EXPECT_EQ(cache.find("token-b", kNow).known, shield::TokenCache::Known::valid);
}

TEST(TokenCache, ThreadCopiesNeverOutliveARevocation) {
  shield::TokenCache cache;
  cache.remember_valid("token-a", kNow + 100, {"user-1", "session-1"}, cache.forgets());
  cache.remember_valid("token-b", kNow + 100, {"user-2", "session-2"}, cache.forgets());
  EXPECT_EQ(cache.known("token-a", kNow), shield::TokenCache::Known::valid); // now copied by this thread
  EXPECT_EQ(cache.known("token-a", kNow), shield::TokenCache::Known::valid);
  cache.forget_session("session-1");
  EXPECT_EQ(cache.known("token-a", kNow), shield::TokenCache::Known::refused);
  EXPECT_EQ(cache.known("token-b", kNow), shield::TokenCache::Known::valid);
  cache.remember_refused("token-b", kNow + 100);
  EXPECT_EQ(cache.known("token-b", kNow), shield::TokenCache::Known::refused);
  EXPECT_EQ(cache.known("token-a", kNow + 111), shield::TokenCache::Known::unknown);

  // Another cache's entries in this thread's copy do not count for this one.
  shield::TokenCache other;
  EXPECT_EQ(other.known("token-b", kNow), shield::TokenCache::Known::unknown);

  // A revocation made on another thread reaches this thread's copy.
  cache.remember_valid("token-c", kNow + 100, {"user-3", "session-3"}, cache.forgets());
  EXPECT_EQ(cache.known("token-c", kNow), shield::TokenCache::Known::valid);
  std::thread([&] { cache.forget_session("session-3"); }).join();
  EXPECT_EQ(cache.known("token-c", kNow), shield::TokenCache::Known::refused);
}

TEST(TokenCache, StaysBoundedWhenFull) {
  shield::TokenCache cache(4);
  for (int i = 0; i < 10; ++i) cache.remember_valid("token-" + std::to_string(i), kNow + 100, {"u", "s"}, cache.forgets());
  EXPECT_LE(cache.size(), 4u);
  EXPECT_EQ(cache.find("token-9", kNow).known, shield::TokenCache::Known::valid);
}

// ---- break-glass grants in the store, as the CLI and the serving process use them ----

#include <filesystem>
#include <random>

#include "net/forwarding.hpp"
#include "shield/break_glass.hpp"

namespace {

struct TempStore {
  TempStore() {
    std::random_device random;
    directory = std::filesystem::temp_directory_path() / ("gatehouse-breakglass-" + std::to_string(random()));
    store = gatehouse::store::Store::open(directory);
  }
  ~TempStore() {
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  }
  std::filesystem::path directory;
  std::unique_ptr<gatehouse::store::Store> store;
};

std::string token_of(const std::string& url) { return url.substr(url.rfind('/') + 1); }

} // namespace

TEST(BreakGlass, OneBrowserOnceUntilClosed) {
  TempStore temp;
  auto& store = *temp.store;
  const auto grant = shield::open_break_glass(store, "https://ha.example.com", std::chrono::minutes(15));
  ASSERT_TRUE(grant.url.starts_with("https://ha.example.com/sso/breakglass/"));
  EXPECT_GE(token_of(grant.url).size(), 43u);

  using Outcome = shield::Redemption::Outcome;
  const auto first = shield::redeem_break_glass(store, token_of(grant.url), "192.0.2.1");
  ASSERT_EQ(first.outcome, Outcome::opened);
  EXPECT_TRUE(shield::break_glass_allows(store, first.browser_secret));
  EXPECT_FALSE(shield::break_glass_allows(store, "another-browser"));
  EXPECT_FALSE(shield::break_glass_allows(store, ""));
  EXPECT_EQ(shield::redeem_break_glass(store, token_of(grant.url), "192.0.2.2").outcome, Outcome::already_used);
  EXPECT_EQ(shield::redeem_break_glass(store, "made-up", "192.0.2.2").outcome, Outcome::unknown);

  EXPECT_EQ(shield::close_break_glass(store), 1);
  EXPECT_FALSE(shield::break_glass_allows(store, first.browser_secret));
  const auto unused = shield::open_break_glass(store, "https://ha.example.com", std::chrono::minutes(1));
  shield::close_break_glass(store);
  EXPECT_EQ(shield::redeem_break_glass(store, token_of(unused.url), "192.0.2.1").outcome, Outcome::closed);

  // Nothing secret is stored: neither the URL token nor the cookie appears in the database.
  std::string bytes;
  for (const auto& suffix : {"", "-wal"}) { // in WAL mode recent rows are in the -wal file
    std::ifstream file(store.database_path().string() + suffix, std::ios::binary);
    bytes.append(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  ASSERT_NE(bytes.find("breakglass_created"), std::string::npos) << "the files were read";
  EXPECT_EQ(bytes.find(token_of(grant.url)), std::string::npos);
  EXPECT_EQ(bytes.find(first.browser_secret), std::string::npos);
}

// Beast keeps repeated fields together in its list (fields::insert), whatever lines come between them:
// a Cookie line after another header is found with the first.
TEST(OwnCookies, AreTakenFromEveryCookieLineWhateverComesBetween) {
  auto head = parsed_head("GET /api/states HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX-Between: 1\r\n"
                          "Cookie: gatehouse_login_abcdefgh=s3cret; b=2\r\nAccept: */*\r\nCookie: c=3\r\n\r\n");
  auto reading = gatehouse::front_door::read_facts(head, boost::asio::ip::make_address("127.0.0.2"), false,
                                                   std::make_shared<const gatehouse::config::Config>(), kNow);
  ASSERT_TRUE(reading.facts);
  EXPECT_EQ(reading.facts->own_cookie("gatehouse_login_abcdefgh").value_or(""), "s3cret");
  std::vector<std::string> cookie_lines;
  for (const auto& field : head)
    if (field.name() == http::field::cookie) cookie_lines.emplace_back(field.value());
  EXPECT_EQ(cookie_lines, (std::vector<std::string>{"a=1", "b=2", "c=3"}));
}

TEST(OwnCookies, AreTakenOutOfTheHeadAndKeptAsFacts) {
  http::request_header<> head;
  head.method(http::verb::get);
  head.target("/auth/token");
  head.insert(http::field::cookie, "a=1; gatehouse_breakglass=xyz; b=2");
  head.insert(http::field::cookie, "gatehouse_login_abcdefgh=s3cret");
  auto reading = gatehouse::front_door::read_facts(head, boost::asio::ip::make_address("127.0.0.2"), false, std::make_shared<const gatehouse::config::Config>(), kNow);
  ASSERT_TRUE(reading.facts);
  EXPECT_EQ(reading.facts->own_cookie(shield::kBreakGlassCookie).value_or(""), "xyz");
  EXPECT_EQ(reading.facts->own_cookie("gatehouse_login_abcdefgh").value_or(""), "s3cret");
  EXPECT_FALSE(reading.facts->own_cookie("gatehouse_breakglassx"));
  EXPECT_EQ(head.count(http::field::cookie), 1u);
  EXPECT_EQ(head[http::field::cookie], "a=1; b=2");
}

TEST(Upgrade, OnlyOneWebsocketTokenOnHaWebsocketOrAListedPathIsRelayed) {
  using shield::RouteClass;
  const std::string ws = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  EXPECT_EQ(classify_head("GET /api/websocket HTTP/1.1\r\nHost: h\r\n" + ws), RouteClass::websocket);
  EXPECT_EQ(classify_head("GET /api/hassio_ingress/tok/ws HTTP/1.1\r\nHost: h\r\n" + ws), RouteClass::websocket_passthrough);
  // The review's finding: "websocket, x" was relayed as a tunnel by one reader and refused by the other.
  EXPECT_EQ(classify_head("GET /api/websocket HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket, x\r\n\r\n"),
            RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /api/websocket HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n\r\n"),
            RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /manifest.json HTTP/1.1\r\nHost: h\r\n" + ws), RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /lovelace/0 HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n" + ws), RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /manifest.json HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
            RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /manifest.json HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n"), RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("POST /api/websocket HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n" + ws), RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /manifest.json HTTP/1.1\r\nHost: h\r\n\r\n"), RouteClass::public_path);
  // A handshake has no body: one that declares one is not a handshake HA and Gatehouse read alike.
  EXPECT_EQ(classify_head("GET /api/websocket HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n" + ws), RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /api/websocket HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n" + ws),
            RouteClass::bad_upgrade);
  EXPECT_EQ(classify_head("GET /api/websocket HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n" + ws), RouteClass::websocket);
}

namespace {

// Why read_facts refuses a head ("" when it reads it).
std::string refusal_of(const std::string& head_text) {
  auto head = parsed_head(head_text);
  auto reading = gatehouse::front_door::read_facts(head, boost::asio::ip::make_address("127.0.0.2"),
                                                   false, std::make_shared<const gatehouse::config::Config>(), kNow);
  EXPECT_EQ(reading.facts.has_value(), reading.refusal.empty()) << head_text;
  return std::string(reading.refusal);
}

} // namespace

TEST(RequestFacts, OnlyTheMethodsHaServesAreRead) {
  for (const std::string method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    EXPECT_EQ(refusal_of(method + " /api/webhook/x HTTP/1.1\r\nHost: h\r\n\r\n"), "") << method;
  // CONNECT would turn HA's connection away from HTTP; the others HA never serves.
  for (const std::string method : {"CONNECT", "TRACE", "PROPFIND", "PURGE", "BREW"})
    EXPECT_EQ(refusal_of(method + " /api/webhook/x HTTP/1.1\r\nHost: h\r\n\r\n"), "a method Home Assistant does not serve")
        << method;
}

TEST(RequestFacts, AContentLengthIsOneLineOfDigits) {
  EXPECT_EQ(refusal_of("POST /api/webhook/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"), "");
  // Beast reads each of these as a length of 5; HA's parser refuses them.
  for (const std::string lengths : {"Content-Length: 5\r\nContent-Length: 5\r\n", "Content-Length: 5, 5\r\n",
                                    "Content-Length: 5\r\nX-Between: 1\r\nContent-Length: 5\r\n"})
    EXPECT_EQ(refusal_of("POST /api/webhook/x HTTP/1.1\r\nHost: h\r\n" + lengths + "\r\n"),
              "Content-Length other than one number")
        << lengths;
}
