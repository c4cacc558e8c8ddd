// Limits on what anonymous clients can make Gatehouse do: who counts as one client (net/client_key),
// connections per client (net/connection_slots), the descriptor budget (net/open_files), token checks
// with HA (shield/check_budget), pending logins in the store (oidc/pending_login) and refusals in the
// audit log (store/refusal_summary). Time is moved by hand, never waited for.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <random>
#include <sqlite3.h>

#include "net/client_key.hpp"
#include "net/connection_slots.hpp"
#include "net/open_files.hpp"
#include "oidc/pending_login.hpp"
#include "shield/check_budget.hpp"
#include "store/refusal_summary.hpp"
#include "store/statement.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using gatehouse::net::client_key;
using gatehouse::shield::CheckBudget;

namespace {

class TempStore {
public:
  TempStore() {
    std::random_device random;
    directory_ = fs::temp_directory_path() / ("gatehouse-limits-" + std::to_string(random()));
    store = gatehouse::store::Store::open(directory_);
  }
  ~TempStore() {
    store.reset();
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
  }
  std::unique_ptr<gatehouse::store::Store> store;

private:
  fs::path directory_;
};

gatehouse::oidc::PendingLogin pending_from(const std::string& address, std::int64_t created_ms) {
  gatehouse::oidc::PendingLogin login;
  login.state = gatehouse::oidc::random_token();
  login.provider_id = "main";
  login.client_address = address;
  login.created_at_ms = created_ms;
  login.expires_at_ms = created_ms + 600'000;
  return login;
}

std::int64_t pending_rows(const gatehouse::store::Store& store) {
  std::int64_t rows = 0;
  store.read([&](sqlite3* db) {
    gatehouse::store::Statement count(db, "SELECT count(*) FROM pending_logins", "count");
    count.step();
    rows = count.column_int64(0);
  });
  return rows;
}

} // namespace

// ------------------------------------------------------------------------------------------- client keys

TEST(ClientKey, IPv4IsOneAddressAndIPv6IsItsSlash64) {
  EXPECT_EQ(client_key("192.0.2.7").to_string(), "192.0.2.7");
  EXPECT_EQ(client_key("::ffff:192.0.2.7"), client_key("192.0.2.7"));
  EXPECT_NE(client_key("192.0.2.7"), client_key("192.0.2.8"));
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa::1"), client_key("2001:db8:1:2:bbbb::9"));
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa::1").to_string(), "2001:db8:1:2::/64");
  EXPECT_NE(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
  EXPECT_EQ(client_key("not an address"), client_key(""));
}

// ------------------------------------------------------------------------------------ connection slots

TEST(ConnectionSlots, OneClientHoldsAtMostItsShareAndGetsSlotsBack) {
  gatehouse::net::ConnectionSlots slots;
  constexpr std::size_t kLimit = 2;
  const auto flooder = client_key("198.51.100.1");
  std::vector<gatehouse::net::ConnectionSlots::Slot> held(2);
  EXPECT_TRUE(slots.take(flooder, kLimit, held[0]));
  EXPECT_TRUE(slots.take(flooder, kLimit, held[1]));
  gatehouse::net::ConnectionSlots::Slot refused;
  EXPECT_FALSE(slots.take(flooder, kLimit, refused));
  std::vector<gatehouse::net::ConnectionSlots::Slot> v6(3);
  EXPECT_TRUE(slots.take(client_key("2001:db8::1"), kLimit, v6[0]));
  EXPECT_TRUE(slots.take(client_key("2001:db8::2"), kLimit, v6[1]));
  EXPECT_FALSE(slots.take(client_key("2001:db8::3"), kLimit, v6[2])) << "one IPv6 /64 is one client";

  gatehouse::net::ConnectionSlots::Slot other;
  EXPECT_TRUE(slots.take(client_key("198.51.100.2"), kLimit, other)) << "another client is not affected";

  held.pop_back();
  EXPECT_EQ(slots.held_by(flooder), 1u);
  gatehouse::net::ConnectionSlots::Slot again;
  EXPECT_TRUE(slots.take(flooder, kLimit, again));

  // A reload lowers the limit: the flooder keeps what it holds and gets no more; raised, it gets more.
  gatehouse::net::ConnectionSlots::Slot lowered;
  EXPECT_FALSE(slots.take(flooder, 1, lowered));
  EXPECT_EQ(slots.held_by(flooder), 2u);
  EXPECT_TRUE(slots.take(flooder, 3, lowered));
}

// ------------------------------------------------------------------------------------------ open files

TEST(OpenFiles, ConnectionsLeaveRoomForUpstreamAndReservedDescriptors) {
  const auto reserved = gatehouse::net::reserved_descriptors(2, 32);
  EXPECT_EQ(reserved, 64u + 2 * (256 + 8) + 32);
  EXPECT_EQ(gatehouse::net::connections_for(20000, 2, 32), (20000 - reserved) / 2);
  EXPECT_EQ(gatehouse::net::connections_for(1024, 2, 32), (1024 - reserved) / 2);
  EXPECT_EQ(gatehouse::net::connections_for(100, 2, 32), 1u) << "never zero";
}

TEST(OpenFiles, SoftLimitIsRaisedToTheHardLimit) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max == RLIM_INFINITY || before.rlim_max < 2) GTEST_SKIP() << "needs a finite hard limit";
  rlimit lowered{before.rlim_max / 2, before.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const auto raised = gatehouse::net::raise_open_files_limit();
  EXPECT_EQ(raised.soft_before, before.rlim_max / 2);
  EXPECT_EQ(raised.soft, before.rlim_max);
  EXPECT_EQ(raised.hard, before.rlim_max);
  rlimit after{};
  ::getrlimit(RLIMIT_NOFILE, &after);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &before);
}

// ------------------------------------------------------------------------------------ token check budget

TEST(CheckBudget, ABurstThenTheRefillRate) {
  CheckBudget budget({.per_minute = 6, .burst = 3, .concurrent = 100});
  const auto client = client_key("198.51.100.1");
  const auto start = CheckBudget::Clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.spend(client, start)) << i;
  const auto over = budget.spend(client, start);
  EXPECT_FALSE(over);
  EXPECT_EQ(over.verdict(), CheckBudget::Verdict::client_over_budget);
  EXPECT_FALSE(budget.spend(client, start + 9s)) << "6 per minute: one every 10 s";
  EXPECT_TRUE(budget.spend(client, start + 10s));
  EXPECT_FALSE(budget.spend(client, start + 10s));
  // A long pause refills up to the burst, never beyond.
  const auto later = start + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.spend(client, later)) << i;
  EXPECT_FALSE(budget.spend(client, later));
}

TEST(CheckBudget, OtherClientsHaveTheirOwnBudget) {
  CheckBudget budget({.per_minute = 1, .burst = 1, .concurrent = 100});
  const auto now = CheckBudget::Clock::time_point{} + 1h;
  EXPECT_TRUE(budget.spend(client_key("198.51.100.1"), now));
  EXPECT_FALSE(budget.spend(client_key("198.51.100.1"), now));
  EXPECT_TRUE(budget.spend(client_key("198.51.100.2"), now));
  EXPECT_TRUE(budget.spend(client_key("2001:db8:0:1::5"), now));
  EXPECT_FALSE(budget.spend(client_key("2001:db8:0:1::6"), now)) << "addresses of one IPv6 /64 share a budget";
}

TEST(CheckBudget, ChecksInFlightAreCappedForEveryone) {
  CheckBudget budget({.per_minute = 60, .burst = 60, .concurrent = 2});
  const auto now = CheckBudget::Clock::time_point{} + 1h;
  auto first = budget.spend(client_key("198.51.100.1"), now);
  auto second = budget.spend(client_key("198.51.100.2"), now);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(budget.in_flight(), 2u);
  const auto third = budget.spend(client_key("198.51.100.3"), now);
  EXPECT_EQ(third.verdict(), CheckBudget::Verdict::too_many_at_once);
  first = CheckBudget::Ticket{}; // the check is answered
  EXPECT_EQ(budget.in_flight(), 1u);
  EXPECT_TRUE(budget.spend(client_key("198.51.100.3"), now));
  EXPECT_EQ(budget.in_flight(), 1u) << "a ticket dropped at once frees its place";
}

TEST(CheckBudget, ClientsBeyondTheTableShareOneBucket) {
  CheckBudget budget({.per_minute = 1, .burst = 1, .concurrent = 100, .clients_kept = 2});
  const auto now = CheckBudget::Clock::time_point{} + 1h;
  EXPECT_TRUE(budget.spend(client_key("198.51.100.1"), now));
  EXPECT_TRUE(budget.spend(client_key("198.51.100.2"), now));
  EXPECT_TRUE(budget.spend(client_key("198.51.100.3"), now)) << "the shared bucket starts full";
  EXPECT_FALSE(budget.spend(client_key("198.51.100.4"), now)) << "and is shared";
  // Once the first two buckets are full again they are forgotten, and newcomers get their own.
  EXPECT_TRUE(budget.spend(client_key("198.51.100.5"), now + 2min));
  EXPECT_TRUE(budget.spend(client_key("198.51.100.6"), now + 2min));
}

// -------------------------------------------------------------------------------------- pending logins

TEST(PendingLoginLimits, OneAddressCannotFillTheStore) {
  TempStore temp;
  const gatehouse::oidc::PendingLoginLimits limits{10, 3};
  using Outcome = gatehouse::oidc::SaveOutcome;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.1", 1000), limits, 1000), Outcome::saved);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.1", 1000), limits, 1000),
              Outcome::address_full);
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("2001:db8::1", 1000), limits, 1000), Outcome::saved);
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("2001:db8::2", 1000), limits, 1000), Outcome::saved);
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("2001:db8::3", 1000), limits, 1000), Outcome::saved);
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("2001:db8::4", 1000), limits, 1000),
            Outcome::address_full) << "one IPv6 /64 is one client";
  EXPECT_EQ(pending_rows(*temp.store), 6);
}

// A home's IPv6 /48 holds 65,536 /64s, each a client of its own: together they stop at the network's limit,
// far below the store's, and a neighbouring network still gets in.
TEST(PendingLoginLimits, OneNetworkOfManyClientsCannotFillTheStore) {
  TempStore temp;
  const gatehouse::oidc::PendingLoginLimits limits{100, 2, 5};
  using Outcome = gatehouse::oidc::SaveOutcome;
  const auto save = [&](const std::string& address) {
    return gatehouse::oidc::save_pending_login(*temp.store, pending_from(address.c_str(), 1000), limits, 1000);
  };
  for (int subnet = 0; subnet < 5; ++subnet)
    EXPECT_EQ(save("2001:db8:7:" + std::to_string(subnet) + "::1"), Outcome::saved);
  for (int subnet = 5; subnet < 300; ++subnet)
    EXPECT_EQ(save("2001:db8:7:" + std::to_string(subnet) + "::1"), Outcome::network_full) << subnet;
  EXPECT_EQ(save("2001:db8:8::1"), Outcome::saved) << "another /48";
  EXPECT_EQ(save("198.51.100.1"), Outcome::saved) << "an IPv4 address is a network of its own";
  EXPECT_EQ(save("198.51.100.1"), Outcome::saved);
  EXPECT_EQ(save("198.51.100.1"), Outcome::address_full);
  EXPECT_EQ(pending_rows(*temp.store), 8);
  EXPECT_EQ(gatehouse::net::network_key("2001:db8:7:ff:1::9"), "2001:db8:7::/48");
  EXPECT_EQ(gatehouse::net::network_key("198.51.100.1"), "198.51.100.1");
}

TEST(PendingLoginLimits, AFullStoreRefusesNewcomersAndKeepsEveryoneElses) {
  TempStore temp;
  const gatehouse::oidc::PendingLoginLimits limits{4, 2};
  using Outcome = gatehouse::oidc::SaveOutcome;
  std::vector<gatehouse::oidc::PendingLogin> kept;
  for (const char* address : {"198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.2"}) {
    kept.push_back(pending_from(address, 1000));
    ASSERT_EQ(gatehouse::oidc::save_pending_login(*temp.store, kept.back(), limits, 1000), Outcome::saved);
  }
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.3", 2000), limits, 2000),
            Outcome::all_full);
  for (const auto& login : kept) {
    bool expired = false;
    EXPECT_TRUE(gatehouse::oidc::take_pending_login(*temp.store, login.state, 2000, expired)) << "nobody was evicted";
  }
}

TEST(PendingLoginLimits, ExpiredLoginsNeitherCountNorStay) {
  TempStore temp;
  const gatehouse::oidc::PendingLoginLimits limits{10, 2};
  using Outcome = gatehouse::oidc::SaveOutcome;
  for (int i = 0; i < 2; ++i)
    gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.1", 1000), limits, 1000);
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.1", 1000), limits, 1000),
            Outcome::address_full);
  const std::int64_t after_expiry = 1000 + 600'000;
  EXPECT_EQ(gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.1", after_expiry), limits, after_expiry),
            Outcome::saved);

  gatehouse::oidc::save_pending_login(*temp.store, pending_from("198.51.100.2", 5000), limits, 5000);
  EXPECT_EQ(pending_rows(*temp.store), 2);
  // The minute's sweep removes logins nobody came back for, without anyone finishing one.
  EXPECT_EQ(gatehouse::oidc::sweep_expired_pending_logins(*temp.store, 5000 + 600'000), 1u);
  EXPECT_EQ(pending_rows(*temp.store), 1);
}

// ------------------------------------------------------------------------------------- refusal summary

TEST(RefusalSummary, CountsPerReasonAndClientInOneEntry) {
  gatehouse::store::RefusalSummary summary("shield_refusals", {.clients_kept = 2});
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(summary.count("unauthenticated", client_key("198.51.100.1")));
  summary.count("ambiguous_request", client_key("2001:db8::1"));
  summary.count("ambiguous_request", client_key("198.51.100.3")); // beyond clients_kept
  const auto entry = summary.take(42);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->event, "shield_refusals");
  EXPECT_EQ(entry->at_unix_ms, 42);
  const auto detail = boost::json::parse(entry->detail).as_object();
  EXPECT_EQ(detail.at("total").to_number<int>(), 1002);
  EXPECT_EQ(detail.at("reasons").at("unauthenticated").to_number<int>(), 1000);
  EXPECT_EQ(detail.at("reasons").at("ambiguous_request").to_number<int>(), 2);
  EXPECT_EQ(detail.at("clients").at("198.51.100.1").to_number<int>(), 1000);
  EXPECT_EQ(detail.at("clients").at("2001:db8::/64").to_number<int>(), 1);
  EXPECT_EQ(detail.at("clients").as_object().size(), 2u);
  EXPECT_EQ(detail.at("other_clients").to_number<int>(), 1);
  EXPECT_FALSE(summary.take(43)) << "a quiet minute writes nothing";
}

TEST(RefusalSummary, TheFirstFewOfEachClientGetTheirOwnEntry) {
  gatehouse::store::RefusalSummary summary("sign_in_refusals",
                                           {.own_entries_per_client = 2, .own_entries_total = 3, .clients_kept = 10});
  EXPECT_TRUE(summary.count("unknown_state", client_key("198.51.100.1")));
  EXPECT_TRUE(summary.count("unknown_state", client_key("198.51.100.1")));
  EXPECT_FALSE(summary.count("unknown_state", client_key("198.51.100.1")));
  EXPECT_TRUE(summary.count("no_role", client_key("198.51.100.2")));
  EXPECT_FALSE(summary.count("no_role", client_key("198.51.100.3"))) << "at most 3 own entries a minute in all";
  const auto detail = boost::json::parse(summary.take(1)->detail).as_object();
  EXPECT_EQ(detail.at("total").to_number<int>(), 2) << "refusals with an entry of their own are not counted twice";
  // The next minute starts over.
  EXPECT_TRUE(summary.count("unknown_state", client_key("198.51.100.1")));
  EXPECT_FALSE(summary.take(2));
}

TEST(RefusalSummary, AFloodAddsOneAuditRowAMinute) {
  TempStore temp;
  gatehouse::store::RefusalSummary summary("sign_in_refusals", {.own_entries_per_client = 1});
  for (int i = 0; i < 5000; ++i) {
    gatehouse::store::audit_refusal(*temp.store, summary, {0, 1, "login_refused", "", "198.51.100.1", "{}"}, "unknown_state");
  }
  summary.flush(*temp.store, 2);
  const auto entries = temp.store->audit(std::nullopt, std::nullopt);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].event, "login_refused");
  EXPECT_EQ(entries[1].event, "sign_in_refusals");
  EXPECT_EQ(boost::json::parse(entries[1].detail).at("total").to_number<int>(), 4999);
}
