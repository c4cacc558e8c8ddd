// config/secret_file: owns reading one secret (a token, a client secret) from a file named in the config.
// It promises that the secret's value only ever travels in the returned struct: errors carry the OS reason
// and never the content, so callers can put them in messages and logs as they are.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::config {

struct SecretFileRead {
  std::optional<std::string> value; // content trimmed of surrounding whitespace; set on success. Never log it.
  std::string error;                // why there is no value: "No such file or directory", "the file is empty"
  unsigned permissions = 0;         // mode & 0777 of the file, when it could be opened
  // Others have any permission on it, or its group may write it (mode & 027): someone besides the owner
  // and the service's group may read or swap it. Group read is how a root-owned secret reaches the
  // service (root:gatehouse 0640, as the package sets up).
  bool readable_by_others() const { return (permissions & 027) != 0; }
};

// Reads a regular file of at most 64 KiB. An empty (or all-whitespace) file is an error.
SecretFileRead read_secret_file(const std::filesystem::path& path);

// Whether the text written where a secret file's path belongs looks like the secret itself (a pasted token).
// Messages must then not quote it.
bool looks_like_inline_secret(std::string_view path_text);

// "<key>: <path> is readable by other users (mode 0644); chmod 600 it", or nullopt when only the owner
// has access. Shared so every secret-holding key warns in the same words.
std::optional<std::string> secret_permission_warning(std::string_view key, const std::filesystem::path& path,
                                                     const SecretFileRead& read);

} // namespace gatehouse::config
