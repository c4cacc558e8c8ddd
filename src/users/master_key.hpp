// users/master_key: owns the one secret from which Gatehouse derives the HA passwords of the users it
// manages: 32 random bytes in <data_dir>/master.key (0600), created at first start. The passwords are
// never stored anywhere: HMAC-SHA256(master key, HA user id), so nobody (not even a database dump)
// can log in as a managed user without this file. It also seals the few secrets Gatehouse must keep in
// the store (IdP refresh tokens for re-validation): AES-256-GCM under a key derived from it per purpose.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::users {

class MasterKey {
public:
  // Reads the key, creating it (from the OS CSPRNG, O_EXCL, 0600) if the file does not exist. A file
  // readable by others is narrowed to 0600. Throws std::runtime_error saying what to do.
  static MasterKey load_or_create(const std::filesystem::path& data_dir);
  // The HA password of a managed user: base64url(HMAC-SHA256(key, ha_user_id)).
  std::string password_for(std::string_view ha_user_id) const;
  // `plaintext` encrypted and authenticated for `purpose` (base64url of nonce, ciphertext and tag); open()
  // gives it back, or nullopt when the text was not sealed with this key for this purpose or was altered.
  std::string seal(std::string_view plaintext, std::string_view purpose) const;
  std::optional<std::string> open(std::string_view sealed, std::string_view purpose) const;

private:
  std::array<unsigned char, 32> key_{};
};

} // namespace gatehouse::users
