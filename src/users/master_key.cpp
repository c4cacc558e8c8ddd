// users/master_key: creating, reading and using the master key file.
#include "users/master_key.hpp"

#include <array>
#include <cerrno>
#include <vector>
#include <cstring>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "jose/base64url.hpp"
#include "os/file_descriptor.hpp"

namespace gatehouse::users {

namespace {

std::runtime_error failure(const std::filesystem::path& path, std::string_view what, int error_number = errno) {
  return std::runtime_error("master key " + path.string() + ": " + std::string(what) + ": " + std::strerror(error_number));
}

} // namespace

MasterKey MasterKey::load_or_create(const std::filesystem::path& data_dir) {
  const auto path = data_dir / "master.key";
  MasterKey master;
  const os::FileDescriptor created(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (created.is_open()) {
    if (RAND_bytes(master.key_.data(), static_cast<int>(master.key_.size())) != 1)
      throw std::runtime_error("master key: the OS random source failed");
    const auto size = static_cast<ssize_t>(master.key_.size());
    const ssize_t written = ::write(created.get(), master.key_.data(), master.key_.size());
    if (written != size || ::fsync(created.get()) != 0) {
      // Read before unlink can change it; a short write without an error is a full disk.
      const int error_number = written >= 0 && written < size ? ENOSPC : errno;
      ::unlink(path.c_str());
      throw failure(path, "could not write it", error_number);
    }
    return master;
  }
  if (errno != EEXIST) throw failure(path, "could not create it");

  const os::FileDescriptor existing(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!existing.is_open()) throw failure(path, "could not open it");
  struct stat info {};
  if (::fstat(existing.get(), &info) != 0) throw failure(path, "could not stat it");
  if ((info.st_mode & 077) != 0 && ::fchmod(existing.get(), 0600) != 0) throw failure(path, "could not narrow it to 0600");
  std::array<unsigned char, 33> buffer{};
  const ssize_t n = ::read(existing.get(), buffer.data(), buffer.size());
  if (n != static_cast<ssize_t>(master.key_.size()))
    throw std::runtime_error("master key " + path.string() +
                             " is not 32 bytes: restore it from a backup, or delete it to make a new one (Gatehouse "
                             "then resets the HA password of each user it manages at that user's next login)");
  std::memcpy(master.key_.data(), buffer.data(), master.key_.size());
  return master;
}

namespace {

constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

struct CipherContext {
  CipherContext() : context(EVP_CIPHER_CTX_new()) {}
  ~CipherContext() { EVP_CIPHER_CTX_free(context); }
  CipherContext(const CipherContext&) = delete;
  CipherContext& operator=(const CipherContext&) = delete;
  EVP_CIPHER_CTX* context;
};

// The purpose's own key: HMAC of "seal:<purpose>" (an HA user id, whose passwords come from the same key
// with the id as message, never starts so).
std::array<unsigned char, 32> purpose_key(const std::array<unsigned char, 32>& master, std::string_view purpose) {
  const std::string label = "seal:" + std::string(purpose);
  std::array<unsigned char, 32> key{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), master.data(), static_cast<int>(master.size()), reinterpret_cast<const unsigned char*>(label.data()),
       label.size(), key.data(), &length);
  return key;
}

} // namespace

std::string MasterKey::seal(std::string_view plaintext, std::string_view purpose) const {
  const auto key = purpose_key(key_, purpose);
  std::vector<unsigned char> out(kNonceBytes + plaintext.size() + kTagBytes);
  if (RAND_bytes(out.data(), static_cast<int>(kNonceBytes)) != 1) throw std::runtime_error("the OS random source failed");
  CipherContext cipher;
  int written = 0;
  int final_written = 0;
  if (!cipher.context || EVP_EncryptInit_ex(cipher.context, EVP_aes_256_gcm(), nullptr, key.data(), out.data()) != 1 ||
      EVP_EncryptUpdate(cipher.context, out.data() + kNonceBytes, &written,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(cipher.context, out.data() + kNonceBytes + written, &final_written) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher.context, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out.data() + kNonceBytes + plaintext.size()) != 1)
    throw std::runtime_error("sealing a secret failed");
  return jose::base64url_encode(std::span<const unsigned char>(out.data(), out.size()));
}

std::optional<std::string> MasterKey::open(std::string_view sealed, std::string_view purpose) const {
  const auto bytes = jose::base64url_decode(sealed);
  if (!bytes || bytes->size() < kNonceBytes + kTagBytes) return std::nullopt;
  const auto key = purpose_key(key_, purpose);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes->data());
  const std::size_t length = bytes->size() - kNonceBytes - kTagBytes;
  std::string plaintext(length, '\0');
  std::array<unsigned char, kTagBytes> tag{};
  std::memcpy(tag.data(), data + kNonceBytes + length, kTagBytes);
  CipherContext cipher;
  int written = 0;
  int final_written = 0;
  if (!cipher.context || EVP_DecryptInit_ex(cipher.context, EVP_aes_256_gcm(), nullptr, key.data(), data) != 1 ||
      EVP_DecryptUpdate(cipher.context, reinterpret_cast<unsigned char*>(plaintext.data()), &written, data + kNonceBytes,
                        static_cast<int>(length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher.context, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(cipher.context, reinterpret_cast<unsigned char*>(plaintext.data()) + written, &final_written) != 1)
    return std::nullopt;
  return plaintext;
}

std::string MasterKey::password_for(std::string_view ha_user_id) const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(ha_user_id.data()), ha_user_id.size(), digest, &length);
  return jose::base64url_encode(std::span<const unsigned char>(digest, length));
}

} // namespace gatehouse::users
