// net/server: threads, acceptors, signals and graceful shutdown.
#include "net/server.hpp"

#include "net/relay_counts.hpp"
#include "net/service_manager.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <csignal>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include "logging/log.hpp"
#include "net/client_key.hpp"
#include "net/forwarding.hpp"
#include "net/open_files.hpp"
#include "net/session.hpp"
#include "os/file_descriptor.hpp"

namespace gatehouse::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

void log_spawn_failure(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    logging::error("a connection's coroutine failed unexpectedly", {{"error", e.what()}});
  }
}

void sweep_overdue(std::list<TrackedConnection*>& connections, TrackedConnection::Clock::time_point now) {
  for (auto* connection : connections) {
    if (now < connection->deadline) continue;
    connection->timed_out = true;
    connection->cancel_waits();
  }
}

void cancel_idle_waits(std::list<TrackedConnection*>& connections) {
  for (auto* connection : connections)
    if (connection->idle) connection->cancel_waits();
}

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Runs for the worker's life (its io_context stops at the end of shutdown).
asio::awaitable<void> sweep_deadlines(Worker& worker) {
  asio::steady_timer timer(worker.io);
  for (;;) {
    timer.expires_after(kDeadlineSweep);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    sweep_overdue(worker.connections, TrackedConnection::Clock::now());
    // While shutting down, an idle wait begun after begin_shutdown's cancel (a connection that finished
    // its request and is closing) ends here too.
    if (worker.shared.draining) cancel_idle_waits(worker.connections);
  }
}

// The worker a new connection goes to: the one serving the fewest, the accepting one on a tie. The
// kernel spreads connections over the workers' listening sockets by a hash of their addresses, which
// leaves one worker with a quarter more connections than another as often as not, and their clients
// waiting on the busier one.
Worker& least_busy(Worker& accepting) {
  Worker* chosen = &accepting;
  for (Worker* other : accepting.shared.workers)
    if (other->connections_here.load(std::memory_order_relaxed) < chosen->connections_here.load(std::memory_order_relaxed))
      chosen = other;
  return *chosen;
}

// Serves an accepted connection on `worker`'s thread, which runs this.
void start_serving(Worker& worker, tcp::socket socket, tcp::endpoint peer, ConnectionClaim claim) {
  if (worker.shared.tls) {
    auto context = worker.shared.tls->current();
    TlsStream stream(beast::tcp_stream(std::move(socket)), *context);
    claim.hold(std::move(context));
    asio::co_spawn(worker.io, serve_connection(std::move(stream), worker, peer, std::move(claim)), log_spawn_failure);
  } else {
    asio::co_spawn(worker.io, serve_connection(PlainStream(std::move(socket)), worker, peer, std::move(claim)),
                   log_spawn_failure);
  }
}

// Moves an accepted connection to `serving`'s thread. Each io_context's reactor is touched only by its
// own thread (UNSAFE_IO), so the descriptor leaves this one and joins that one there.
void hand_over(tcp::socket socket, Worker& serving, tcp::endpoint peer, ConnectionClaim claim) {
  boost::system::error_code ec;
  const auto protocol = peer.protocol();
  // Closed if it never arrives (the receiving worker stopped first).
  os::FileDescriptor descriptor(socket.release(ec));
  if (ec) return; // the socket still owns its descriptor and closes it; the claim gives its places back
  asio::post(serving.io, [&serving, descriptor = std::move(descriptor), protocol, peer,
                          claim = std::move(claim)]() mutable {
    boost::system::error_code assign_ec;
    tcp::socket socket(serving.io);
    socket.assign(protocol, descriptor.get(), assign_ec);
    if (assign_ec) return;
    descriptor.release(); // the socket owns it now
    start_serving(serving, std::move(socket), peer, std::move(claim));
  });
}

asio::awaitable<void> accept_loop(Worker& worker) {
  auto& shared = worker.shared;
  auto& acceptor = *worker.acceptor;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors (this process's or the system's) or of kernel memory: the connection stays in
      // the queue, so accepting again at once would spin. Back off briefly. Other errors are the one
      // connection's (it was reset before it was taken) and the next accept is a new one.
      if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
          ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
        logging::warn("accept failed: out of descriptors or memory", {{"error", ec.message()}});
        asio::steady_timer pause(worker.io, std::chrono::milliseconds(100));
        co_await pause.async_wait(use_tuple);
      }
      continue;
    }
    boost::system::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;
    socket.set_option(tcp::no_delay(true), peer_ec);
    // One client may not hold every slot: its own connections are capped first (the TCP peer; a trusted
    // proxy speaks for many clients, so it meets the global limit only).
    ConnectionSlots::Slot slot;
    const auto config = shared.current.get();
    const bool per_address_ok =
        is_trusted(peer.address(), config->trusted_proxies) ||
        shared.connection_slots.take(client_key(peer.address()), config->limits.max_connections_per_address, slot);
    if (!per_address_ok) {
      asio::co_spawn(worker.io, refuse_connection(std::move(socket)), log_spawn_failure);
      continue;
    }
    if (shared.open_connections.fetch_add(1, std::memory_order_relaxed) >= shared.max_connections(config->limits)) {
      shared.open_connections.fetch_sub(1, std::memory_order_relaxed);
      asio::co_spawn(worker.io, refuse_connection(std::move(socket)), log_spawn_failure);
      continue;
    }
    ConnectionClaim claim(shared.open_connections, std::move(slot));
    Worker& serving = least_busy(worker);
    claim.serve_on(serving.connections_here);
    if (&serving == &worker)
      start_serving(worker, std::move(socket), peer, std::move(claim));
    else
      hand_over(std::move(socket), serving, peer, std::move(claim));
  }
}

// The last line of defence: an exception thrown by a completion handler outside any coroutine (a
// library that throws where it should fail the operation) would escape io_context::run() and end the
// process. It is logged and the worker goes on serving; the exchange it broke is lost, not the others.
void run_worker(Worker& worker) {
  for (;;) {
    try {
      worker.io.run();
      return;
    } catch (const std::exception& error) {
      logging::error("a handler failed; the worker goes on", {{"error", error.what()}});
    } catch (...) {
      logging::error("a handler failed; the worker goes on", {{"error", "unknown exception"}});
    }
  }
}

} // namespace

Server::Server(const config::Config& config, const config::Current& current, Door& door)
    : config_(config), shared_(current, door) {
  unsigned count = config.workers ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) {
    const std::string index = std::to_string(i);
    workers_.push_back(
        std::make_unique<Worker>(shared_, upstream_target(config), worker_connections_gauge.series({index})));
    shared_.workers.push_back(workers_.back().get());
  }
  open_connections_gauge.read_from([this] { return static_cast<double>(shared_.open_connections.load()); });
}

Server::~Server() { open_connections_gauge.read_from({}); }

void Server::bind_listeners() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(config_.listen.host, ec);
  if (ec) throw std::runtime_error("listen: '" + config_.listen.host + "' is not an IP address");
  uint16_t port = config_.listen.port;
  for (auto& worker : workers_) {
    auto acceptor = std::make_unique<tcp::acceptor>(worker->io);
    tcp::endpoint endpoint(address, port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + config_.listen.host + ":" + std::to_string(port) + ": " +
                               ec.message() + " (is another program using this port? see `listen` in the config)");
    // Port 0 asks the OS for a free port once; the other workers join that same port.
    port = acceptor->local_endpoint().port();
    worker->acceptor = std::move(acceptor);
  }
  bound_port_ = port;
}

asio::awaitable<void> Server::visit_relays(std::function<void(std::list<TrackedRelay*>&)> visit) {
  // The last worker to finish wakes this coroutine (a timer that never expires, cancelled).
  struct Tally {
    Tally(asio::any_io_executor executor, std::size_t workers) : remaining(workers), done(executor) {
      done.expires_at(asio::steady_timer::time_point::max());
    }
    std::atomic<std::size_t> remaining;
    asio::steady_timer done;
  };
  auto tally = std::make_shared<Tally>(co_await asio::this_coro::executor, workers_.size());
  auto shared_visit = std::make_shared<std::function<void(std::list<TrackedRelay*>&)>>(std::move(visit));
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get(), tally, shared_visit] {
      (*shared_visit)(w->relays);
      if (tally->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
        asio::post(tally->done.get_executor(), [tally] { tally->done.cancel(); });
    });
  }
  co_await tally->done.async_wait(use_tuple);
}

// The visits own what they fill in (shared with this frame): a worker may still run one after a
// shutdown destroyed the waiting coroutine.
asio::awaitable<std::size_t> Server::close(std::string ha_user_id, std::vector<std::string> session_ids,
                                           boost::beast::websocket::close_reason reason) {
  auto closed = std::make_shared<std::atomic<std::size_t>>(0);
  // Named before the co_await: GCC 12 destroys a temporary argument of a co_await'ed call twice.
  std::function<void(std::list<TrackedRelay*>&)> visit = [closed, ha_user_id, session_ids,
                                                           reason](std::list<TrackedRelay*>& relays) {
    for (auto* relay : relays) {
      if (relay->owner.ha_user_id != ha_user_id) continue;
      if (!session_ids.empty() &&
          std::find(session_ids.begin(), session_ids.end(), relay->owner.session_id) == session_ids.end())
        continue;
      relay->terminate(reason);
      closed->fetch_add(1, std::memory_order_relaxed);
    }
  };
  co_await visit_relays(std::move(visit));
  co_return closed->load();
}

asio::awaitable<std::vector<SocketOwner>> Server::owners() {
  struct Found {
    std::mutex mutex;
    std::vector<SocketOwner> owners;
  };
  auto found = std::make_shared<Found>();
  std::function<void(std::list<TrackedRelay*>&)> visit = [found](std::list<TrackedRelay*>& relays) {
    std::lock_guard lock(found->mutex);
    for (auto* relay : relays)
      if (!relay->owner.ha_user_id.empty()) found->owners.push_back(relay->owner);
  };
  co_await visit_relays(std::move(visit));
  // Every visit has finished (visit_relays' tally orders their writes before this read).
  std::vector<SocketOwner> owners = std::move(found->owners);
  co_return owners;
}

void Server::begin_shutdown() {
  if (shared_.draining.exchange(true)) return;
  logging::info("shutting down", {{"open_connections", shared_.open_connections.load()}});
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get()] {
      boost::system::error_code ignored;
      if (w->acceptor) w->acceptor->close(ignored);
      cancel_idle_waits(w->connections);
      for (auto* relay : w->relays)
        relay->terminate({boost::beast::websocket::close_code::going_away, kShuttingDownReason});
      w->upstream.clear();
    });
  }
}

int Server::run() {
  if (config_.tls) {
    shared_.tls = std::make_unique<TlsCertificate>(config_.tls->cert_file, config_.tls->key_file);
    shared_.tls->load();
  }
  const auto open_files = raise_open_files_limit();
  const auto workers = static_cast<unsigned>(workers_.size());
  const auto token_checks = config_.limits.max_concurrent_token_checks;
  const auto affordable = connections_for(open_files.soft, workers, token_checks);
  shared_.affordable_connections = affordable;
  if (config_.limits.max_connections > affordable)
    logging::warn("limits.max_connections is more than the open-files limit allows; when descriptors run out, "
                  "new clients get no answer at all. Raise the hard limit (LimitNOFILE= in a systemd unit) or "
                  "lower limits.max_connections",
                  {{"max_connections", config_.limits.max_connections}, {"affordable", affordable},
                   {"open_files_limit", open_files.soft}});
  if (affordable < 256)
    logging::warn("the open-files limit leaves room for few connections; raise the hard limit (LimitNOFILE=)",
                  {{"open_files_limit", open_files.soft}, {"reserved", reserved_descriptors(workers, token_checks)}});
  bind_listeners();
  ::signal(SIGPIPE, SIG_IGN);

  for (auto& worker : workers_) {
    asio::co_spawn(worker->io, accept_loop(*worker), log_spawn_failure);
    asio::co_spawn(worker->io, sweep_deadlines(*worker), log_spawn_failure);
  }
  asio::co_spawn(workers_.front()->io, shared_.door.watch(*this), log_spawn_failure);
  asio::co_spawn(workers_.front()->io, shared_.door.on_start(), log_spawn_failure);

  asio::io_context control(1);
  asio::signal_set stop_signals(control, SIGTERM, SIGINT);
  asio::signal_set reload_signal(control, SIGHUP);
  asio::steady_timer drain_timer(control);
  // The door's housekeeping (refusal counts to the audit log, expired pending logins swept) runs once a
  // minute, and at exit below.
  asio::steady_timer audit_timer(control);
  std::function<void(boost::system::error_code)> flush_refusals = [&](boost::system::error_code ec) {
    if (ec) return;
    shared_.door.housekeeping();
    audit_timer.expires_after(std::chrono::seconds(60));
    audit_timer.async_wait(flush_refusals);
  };
  audit_timer.expires_after(std::chrono::seconds(60));
  audit_timer.async_wait(flush_refusals);
  auto drain_deadline = std::chrono::steady_clock::time_point::max();

  std::function<void()> check_drained = [&] {
    bool drained = shared_.open_connections.load() == 0;
    if (drained || std::chrono::steady_clock::now() >= drain_deadline) {
      if (!drained)
        logging::warn("shutdown grace period over; closing remaining connections",
                      {{"open_connections", shared_.open_connections.load()}});
      for (auto& worker : workers_) worker->io.stop();
      control.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](boost::system::error_code) { check_drained(); });
  };
  stop_signals.async_wait([&](boost::system::error_code ec, int signal_number) {
    if (ec) return;
    logging::info("stop signal received", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
    notify_service_manager("STOPPING=1");
    drain_deadline = std::chrono::steady_clock::now() + shared_.current.get()->timeouts.shutdown_grace;
    begin_shutdown();
    check_drained();
  });
  std::function<void(boost::system::error_code, int)> on_reload = [&](boost::system::error_code ec, int) {
    if (ec) return;
    notify_service_manager("RELOADING=1");
    if (reload_hook_) {
      try {
        reload_hook_();
      } catch (const std::exception& e) {
        logging::error("configuration reload failed; the running configuration stays", {{"error", e.what()}});
      }
    }
    if (shared_.tls) {
      try {
        shared_.tls->load();
        logging::info("tls certificate reloaded", {{"sha256", shared_.tls->fingerprint()}});
      } catch (const std::exception& e) {
        logging::error("tls certificate reload failed; keeping the previous certificate", {{"error", e.what()}});
      }
    } else {
      logging::info("SIGHUP received; no TLS certificate to read again (no tls section)");
    }
    notify_service_manager("READY=1");
    reload_signal.async_wait(on_reload);
  };
  reload_signal.async_wait(on_reload);

  std::vector<std::thread> threads;
  for (auto& worker : workers_) threads.emplace_back([w = worker.get()] { run_worker(*w); });
  logging::info("listening", {{"address", config_.listen.host},
                              {"port", bound_port_},
                              {"tls", static_cast<bool>(config_.tls)},
                              {"workers", workers_.size()},
                              {"home_assistant", config_.home_assistant.url},
                              {"open_files_limit", open_files.soft},
                              {"open_files_limit_at_start", open_files.soft_before},
                              {"max_connections", shared_.max_connections(config_.limits)},
                              {"max_connections_per_address", config_.limits.max_connections_per_address}});
  // Under systemd (Type=notify) `systemctl start` returns now: the listeners are bound and served.
  notify_service_manager("READY=1");
  control.run();
  for (auto& thread : threads) thread.join();
  shared_.door.housekeeping();
  logging::info("stopped");
  return 0;
}

} // namespace gatehouse::net
