// config/current: the running configuration, and a reload's live keys laid over it.
#include "config/current.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace gatehouse::config {
namespace {

std::atomic<std::uint64_t> next_id{1};

// Each of these is read from the running configuration whenever it is used (never kept from the start).
constexpr std::array<std::string_view, 14> kLiveKeys{
    "logging",         "users",          "shield",          "local_login", "local_login_networks",
    "trusted_devices", "trusted_clients", "sign_in_choice", "metrics",     "limits",
    "timeouts",        "trusted_proxies", "providers",      "header_identity"};

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
  else if (key == "providers") into.providers = from.providers;
  else if (key == "header_identity") into.header_identity = from.header_identity;
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

Started started_with(const Config& config) {
  return {sign_in_on(config), !config.providers.empty() || config.header_identity.has_value()};
}

bool applies_live(std::string_view top_level_key) {
  return std::find(kLiveKeys.begin(), kLiveKeys.end(), top_level_key) != kLiveKeys.end();
}

Merged merge_live(const Config& running, const Config& next, const std::vector<std::string>& changed_in_file,
                  const Started& started) {
  // scim.provider follows the sign-in sources when the file does not name it: renaming the only
  // provider changes SCIM's source too, which (like any change of scim) waits for a restart, and so
  // holds providers and header_identity with it (below).
  std::vector<std::string> changed = changed_in_file;
  if (running.scim && next.scim && running.scim->provider != next.scim->provider &&
      std::find(changed.begin(), changed.end(), "scim") == changed.end())
    changed.emplace_back("scim");
  const auto is_secret_of_providers = [](std::string_view key) {
    return key.starts_with("providers[") && key.ends_with(".client_secret_file (contents)");
  };
  const bool identities_may_change = started.sign_in && (started.identities || !running.scim);
  std::set<std::string> waiting;
  for (const auto& key : changed) {
    const bool live = is_secret_of_providers(key) ? identities_may_change
                      : !applies_live(key)         ? false
                      : key == "trusted_devices"   ? started.sign_in
                      : key == "providers" || key == "header_identity" ? identities_may_change
                                                                       : true;
    if (!live) waiting.insert(key);
  }
  // A CA bundle whose contents changed holds the key that names it (its TLS context is made with it).
  for (const auto& key : changed) {
    if (!key.ends_with(".ca_file (contents)")) continue;
    if (key.starts_with("providers[")) waiting.insert("providers");
    if (key.starts_with("header_identity.")) waiting.insert("header_identity");
  }
  // Keys read against each other apply together or wait together, whichever of them made the others
  // wait: the claims and the users mapping read from them (SCIM's roles too); the ways of signing in
  // and HA's own login.
  const std::array<std::vector<std::string_view>, 2> together{{
      {"users", "providers", "header_identity", "scim"},
      {"local_login", "local_login_networks", "providers", "header_identity", "trusted_devices"},
  }};
  for (bool more = true; more;) {
    more = false;
    for (const auto& group : together) {
      const bool held = std::any_of(group.begin(), group.end(), [&](std::string_view key) { return waiting.contains(std::string(key)); });
      if (!held) continue;
      for (const auto key : group)
        if (std::find(changed.begin(), changed.end(), key) != changed.end() && waiting.insert(std::string(key)).second)
          more = true;
    }
  }
  const bool sign_in_waits = waiting.contains("providers") || waiting.contains("header_identity") ||
                             waiting.contains("trusted_devices");
  Merged merged{running, {}, {}};
  bool identities_taken = false;
  for (const auto& key : changed) {
    const bool held = waiting.contains(key) || (is_secret_of_providers(key) && waiting.contains("providers"));
    if (held) {
      merged.waiting.push_back(key);
      continue;
    }
    if (is_secret_of_providers(key)) {
      merged.config.providers = next.providers;
      identities_taken = true;
    } else {
      take(merged.config, next, key);
      if (key == "providers" || key == "header_identity") identities_taken = true;
    }
    merged.applied.push_back(key);
  }
  // local_login's default follows providers and header_identity (closed while Gatehouse signs people in).
  if (identities_taken && !sign_in_waits && merged.config.local_login != next.local_login) {
    merged.config.local_login = next.local_login;
    merged.applied.push_back("local_login");
  }
  return merged;
}

} // namespace gatehouse::config
