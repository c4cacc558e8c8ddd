// net/client_tls: the shared client contexts and the server-name checks.
#include "net/client_tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <map>
#include <mutex>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdexcept>

namespace gatehouse::net {
namespace asio = boost::asio;
namespace ssl = asio::ssl;

std::shared_ptr<ssl::context> client_tls_context(const std::optional<std::filesystem::path>& extra_ca_file) {
  static std::mutex mutex;
  // Never destroyed: freeing SSL contexts at exit could run after OpenSSL's own cleanup.
  static auto* by_trust = new std::map<std::string, std::shared_ptr<ssl::context>>; // "": the system store alone
  const std::string key = extra_ca_file ? extra_ca_file->string() : std::string();
  std::lock_guard lock(mutex);
  auto& context = (*by_trust)[key];
  if (context) return context;
  auto made = std::make_shared<ssl::context>(ssl::context::tls_client);
  made->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  made->set_default_verify_paths();
  if (extra_ca_file) {
    boost::system::error_code ec;
    made->load_verify_file(extra_ca_file->string(), ec);
    if (ec) throw std::runtime_error("cannot load CA bundle " + extra_ca_file->string() + ": " + ec.message());
  }
  made->set_verify_mode(ssl::verify_peer);
  context = std::move(made);
  return context;
}

bool expect_server(ClientTlsStream& stream, const std::string& host) {
  SSL* handle = stream.native_handle();
  boost::system::error_code not_address;
  asio::ip::make_address(host, not_address);
  if (!not_address) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), host.c_str()) == 1;
  return SSL_set_tlsext_host_name(handle, host.c_str()) == 1 && SSL_set1_host(handle, host.c_str()) == 1;
}

TlsFailure describe_tls_failure(ClientTlsStream& stream, const boost::system::error_code& ec) {
  const long verified = SSL_get_verify_result(stream.native_handle());
  if (verified != X509_V_OK) return {TlsFailure::Kind::certificate, X509_verify_cert_error_string(verified)};
  // A plain-HTTP server answers a ClientHello with "HTTP/1.1 400": not a TLS record.
  if (ec.category() == asio::error::get_ssl_category() && ERR_GET_REASON(ec.value()) == SSL_R_WRONG_VERSION_NUMBER)
    return {TlsFailure::Kind::not_tls, "the server does not speak TLS (" + ec.message() + ")"};
  return {TlsFailure::Kind::other, ec.message()};
}

} // namespace gatehouse::net
