// config/current: the running configuration, and a reload's live keys laid over it.
#include "config/current.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <set>

namespace gatehouse::config {
namespace {

std::atomic<std::uint64_t> next_id{1};

// Each of these is read from the running configuration whenever it is used (never kept from the start).
constexpr std::array<std::string_view, 12> kLiveKeys{
    "logging",         "users",          "shield",  "local_login", "local_login_networks", "trusted_devices",
    "trusted_clients", "sign_in_choice", "metrics", "limits",      "timeouts",             "trusted_proxies"};

void take(Config& into, const Config& from, std::string_view key) {
  if (key == "logging") into.logging = from.logging;
  else if (key == "users") into.users = from.users;
  else if (key == "shield") into.shield = from.shield;
  else if (key == "local_login") into.local_login = from.local_login;
  else if (key == "local_login_networks") into.local_login_networks = from.local_login_networks;
  else if (key == "trusted_devices") into.trusted_devices = from.trusted_devices;
  else if (key == "trusted_clients") into.trusted_clients = from.trusted_clients;
  else if (key == "sign_in_choice") into.sign_in_choice = from.sign_in_choice;
  else if (key == "metrics") into.metrics = from.metrics;
  else if (key == "limits") into.limits = from.limits;
  else if (key == "timeouts") into.timeouts = from.timeouts;
  else if (key == "trusted_proxies") into.trusted_proxies = from.trusted_proxies;
}

} // namespace

Current::Current(Config first) : id_(next_id++), config_(std::make_shared<const Config>(std::move(first))) {}

std::shared_ptr<const Config> Current::get() const {
  struct Copy {
    std::uint64_t owner = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const Config> config;
  };
  thread_local Copy copy;
  const auto version = version_.load(std::memory_order_acquire);
  if (copy.owner != id_ || copy.version != version || !copy.config) {
    std::lock_guard lock(mutex_);
    copy = {id_, version_.load(std::memory_order_relaxed), std::make_shared<const Config>(*config_)};
  }
  return copy.config;
}

void Current::replace(Config next) {
  auto replacement = std::make_shared<const Config>(std::move(next));
  std::lock_guard lock(mutex_);
  config_ = std::move(replacement);
  version_.fetch_add(1, std::memory_order_release);
}

bool sign_in_on(const Config& config) {
  return !config.providers.empty() || !config.trusted_devices.empty() || config.header_identity.has_value();
}

bool applies_live(std::string_view top_level_key) {
  return std::find(kLiveKeys.begin(), kLiveKeys.end(), top_level_key) != kLiveKeys.end();
}

Merged merge_live(const Config& running, const Config& next, const std::vector<std::string>& changed,
                  bool sign_in_at_start) {
  std::set<std::string> waiting;
  for (const auto& key : changed)
    if (!applies_live(key) || (key == "trusted_devices" && !sign_in_at_start)) waiting.insert(key);
  const auto any_waits = [&](std::initializer_list<std::string_view> keys) {
    return std::any_of(keys.begin(), keys.end(), [&](std::string_view key) { return waiting.contains(std::string(key)); });
  };
  const bool sign_in_waits = any_waits({"providers", "header_identity", "trusted_devices"});
  const bool claims_wait = any_waits({"providers", "header_identity", "scim"});
  Merged merged{running, {}, {}};
  for (const auto& key : changed) {
    const bool held = waiting.contains(key) || (key == "users" && claims_wait) ||
                      ((key == "local_login" || key == "local_login_networks") && sign_in_waits);
    if (held) {
      merged.waiting.push_back(key);
      continue;
    }
    take(merged.config, next, key);
    merged.applied.push_back(key);
  }
  return merged;
}

} // namespace gatehouse::config
