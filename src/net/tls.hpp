// net/tls: owns the TLS listener's certificate. Loaded at start; SIGHUP loads the files again and new
// connections get the new context while connections already open keep theirs (shared ownership).
// A reload that fails keeps the old certificate and says why.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

namespace gatehouse::net {

class TlsCertificate {
public:
  TlsCertificate(std::filesystem::path cert_file, std::filesystem::path key_file);
  // Throws std::runtime_error naming the file and OpenSSL's reason.
  void load();
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // SHA-256 fingerprint of the loaded certificate (hex), for the log.
  std::string fingerprint() const;

private:
  std::filesystem::path cert_file_, key_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::string fingerprint_;
};

} // namespace gatehouse::net
