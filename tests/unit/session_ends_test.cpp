// Unit tests for back-channel logout: the checks of a logout token's claims (oidc check_logout_token, at
// an injected time), and sessions/session_ends: which HA sessions a logout names, replays, codes of a
// logged-out IdP session, and the serving process ending exactly those sessions (their sockets, their
// cached tokens, their refresh tokens in HA) while the person's others stay.
#include "sessions/session_ends.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <functional>

#include "net/door.hpp"
#include "oidc/provider.hpp"
#include "sessions/cut_off.hpp"
#include "shield/token_cache.hpp"
#include "store_fixture.hpp"

namespace {
namespace json = boost::json;
using gatehouse::sessions::CutOffAsked;
using gatehouse::sessions::IdpLogout;
using gatehouse::sessions::IdpSession;
using gatehouse::sessions::SessionEnds;

// ---- the logout token's claims ----

constexpr std::int64_t kNow = 1'800'000'000;
constexpr char kEvent[] = "http://schemas.openid.net/event/backchannel-logout";

gatehouse::config::Provider provider() {
  gatehouse::config::Provider p;
  p.id = "idp";
  p.issuer = "https://idp.example.test";
  p.client_id = "gatehouse";
  return p;
}

// What oidc-provider sends (typ logout+jwt, sub, sid, jti, events, iat, exp), with `changes` applied:
// a member set to JSON text, or removed when the text is empty.
gatehouse::jose::VerifiedJws token(std::vector<std::pair<std::string, std::string>> changes = {},
                                   std::string typ = "logout+jwt") {
  gatehouse::jose::VerifiedJws jws;
  jws.header = json::object{{"alg", "RS256"}, {"kid", "k1"}};
  if (!typ.empty()) jws.header["typ"] = typ;
  jws.payload = json::parse(R"({"iss":"https://idp.example.test","aud":"gatehouse","sub":"bob","sid":"s-1",)"
                            R"("jti":"j-1","iat":1800000000,"exp":1800000600,)"
                            R"("events":{"http://schemas.openid.net/event/backchannel-logout":{}}})")
                    .as_object();
  for (const auto& [name, text] : changes) {
    jws.payload.erase(name);
    if (!text.empty()) jws.payload[name] = json::parse(text);
  }
  return jws;
}

std::string refusal(const gatehouse::jose::VerifiedJws& jws) {
  const auto result = gatehouse::oidc::check_logout_token(jws, provider(), kNow);
  return result ? "" : result.failure.reason;
}

TEST(LogoutToken, WhatOidcProviderSendsHoldsAndNamesTheSessionAndThePerson) {
  const auto result = gatehouse::oidc::check_logout_token(token(), provider(), kNow);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value->issuer, "https://idp.example.test");
  EXPECT_EQ(result.value->subject, "bob");
  EXPECT_EQ(result.value->sid, "s-1");
  EXPECT_EQ(result.value->jti, "j-1");
  // sid alone, or sub alone, is enough; neither is not.
  EXPECT_EQ(refusal(token({{"sub", ""}})), "");
  EXPECT_EQ(refusal(token({{"sid", ""}})), "");
  EXPECT_EQ(refusal(token({{"sid", ""}, {"sub", ""}})), "logout token: names neither sub nor sid");
  EXPECT_EQ(refusal(token({{"sid", "42"}})), "logout token: sid is not usable");
  EXPECT_EQ(refusal(token({{"sub", R"("")"}})), "logout token: sub is not usable");
}

TEST(LogoutToken, AnIdTokenOrAnotherJwtDoesNotPassForOne) {
  EXPECT_EQ(refusal(token({{"nonce", R"("n-1")"}})), "logout token: has a nonce");
  EXPECT_EQ(refusal(token({{"events", ""}})), "logout token: events has no back-channel logout event");
  EXPECT_EQ(refusal(token({{"events", R"({"http://schemas.openid.net/event/backchannel-logout":true})"}})),
            "logout token: events has no back-channel logout event");
  EXPECT_EQ(refusal(token({{"events", R"(["http://schemas.openid.net/event/backchannel-logout"])"}})),
            "logout token: events has no back-channel logout event");
  EXPECT_EQ(refusal(token({}, "at+jwt")), "logout token: typ is neither logout+jwt nor JWT");
  EXPECT_EQ(refusal(token({}, "JWT")), "") << "Keycloak types its logout tokens JWT";
  EXPECT_EQ(refusal(token({}, "application/logout+jwt")), "");
  EXPECT_EQ(refusal(token({}, "")), "") << "typ is a SHOULD";
  EXPECT_EQ(refusal(token({{"jti", ""}})), "logout token: no usable jti");
}

TEST(LogoutToken, IssuerAudienceAndTimes) {
  EXPECT_EQ(refusal(token({{"iss", R"("https://other.example.test")"}})), "logout token: iss is not the configured issuer");
  EXPECT_EQ(refusal(token({{"aud", R"("someone-else")"}})), "logout token: aud does not name this client");
  EXPECT_EQ(refusal(token({{"aud", R"(["gatehouse","other"])"}})), "logout token: several audiences and no azp");
  EXPECT_EQ(refusal(token({{"iat", ""}})), "logout token: no iat");
  EXPECT_EQ(refusal(token({{"iat", "1800000061"}})), "logout token: issued in the future (iat)");
  EXPECT_EQ(refusal(token({{"iat", "1800000060"}})), "");
  EXPECT_EQ(refusal(token({{"iat", "1799999340"}, {"exp", ""}})), "") << "10 minutes old, with the skew";
  EXPECT_EQ(refusal(token({{"iat", "1799999339"}, {"exp", ""}})), "logout token: too old (iat)");
  EXPECT_EQ(refusal(token({{"exp", "1799999940"}})), "logout token: expired");
  EXPECT_EQ(refusal(token({{"exp", ""}})), "") << "exp is absent from older IdPs' logout tokens";
  EXPECT_EQ(refusal(token({{"exp", R"("soon")"}})), "logout token: exp is not a usable time");
}

// ---- the store and the serving process ----

class SessionEndsTest : public gatehouse::testing::StoreTest {
protected:
  void SetUp() override {
    StoreTest::SetUp();
    add_identity(kIssuer, "sub-bob", "ha-bob", "bob");
    add_identity(kIssuer, "sub-alice", "ha-alice", "alice");
    // Bob signed in twice (two IdP sessions: his laptop, his phone), Alice once; a trusted device too.
    ends_ = std::make_unique<SessionEnds>(*store_);
    ends_->record_refresh_token("rt-bob-laptop", "digest-rt-bob-laptop", "ha-bob", "client", IdpSession{kIssuer, "sub-bob", "s-laptop", 1});
    ends_->record_refresh_token("rt-bob-phone", "digest-rt-bob-phone", "ha-bob", "client", IdpSession{kIssuer, "sub-bob", "s-phone", 1});
    ends_->record_refresh_token("rt-alice", "digest-rt-alice", "ha-alice", "client", IdpSession{kIssuer, "sub-alice", "s-alice", 1});
    ends_->record_refresh_token("rt-tablet", "digest-rt-tablet", "ha-bob", "client", std::nullopt);
  }
  void TearDown() override {
    ends_.reset();
    StoreTest::TearDown();
  }
  bool refused(const char* ha_user_id, const char* token_id) {
    return gatehouse::sessions::CutOffs(*store_).refuses(ha_user_id, token_id);
  }

  static constexpr char kIssuer[] = "https://idp.example.test";
  std::unique_ptr<SessionEnds> ends_;
};

TEST_F(SessionEndsTest, ALogoutBySidEndsOnlyTheSessionsOfThatIdpSessionOnce) {
  const auto taken = ends_->take_logout(IdpLogout{kIssuer, "sub-bob", "s-laptop", "j-1"}, "idp");
  EXPECT_FALSE(taken.replayed);
  EXPECT_EQ(taken.sessions, 1u);
  EXPECT_EQ(taken.people, std::vector<std::string>{"bob"});
  EXPECT_TRUE(refused("ha-bob", "rt-bob-laptop"));
  EXPECT_FALSE(refused("ha-bob", "rt-bob-phone")) << "his other IdP session's HA session stays";
  EXPECT_FALSE(refused("ha-bob", "rt-tablet"));
  EXPECT_FALSE(refused("ha-alice", "rt-alice"));

  const auto again = ends_->take_logout(IdpLogout{kIssuer, "sub-bob", "s-laptop", "j-1"}, "idp");
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.sessions, 0u);
  // Another IdP's logout with the same jti and sid names nothing of this one's.
  const auto elsewhere = ends_->take_logout(IdpLogout{"https://other.example.test", "sub-bob", "s-phone", "j-1"}, "other");
  EXPECT_FALSE(elsewhere.replayed);
  EXPECT_EQ(elsewhere.sessions, 0u);
  EXPECT_FALSE(refused("ha-bob", "rt-bob-phone"));
}

TEST_F(SessionEndsTest, ALogoutBySubAloneEndsAllOfThePersonsSignInsFromThatIdp) {
  const auto taken = ends_->take_logout(IdpLogout{kIssuer, "sub-bob", std::nullopt, "j-2"}, "idp");
  EXPECT_EQ(taken.sessions, 2u);
  EXPECT_TRUE(refused("ha-bob", "rt-bob-laptop"));
  EXPECT_TRUE(refused("ha-bob", "rt-bob-phone"));
  EXPECT_FALSE(refused("ha-bob", "rt-tablet")) << "a trusted device's session did not come from the IdP";
  EXPECT_FALSE(refused("ha-alice", "rt-alice"));
}

TEST_F(SessionEndsTest, ASignInWhoseIdpNamedNoSessionEndsWithAnyLogoutNamingItsPerson) {
  ends_->record_refresh_token("rt-bob-nosid", "digest-rt-bob-nosid", "ha-bob", "client", IdpSession{kIssuer, "sub-bob", "", 1});
  const auto taken = ends_->take_logout(IdpLogout{kIssuer, "sub-bob", "s-laptop", "j-3"}, "idp");
  EXPECT_EQ(taken.sessions, 2u);
  EXPECT_TRUE(refused("ha-bob", "rt-bob-nosid"));
  EXPECT_FALSE(refused("ha-bob", "rt-bob-phone"));
  // By sid alone, nobody's sid-less session is named.
  ends_->record_refresh_token("rt-alice-nosid", "digest-rt-alice-nosid", "ha-alice", "client", IdpSession{kIssuer, "sub-alice", "", 1});
  EXPECT_EQ(ends_->take_logout(IdpLogout{kIssuer, std::nullopt, "s-alice", "j-4"}, "idp").sessions, 1u);
  EXPECT_FALSE(refused("ha-alice", "rt-alice-nosid"));
}

TEST_F(SessionEndsTest, ACodeOfALoggedOutIdpSessionIsKnownAsSuch) {
  const auto now = gatehouse::store::now_unix_ms();
  const IdpSession laptop{kIssuer, "sub-bob", "s-laptop", now - 1000};
  const IdpSession phone{kIssuer, "sub-bob", "s-phone", now - 1000};
  EXPECT_FALSE(ends_->logged_out(laptop));
  ends_->take_logout(IdpLogout{kIssuer, "sub-bob", "s-laptop", "j-5"}, "idp");
  EXPECT_TRUE(ends_->logged_out(laptop));
  EXPECT_FALSE(ends_->logged_out(phone));
  // By sub: what he signed in before it, not after.
  ends_->take_logout(IdpLogout{kIssuer, "sub-bob", std::nullopt, "j-6"}, "idp");
  EXPECT_TRUE(ends_->logged_out(phone));
  EXPECT_FALSE(ends_->logged_out(IdpSession{kIssuer, "sub-bob", "s-new", now + 60'000}));
}

// The sockets closed, as net/ would close them: who and which sessions.
class RecordingSockets final : public gatehouse::net::RelayedSockets {
public:
  boost::asio::awaitable<std::size_t> close(std::string ha_user_id, std::vector<std::string> session_ids,
                                            boost::beast::websocket::close_reason reason) override {
    std::string line = ha_user_id + ":";
    for (const auto& id : session_ids) line += " " + id;
    closed.push_back(line + " (" + std::string(reason.reason.data(), reason.reason.size()) + ")");
    co_return session_ids.size();
  }
  boost::asio::awaitable<std::vector<gatehouse::net::SocketOwner>> owners() override { co_return std::vector<gatehouse::net::SocketOwner>{}; }
  std::vector<std::string> closed;
};

using gatehouse::testing::run_until;

TEST_F(SessionEndsTest, TheServerEndsExactlyThoseSessionsThenDeletesThemInHaRetryingWhileHaFails) {
  boost::asio::io_context io;
  gatehouse::sessions::CutOffs cut_offs(*store_);
  gatehouse::shield::TokenCache tokens;
  const auto far = std::numeric_limits<std::int64_t>::max() / 2;
  tokens.remember_valid("laptop-token", far, {"ha-bob", "rt-bob-laptop"}, tokens.forgets());
  tokens.remember_valid("phone-token", far, {"ha-bob", "rt-bob-phone"}, tokens.forgets());
  RecordingSockets sockets;
  std::vector<std::string> deleted_in_ha;
  int calls = 0;
  gatehouse::sessions::HomeAssistantSide ha;
  ha.cut_off = [](std::string, std::string, std::string)
      -> boost::asio::awaitable<gatehouse::sessions::HomeAssistantSide::CutOff> {
    co_return gatehouse::sessions::HomeAssistantSide::CutOff{};
  };
  ha.restore = [](std::string) -> boost::asio::awaitable<std::string> { co_return std::string(); };
  using EndSessions = gatehouse::sessions::HomeAssistantSide::EndSessions;
  ha.end_sessions = [&](std::string ha_user_id, std::string, std::vector<std::string> ids) -> boost::asio::awaitable<EndSessions> {
    if (++calls == 1) co_return EndSessions{"HA is down"};
    for (const auto& id : ids) deleted_in_ha.push_back(ha_user_id + ":" + id);
    co_return EndSessions{};
  };
  boost::asio::co_spawn(io,
                        gatehouse::sessions::apply_cut_offs(cut_offs, tokens, sockets, ha,
                                                            {std::chrono::milliseconds(5), std::chrono::milliseconds(50)},
                                                            ends_.get()),
                        boost::asio::detached);

  ends_->take_logout(IdpLogout{kIssuer, "sub-bob", "s-laptop", "j-7"}, "idp");
  ASSERT_TRUE(run_until(io, [&] { return ends_->pending().empty(); }));
  EXPECT_EQ(sockets.closed, std::vector<std::string>{"ha-bob: rt-bob-laptop (Session ended)"});
  EXPECT_EQ(tokens.known("laptop-token", 0), gatehouse::shield::TokenCache::Known::refused);
  EXPECT_EQ(tokens.known("phone-token", 0), gatehouse::shield::TokenCache::Known::valid) << "his other session is kept";

  ASSERT_TRUE(run_until(io, [&] { return !deleted_in_ha.empty(); }));
  EXPECT_EQ(calls, 2) << "HA failed once, then the retry did it";
  EXPECT_EQ(deleted_in_ha, std::vector<std::string>{"ha-bob:rt-bob-laptop"});
  ASSERT_TRUE(run_until(io, [&] { return ends_->to_end_in_ha().empty(); }));
  EXPECT_TRUE(refused("ha-bob", "rt-bob-laptop")) << "still refused at the door after HA deleted it";

  EXPECT_EQ(audit_events(), (std::vector<std::string>{"backchannel_logout", "sessions_ended", "sessions_end_in_ha_failed",
                                              "sessions_ended_in_ha"}));
}

TEST_F(SessionEndsTest, APersonCutOffHasTheirSessionsEndedByTheCutOffNotOneByOne) {
  ends_->take_logout(IdpLogout{kIssuer, "sub-bob", "s-laptop", "j-8"}, "idp");
  const auto pending = ends_->pending();
  ASSERT_EQ(pending.size(), 1u);
  ends_->mark_applied(pending, 0);
  ASSERT_EQ(ends_->to_end_in_ha().size(), 1u);
  const auto bob = *gatehouse::sessions::find_person(*store_, "bob");
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", ""), CutOffAsked::cut_off);
  EXPECT_TRUE(ends_->to_end_in_ha().empty());
}

} // namespace
