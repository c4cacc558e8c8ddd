// net/worker: owns one I/O thread's world: its io_context, its upstream pool, and the
// lists of connections and websocket relays it serves (so shutdown can reach them). Everything in a
// Worker is touched only from its own thread; cross-thread requests arrive through post().
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/current.hpp"
#include "net/coarse_clock.hpp"
#include "net/connection_slots.hpp"
#include "net/tls.hpp"
#include "net/upstream.hpp"
#include "net/door.hpp"

namespace gatehouse::net {

// The close reason of the websockets a shutdown ends (code 1001), wherever they are found.
inline constexpr std::string_view kShuttingDownReason = "Gatehouse is shutting down";

struct Worker;

// State shared by all workers: the running configuration plus a few atomics.
struct SharedState {
  SharedState(const config::Current& c, Door& d) : current(c), door(d) {}
  // Read when a connection is accepted (its limits, trusted_proxies) and when each request's head is to
  // be read (limits, timeouts: that reading goes on to the door with the head), so a reload applies to
  // the next connection and the next request.
  const config::Current& current;
  Door& door; // decides what becomes of every request
  std::atomic<std::size_t> open_connections{0};
  std::size_t affordable_connections = SIZE_MAX; // what the open-files limit leaves room for (set at start)
  // limits.max_connections, or what the open-files limit leaves room for when it is 0.
  std::size_t max_connections(const config::Limits& limits) const {
    return limits.max_connections ? limits.max_connections : affordable_connections;
  }
  ConnectionSlots connection_slots; // per client address (limits.max_connections_per_address)
  std::atomic<bool> draining{false}; // set by SIGTERM before any relay is closed with kShuttingDownReason
  std::unique_ptr<TlsCertificate> tls; // set when the listener speaks TLS
  std::vector<Worker*> workers;        // all of them, for a new connection to go to the least busy
};

// A client connection's claim on the limits: its place among max_connections and its address's slot
// (and, for TLS, the certificate it started with). It moves with the connection, into a websocket relay
// too, and gives everything back when the connection ends.
class ConnectionClaim {
public:
  ConnectionClaim() = default;
  ConnectionClaim(std::atomic<std::size_t>& open_connections, ConnectionSlots::Slot slot)
      : open_connections_(&open_connections), slot_(std::move(slot)) {}
  ConnectionClaim(ConnectionClaim&& other) noexcept
      : open_connections_(std::exchange(other.open_connections_, nullptr)),
        on_worker_(std::exchange(other.on_worker_, nullptr)), slot_(std::move(other.slot_)),
        keep_(std::move(other.keep_)) {}
  ConnectionClaim& operator=(ConnectionClaim&&) = delete;
  ConnectionClaim(const ConnectionClaim&) = delete;
  ~ConnectionClaim() {
    if (open_connections_) open_connections_->fetch_sub(1, std::memory_order_relaxed);
    if (on_worker_) on_worker_->fetch_sub(1, std::memory_order_relaxed);
  }
  // Kept as long as the connection (the TLS certificate it started with).
  void hold(std::shared_ptr<void> thing) { keep_ = std::move(thing); }
  // Counts the connection among those of the worker that serves it (once, before it is handed there).
  void serve_on(std::atomic<std::int64_t>& worker_connections) {
    on_worker_ = &worker_connections;
    on_worker_->fetch_add(1, std::memory_order_relaxed);
  }

private:
  std::atomic<std::size_t>* open_connections_ = nullptr;
  std::atomic<std::int64_t>* on_worker_ = nullptr;
  ConnectionSlots::Slot slot_;
  std::shared_ptr<void> keep_;
};

// The completion handler of every coroutine a worker spawns: an exception that escaped one is logged
// (the others go on).
void log_spawn_failure(std::exception_ptr error);

// A client connection as shutdown and the worker's deadline sweep see it. Shutdown closes idle ones;
// busy ones finish their request. Each wait on the connection (the client's socket, or HA's while an
// exchange uses it) gives up at `deadline`: the sweep cancels it then (sweep_overdue), so no socket
// operation arms a timer of its own.
struct TrackedConnection {
  using Clock = CoarseClock;
  bool idle = false;
  boost::asio::ip::tcp::socket* client = nullptr;   // null once a websocket relay took the connection
  boost::asio::ip::tcp::socket* upstream = nullptr; // HA's connection while an exchange uses it
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false; // the sweep cancelled the wait in progress

  // The next wait (read or write, on either socket) may take `limit`; none: no limit.
  void wait_at_most(std::optional<std::chrono::milliseconds> limit) {
    deadline = limit ? Clock::now() + *limit : Clock::time_point::max();
    timed_out = false;
  }
  void cancel_waits() {
    boost::system::error_code ignored;
    if (client) client->cancel(ignored);
    if (upstream) upstream->cancel(ignored);
  }
};

// How late a wait may be cancelled after its deadline (early, by at most one tick of the coarse clock: a
// few ms). One timer per worker, instead of one per socket operation: a per-operation timer cost a
// timer-queue insert, a cancel and a posted handler on every read and write of every request.
constexpr std::chrono::milliseconds kDeadlineSweep{100};

// Cancels the waits of the worker's connections whose deadline has passed; again on every sweep while
// it stays passed (a cancel that met no wait in progress cancels nothing).
void sweep_overdue(std::list<TrackedConnection*>& connections, TrackedConnection::Clock::time_point now);

// Cancels the waits of the connections that are idle (between requests, or closing): shutdown ends them.
void cancel_idle_waits(std::list<TrackedConnection*>& connections);

// A relayed websocket as shutdown (and later revocation) sees it.
struct TrackedRelay {
  std::function<void(boost::beast::websocket::close_reason)> terminate;
  SocketOwner owner; // whose socket this is, when Gatehouse did the auth step (empty otherwise)
};

// Keeps `item` in `list` for as long as the registration lives (a coroutine frame, typically).
template <class T>
class ListRegistration {
public:
  ListRegistration(std::list<T*>& list, T& item) : list_(list), it_(list.insert(list.end(), &item)) {}
  ~ListRegistration() { list_.erase(it_); }
  ListRegistration(const ListRegistration&) = delete;
  ListRegistration& operator=(const ListRegistration&) = delete;

private:
  std::list<T*>& list_;
  typename std::list<T*>::iterator it_;
};

// The io_context runs on exactly one thread, so its reactor needs no locks (UNSAFE_IO); posts from
// other threads (shutdown) still go through the scheduler's lock.
// Member order matters at destruction: the io_context goes after the sockets it serves (pool,
// acceptor) and before the lists that suspended coroutines unregister from.
struct Worker {
  Worker(SharedState& shared, UpstreamTarget target, std::atomic<std::int64_t>& connections_here)
      : shared(shared), connections_here(connections_here), io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
        upstream(target) {}
  SharedState& shared;
  // Client connections this worker serves, websockets it relays among them (ConnectionClaim::serve_on);
  // read by other workers' acceptors, and at /metrics.
  std::atomic<std::int64_t>& connections_here;
  std::list<TrackedConnection*> connections;
  std::list<TrackedRelay*> relays;
  // HTTP body relay buffers between exchanges (RelayBuffer in session.cpp); before `io`, because
  // suspended exchanges give theirs back when the io_context destroys them.
  std::vector<std::unique_ptr<char[]>> spare_relay_buffers;
  boost::asio::io_context io;
  UpstreamPool upstream;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  // Websocket relays on plain sockets read into this and write it out before anything else runs on
  // the thread, so an idle relayed websocket holds no buffer of its own.
  std::vector<unsigned char> relay_scratch = std::vector<unsigned char>(64 * 1024);

};

} // namespace gatehouse::net
