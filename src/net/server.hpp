// net/server: owns the listening socket(s), the I/O threads and the process lifecycle: one io_context
// per worker thread, each with its own SO_REUSEPORT acceptor (no cross-thread hand-off on the request
// path); SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the TLS certificate.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "config/current.hpp"
#include "net/worker.hpp"

namespace gatehouse::net {

class Server final : private RelayedSockets {
public:
  // `door` decides what becomes of every request; it and `current` must outlive the server. `config` is
  // the configuration at start: what only a restart changes (listen, tls, workers, home_assistant).
  Server(const config::Config& config, const config::Current& current, Door& door);
  ~Server();
  // Binds, serves until a stop signal, drains. Returns the process exit code. Throws std::runtime_error
  // with a user-facing message when it cannot start (port in use, bad certificate).
  int run();
  // Runs on SIGHUP, before the listener's certificate is read again: whatever else the process reloads.
  void on_reload(std::function<void()> hook) { reload_hook_ = std::move(hook); }

private:
  boost::asio::awaitable<std::size_t> close(std::string ha_user_id, std::vector<std::string> session_ids,
                                                 boost::beast::websocket::close_reason reason) override;
  boost::asio::awaitable<std::vector<SocketOwner>> owners() override;
  // Runs `visit` on each worker's own thread with its relayed websockets; completes when all have.
  boost::asio::awaitable<void> visit_relays(std::function<void(std::list<TrackedRelay*>&)> visit);
  void bind_listeners();
  void begin_shutdown();

  const config::Config& config_;
  SharedState shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint16_t bound_port_ = 0;
  std::function<void()> reload_hook_;
};

} // namespace gatehouse::net
