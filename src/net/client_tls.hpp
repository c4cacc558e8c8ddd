// net/client_tls: owns how Gatehouse checks a server it connects to over TLS (IdPs, client pages, HA):
// the system trust store plus an optional extra CA bundle, TLS 1.2 at least, the peer's certificate
// verified, SNI for names and the name (or IP address) checked against the certificate. There is no
// "insecure" switch. Every client with the same trust shares one context, made at its first use: the
// system store is parsed once, and never by a Gatehouse that speaks only plain HTTP.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/error_code.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace gatehouse::net {

using ClientTlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// The client context for the system store plus `extra_ca_file` (if any), made once per process.
// Throws std::runtime_error when the extra CA file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> client_tls_context(
    const std::optional<std::filesystem::path>& extra_ca_file);

// Makes `stream`'s handshake expect `host` (a DNS name or an IP literal, IPv6 without brackets): SNI
// carries names only (RFC 6066 §3); an IP literal is checked against the certificate's IP SANs. The
// check is part of OpenSSL's chain verification, so a mismatch is reported as one (not as an unknown
// CA). False when OpenSSL refuses the name.
bool expect_server(ClientTlsStream& stream, const std::string& host);

// Why a handshake on `stream` failed, for the operator: the certificate check's own reason ("unable to
// get local issuer certificate", "hostname mismatch", "certificate has expired"...) when the certificate
// was refused, otherwise the handshake error.
struct TlsFailure {
  enum class Kind { certificate, not_tls, other } kind = Kind::other;
  std::string reason;
};
TlsFailure describe_tls_failure(ClientTlsStream& stream, const boost::system::error_code& ec);

} // namespace gatehouse::net
