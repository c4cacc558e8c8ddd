// net/upstream: owns connections from Gatehouse to Home Assistant, plain or TLS as home_assistant.url
// says (HA's certificate checked as net/client_tls says), for every part that talks to HA: the relays,
// the health probe and HA's websocket API. Each I/O thread has its own pool (no locks on the request
// path); idle connections are reused LIFO, dropped after a short idle time (before HA's own keep-alive
// timeout closes them under us), and checked for a peer close before reuse.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "net/bounded_parser.hpp"
#include "net/client_tls.hpp"
#include "net/coarse_clock.hpp"

namespace gatehouse::net {

struct UpstreamTarget {
  std::string host; // as in home_assistant.url (IPv6 without brackets): connected to, and checked in HA's certificate
  uint16_t port = 0;
  std::chrono::milliseconds connect_timeout{5000};
  std::shared_ptr<boost::asio::ssl::context> tls; // set when home_assistant.url is https
  // "host:port" as a Host header names it (an IPv6 address in brackets), when the client gave none;
  // written once, with the target (upstream_target).
  std::string host_header;
};

// One connection to HA, plain or TLS: a stream that reads and writes the same either way (Beast's
// HTTP and websocket operations take it), whose lowest layer is the TCP stream with its deadline.
class UpstreamStream {
public:
  using executor_type = boost::asio::any_io_executor;
  using next_layer_type = boost::beast::tcp_stream;

  explicit UpstreamStream(boost::beast::tcp_stream plain) : stream_(std::move(plain)) {}
  explicit UpstreamStream(ClientTlsStream tls) : stream_(std::move(tls)) {}

  executor_type get_executor() { return next_layer().get_executor(); }
  boost::beast::tcp_stream& next_layer() {
    if (auto* tls = std::get_if<ClientTlsStream>(&stream_)) return tls->next_layer();
    return std::get<boost::beast::tcp_stream>(stream_);
  }
  boost::asio::ip::tcp::socket& socket() { return next_layer().socket(); }
  void expires_after(std::chrono::steady_clock::duration after) { next_layer().expires_after(after); }
  void expires_never() { next_layer().expires_never(); }

  bool is_tls() const { return std::holds_alternative<ClientTlsStream>(stream_); }
  ClientTlsStream& tls() { return std::get<ClientTlsStream>(stream_); }
  boost::beast::tcp_stream& plain() { return std::get<boost::beast::tcp_stream>(stream_); }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& buffers) {
          std::visit([&](auto& stream) { stream.async_read_some(buffers, std::move(handler)); }, stream_);
        },
        token, buffers);
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& buffers) {
          std::visit([&](auto& stream) { stream.async_write_some(buffers, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  // The stream as the HTTP relay reads and writes it: a plain connection's bare socket, TLS as above.
  // The relay's waits are bounded by the worker's deadline sweep, and the tcp_stream's deadline layer
  // costs on every operation; the other users (websocket handshakes, HA's API, the health probe) set
  // deadlines on the tcp_stream and use the stream itself.
  class Bare {
  public:
    using executor_type = boost::asio::any_io_executor;
    explicit Bare(UpstreamStream& stream) : stream_(stream) {}
    executor_type get_executor() { return stream_.get_executor(); }
    UpstreamStream& stream() { return stream_; }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
      if (stream_.is_tls()) return stream_.tls().async_read_some(buffers, std::forward<Token>(token));
      return stream_.socket().async_read_some(buffers, std::forward<Token>(token));
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
      if (stream_.is_tls()) return stream_.tls().async_write_some(buffers, std::forward<Token>(token));
      return stream_.socket().async_write_some(buffers, std::forward<Token>(token));
    }

  private:
    UpstreamStream& stream_;
  };
  Bare bare() { return Bare(*this); }

private:
  std::variant<boost::beast::tcp_stream, ClientTlsStream> stream_;
};

// Beast's websocket closes an UpstreamStream as it closes what is inside (found by argument lookup).
void teardown(boost::beast::role_type role, UpstreamStream& stream, boost::system::error_code& ec);
template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, UpstreamStream& stream, TeardownHandler&& handler) {
  if (stream.is_tls()) {
    async_teardown(role, stream.tls(), std::forward<TeardownHandler>(handler));
  } else {
    async_teardown(role, stream.plain(), std::forward<TeardownHandler>(handler));
  }
}

struct UpstreamConnection {
  explicit UpstreamConnection(UpstreamStream connected)
      : stream(std::move(connected)), buffer(read_buffer_limit(config::kMaxHeaderBytesCeiling)) {}
  UpstreamStream stream;
  boost::beast::flat_buffer buffer; // HA's heads get the same ceiling as clients' (config.hpp)
  bool reused = false;
  CoarseClock::time_point idle_since;
};

// HA as home_assistant.url (with home_assistant.ca_file) and timeouts.upstream_connect name it.
// Throws std::runtime_error when the CA file cannot be loaded.
UpstreamTarget upstream_target(const config::Config& config);
UpstreamTarget upstream_target(const config::HomeAssistant& home_assistant,
                               std::chrono::milliseconds connect_timeout = std::chrono::seconds(5));

// Opens a fresh connection to the target: resolve, connect and (https) the TLS handshake, within
// connect_timeout. A failed TLS handshake is logged (at most once a minute): it is a setup problem.
boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> connect_upstream(const UpstreamTarget& target,
                                                                             boost::system::error_code& ec);

class UpstreamPool {
public:
  explicit UpstreamPool(UpstreamTarget target) : target_(std::move(target)) {}

  // A live idle connection, or none. `replayable`: the request can be sent again if the connection
  // turns out closed (no body, and a method that changes nothing in HA), so a recently used connection is
  // handed out without probing it first
  // (one syscall less per request). Not a coroutine: nearly every request finds one, and waits for nothing.
  std::unique_ptr<UpstreamConnection> take_idle(bool replayable);
  // A new connection, within `connect_timeout` (the request's timeouts.upstream_connect); `ec` set when
  // HA cannot be reached.
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> connect(boost::system::error_code& ec,
                                                                      std::chrono::milliseconds connect_timeout);
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
