// net/coarse_clock: the clock of net/'s deadlines and idle times. They are seconds long and checked by a
// sweep every 100 ms, so the kernel's tick-resolution monotonic clock (a few ms) is exact enough, and
// reading it costs a memory load where steady_clock reads the TSC. A request reads the time several
// times (each wait it arms, the upstream pool), so on the hot path that difference shows.
#pragma once

#include <chrono>
#include <ctime>

namespace gatehouse::net {

struct CoarseClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoarseClock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
};

} // namespace gatehouse::net
