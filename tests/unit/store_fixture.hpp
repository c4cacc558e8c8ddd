// For the unit tests that need a store of their own: a fresh data directory per test, identities as
// sign-ins leave them, the audit trail's events, and a bounded wait on an outcome of an io_context.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/statement.hpp"
#include "store/store.hpp"

namespace gatehouse::testing {

class StoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatehouse-unit-store-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    directory_ = pattern;
    store_ = store::Store::open(directory_ / "data");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(directory_);
  }
  // The identity a sign-in at `issuer` as `subject` leaves, linked to that HA user.
  void add_identity(const char* issuer, const char* subject, const char* ha_user_id, const char* username) {
    store_->write([&](sqlite3* db) {
      store::Statement insert(db,
                              "INSERT INTO identities (issuer, subject, ha_user_id, ha_username, provider_id, "
                              "created_at_ms, last_login_at_ms) VALUES (?, ?, ?, ?, 'idp', 1, 1)",
                              "add an identity");
      insert.bind_text(1, issuer).bind_text(2, subject).bind_text(3, ha_user_id).bind_text(4, username);
      insert.run();
    });
  }
  std::vector<std::string> audit_events() {
    std::vector<std::string> events;
    for (const auto& entry : store_->audit(std::nullopt, std::nullopt)) events.push_back(entry.event);
    return events;
  }

  std::filesystem::path directory_;
  std::unique_ptr<store::Store> store_;
};

// Runs the io_context until `done` holds; false if it does not within 10 s (a bounded wait on the
// outcome, not a sleep).
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    io.run_one_for(std::chrono::milliseconds(50));
  }
  return true;
}

} // namespace gatehouse::testing
