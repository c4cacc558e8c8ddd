// net/tls: building server TLS contexts from PEM files.
#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdexcept>

namespace gatehouse::net {
namespace ssl = boost::asio::ssl;

TlsCertificate::TlsCertificate(std::filesystem::path cert_file, std::filesystem::path key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

void TlsCertificate::load() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file_.string(), ec);
  if (ec)
    throw std::runtime_error("tls.cert_file " + cert_file_.string() + ": cannot load certificate chain (" +
                             ec.message() + ")");
  context->use_private_key_file(key_file_.string(), ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("tls.key_file " + key_file_.string() + ": cannot load private key (" +
                             ec.message() + ")");
  if (SSL_CTX_check_private_key(context->native_handle()) != 1)
    throw std::runtime_error("tls.key_file " + key_file_.string() + " does not match tls.cert_file " +
                             cert_file_.string());

  std::string fingerprint;
  if (X509* cert = SSL_CTX_get0_certificate(context->native_handle())) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &length) == 1) {
      static constexpr char hex[] = "0123456789abcdef";
      for (unsigned i = 0; i < length; ++i) {
        fingerprint += hex[digest[i] >> 4];
        fingerprint += hex[digest[i] & 0xf];
      }
    }
  }
  std::lock_guard lock(mutex_);
  context_ = std::move(context);
  fingerprint_ = std::move(fingerprint);
}

std::shared_ptr<ssl::context> TlsCertificate::current() const {
  std::lock_guard lock(mutex_);
  return context_;
}

std::string TlsCertificate::fingerprint() const {
  std::lock_guard lock(mutex_);
  return fingerprint_;
}

} // namespace gatehouse::net
