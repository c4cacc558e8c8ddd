// net/upstream: connecting to HA and the per-thread pool of idle keep-alive connections.
#include "net/upstream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <array>
#include <atomic>
#include <sys/socket.h>

#include "logging/log.hpp"

namespace gatehouse::net {
namespace asio = boost::asio;
using asio::ip::tcp;

UpstreamTarget upstream_target(const config::Config& config) {
  return upstream_target(config.home_assistant, config.timeouts.upstream_connect);
}

UpstreamTarget upstream_target(const config::HomeAssistant& home_assistant, std::chrono::milliseconds connect_timeout) {
  const bool ipv6 = home_assistant.host.find(':') != std::string::npos;
  std::string host_header = (ipv6 ? "[" + home_assistant.host + "]" : home_assistant.host) + ":" +
                            std::to_string(home_assistant.port);
  UpstreamTarget target{home_assistant.host, home_assistant.port, connect_timeout, nullptr, std::move(host_header)};
  if (home_assistant.tls) target.tls = client_tls_context(home_assistant.ca_file);
  return target;
}

void teardown(boost::beast::role_type role, UpstreamStream& stream, boost::system::error_code& ec) {
  if (stream.is_tls()) {
    teardown(role, stream.tls(), ec);
  } else {
    teardown(role, stream.plain(), ec);
  }
}

namespace {

// Why TLS with HA failed, in the log at most once a minute for each kind of failure (every request would
// say it again; a reset while HA restarts must not hide a refused certificate for that minute).
void log_tls_failure(const UpstreamTarget& target, const TlsFailure& failure) {
  static std::array<std::atomic<std::int64_t>, 3> last_logged{};
  auto& last_of_kind = last_logged[static_cast<std::size_t>(failure.kind)];
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_of_kind.load(std::memory_order_relaxed);
  if (last != 0 && now - last < 60) return;
  if (!last_of_kind.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  std::string fix;
  switch (failure.kind) {
  case TlsFailure::Kind::certificate:
    fix = "HA's certificate must be valid now, for " + target.host +
          ", and signed by a CA in the system store or in home_assistant.ca_file";
    break;
  case TlsFailure::Kind::not_tls:
    fix = "HA serves plain HTTP on port " + std::to_string(target.port) +
          ": write home_assistant.url as http://, or give HA a certificate (http: ssl_certificate)";
    break;
  case TlsFailure::Kind::other:
    fix = "check that home_assistant.url is HA's own HTTPS address";
    break;
  }
  logging::error("TLS with Home Assistant failed", {{"host", target.host}, {"reason", failure.reason}, {"fix", fix}});
}

// A pooled socket is usable if the peer has not closed it and sent nothing unasked.
bool still_open(UpstreamConnection& connection) {
  auto& socket = connection.stream.socket(); // TLS alerts and close_notify make it readable too
  if (!socket.is_open() || connection.buffer.size() != 0) return false;
  char probe;
  auto n = ::recv(socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

} // namespace

asio::awaitable<std::unique_ptr<UpstreamConnection>> connect_upstream(const UpstreamTarget& target,
                                                                      boost::system::error_code& ec) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(
      target.host, std::to_string(target.port), asio::as_tuple(asio::use_awaitable));
  if (resolve_ec) {
    ec = resolve_ec;
    co_return nullptr;
  }
  boost::beast::tcp_stream tcp_stream(executor);
  tcp_stream.expires_after(target.connect_timeout);
  auto [connect_ec, endpoint] = co_await tcp_stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  if (connect_ec) {
    ec = connect_ec;
    co_return nullptr;
  }
  tcp_stream.socket().set_option(tcp::no_delay(true));
  if (!target.tls) {
    tcp_stream.expires_never();
    ec = {};
    co_return std::make_unique<UpstreamConnection>(UpstreamStream(std::move(tcp_stream)));
  }
  // The handshake shares the connect deadline: HA's TLS is part of reaching HA.
  ClientTlsStream tls_stream(std::move(tcp_stream), *target.tls);
  if (!expect_server(tls_stream, target.host)) {
    ec = asio::error::invalid_argument;
    co_return nullptr;
  }
  auto [handshake_ec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::client,
                                                            asio::as_tuple(asio::use_awaitable));
  if (handshake_ec) {
    if (handshake_ec != boost::beast::error::timeout) log_tls_failure(target, describe_tls_failure(tls_stream, handshake_ec));
    ec = handshake_ec;
    co_return nullptr;
  }
  tls_stream.next_layer().expires_never();
  ec = {};
  co_return std::make_unique<UpstreamConnection>(UpstreamStream(std::move(tls_stream)));
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle(bool replayable) {
  auto now = CoarseClock::now();
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    auto idle_for = now - connection->idle_since;
    if (idle_for >= kMaxIdleTime) continue;
    bool fresh = replayable && idle_for < kUnprobedIdleTime && connection->buffer.size() == 0;
    if (fresh || still_open(*connection)) {
      connection->reused = true;
      return connection;
    }
  }
  return nullptr;
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::connect(boost::system::error_code& ec,
                                                                          std::chrono::milliseconds connect_timeout) {
  UpstreamTarget target = target_;
  target.connect_timeout = connect_timeout;
  auto fresh = co_await connect_upstream(target, ec);
  co_return fresh;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  if (!connection || idle_.size() >= kMaxIdle) return;
  connection->idle_since = CoarseClock::now();
  connection->stream.expires_never();
  idle_.push_back(std::move(connection));
}

} // namespace gatehouse::net
