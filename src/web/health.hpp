// web/health: owns /healthz. Gatehouse is up if it answers; HA is reachable if a plain, unauthenticated
// GET /manifest.json gets any HTTP answer (never an authenticated call: HA would count a failed login,
// contract §1.12). The answer is cached for a second so /healthz cannot be used to flood HA. One probe
// serves every worker thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <mutex>

#include "net/upstream.hpp"

namespace gatehouse::web {

class HealthProbe {
public:
  explicit HealthProbe(net::UpstreamTarget target) : target_(std::move(target)) {}
  boost::asio::awaitable<bool> home_assistant_reachable();

private:
  net::UpstreamTarget target_;
  std::mutex mutex_; // guards the two below
  std::chrono::steady_clock::time_point checked_at_{};
  bool last_result_ = false;
};

} // namespace gatehouse::web
