// shield/token_cache: owns what Gatehouse knows about HA access tokens it has seen: valid (with the HA
// user it belongs to) or refused by HA, each until the token's own exp. Tokens are kept as SHA-256
// digests, never as text. Shared by every worker thread behind one short lock; each thread also keeps
// a small copy of the valid entries it has used, so the per-request check of a known token touches
// no shared lock. Any change that could turn a valid entry invalid bumps a generation, which makes
// every thread's copy stale at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatehouse::shield {

struct TokenOwner {
  std::string ha_user_id;
  std::string refresh_token_id;
};

class TokenCache {
public:
  explicit TokenCache(std::size_t max_entries = 100'000);

  enum class Known { unknown, valid, refused };
  struct Entry {
    Known known = Known::unknown;
    TokenOwner owner; // when valid
  };

  Entry find(std::string_view token, std::int64_t now_unix_seconds) const;
  // Only whether it is known (no copy of the owner: the per-request path of HTTP traffic).
  Known known(std::string_view token, std::int64_t now_unix_seconds) const;
  // How many forgets (forget_session, forget_user) there have been: read before the store is asked
  // whether a token's person is cut off, and handed to remember_valid.
  std::uint64_t forgets() const { return forgets_.load(std::memory_order_acquire); }
  // `used_at` (unix seconds): the token was just used (HA vouched for it on a request); 0: only issued.
  // Not kept, and false, when anything was forgotten since `forgets_before` (forgets() read before the
  // store said the person is not cut off): a cut-off applied in between would otherwise be undone by
  // this entry until the token expires; the caller asks the store again.
  bool remember_valid(std::string_view token, std::int64_t expires_at, TokenOwner owner, std::uint64_t forgets_before,
                      std::int64_t used_at = 0);
  // A token HA vouched for, remembered valid unless `refused` (the store's word that its person is cut
  // off or its session ended) says otherwise; asked once more when something was forgotten meanwhile,
  // so a cut-off applied in between is never undone. True when refused (nothing is remembered then).
  bool refused_else_remember(std::string_view token, std::int64_t expires_at, const TokenOwner& owner,
                             std::int64_t used_at, const std::function<bool()>& refused);
  void remember_refused(std::string_view token, std::int64_t expires_at);
  // Every token of that session is refused from now on (a refresh token revoked, a user cut off).
  void forget_session(std::string_view refresh_token_id);
  // Every token of that HA user known valid is forgotten (a cut-off): the next use asks again.
  void forget_user(std::string_view ha_user_id);
  std::size_t size() const;

  // When each session (refresh token id) last had a valid token used, in unix seconds, within a minute:
  // each thread notes a token's use at most once a minute, so a known token's check stays lock-free.
  // Holds the uses of the last few minutes (older ones are in the store: take_new_uses).
  std::unordered_map<std::string, std::int64_t> last_uses() const;
  // The uses noted since the last call, to be kept in the store; emptied, and uses older than
  // kLastUseKeptFor before `now` forgotten here (the store has them).
  std::unordered_map<std::string, std::int64_t> take_new_uses(std::int64_t now_unix_seconds);
  // Uses taken that could not be stored: taken again next time.
  void put_back(const std::unordered_map<std::string, std::int64_t>& uses);
  static constexpr std::int64_t kLastUseKeptFor = 180;

private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& digest) const noexcept;
  };
  struct Stored {
    std::int64_t expires_at = 0;
    bool valid = false;
    TokenOwner owner;
  };
  static Digest digest_of(std::string_view token);
  void note_use_locked(const TokenOwner& owner, std::int64_t now) const;
  void store(const Digest& digest, Stored stored);
  void store_locked(const Digest& digest, Stored stored);
  void invalidate_thread_copies() { generation_.fetch_add(1, std::memory_order_release); }

  std::size_t max_entries_;
  const std::uint64_t id_;                       // tells this cache's entries in a thread's copy apart
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<std::uint64_t> forgets_{0}; // changed under mutex_
  mutable std::mutex mutex_;
  std::unordered_map<Digest, Stored, DigestHash> entries_;
  mutable std::unordered_map<std::string, std::int64_t> last_use_; // guarded by mutex_; at most max_entries_
  mutable std::unordered_map<std::string, std::int64_t> new_uses_; // guarded by mutex_
};

} // namespace gatehouse::shield
