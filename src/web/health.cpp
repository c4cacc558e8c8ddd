// web/health: the HA reachability probe behind /healthz.
#include "web/health.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

namespace gatehouse::web {
namespace asio = boost::asio;
namespace http = boost::beast::http;

asio::awaitable<bool> HealthProbe::home_assistant_reachable() {
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_at_ < std::chrono::seconds(1)) co_return last_result_;
    checked_at_ = now;
  }

  auto probe_target = target_;
  probe_target.connect_timeout = std::min(probe_target.connect_timeout, std::chrono::milliseconds(2000));
  boost::system::error_code ec;
  auto connection = co_await net::connect_upstream(probe_target, ec);
  bool reachable = false;
  if (connection) {
    http::request<http::empty_body> req{http::verb::get, "/manifest.json", 11};
    req.set(http::field::host, target_.host_header);
    req.set(http::field::user_agent, "Gatehouse health probe");
    req.keep_alive(false);
    connection->stream.expires_after(std::chrono::seconds(2));
    auto [write_ec, written] = co_await http::async_write(connection->stream, req, asio::as_tuple(asio::use_awaitable));
    if (!write_ec) {
      http::response_parser<http::empty_body> parser;
      parser.skip(true);
      auto [read_ec, read] = co_await http::async_read_header(connection->stream, connection->buffer, parser,
                                                               asio::as_tuple(asio::use_awaitable));
      reachable = !read_ec;
    }
  }
  std::lock_guard lock(mutex_);
  last_result_ = reachable;
  checked_at_ = std::chrono::steady_clock::now();
  co_return reachable;
}

} // namespace gatehouse::web
