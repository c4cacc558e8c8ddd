// users/master_key: creating, reading and using the master key file.
#include "users/master_key.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "jose/base64url.hpp"

namespace gatehouse::users {

namespace {

std::runtime_error failure(const std::filesystem::path& path, std::string_view what) {
  return std::runtime_error("master key " + path.string() + ": " + std::string(what) + ": " + std::strerror(errno));
}

class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

private:
  int fd_;
};

} // namespace

MasterKey MasterKey::load_or_create(const std::filesystem::path& data_dir) {
  const auto path = data_dir / "master.key";
  MasterKey master;
  Fd created(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (created.get() >= 0) {
    if (RAND_bytes(master.key_.data(), static_cast<int>(master.key_.size())) != 1)
      throw std::runtime_error("master key: the OS random source failed");
    if (::write(created.get(), master.key_.data(), master.key_.size()) != static_cast<ssize_t>(master.key_.size()) ||
        ::fsync(created.get()) != 0) {
      ::unlink(path.c_str());
      throw failure(path, "could not write it");
    }
    return master;
  }
  if (errno != EEXIST) throw failure(path, "could not create it");

  Fd existing(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (existing.get() < 0) throw failure(path, "could not open it");
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

std::string MasterKey::password_for(std::string_view ha_user_id) const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(ha_user_id.data()), ha_user_id.size(), digest, &length);
  return jose::base64url_encode(std::span<const unsigned char>(digest, length));
}

} // namespace gatehouse::users
