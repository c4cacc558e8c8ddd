// shield/token_cache: tokens Gatehouse has already decided about, until they expire.
#include "shield/token_cache.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <openssl/evp.h>
#include <stdexcept>
#include <utility>

#include "shield/access_token.hpp"

namespace gatehouse::shield {

std::size_t TokenCache::DigestHash::operator()(const Digest& digest) const noexcept {
  std::size_t value;
  std::memcpy(&value, digest.data(), sizeof value); // already uniformly random
  return value;
}

TokenCache::Digest TokenCache::digest_of(std::string_view token) {
  // Fetched once and a context per thread: this runs on every authenticated request, and OpenSSL 3's
  // implicit fetch inside EVP_Digest costs more than hashing a token.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  Digest digest{};
  unsigned int length = 0;
  if (!sha256 || !context || EVP_DigestInit_ex2(context.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), token.data(), token.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1)
    throw std::runtime_error("SHA-256 failed");
  return digest;
}

TokenCache::Entry TokenCache::find(std::string_view token, std::int64_t now) const {
  const Digest digest = digest_of(token);
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(digest);
  if (it == entries_.end() || it->second.expires_at + kLeewaySeconds < now) return {};
  if (!it->second.valid) return Entry{Known::refused, {}};
  note_use_locked(it->second.owner, now);
  return Entry{Known::valid, it->second.owner};
}

void TokenCache::note_use_locked(const TokenOwner& owner, std::int64_t now) const {
  if (owner.refresh_token_id.empty()) return;
  if (last_use_.size() >= max_entries_ && !last_use_.contains(owner.refresh_token_id)) return; // bounded
  auto& last = last_use_[owner.refresh_token_id];
  if (last >= now) return;
  last = now;
  new_uses_.insert_or_assign(owner.refresh_token_id, now);
}

std::unordered_map<std::string, std::int64_t> TokenCache::last_uses() const {
  std::lock_guard lock(mutex_);
  return last_use_;
}

std::unordered_map<std::string, std::int64_t> TokenCache::take_new_uses(std::int64_t now) {
  std::lock_guard lock(mutex_);
  std::erase_if(last_use_, [&](const auto& use) { return use.second < now - kLastUseKeptFor; });
  return std::exchange(new_uses_, {});
}

void TokenCache::put_back(const std::unordered_map<std::string, std::int64_t>& uses) {
  std::lock_guard lock(mutex_);
  for (const auto& [session, at] : uses) {
    auto& pending = new_uses_[session];
    pending = std::max(pending, at);
  }
}

namespace {

std::atomic<std::uint64_t> next_cache_id{1};

struct DigestKeyHash {
  std::size_t operator()(const std::array<unsigned char, 32>& digest) const noexcept {
    std::size_t value;
    std::memcpy(&value, digest.data(), sizeof value); // already uniformly random
    return value;
  }
};

// One thread's copy of valid entries it has used (digest → which cache, its generation, expiry).
struct ThreadCopy {
  struct Item {
    std::uint64_t cache_id = 0;
    std::uint64_t generation = 0;
    std::int64_t expires_at = 0;
    std::int64_t noted_minute = 0; // when this thread last noted the token's use (TokenCache::last_uses)
  };
  static constexpr std::size_t kMaxItems = 4096;
  std::unordered_map<std::array<unsigned char, 32>, Item, DigestKeyHash> items;
};

} // namespace

TokenCache::TokenCache(std::size_t max_entries)
    : max_entries_(max_entries), id_(next_cache_id.fetch_add(1, std::memory_order_relaxed)) {}

TokenCache::Known TokenCache::known(std::string_view token, std::int64_t now) const {
  const Digest digest = digest_of(token);
  thread_local ThreadCopy copy;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  if (const auto it = copy.items.find(digest); it != copy.items.end()) {
    auto& item = it->second;
    if (item.cache_id == id_ && item.generation == generation && item.expires_at + kLeewaySeconds >= now) {
      if (item.noted_minute != now / 60) {
        item.noted_minute = now / 60;
        std::lock_guard lock(mutex_);
        if (const auto entry = entries_.find(digest); entry != entries_.end() && entry->second.valid)
          note_use_locked(entry->second.owner, now);
      }
      return Known::valid;
    }
  }
  std::int64_t expires_at = 0;
  Known known = Known::unknown;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(digest);
    if (it == entries_.end() || it->second.expires_at + kLeewaySeconds < now) return Known::unknown;
    known = it->second.valid ? Known::valid : Known::refused;
    expires_at = it->second.expires_at;
    if (known == Known::valid) note_use_locked(it->second.owner, now);
  }
  if (known == Known::valid) {
    if (copy.items.size() >= ThreadCopy::kMaxItems) copy.items.clear();
    copy.items.insert_or_assign(digest, ThreadCopy::Item{id_, generation, expires_at, now / 60});
  }
  return known;
}

bool TokenCache::remember_valid(std::string_view token, std::int64_t expires_at, TokenOwner owner,
                                std::uint64_t forgets_before, std::int64_t used_at) {
  const Digest digest = digest_of(token);
  std::lock_guard lock(mutex_);
  if (forgets_.load(std::memory_order_relaxed) != forgets_before) return false;
  if (used_at > 0) note_use_locked(owner, used_at);
  store_locked(digest, Stored{expires_at, true, std::move(owner)});
  return true;
}

bool TokenCache::refused_else_remember(std::string_view token, std::int64_t expires_at, const TokenOwner& owner,
                                       std::int64_t used_at, const std::function<bool()>& refused) {
  const auto forgets_before = forgets();
  return refused() || (!remember_valid(token, expires_at, owner, forgets_before, used_at) && refused());
}

void TokenCache::remember_refused(std::string_view token, std::int64_t expires_at) {
  store(digest_of(token), Stored{expires_at, false, {}});
  invalidate_thread_copies(); // it may have been valid a moment ago
}

void TokenCache::store(const Digest& digest, Stored stored) {
  std::lock_guard lock(mutex_);
  store_locked(digest, std::move(stored));
}

void TokenCache::store_locked(const Digest& digest, Stored stored) {
  if (entries_.size() >= max_entries_ && !entries_.contains(digest)) {
    // Full: drop what has expired; if that is not enough, forget everything (every token is then
    // checked with HA once more — slower, never wrong).
    const std::int64_t newest_expiry = stored.expires_at;
    std::erase_if(entries_, [&](const auto& item) { return item.second.expires_at < newest_expiry - 1800; });
    if (entries_.size() >= max_entries_) entries_.clear(); // threads' copies only hold valid entries, still valid
  }
  entries_.insert_or_assign(digest, std::move(stored));
}

void TokenCache::forget_session(std::string_view refresh_token_id) {
  {
    std::lock_guard lock(mutex_);
    for (auto& [digest, stored] : entries_) {
      if (stored.valid && stored.owner.refresh_token_id == refresh_token_id) {
        stored.valid = false;
        stored.owner = {};
      }
    }
    forgets_.fetch_add(1, std::memory_order_release);
  }
  // After the change, not before: known() reads the generation before the shared entry, so any copy
  // made from the old entry carries the old generation and is stale from here on.
  invalidate_thread_copies();
}

void TokenCache::forget_user(std::string_view ha_user_id) {
  {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [&](const auto& item) { return item.second.valid && item.second.owner.ha_user_id == ha_user_id; });
    forgets_.fetch_add(1, std::memory_order_release);
  }
  invalidate_thread_copies(); // after the change, as in forget_session
}

std::size_t TokenCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

} // namespace gatehouse::shield
