// net/connection_slots: connection counts per client.
#include "net/connection_slots.hpp"

namespace gatehouse::net {

ConnectionSlots::Slot& ConnectionSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = other.owner_;
    client_ = other.client_;
    other.owner_ = nullptr;
  }
  return *this;
}

void ConnectionSlots::Slot::release() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mutex_);
  // Clients without connections are forgotten, so the table only ever holds clients connected now.
  if (auto found = owner_->held_.find(client_); found != owner_->held_.end() && --found->second == 0)
    owner_->held_.erase(found);
  owner_ = nullptr;
}

bool ConnectionSlots::take(const ClientKey& client, std::size_t per_client, Slot& slot) {
  {
    std::lock_guard lock(mutex_);
    auto& held = held_[client];
    if (held >= per_client) {
      if (held == 0) held_.erase(client);
      return false;
    }
    ++held;
  }
  slot = Slot(this, client);
  return true;
}

std::size_t ConnectionSlots::held_by(const ClientKey& client) const {
  std::lock_guard lock(mutex_);
  const auto found = held_.find(client);
  return found == held_.end() ? 0 : found->second;
}

} // namespace gatehouse::net
