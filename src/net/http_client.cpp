// net/http_client: one request per connection, verified TLS, overall deadline, capped response.
#include "net/http_client.hpp"
#include "net/bounded_parser.hpp"
#include "net/client_tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <stdexcept>
#include <vector>

namespace gatehouse::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

OutboundResult failed(OutboundFailure failure, std::string message) {
  OutboundResult result;
  result.failure = failure;
  result.message = std::move(message);
  return result;
}

// Remaining time until the deadline, never negative (an expired deadline times out at once).
std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

OutboundFailure classify(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return OutboundFailure::timeout;
  if (ec == http::error::body_limit || ec == http::error::header_limit) return OutboundFailure::too_large;
  return OutboundFailure::protocol;
}

template <class Stream>
asio::awaitable<OutboundResult> exchange(Stream& stream, http::request<http::string_body>& request,
                                         Clock::time_point deadline, std::size_t max_bytes) {
  beast::get_lowest_layer(stream).expires_after(remaining(deadline));
  auto [write_ec, written] = co_await http::async_write(stream, request, use_tuple);
  if (write_ec) co_return failed(classify(write_ec), "sending the request failed: " + write_ec.message());

  constexpr std::uint32_t kHeadLimit = 64 * 1024;
  beast::flat_buffer buffer(read_buffer_limit(kHeadLimit));
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_bytes);
  parser.header_limit(kHeadLimit);
  beast::get_lowest_layer(stream).expires_after(remaining(deadline));
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (read_ec) co_return failed(classify(read_ec), "reading the response failed: " + read_ec.message());

  auto message = parser.release();
  OutboundResult result;
  result.response.emplace();
  result.response->status = message.result_int();
  result.response->headers = message.base();
  result.response->body = std::move(message.body());
  co_return result;
}

} // namespace

std::string form_encode(std::string_view text) { return boost::urls::encode(text, boost::urls::unreserved_chars); }

HttpClient::HttpClient(Options options) : options_(std::move(options)) {
  // A bad extra CA bundle is a configuration error: said at start, not at the first sign-in.
  if (options_.extra_ca_file) client_tls_context(options_.extra_ca_file);
}

asio::awaitable<OutboundResult> HttpClient::send(const OutboundRequest& outbound) {
  const auto deadline = Clock::now() + options_.timeout;
  auto parsed = boost::urls::parse_absolute_uri(outbound.url);
  if (!parsed) co_return failed(OutboundFailure::invalid_url, "not an absolute URL");
  const auto& url = *parsed;
  const bool tls = url.scheme() == "https";
  if (!tls && url.scheme() != "http") co_return failed(OutboundFailure::invalid_url, "only http and https URLs");
  if (!url.has_authority() || url.host().empty()) co_return failed(OutboundFailure::invalid_url, "URL has no host");
  if (url.has_userinfo()) co_return failed(OutboundFailure::invalid_url, "URL must not contain user information");
  // The host as the resolver and the certificate check want it: IPv6 without brackets.
  std::string host = url.host_type() == boost::urls::host_type::ipv6 ? std::string(url.host_address())
                                                                      : std::string(url.host());
  std::string port = url.has_port() ? std::string(url.port()) : (tls ? "443" : "80");
  std::string target = std::string(url.encoded_path().empty() ? "/" : url.encoded_path());
  if (url.has_query()) target += "?" + std::string(url.encoded_query());

  http::request<http::string_body> request{outbound.method, target, 11};
  request.set(http::field::host, std::string(url.encoded_host_and_port()));
  request.set(http::field::user_agent, std::string("Gatehouse/") + GATEHOUSE_VERSION);
  for (const auto& [name, value] : outbound.headers) request.set(name, value);
  request.body() = outbound.body;
  request.keep_alive(false);
  request.prepare_payload();

  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  // The resolver has no deadline of its own; the system's resolver timeouts apply.
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
  if (resolve_ec) co_return failed(OutboundFailure::resolve, "cannot resolve " + host + ": " + resolve_ec.message());
  std::vector<tcp::endpoint> allowed;
  for (const auto& entry : endpoints)
    if (!options_.address_allowed || options_.address_allowed(entry.endpoint().address())) allowed.push_back(entry.endpoint());
  if (allowed.empty())
    co_return failed(OutboundFailure::refused_address, host + " resolves only to addresses Gatehouse may not reach for this");

  beast::tcp_stream tcp_stream(executor);
  tcp_stream.expires_after(remaining(deadline));
  auto [connect_ec, endpoint] = co_await tcp_stream.async_connect(allowed, use_tuple);
  if (connect_ec)
    co_return failed(connect_ec == beast::error::timeout ? OutboundFailure::timeout : OutboundFailure::connect,
                     "cannot connect to " + host + ":" + port + ": " + connect_ec.message());
  if (!tls) co_return co_await exchange(tcp_stream, request, deadline, options_.max_response_bytes);

  std::shared_ptr<ssl::context> tls_context;
  try {
    tls_context = client_tls_context(options_.extra_ca_file);
  } catch (const std::exception& e) {
    co_return failed(OutboundFailure::tls, e.what());
  }
  ClientTlsStream stream(std::move(tcp_stream), *tls_context);
  if (!expect_server(stream, host)) co_return failed(OutboundFailure::tls, "cannot set TLS server name");
  beast::get_lowest_layer(stream).expires_after(remaining(deadline));
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
  if (handshake_ec == beast::error::timeout)
    co_return failed(OutboundFailure::timeout, "TLS with " + host + " failed: " + handshake_ec.message());
  if (handshake_ec)
    co_return failed(OutboundFailure::tls, "TLS with " + host + " failed: " + describe_tls_failure(stream, handshake_ec).reason);
  auto result = co_await exchange(stream, request, deadline, options_.max_response_bytes);
  beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(500));
  co_await stream.async_shutdown(use_tuple);
  co_return result;
}

} // namespace gatehouse::net
