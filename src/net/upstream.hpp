// net/upstream: owns connections from Gatehouse to Home Assistant. Each I/O thread has its own pool
// (no locks on the request path); idle connections are reused LIFO, dropped after a short idle time
// (before HA's own keep-alive timeout closes them under us), and checked for a peer close before reuse.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "net/bounded_parser.hpp"

namespace gatehouse::net {

struct UpstreamTarget {
  std::string host;
  uint16_t port = 0;
  std::chrono::milliseconds connect_timeout{5000};
};

struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::any_io_executor ex)
      : stream(ex), buffer(read_buffer_limit(config::kMaxHeaderBytesCeiling)) {}
  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer; // HA's heads get the same ceiling as clients' (config.hpp)
  bool reused = false;
  std::chrono::steady_clock::time_point idle_since;
};

// HA as home_assistant.url and timeouts.upstream_connect name it.
UpstreamTarget upstream_target(const config::Config& config);

// Opens a fresh TCP connection to the target (resolve + connect within connect_timeout).
boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> connect_upstream(const UpstreamTarget& target,
                                                                             boost::system::error_code& ec);

class UpstreamPool {
public:
  explicit UpstreamPool(UpstreamTarget target) : target_(std::move(target)) {}

  // A pooled connection if a live one is idle, else a new one. `ec` set when HA cannot be reached.
  // `replayable`: the request can be sent again if the connection turns out closed (no body), so a
  // recently used connection is handed out without probing it first (one syscall less per request).
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> acquire(boost::system::error_code& ec,
                                                                      bool replayable = false);
  // Only for connections whose last exchange ended cleanly (complete response, nothing left over).
  void release(std::unique_ptr<UpstreamConnection> connection);
  const UpstreamTarget& target() const { return target_; }
  void clear() { idle_.clear(); }

  // Idle connections kept at most (net/open_files counts them in the descriptor budget).
  static constexpr std::size_t kMaxIdle = 256;

private:
  UpstreamTarget target_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
  static constexpr std::chrono::seconds kMaxIdleTime{20};
  static constexpr std::chrono::seconds kUnprobedIdleTime{1};
};

} // namespace gatehouse::net
