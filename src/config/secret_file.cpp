// config/secret_file: owns reading a secret from a file. The file is opened once and checked through the
// same descriptor (fstat), so what is read is exactly what was checked.
#include "config/secret_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/file_descriptor.hpp"

namespace gatehouse::config {
namespace {

// A secret is a token or a password; anything this large is the wrong file (a log, a key bundle, ...).
constexpr off_t kMaxSecretFileBytes = 64 * 1024;

std::string os_reason(int error_number) { return std::strerror(error_number); }

std::string trimmed(const std::string& text) {
  constexpr const char* kWhitespace = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(kWhitespace);
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

std::string octal_mode(unsigned permissions) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", permissions & 0777u);
  return buffer;
}

} // namespace

SecretFileRead read_secret_file(const std::filesystem::path& path) {
  SecretFileRead result;
  const os::FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!file.is_open()) {
    result.error = os_reason(errno);
    return result;
  }

  struct stat status {};
  if (::fstat(file.get(), &status) != 0) {
    result.error = os_reason(errno);
    return result;
  }
  result.permissions = status.st_mode & 0777u;
  if (S_ISDIR(status.st_mode)) {
    result.error = "it is a directory, not a file";
    return result;
  }
  if (!S_ISREG(status.st_mode)) {
    result.error = "it is not a regular file";
    return result;
  }
  if (status.st_size > kMaxSecretFileBytes) {
    result.error = "the file is larger than 64 KiB; expected a file holding just the secret";
    return result;
  }

  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t count = ::read(file.get(), buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR) continue;
      result.error = os_reason(errno);
      return result;
    }
    if (count == 0) break;
    content.append(buffer, static_cast<std::size_t>(count));
    if (content.size() > static_cast<std::size_t>(kMaxSecretFileBytes)) {
      result.error = "the file is larger than 64 KiB; expected a file holding just the secret";
      return result;
    }
  }

  std::string secret = trimmed(content);
  if (secret.empty()) {
    result.error = "the file is empty";
    return result;
  }
  result.value = std::move(secret);
  return result;
}

bool looks_like_inline_secret(std::string_view path_text) {
  // Paths have slashes or are short file names; JWTs (HA tokens) start with "eyJ", other secrets are long.
  if (path_text.find('/') != std::string_view::npos) return false;
  return (path_text.starts_with("eyJ") && path_text.size() >= 32) || path_text.size() >= 48;
}

std::optional<std::string> secret_permission_warning(std::string_view key, const std::filesystem::path& path,
                                                     const SecretFileRead& read) {
  if (!read.readable_by_others()) return std::nullopt;
  const bool readable = (read.permissions & 044) != 0;
  return std::string(key) + ": " + path.string() + " is " + (readable ? "readable" : "writable") +
         " by other users (mode " + octal_mode(read.permissions) + "); chmod 600 it";
}

} // namespace gatehouse::config
