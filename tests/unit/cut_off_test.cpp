// Unit tests for sessions/cut_off: the console's side (find the person, request, lift) and the serving
// process's side (who is cut off, what is still to apply), sharing one store, with the audit trail.
#include "sessions/cut_off.hpp"
#include "sessions/app_webhooks.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>

#include "net/door.hpp"
#include "shield/token_cache.hpp"
#include "store/statement.hpp"
#include "store_fixture.hpp"

namespace {
namespace fs = std::filesystem;
using gatehouse::sessions::CutOffAsked;
using gatehouse::sessions::CutOffs;
using gatehouse::sessions::LiftAsked;
using gatehouse::sessions::Person;

class CutOffTest : public gatehouse::testing::StoreTest {
protected:
  void SetUp() override {
    StoreTest::SetUp();
    add_identity("https://idp.example", "sub-bob", "ha-bob", "bob");
    add_identity("https://idp.example", "sub-alice", "ha-alice", "alice");
  }
};

TEST_F(CutOffTest, APersonIsFoundByHaUsernameOrIdAndNobodyElse) {
  ASSERT_TRUE(gatehouse::sessions::find_person(*store_, "bob"));
  EXPECT_EQ(gatehouse::sessions::find_person(*store_, "bob")->ha_user_id, "ha-bob");
  EXPECT_EQ(gatehouse::sessions::find_person(*store_, "ha-alice")->username, "alice");
  EXPECT_FALSE(gatehouse::sessions::find_person(*store_, "carol"));
  EXPECT_FALSE(gatehouse::sessions::find_person(*store_, "Bob")); // HA usernames are lowercase: no guessing
  EXPECT_FALSE(gatehouse::sessions::find_person(*store_, "%"));
}

TEST_F(CutOffTest, RequestedByTheConsoleAppliedByTheServerLiftedAgain) {
  CutOffs serving(*store_); // the serving process, started before the request
  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  EXPECT_FALSE(serving.is_cut_off("ha-bob"));

  EXPECT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", "left the household"), CutOffAsked::cut_off);
  EXPECT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", "again"), CutOffAsked::already); // once is enough
  EXPECT_FALSE(gatehouse::sessions::applied_cut_off(*store_, "ha-bob")) << "not applied before the server saw it";
  EXPECT_TRUE(serving.is_cut_off("ha-bob")) << "cut off from the moment it is written, before it is applied";
  EXPECT_FALSE(serving.is_cut_off("ha-alice"));

  auto pending = serving.pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].ha_user_id, "ha-bob");
  EXPECT_EQ(pending[0].source, "console");
  serving.mark_applied(pending[0], 3);

  const auto applied = gatehouse::sessions::applied_cut_off(*store_, "ha-bob");
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->websockets_closed, 3);
  EXPECT_GE(applied->applied_at_ms, applied->requested_at_ms);
  EXPECT_TRUE(serving.pending().empty()) << "an applied cut-off is not applied twice";
  EXPECT_TRUE(serving.is_cut_off("ha-bob"));

  CutOffs restarted(*store_); // a restart keeps it
  EXPECT_TRUE(restarted.is_cut_off("ha-bob"));

  // HA's side done: sessions ended, the user deactivated.
  ASSERT_EQ(serving.sessions_to_end().size(), 1u);
  serving.mark_sessions_ended(serving.sessions_to_end()[0], "");
  EXPECT_TRUE(serving.sessions_to_end().empty());
  EXPECT_TRUE(gatehouse::sessions::applied_cut_off(*store_, "ha-bob")->ha_user == gatehouse::sessions::HaUserAfterCutOff::deactivated);

  // A lift is asked on the console and applied by the server: until then bob stays cut off.
  EXPECT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::asked);
  EXPECT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::not_held) << "asked once";
  EXPECT_TRUE(serving.is_cut_off("ha-bob")) << "a lift not applied yet leaves the cut-off in force";
  const auto lifts = serving.lifts();
  ASSERT_EQ(lifts.size(), 1u);
  EXPECT_TRUE(lifts[0].ha_user_deactivated) << "Gatehouse deactivated the user, so the lift activates it again";
  serving.finish_lift(lifts[0]);
  EXPECT_TRUE(serving.lifts().empty());
  EXPECT_FALSE(serving.is_cut_off("ha-bob"));
  EXPECT_FALSE(gatehouse::sessions::still_cut_off(*store_, "ha-bob"));
  EXPECT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::not_held) << "nothing left to lift";

  EXPECT_EQ(audit_events(), (std::vector<std::string>{"cut_off_requested", "cut_off_applied", "cut_off_ha_sessions_ended",
                                                      "cut_off_lift_requested", "cut_off_lifted"}));
}

TEST_F(CutOffTest, AUserHaKeepsActiveIsNotActivatedByTheLift) {
  CutOffs serving(*store_);
  const Person alice = *gatehouse::sessions::find_person(*store_, "alice"); // say, the owner
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, alice, "console", ""), CutOffAsked::cut_off);
  serving.mark_applied(serving.pending().at(0), 0);
  serving.mark_sessions_ended(serving.sessions_to_end().at(0), "HA keeps this user active (cannot_deactivate_owner)");
  EXPECT_FALSE(gatehouse::sessions::applied_cut_off(*store_, "ha-alice")->ha_user == gatehouse::sessions::HaUserAfterCutOff::deactivated);
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, alice, "console").outcome, LiftAsked::asked);
  ASSERT_EQ(serving.lifts().size(), 1u);
  EXPECT_FALSE(serving.lifts()[0].ha_user_deactivated) << "Gatehouse did not deactivate her, so it does not activate her";
  EXPECT_TRUE(serving.sessions_to_end().empty());
}

// A lift called off by a new cut-off before it activated the user: HA's side finds the user inactive
// (Gatehouse's own doing), and the next lift must still activate it; one an admin deactivated stays so.
TEST_F(CutOffTest, AUserFoundInactiveIsActivatedByALiftOnlyIfGatehouseDeactivatedIt) {
  using gatehouse::sessions::HaUserAfterCutOff;
  CutOffs serving(*store_);
  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  const Person alice = *gatehouse::sessions::find_person(*store_, "alice");
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", ""), CutOffAsked::cut_off);
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, alice, "console", ""), CutOffAsked::cut_off);
  for (const auto& pending : serving.pending()) serving.mark_applied(pending, 0);
  for (const auto& pending : serving.sessions_to_end()) {
    if (pending.ha_user_id == "ha-bob") serving.mark_sessions_ended(pending, "");
    else serving.mark_sessions_ended(pending, "inactive already", "left", HaUserAfterCutOff::inactive_already);
  }
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::asked);
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", "again"), CutOffAsked::cut_off);
  serving.mark_applied(serving.pending().at(0), 0);
  serving.mark_sessions_ended(serving.sessions_to_end().at(0), "inactive already", "left", HaUserAfterCutOff::inactive_already);
  EXPECT_EQ(gatehouse::sessions::applied_cut_off(*store_, "ha-bob")->ha_user, HaUserAfterCutOff::deactivated);
  EXPECT_EQ(gatehouse::sessions::applied_cut_off(*store_, "ha-alice")->ha_user, HaUserAfterCutOff::inactive_already);
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::asked);
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, alice, "console").outcome, LiftAsked::asked);
  for (const auto& lift : serving.lifts())
    EXPECT_EQ(lift.ha_user_deactivated, lift.ha_user_id == "ha-bob") << lift.ha_user_id;
}

// Gatehouse asked HA to deactivate the user and HA did, but the answer was lost: the next round finds the
// user inactive, and the lift must still activate it.
TEST_F(CutOffTest, ADeactivationWhoseAnswerWasLostIsStillUndoneByTheLift) {
  using gatehouse::sessions::HaUserAfterCutOff;
  CutOffs serving(*store_);
  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", ""), CutOffAsked::cut_off);
  serving.mark_applied(serving.pending().at(0), 0);
  gatehouse::sessions::note_deactivating(*store_, "ha-bob"); // then the call timed out: no mark_sessions_ended
  serving.mark_sessions_ended(serving.sessions_to_end().at(0), "inactive already", "left",
                              HaUserAfterCutOff::inactive_already); // the next round
  EXPECT_EQ(gatehouse::sessions::applied_cut_off(*store_, "ha-bob")->ha_user, HaUserAfterCutOff::deactivated);
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::asked);
  EXPECT_TRUE(serving.lifts().at(0).ha_user_deactivated);
}

// SCIM says active, then inactive again, while HA is down: the lift never applied must not win.
TEST_F(CutOffTest, ACutOffAskedWhileALiftWaitsCallsTheLiftOffAndIsAppliedAgain) {
  CutOffs serving(*store_);
  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "scim", "inactive"), CutOffAsked::cut_off);
  serving.mark_applied(serving.pending().at(0), 1);
  serving.mark_sessions_ended(serving.sessions_to_end().at(0), "");
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, bob, "scim").outcome, LiftAsked::asked);
  const auto lift_in_progress = serving.lifts().at(0); // the server read it and is activating the HA user

  EXPECT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "scim", "inactive again"), CutOffAsked::cut_off) << "not 'already cut off'";
  EXPECT_TRUE(serving.lifts().empty()) << "the lift is called off";
  EXPECT_TRUE(serving.is_cut_off("ha-bob"));
  ASSERT_EQ(serving.pending().size(), 1u) << "applied again, websockets and all";
  EXPECT_EQ(serving.pending()[0].source, "scim");

  serving.finish_lift(lift_in_progress); // the lift's HA step finishes after the new cut-off was asked
  EXPECT_TRUE(serving.is_cut_off("ha-bob")) << "the finished lift does not end the new cut-off";
  serving.mark_applied(serving.pending().at(0), 0);
  ASSERT_EQ(serving.sessions_to_end().size(), 1u) << "HA's side is done again: the lift may have activated the user";
  EXPECT_EQ(audit_events(), (std::vector<std::string>{"cut_off_requested", "cut_off_applied", "cut_off_ha_sessions_ended",
                                                      "cut_off_lift_requested", "cut_off_requested",
                                                      "cut_off_lift_called_off", "cut_off_applied"}));
}

// The console, the people page and SCIM each hold their own cut-off: one's lift never ends another's.
TEST_F(CutOffTest, EachSourceHoldsItsCutOffUntilItLiftsItAndTheConsoleLiftsThemAll) {
  using gatehouse::sessions::cut_off_holders;
  using gatehouse::sessions::request_cut_off;
  using gatehouse::sessions::request_lift;
  CutOffs serving(*store_);
  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  ASSERT_EQ(request_cut_off(*store_, bob, "scim", "inactive"), CutOffAsked::cut_off);
  serving.mark_applied(serving.pending().at(0), 0);
  EXPECT_EQ(request_cut_off(*store_, bob, "console", ""), CutOffAsked::joined) << "already cut off, now held by both";
  EXPECT_EQ(request_cut_off(*store_, bob, "console", ""), CutOffAsked::already);
  EXPECT_TRUE(serving.pending().empty()) << "joining applies nothing twice";
  EXPECT_EQ(cut_off_holders(*store_, "ha-bob"), (std::vector<std::string>{"scim", "console"}));

  // SCIM says active again: its own hold goes, the console's stays.
  const auto scim_lift = request_lift(*store_, bob, "scim");
  EXPECT_EQ(scim_lift.outcome, LiftAsked::still_held);
  EXPECT_EQ(scim_lift.held_by, (std::vector<std::string>{"console"}));
  EXPECT_TRUE(serving.lifts().empty());
  EXPECT_TRUE(serving.is_cut_off("ha-bob"));
  EXPECT_EQ(request_lift(*store_, bob, "scim").outcome, LiftAsked::not_held) << "SCIM holds nothing any more";
  EXPECT_EQ(request_lift(*store_, bob, "people_page").outcome, LiftAsked::not_held) << "never the page's to lift";
  EXPECT_TRUE(serving.is_cut_off("ha-bob"));

  // The page and SCIM again; the console lifts every hold.
  EXPECT_EQ(request_cut_off(*store_, bob, "people_page", "lost phone"), CutOffAsked::joined);
  EXPECT_EQ(request_cut_off(*store_, bob, "scim", "inactive"), CutOffAsked::joined);
  EXPECT_EQ(request_lift(*store_, bob, "console").outcome, LiftAsked::asked);
  EXPECT_TRUE(cut_off_holders(*store_, "ha-bob").empty());
  ASSERT_EQ(serving.lifts().size(), 1u);
  serving.finish_lift(serving.lifts()[0]);
  EXPECT_FALSE(serving.is_cut_off("ha-bob"));
  EXPECT_EQ(audit_events(), (std::vector<std::string>{"cut_off_requested", "cut_off_applied", "cut_off_requested",
                                                      "cut_off_released", "cut_off_requested", "cut_off_requested",
                                                      "cut_off_lift_requested", "cut_off_lifted"}));
}

// The sockets of whoever is cut off, as net/ would close them: counted, nothing else.
class CountingSockets final : public gatehouse::net::RelayedSockets {
public:
  boost::asio::awaitable<std::size_t> close(std::string ha_user_id, std::vector<std::string>,
                                            boost::beast::websocket::close_reason) override {
    closed_for.push_back(std::move(ha_user_id));
    co_return 2;
  }
  boost::asio::awaitable<std::vector<gatehouse::net::SocketOwner>> owners() override { co_return std::vector<gatehouse::net::SocketOwner>{}; }
  std::vector<std::string> closed_for;
};

using gatehouse::testing::run_until;

TEST_F(CutOffTest, TheServerAppliesItThenHaSideIsRetriedUntilItWorksAndALiftReactivates) {
  boost::asio::io_context io;
  CutOffs serving(*store_);
  gatehouse::shield::TokenCache tokens;
  tokens.remember_valid("bob-token", std::numeric_limits<std::int64_t>::max() / 2, {"ha-bob", "rt-bob"}, tokens.forgets());
  CountingSockets sockets;
  int cut_off_calls = 0;
  std::vector<std::string> restored;
  gatehouse::sessions::HomeAssistantSide ha;
  ha.cut_off = [&](std::string, std::string, std::string) -> boost::asio::awaitable<gatehouse::sessions::HomeAssistantSide::CutOff> {
    ++cut_off_calls;
    gatehouse::sessions::HomeAssistantSide::CutOff outcome;
    if (cut_off_calls == 1) outcome.failure = "HA is down"; // the first try fails
    co_return outcome;
  };
  ha.restore = [&](std::string ha_user_id) -> boost::asio::awaitable<std::string> {
    restored.push_back(std::move(ha_user_id));
    co_return std::string();
  };
  boost::asio::co_spawn(io, gatehouse::sessions::apply_cut_offs(serving, tokens, sockets, ha, {std::chrono::milliseconds(5), std::chrono::milliseconds(50)}),
                        boost::asio::detached);

  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, bob, "console", ""), CutOffAsked::cut_off);
  ASSERT_TRUE(run_until(io, [&] { return gatehouse::sessions::applied_cut_off(*store_, "ha-bob").has_value(); }));
  EXPECT_EQ(sockets.closed_for, std::vector<std::string>{"ha-bob"});
  EXPECT_EQ(gatehouse::sessions::applied_cut_off(*store_, "ha-bob")->websockets_closed, 2);
  EXPECT_EQ(tokens.known("bob-token", 0), gatehouse::shield::TokenCache::Known::unknown) << "his cached token forgotten";

  // HA's side failed once, then worked on the retry.
  ASSERT_TRUE(run_until(io, [&] { return gatehouse::sessions::applied_cut_off(*store_, "ha-bob")->ha_sessions_ended_at_ms != 0; }));
  EXPECT_EQ(cut_off_calls, 2);
  EXPECT_TRUE(gatehouse::sessions::applied_cut_off(*store_, "ha-bob")->ha_user == gatehouse::sessions::HaUserAfterCutOff::deactivated);

  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, bob, "console").outcome, LiftAsked::asked);
  ASSERT_TRUE(run_until(io, [&] { return !gatehouse::sessions::still_cut_off(*store_, "ha-bob"); }));
  EXPECT_EQ(restored, std::vector<std::string>{"ha-bob"});
  EXPECT_EQ(cut_off_calls, 2) << "nothing is done twice";
  EXPECT_EQ(audit_events(), (std::vector<std::string>{"cut_off_requested", "cut_off_applied", "cut_off_ha_sessions_failed",
                                                      "cut_off_ha_sessions_ended", "cut_off_lift_requested",
                                                      "cut_off_lifted"}));
}

TEST_F(CutOffTest, ARoleAskedForIsSetInHaOnceRetriedWhileHaFailsAndAskedAgainOnlyWhenItChanges) {
  boost::asio::io_context io;
  CutOffs serving(*store_);
  gatehouse::shield::TokenCache tokens;
  CountingSockets sockets;
  std::vector<std::string> set;
  int failures_left = 1;
  gatehouse::sessions::HomeAssistantSide ha;
  ha.cut_off = [&](std::string, std::string, std::string) -> boost::asio::awaitable<gatehouse::sessions::HomeAssistantSide::CutOff> {
    co_return gatehouse::sessions::HomeAssistantSide::CutOff{};
  };
  ha.restore = [&](std::string) -> boost::asio::awaitable<std::string> { co_return std::string(); };
  ha.set_role = [&](std::string ha_user_id, std::string group,
                    std::string) -> boost::asio::awaitable<gatehouse::sessions::HomeAssistantSide::SetRole> {
    gatehouse::sessions::HomeAssistantSide::SetRole outcome;
    if (failures_left > 0) {
      --failures_left;
      outcome.failure = "HA is down";
    } else {
      set.push_back(ha_user_id + "=" + group);
    }
    co_return outcome;
  };
  boost::asio::co_spawn(io, gatehouse::sessions::apply_cut_offs(serving, tokens, sockets, ha, {std::chrono::milliseconds(5), std::chrono::milliseconds(50)}),
                        boost::asio::detached);

  const Person bob = *gatehouse::sessions::find_person(*store_, "bob");
  ASSERT_TRUE(gatehouse::sessions::request_role(*store_, bob, "system-admin", "scim"));
  ASSERT_TRUE(run_until(io, [&] { return serving.roles_to_set().empty(); }));
  EXPECT_EQ(set, std::vector<std::string>{"ha-bob=system-admin"}) << "set once, after HA failed once";
  EXPECT_FALSE(gatehouse::sessions::request_role(*store_, bob, "system-admin", "scim")) << "the same role: nothing to do";
  EXPECT_TRUE(serving.roles_to_set().empty());

  ASSERT_TRUE(gatehouse::sessions::request_role(*store_, bob, "system-read-only", "scim"));
  const auto asked = serving.roles_to_set();
  ASSERT_EQ(asked.size(), 1u);
  // A newer request made while the older one was being set stays pending: marking the older one set
  // does not count for it.
  CutOffs::RoleRequest older = asked.front();
  older.ha_group = "system-admin";
  serving.mark_role_set(older, "");
  EXPECT_EQ(serving.roles_to_set().size(), 1u);
  ASSERT_TRUE(run_until(io, [&] { return serving.roles_to_set().empty(); }));
  EXPECT_EQ(set, (std::vector<std::string>{"ha-bob=system-admin", "ha-bob=system-read-only"}));
  EXPECT_FALSE(gatehouse::sessions::still_cut_off(*store_, "ha-bob")) << "a role is not a cut-off";
}

TEST(AppWebhookPath, TheIdIsReadAsHaReadsIt) {
  using gatehouse::sessions::webhook_id_of_path;
  EXPECT_EQ(webhook_id_of_path("/api/webhook/abc").value_or("-"), "abc");
  EXPECT_EQ(webhook_id_of_path("/api/webhook/ab%63").value_or("-"), "abc") << "HA unquotes the captured id";
  EXPECT_EQ(webhook_id_of_path("/api/webhook/a%20b").value_or("-"), "a b");
  EXPECT_FALSE(webhook_id_of_path("/api/webhook/"));
  EXPECT_FALSE(webhook_id_of_path("/api/webhook/a/b")) << "not one webhook's path (HA: 404)";
  EXPECT_FALSE(webhook_id_of_path("/api/webhooks/abc"));
  EXPECT_FALSE(webhook_id_of_path("/api/webhook/%zz"));
}

TEST_F(CutOffTest, ACutOffPersonsAppWebhooksAreBlockedAcrossARestartAndOnlyTheirDigestIsStored) {
  CutOffs cut_offs(*store_);
  {
    gatehouse::sessions::AppWebhooks webhooks(*store_, cut_offs);
    webhooks.learn("hook-of-bob", "ha-bob");
    webhooks.learn("hook-of-alice", "ha-alice");
    EXPECT_FALSE(webhooks.blocked("hook-of-bob"));
    ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, *gatehouse::sessions::find_person(*store_, "bob"), "console", ""), CutOffAsked::cut_off);
    EXPECT_TRUE(webhooks.blocked("hook-of-bob")) << "at once: the cut-off row counts";
    EXPECT_FALSE(webhooks.blocked("hook-of-alice"));
    EXPECT_FALSE(webhooks.blocked("some-other-hook"));
  }
  gatehouse::sessions::AppWebhooks restarted(*store_, cut_offs);
  EXPECT_TRUE(restarted.blocked("hook-of-bob"));
  bool clear = false;
  store_->read([&](sqlite3* db) {
    gatehouse::store::Statement select(db, "SELECT 1 FROM app_webhooks WHERE webhook_digest LIKE '%hook%'", "look");
    clear = select.step();
  });
  EXPECT_FALSE(clear) << "webhook ids are secrets: only digests are kept";
  ASSERT_EQ(gatehouse::sessions::request_lift(*store_, *gatehouse::sessions::find_person(*store_, "bob"), "console").outcome, LiftAsked::asked);
  EXPECT_TRUE(restarted.blocked("hook-of-bob")) << "a lift counts once the serving process applied it";
}

TEST_F(CutOffTest, APersonsAppsAreBoundedByRefusingMoreNeverByForgettingOne) {
  CutOffs cut_offs(*store_);
  gatehouse::sessions::AppWebhooks webhooks(*store_, cut_offs);
  const auto limit = gatehouse::sessions::AppWebhooks::kMaxWebhooksPerUser;
  for (std::size_t i = 0; i < limit; ++i) {
    ASSERT_TRUE(webhooks.has_room("ha-bob"));
    webhooks.learn("hook-of-bob-" + std::to_string(i), "ha-bob");
  }
  EXPECT_FALSE(webhooks.has_room("ha-bob"));
  EXPECT_TRUE(webhooks.has_room("ha-alice")) << "the bound is per person";
  webhooks.learn("hook-of-bob-0", "ha-bob");
  EXPECT_FALSE(webhooks.has_room("ha-bob")) << "the same webhook again counts once";
  ASSERT_EQ(gatehouse::sessions::request_cut_off(*store_, *gatehouse::sessions::find_person(*store_, "bob"), "console", ""), CutOffAsked::cut_off);
  EXPECT_TRUE(webhooks.blocked("hook-of-bob-0")) << "his first webhook is still known, so still blocked";
  gatehouse::sessions::AppWebhooks restarted(*store_, cut_offs);
  EXPECT_FALSE(restarted.has_room("ha-bob")) << "the count survives a restart";
}

} // namespace
