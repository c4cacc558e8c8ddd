// shield/check_budget: owns how much of Home Assistant's time clients may spend on token checks. A token
// Gatehouse has not seen before costs HA one websocket auth (hass/token_probe), so a client inventing
// well-formed tokens could make HA do that as fast as it can send them. Each client (net/client_key: an
// IPv4 address or an IPv6 /64) has a bucket of `burst` checks that refills at `per_minute`, and at most
// `concurrent` checks run at once for all clients together. A check over either limit is not made: the
// caller refuses that request (429) without asking HA. Tokens already known never come here.
// Thread-safe; time is passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "net/client_key.hpp"

namespace gatehouse::shield {

class CheckBudget {
public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::uint32_t per_minute = 30;
    std::uint32_t burst = 30;
    std::uint32_t concurrent = 32;
    // Clients remembered at once. Beyond that (after forgetting those whose bucket is full again,
    // which is the same as never having seen them), the newcomers share one bucket.
    std::size_t clients_kept = 10'000;
  };

  enum class Verdict { granted, client_over_budget, too_many_at_once };

  // A granted check holds one of the `concurrent` places until it is destroyed.
  class Ticket {
  public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : budget_(other.budget_), verdict_(other.verdict_) { other.budget_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }
    Verdict verdict() const { return verdict_; }
    explicit operator bool() const { return verdict_ == Verdict::granted; }

  private:
    friend class CheckBudget;
    Ticket(CheckBudget* budget, Verdict verdict) : budget_(budget), verdict_(verdict) {}
    void release();
    CheckBudget* budget_ = nullptr;
    Verdict verdict_ = Verdict::client_over_budget;
  };

  explicit CheckBudget(Limits limits);
  // New limits (a reload), from the next check on; each client's bucket and the checks in flight stay.
  void retune(Limits limits);

  // One check with HA for `client` at `now`, if the budget allows it.
  Ticket spend(const net::ClientKey& client, Clock::time_point now);

  std::uint32_t in_flight() const;

private:
  // A token bucket kept as the time at which it would be full again (GCRA): each check moves that time
  // one interval (a minute / per_minute) on; a check is allowed while it stays within `burst` intervals
  // of now. Whole nanoseconds, so a check is allowed exactly when its interval has passed.
  struct Bucket {
    Clock::time_point full_again;
  };
  bool take_from(Bucket& bucket, Clock::time_point now) const;
  Bucket* bucket_for(const net::ClientKey& client, Clock::time_point now);

  // Guarded by mutex_ (a reload may retune them).
  Limits limits_;
  Clock::duration interval_; // refill time of one check
  Clock::duration window_;   // burst x interval_
  mutable std::mutex mutex_;
  std::unordered_map<net::ClientKey, Bucket, net::ClientKeyHash> buckets_;
  Bucket shared_overflow_{};
  Clock::time_point last_forget_{};
  std::uint32_t in_flight_ = 0;
};

} // namespace gatehouse::shield
