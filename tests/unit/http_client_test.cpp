// Unit tests for net/http_client against an in-process TLS server with a certificate made here:
// verification on by default, an extra CA makes it trusted, host names are checked, limits hold.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <fstream>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/http_client.hpp"

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using gatehouse::net::HttpClient;
using gatehouse::net::OutboundFailure;
using gatehouse::net::OutboundRequest;
using gatehouse::net::OutboundResult;

// A self-signed P-256 certificate for DNS:localhost only, written as PEM files.
struct TestCertificate {
  std::filesystem::path dir, cert, key;
  TestCertificate() {
    dir = std::filesystem::temp_directory_path() /
          ("gatehouse-http-client-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TestCertificate() { std::filesystem::remove_all(dir); }
  static int& counter() { static int n = 0; return n; }
};

// Serves every connection on 127.0.0.1 with `body` (or never answers, when `silent`).
class TlsServer {
public:
  TlsServer(asio::io_context& io, const TestCertificate& certificate, std::string body, bool silent = false)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        tls_(std::make_shared<ssl::context>(ssl::context::tls_server)), body_(std::move(body)), silent_(silent) {
    tls_->use_certificate_chain_file(certificate.cert.string());
    tls_->use_private_key_file(certificate.key.string(), ssl::context::pem);
    asio::co_spawn(io, serve(), asio::detached);
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
  asio::awaitable<void> serve() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), answer(std::move(socket), tls_, body_, silent_), asio::detached);
    }
  }
  // Owns what it uses: the io_context may destroy this frame after the server object is gone.
  static asio::awaitable<void> answer(tcp::socket socket, std::shared_ptr<ssl::context> tls, std::string body,
                                      bool silent) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (hec) co_return;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    auto [rec, n] = co_await http::async_read(stream, buffer, request, asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;
    if (silent) {
      asio::steady_timer forever(co_await asio::this_coro::executor, std::chrono::hours(1));
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return;
    }
    http::response<http::string_body> response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain");
    response.body() = body + " " + std::string(request[http::field::host]);
    response.prepare_payload();
    co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  tcp::acceptor acceptor_;
  std::shared_ptr<ssl::context> tls_;
  std::string body_;
  bool silent_;
};

OutboundResult fetch(asio::io_context& io, HttpClient& client, const std::string& url) {
  OutboundResult result;
  // A named request: GCC 12 destroys braced temporaries inside a co_await expression twice.
  OutboundRequest request{http::verb::get, url, {}, {}};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { result = co_await client.send(request); },
                 [&](std::exception_ptr) { io.stop(); });
  io.run();
  io.restart();
  return result;
}

TEST(HttpClientTls, UnknownCertificateIsRefusedByDefault) {
  asio::io_context io;
  TestCertificate certificate;
  TlsServer server(io, certificate, "hello");
  HttpClient client({});
  auto result = fetch(io, client, "https://localhost:" + std::to_string(server.port()) + "/x");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.failure, OutboundFailure::tls);
  // The certificate check's own reason, not OpenSSL's generic "certificate verify failed".
  EXPECT_NE(result.message.find("self-signed certificate"), std::string::npos) << result.message;
}

TEST(HttpClientTls, ExtraCaMakesTheServerTrusted) {
  asio::io_context io;
  TestCertificate certificate;
  TlsServer server(io, certificate, "hello");
  HttpClient client({.extra_ca_file = certificate.cert});
  auto result = fetch(io, client, "https://localhost:" + std::to_string(server.port()) + "/x?y=1");
  ASSERT_TRUE(result) << result.message;
  EXPECT_EQ(result.response->status, 200u);
  EXPECT_EQ(result.response->body, "hello localhost:" + std::to_string(server.port()));
}

TEST(HttpClientTls, HostNameMustMatchTheCertificate) {
  asio::io_context io;
  TestCertificate certificate; // valid for DNS:localhost only
  TlsServer server(io, certificate, "hello");
  HttpClient client({.extra_ca_file = certificate.cert});
  auto result = fetch(io, client, "https://127.0.0.1:" + std::to_string(server.port()) + "/");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.failure, OutboundFailure::tls);
  EXPECT_NE(result.message.find("IP address mismatch"), std::string::npos) << result.message;
}

TEST(HttpClientLimits, OversizedResponseIsRefused) {
  asio::io_context io;
  TestCertificate certificate;
  TlsServer server(io, certificate, std::string(4096, 'x'));
  HttpClient client({.extra_ca_file = certificate.cert, .max_response_bytes = 1024});
  auto result = fetch(io, client, "https://localhost:" + std::to_string(server.port()) + "/");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.failure, OutboundFailure::too_large);
}

TEST(HttpClientLimits, SilentServerTimesOut) {
  asio::io_context io;
  TestCertificate certificate;
  TlsServer server(io, certificate, "", /*silent=*/true);
  HttpClient client({.extra_ca_file = certificate.cert, .timeout = std::chrono::milliseconds(300)});
  auto result = fetch(io, client, "https://localhost:" + std::to_string(server.port()) + "/");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.failure, OutboundFailure::timeout);
}

TEST(HttpClientUrls, BadUrlsAreRefusedBeforeAnyConnection) {
  asio::io_context io;
  HttpClient client({});
  for (auto url : {"ftp://example.com/", "not a url", "https://user:pw@example.com/", "/relative"}) {
    auto result = fetch(io, client, url);
    ASSERT_FALSE(result) << url;
    EXPECT_EQ(result.failure, OutboundFailure::invalid_url) << url;
  }
}

TEST(HttpClientUrls, ConnectionRefusedIsAConnectFailure) {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = probe.local_endpoint().port();
  probe.close(); // nothing listens there now
  HttpClient client({});
  auto result = fetch(io, client, "http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.failure, OutboundFailure::connect);
}

} // namespace
