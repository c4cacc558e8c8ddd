// config/current: owns the configuration Gatehouse runs with now, and which of its keys a reload applies
// at once. A request reads it once (net/ when its first bytes arrive; the door puts that reading in the
// request's facts, so every step of one request decides under one configuration); a background step
// reads it once per step. SIGHUP replaces
// it (cli/config_check) with the new file's live keys laid over the running configuration: a key that
// needs a restart keeps its running value until then, so nothing applies half.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace gatehouse::config {

class Current {
public:
  explicit Current(Config first);

  // The configuration now. Each thread reads its own copy, taken again after a reload, so reading it per
  // request never contends with other threads; holding the pointer keeps that configuration whole.
  std::shared_ptr<const Config> get() const;
  void replace(Config next);

private:
  const std::uint64_t id_; // tells this instance's per-thread copies from another's
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> config_; // guarded by mutex_
  std::atomic<std::uint64_t> version_{0};
};

// Whether Gatehouse signs people in (providers, trusted devices or header_identity): decided at start,
// since sign-in needs HA's admin connection; without it Gatehouse only guards HA's own login.
bool sign_in_on(const Config& config);

// What Gatehouse set up at start that a reload cannot add: sign-in itself, and SCIM's part in sign-ins
// (the people SCIM knows are checked at each sign-in when there were providers or header_identity).
struct Started {
  bool sign_in = false;
  bool identities = false; // providers or header_identity
};
Started started_with(const Config& config);

// The top-level keys a reload applies at once; every other key waits for a restart.
bool applies_live(std::string_view top_level_key);

struct Merged {
  Config config;                     // the running configuration with each live key that changed taken from the new one
  std::vector<std::string> applied;  // live keys taken
  std::vector<std::string> waiting;  // changed keys that keep their running value until a restart
};
// `changed`: what differs between the running file and the new one, as cli/config_check names it (a
// top-level key, or a secret's or CA bundle's contents: "providers[0].client_secret_file (contents)").
// A live key also waits when a key it is checked against waits in the same reload, so the running
// configuration never holds a pair no file could: `users` with providers, header_identity and scim (the
// claims and SCIM's roles it maps); `local_login` and `local_login_networks` with providers,
// header_identity and trusted_devices (who else can sign in). Providers, header_identity and trusted
// devices wait where Gatehouse started without sign-in, and providers and header_identity where it
// started with SCIM but neither (`started`): only a restart sets those up. A provider's client secret
// (its file or variable) goes with `providers`; a CA bundle's contents wait for a restart, and so does
// the key that names it. When providers or header_identity change, local_login is taken too: its
// default follows them.
Merged merge_live(const Config& running, const Config& next, const std::vector<std::string>& changed,
                  const Started& started);

} // namespace gatehouse::config
