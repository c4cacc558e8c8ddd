// shield/token_cache: owns what Gatehouse knows about HA access tokens it has seen: valid (with the HA
// user it belongs to) or refused by HA, each until the token's own exp. Tokens are kept as SHA-256
// digests, never as text. Shared by every worker thread behind one short lock.
#pragma once

#include <array>
#include <cstdint>
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
  explicit TokenCache(std::size_t max_entries = 100'000) : max_entries_(max_entries) {}

  enum class Known { unknown, valid, refused };
  struct Entry {
    Known known = Known::unknown;
    TokenOwner owner; // when valid
  };

  Entry find(std::string_view token, std::int64_t now_unix_seconds) const;
  // Only whether it is known (no copy of the owner: the per-request path of HTTP traffic).
  Known known(std::string_view token, std::int64_t now_unix_seconds) const;
  void remember_valid(std::string_view token, std::int64_t expires_at, TokenOwner owner);
  void remember_refused(std::string_view token, std::int64_t expires_at);
  // Every token of that session is refused from now on (a refresh token revoked, a user cut off).
  void forget_session(std::string_view refresh_token_id);
  std::size_t size() const;

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
  void store(const Digest& digest, Stored stored);

  std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<Digest, Stored, DigestHash> entries_;
};

} // namespace gatehouse::shield
