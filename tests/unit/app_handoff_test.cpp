// oidc/app_handoff: a hand-off is saved with its pending login under the pending-login limits, settled
// once while it waits, collected once, and nothing of it is given after it expired.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <regex>
#include <set>
#include <vector>

#include "oidc/app_handoff.hpp"
#include "oidc/pending_login.hpp"
#include "store_fixture.hpp"

namespace {

using gatehouse::oidc::AppHandoff;
using gatehouse::oidc::HandoffStatus;
using gatehouse::oidc::PendingLogin;
using gatehouse::oidc::SaveOutcome;

constexpr std::int64_t kNow = 1'000'000;

class AppHandoffTest : public gatehouse::testing::StoreTest {
protected:
  // A sign-in and its hand-off from `address`, made at kNow.
  SaveOutcome start(const std::string& address, AppHandoff* made = nullptr,
                    gatehouse::oidc::PendingLoginLimits limits = {10, 3}) {
    AppHandoff handoff;
    handoff.id = gatehouse::oidc::random_token();
    handoff.waiter_hash = gatehouse::oidc::binding_hash("waiter");
    handoff.user_code = gatehouse::oidc::new_user_code();
    handoff.client_address = address;
    handoff.idp_url = "https://idp.example/authorize?state=x";
    handoff.restart_url = "https://ha.example/auth/authorize?client_id=x";
    handoff.created_at_ms = kNow;
    handoff.expires_at_ms = kNow + 600'000;
    PendingLogin login;
    login.state = gatehouse::oidc::random_token();
    login.provider_id = "main";
    login.client_address = address;
    login.handoff_id = handoff.id;
    login.created_at_ms = kNow;
    login.expires_at_ms = handoff.expires_at_ms;
    const auto outcome = gatehouse::oidc::save_pending_login(*store_, login, limits, kNow, &handoff);
    if (made) *made = handoff;
    if (outcome == SaveOutcome::saved) {
      const auto pending = gatehouse::oidc::find_pending_login(*store_, login.state);
      EXPECT_TRUE(pending && pending->handoff_id == handoff.id && pending->browser_binding_hash.empty());
    }
    return outcome;
  }
};

TEST(AppHandoffCode, EightLettersNoVowelsDashInTheMiddleAndNotRepeated) {
  const std::regex shape("^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$");
  std::set<std::string> seen;
  std::set<char> letters;
  for (int i = 0; i < 2000; ++i) {
    const auto code = gatehouse::oidc::new_user_code();
    EXPECT_TRUE(std::regex_match(code, shape)) << code;
    seen.insert(code);
    for (const char c : code) letters.insert(c);
  }
  EXPECT_EQ(seen.size(), 2000u) << "34 bits: 2000 codes do not repeat";
  EXPECT_EQ(letters.size(), 21u) << "all 20 letters (and the dash) come up";
}

TEST_F(AppHandoffTest, SavedWithItsSignInAndWaiting) {
  AppHandoff made;
  ASSERT_EQ(start("198.51.100.7", &made), SaveOutcome::saved);
  const auto found = gatehouse::oidc::find_handoff(*store_, made.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, HandoffStatus::waiting);
  EXPECT_EQ(found->user_code, made.user_code);
  EXPECT_EQ(found->waiter_hash, made.waiter_hash);
  EXPECT_EQ(found->idp_url, made.idp_url);
  EXPECT_EQ(found->restart_url, made.restart_url);
  EXPECT_TRUE(found->result_sealed.empty());
  EXPECT_TRUE(gatehouse::oidc::binding_matches("waiter", found->waiter_hash));
  EXPECT_FALSE(gatehouse::oidc::binding_matches("waiter2", found->waiter_hash));
  EXPECT_FALSE(gatehouse::oidc::binding_matches("", ""));
  EXPECT_FALSE(gatehouse::oidc::find_handoff(*store_, "no-such-id"));
}

TEST_F(AppHandoffTest, OneAddressCannotFillTheStoreWithHandOffs) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(start("198.51.100.7"), SaveOutcome::saved);
  EXPECT_EQ(start("198.51.100.7"), SaveOutcome::address_full);
  // Taking the pending logins (their callbacks came) frees no room for more hand-offs: they still wait.
  store_->write([](sqlite3* db) { sqlite3_exec(db, "DELETE FROM pending_logins", nullptr, nullptr, nullptr); });
  EXPECT_EQ(start("198.51.100.7"), SaveOutcome::address_full);
  EXPECT_EQ(start("198.51.100.8"), SaveOutcome::saved);
}

TEST_F(AppHandoffTest, CollectedHandOffsFreeTheirRoom) {
  std::vector<AppHandoff> made(3);
  for (auto& handoff : made) ASSERT_EQ(start("198.51.100.7", &handoff), SaveOutcome::saved);
  ASSERT_TRUE(gatehouse::oidc::settle_handoff(*store_, made[0].id, true, "sealed", kNow + 1));
  ASSERT_TRUE(gatehouse::oidc::collect_handoff(*store_, made[0].id, kNow + 2));
  gatehouse::oidc::close_handoff(*store_, made[1].id); // the web view finished it itself
  EXPECT_EQ(gatehouse::oidc::find_handoff(*store_, made[1].id)->status, HandoffStatus::collected);
  // (their sign-ins' callbacks came: the pending logins are gone)
  store_->write([](sqlite3* db) { sqlite3_exec(db, "DELETE FROM pending_logins", nullptr, nullptr, nullptr); });
  EXPECT_EQ(start("198.51.100.7"), SaveOutcome::saved);
  EXPECT_EQ(start("198.51.100.7"), SaveOutcome::saved);
  EXPECT_EQ(start("198.51.100.7"), SaveOutcome::address_full);
}

TEST_F(AppHandoffTest, SettledOnceCollectedOnce) {
  AppHandoff made;
  ASSERT_EQ(start("198.51.100.7", &made), SaveOutcome::saved);
  EXPECT_FALSE(gatehouse::oidc::collect_handoff(*store_, made.id, kNow + 1)) << "nothing to collect while it waits";
  EXPECT_TRUE(gatehouse::oidc::settle_handoff(*store_, made.id, true, "sealed-result", kNow + 1));
  EXPECT_FALSE(gatehouse::oidc::settle_handoff(*store_, made.id, false, "other", kNow + 2)) << "answered once";
  EXPECT_EQ(gatehouse::oidc::find_handoff(*store_, made.id)->status, HandoffStatus::approved);
  EXPECT_EQ(gatehouse::oidc::collect_handoff(*store_, made.id, kNow + 3), "sealed-result");
  EXPECT_FALSE(gatehouse::oidc::collect_handoff(*store_, made.id, kNow + 4)) << "collected once";
  const auto after = gatehouse::oidc::find_handoff(*store_, made.id);
  EXPECT_EQ(after->status, HandoffStatus::collected);
  EXPECT_TRUE(after->result_sealed.empty()) << "the result leaves the store once collected";
}

TEST_F(AppHandoffTest, NothingAfterExpiryAndSweptLater) {
  AppHandoff made;
  ASSERT_EQ(start("198.51.100.7", &made), SaveOutcome::saved);
  EXPECT_FALSE(gatehouse::oidc::settle_handoff(*store_, made.id, true, "late", made.expires_at_ms));
  AppHandoff settled;
  ASSERT_EQ(start("198.51.100.8", &settled), SaveOutcome::saved);
  ASSERT_TRUE(gatehouse::oidc::settle_handoff(*store_, settled.id, false, "denied", kNow + 1));
  EXPECT_FALSE(gatehouse::oidc::collect_handoff(*store_, settled.id, settled.expires_at_ms));
  EXPECT_EQ(gatehouse::oidc::sweep_handoffs(*store_, made.expires_at_ms + 1), 0u) << "kept to say it expired";
  EXPECT_TRUE(gatehouse::oidc::find_handoff(*store_, made.id));
  EXPECT_EQ(gatehouse::oidc::sweep_handoffs(*store_, made.expires_at_ms + gatehouse::oidc::kHandoffKeptAfterExpiryMs), 2u);
  EXPECT_FALSE(gatehouse::oidc::find_handoff(*store_, made.id));
}

} // namespace
