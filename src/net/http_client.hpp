// net/http_client: owns Gatehouse's own outbound HTTP(S) requests (IdP discovery, JWKS, token and
// userinfo endpoints, HA's login flow and token endpoint). TLS peers are checked as net/client_tls says.
// Every request has one overall deadline and a response size cap.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::net {

struct OutboundRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct OutboundResponse {
  unsigned status = 0;
  boost::beast::http::fields headers;
  std::string body;
};

enum class OutboundFailure { invalid_url, resolve, refused_address, connect, tls, timeout, too_large, protocol };

// Either a response or why there is none; `message` is for logs and pages and never holds the body.
struct OutboundResult {
  std::optional<OutboundResponse> response;
  OutboundFailure failure = OutboundFailure::protocol;
  std::string message;
  explicit operator bool() const { return response.has_value(); }
};

// `text` as a name or value in an application/x-www-form-urlencoded body (everything but the unreserved
// characters percent-encoded), for the token requests Gatehouse sends.
std::string form_encode(std::string_view text);

class HttpClient {
public:
  struct Options {
    std::optional<std::filesystem::path> extra_ca_file; // PEM bundle trusted in addition to the system's
    std::chrono::milliseconds timeout{10'000};          // whole exchange: resolve to last body byte
    std::size_t max_response_bytes = 1024 * 1024;
    // Set: only addresses it allows are connected to (the name is resolved once, and only the allowed
    // results are tried, so a second lookup cannot lead elsewhere); none allowed is refused_address.
    std::function<bool(const boost::asio::ip::address&)> address_allowed;
  };
  // Throws std::runtime_error when the extra CA file cannot be loaded.
  explicit HttpClient(Options options);
  boost::asio::awaitable<OutboundResult> send(const OutboundRequest& request);

private:
  Options options_;
};

} // namespace gatehouse::net
