// net/upstream: connecting to HA and the per-thread pool of idle keep-alive connections.
#include "net/upstream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sys/socket.h>

namespace gatehouse::net {
namespace asio = boost::asio;
using asio::ip::tcp;

UpstreamTarget upstream_target(const config::Config& config) {
  return UpstreamTarget{config.home_assistant.host, config.home_assistant.port, config.timeouts.upstream_connect};
}

namespace {

// A pooled socket is usable if the peer has not closed it and sent nothing unasked.
bool still_open(UpstreamConnection& connection) {
  auto& socket = connection.stream.socket();
  if (!socket.is_open() || connection.buffer.size() != 0) return false;
  char probe;
  auto n = ::recv(socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

} // namespace

asio::awaitable<std::unique_ptr<UpstreamConnection>> connect_upstream(const UpstreamTarget& target,
                                                                      boost::system::error_code& ec) {
  auto executor = co_await asio::this_coro::executor;
  auto connection = std::make_unique<UpstreamConnection>(executor);
  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(
      target.host, std::to_string(target.port), asio::as_tuple(asio::use_awaitable));
  if (resolve_ec) {
    ec = resolve_ec;
    co_return nullptr;
  }
  connection->stream.expires_after(target.connect_timeout);
  auto [connect_ec, endpoint] =
      co_await connection->stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  if (connect_ec) {
    ec = connect_ec;
    co_return nullptr;
  }
  connection->stream.socket().set_option(tcp::no_delay(true));
  connection->stream.expires_never();
  ec = {};
  co_return connection;
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(boost::system::error_code& ec,
                                                                          bool replayable) {
  auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    auto idle_for = now - connection->idle_since;
    if (idle_for >= kMaxIdleTime) continue;
    bool fresh = replayable && idle_for < kUnprobedIdleTime && connection->buffer.size() == 0;
    if (fresh || still_open(*connection)) {
      connection->reused = true;
      ec = {};
      co_return connection;
    }
  }
  auto fresh = co_await connect_upstream(target_, ec);
  co_return fresh;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  if (!connection || idle_.size() >= kMaxIdle) return;
  connection->idle_since = std::chrono::steady_clock::now();
  connection->stream.expires_never();
  idle_.push_back(std::move(connection));
}

} // namespace gatehouse::net
