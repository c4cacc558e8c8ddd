// shield/check_budget: a token bucket per client (GCRA) and a cap on checks in flight.
#include "shield/check_budget.hpp"

#include <algorithm>

namespace gatehouse::shield {

namespace {
// When the table of clients is full, the sweep for forgettable buckets runs at most this often, so a
// stream of new clients does not turn every check into a walk over the whole table.
constexpr std::chrono::seconds kForgetInterval{1};

CheckBudget::Clock::duration interval_of(std::uint32_t per_minute) {
  return std::chrono::duration_cast<CheckBudget::Clock::duration>(std::chrono::minutes(1)) / std::max(per_minute, 1u);
}
CheckBudget::Clock::duration window_of(CheckBudget::Clock::duration interval, std::uint32_t burst) {
  // A burst too large to count in nanoseconds is as good as unlimited: a century.
  constexpr auto kLongest = std::chrono::duration_cast<CheckBudget::Clock::duration>(std::chrono::hours(24 * 365 * 100));
  if (interval.count() > 0 && burst > kLongest / interval) return kLongest;
  return interval * burst;
}
} // namespace

CheckBudget::CheckBudget(Limits limits)
    : limits_(limits), interval_(interval_of(limits.per_minute)), window_(window_of(interval_, limits.burst)) {}

void CheckBudget::retune(Limits limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  interval_ = interval_of(limits.per_minute);
  window_ = window_of(interval_, limits.burst);
}

CheckBudget::Ticket& CheckBudget::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = other.budget_;
    verdict_ = other.verdict_;
    other.budget_ = nullptr;
  }
  return *this;
}

void CheckBudget::Ticket::release() {
  if (!budget_) return;
  std::lock_guard lock(budget_->mutex_);
  --budget_->in_flight_;
  budget_ = nullptr;
}

bool CheckBudget::take_from(Bucket& bucket, Clock::time_point now) const {
  const auto full_again = std::max(bucket.full_again, now) + interval_;
  if (full_again - now > window_) return false;
  bucket.full_again = full_again;
  return true;
}

CheckBudget::Bucket* CheckBudget::bucket_for(const net::ClientKey& client, Clock::time_point now) {
  if (auto found = buckets_.find(client); found != buckets_.end()) return &found->second;
  if (buckets_.size() >= limits_.clients_kept && now - last_forget_ >= kForgetInterval) {
    last_forget_ = now;
    std::erase_if(buckets_, [&](const auto& item) { return item.second.full_again <= now; });
  }
  if (buckets_.size() < limits_.clients_kept) return &buckets_.emplace(client, Bucket{now}).first->second;
  return &shared_overflow_;
}

CheckBudget::Ticket CheckBudget::spend(const net::ClientKey& client, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (in_flight_ >= limits_.concurrent) return Ticket(nullptr, Verdict::too_many_at_once);
  if (!take_from(*bucket_for(client, now), now)) return Ticket(nullptr, Verdict::client_over_budget);
  ++in_flight_;
  return Ticket(this, Verdict::granted);
}

std::uint32_t CheckBudget::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

} // namespace gatehouse::shield
