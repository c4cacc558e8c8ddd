// sessions/app_webhooks: owns which companion-app webhooks belong to whom. HA keeps a deactivated user's
// mobile_app webhooks working, and they take call_service with no authentication (contract §5), so a
// person cut off must lose them at the door too. Gatehouse learns each webhook when the app registers
// through it (POST /api/mobile_app/registrations answers the webhook_id, contract §7.2) and keeps only its
// SHA-256 (the id is the webhook's only secret). A webhook of a person cut off is refused with 410, what
// HA answers for a registration that is gone. Webhooks registered before Gatehouse stood in front of HA,
// and Nabu Casa cloudhooks (which reach HA without passing Gatehouse), are not known here.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sessions/cut_off.hpp"
#include "store/store.hpp"

namespace gatehouse::sessions {

class AppWebhooks {
public:
  // Registrations are rare (one per app install). Beyond this many for one person, their next
  // registration is refused rather than an older webhook forgotten: a forgotten webhook would no longer
  // be blocked when that person is cut off.
  static constexpr std::size_t kMaxWebhooksPerUser = 100;

  // Loads what earlier runs learned.
  AppWebhooks(store::Store& store, const CutOffs& cut_offs);

  // Whether `ha_user_id` may register one more app (under kMaxWebhooksPerUser).
  bool has_room(const std::string& ha_user_id) const;
  // The app of `ha_user_id` registered `webhook_id` (HA's answer to its registration).
  void learn(std::string_view webhook_id, const std::string& ha_user_id);
  // Whether `webhook_id` (as HA reads it from the path: percent-decoded) is a cut-off person's.
  bool blocked(std::string_view webhook_id) const;

private:
  store::Store& store_;
  const CutOffs& cut_offs_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> owner_by_digest_; // SHA-256 hex of the id -> HA user id
  std::unordered_map<std::string, std::size_t> count_by_owner_;
};

// The webhook id of a path under /api/webhook/, percent-decoded as HA's router decodes it; nullopt when
// the path is not one webhook's.
std::optional<std::string> webhook_id_of_path(std::string_view path);

} // namespace gatehouse::sessions
