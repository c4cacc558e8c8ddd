// Unit tests for the worker's deadline sweep (net/worker.hpp): an overdue wait is cancelled, a wait
// within its deadline is not, and a connection without a deadline is never touched.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <list>

#include "net/worker.hpp"

namespace {
namespace asio = boost::asio;
using asio::ip::tcp;
using gatehouse::net::TrackedConnection;

struct SocketPair {
  explicit SocketPair(asio::io_context& io) : near(io), far(io) {
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    near.connect(acceptor.local_endpoint());
    acceptor.accept(far);
  }
  tcp::socket near, far;
};

TEST(DeadlineSweep, OnlyOverdueWaitsAreCancelledAndMarkedTimedOut) {
  asio::io_context io;
  SocketPair overdue_pair(io), waiting_pair(io), unlimited_pair(io);
  TrackedConnection overdue, waiting, unlimited;
  overdue.client = &overdue_pair.near;
  waiting.client = &waiting_pair.near;
  unlimited.client = &unlimited_pair.near;
  overdue.wait_at_most(std::chrono::milliseconds(10));
  waiting.wait_at_most(std::chrono::hours(1));
  unlimited.wait_at_most(std::nullopt);
  std::list<TrackedConnection*> connections{&overdue, &waiting, &unlimited};

  char byte[3][1];
  boost::system::error_code results[3];
  bool done[3] = {false, false, false};
  asio::ip::tcp::socket* sockets[3] = {&overdue_pair.near, &waiting_pair.near, &unlimited_pair.near};
  for (int i = 0; i < 3; ++i)
    sockets[i]->async_read_some(asio::buffer(byte[i]), [&, i](boost::system::error_code ec, std::size_t) {
      results[i] = ec;
      done[i] = true;
    });

  gatehouse::net::sweep_overdue(connections, TrackedConnection::Clock::now() + std::chrono::seconds(1));
  while (!done[0]) ASSERT_NE(io.run_one_for(std::chrono::seconds(5)), 0u) << "the overdue read was not cancelled";
  io.poll(); // a cancelled wait completes at once: whatever else was cancelled has completed by now
  ASSERT_TRUE(done[0]);
  EXPECT_EQ(results[0], asio::error::operation_aborted);
  EXPECT_TRUE(overdue.timed_out);
  EXPECT_FALSE(done[1]);
  EXPECT_FALSE(waiting.timed_out);
  EXPECT_FALSE(done[2]);
  EXPECT_FALSE(unlimited.timed_out);

  // The waits still pending were not disturbed: data reaches them.
  asio::write(waiting_pair.far, asio::buffer("w", 1));
  asio::write(unlimited_pair.far, asio::buffer("u", 1));
  io.restart();
  while (!(done[1] && done[2])) ASSERT_NE(io.run_one_for(std::chrono::seconds(5)), 0u);
  EXPECT_FALSE(results[1]);
  EXPECT_FALSE(results[2]);

  // A new deadline clears the mark.
  overdue.wait_at_most(std::chrono::seconds(5));
  EXPECT_FALSE(overdue.timed_out);
}

TEST(DeadlineSweep, TheUpstreamSideOfAnExchangeIsCancelledToo) {
  asio::io_context io;
  SocketPair client_pair(io), upstream_pair(io);
  TrackedConnection exchange;
  exchange.client = &client_pair.near;
  exchange.upstream = &upstream_pair.near;
  exchange.wait_at_most(std::chrono::milliseconds(1));
  std::list<TrackedConnection*> connections{&exchange};
  char byte[1];
  boost::system::error_code result;
  bool done = false;
  upstream_pair.near.async_read_some(asio::buffer(byte), [&](boost::system::error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  gatehouse::net::sweep_overdue(connections, TrackedConnection::Clock::now() + std::chrono::seconds(1));
  while (!done) ASSERT_NE(io.run_one_for(std::chrono::seconds(5)), 0u) << "HA's read was not cancelled";
  EXPECT_EQ(result, asio::error::operation_aborted);
  EXPECT_TRUE(exchange.timed_out);
}

// The deadlines' clock counts from where steady_clock does (both CLOCK_MONOTONIC's start), never runs
// ahead of it, lags it by at most a clock tick, and never goes back.
TEST(DeadlineSweep, TheCoarseClockKeepsUpWithTheSteadyClock) {
  using gatehouse::net::CoarseClock;
  auto previous = CoarseClock::now();
  for (int i = 0; i < 1000; ++i) {
    const auto before = std::chrono::steady_clock::now().time_since_epoch();
    const auto coarse = CoarseClock::now();
    const auto after = std::chrono::steady_clock::now().time_since_epoch();
    EXPECT_GE(coarse, previous);
    EXPECT_LE(coarse.time_since_epoch(), after);
    EXPECT_LT(before - coarse.time_since_epoch(), std::chrono::milliseconds(50));
    previous = coarse;
  }
}

} // namespace
