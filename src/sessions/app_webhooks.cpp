// sessions/app_webhooks: the app_webhooks table (store migration 12), mirrored in memory.
#include "sessions/app_webhooks.hpp"

#include <boost/url/pct_string_view.hpp>
#include <openssl/evp.h>

#include "logging/log.hpp"
#include "store/statement.hpp"

namespace gatehouse::sessions {

namespace {

constexpr std::string_view kWebhookPrefix = "/api/webhook/";

std::string digest_of(std::string_view webhook_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(webhook_id.data(), webhook_id.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

} // namespace

std::optional<std::string> webhook_id_of_path(std::string_view path) {
  if (!path.starts_with(kWebhookPrefix)) return std::nullopt;
  const std::string_view segment = path.substr(kWebhookPrefix.size());
  if (segment.empty() || segment.find('/') != std::string_view::npos) return std::nullopt;
  // HA routes on the raw path and unquotes the captured id (aiohttp): "ab%63" is webhook "abc".
  const auto encoded = boost::urls::make_pct_string_view(segment);
  if (!encoded) return std::nullopt;
  return encoded->decode();
}

AppWebhooks::AppWebhooks(store::Store& store, const CutOffs& cut_offs) : store_(store), cut_offs_(cut_offs) {
  store_.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT webhook_digest, ha_user_id FROM app_webhooks", "load the apps' webhooks");
    while (select.step()) {
      const auto owner = select.column_text(1);
      if (owner_by_digest_.emplace(select.column_text(0), owner).second) ++count_by_owner_[owner];
    }
  });
}

bool AppWebhooks::has_room(const std::string& ha_user_id) const {
  std::lock_guard lock(mutex_);
  const auto found = count_by_owner_.find(ha_user_id);
  return found == count_by_owner_.end() || found->second < kMaxWebhooksPerUser;
}

void AppWebhooks::learn(std::string_view webhook_id, const std::string& ha_user_id) {
  if (webhook_id.empty()) return;
  const std::string digest = digest_of(webhook_id);
  store_.write([&](sqlite3* db) {
    store::Statement insert(db,
                            "INSERT OR REPLACE INTO app_webhooks (webhook_digest, ha_user_id, registered_at_ms) "
                            "VALUES (?, ?, ?)",
                            "record an app's webhook");
    insert.bind_text(1, digest).bind_text(2, ha_user_id).bind_int64(3, store::now_unix_ms());
    insert.run();
  });
  {
    std::lock_guard lock(mutex_);
    auto [entry, added] = owner_by_digest_.try_emplace(digest, ha_user_id);
    if (!added && entry->second != ha_user_id) {
      --count_by_owner_[entry->second];
      entry->second = ha_user_id;
      added = true;
    }
    if (added) ++count_by_owner_[ha_user_id];
  }
  logging::info("app webhook learned", {{"ha_user_id", ha_user_id}});
}

bool AppWebhooks::blocked(std::string_view webhook_id) const {
  std::string owner;
  {
    std::lock_guard lock(mutex_);
    if (owner_by_digest_.empty()) return false;
    const auto found = owner_by_digest_.find(digest_of(webhook_id));
    if (found == owner_by_digest_.end()) return false;
    owner = found->second;
  }
  return cut_offs_.is_cut_off(owner);
}

} // namespace gatehouse::sessions
