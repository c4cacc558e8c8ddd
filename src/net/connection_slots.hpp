// net/connection_slots: owns how many client connections one client may hold at once (net/client_key:
// an IPv4 address or an IPv6 /64), so that one client holding half-sent requests cannot take every
// connection slot of `limits.max_connections` from everyone else. The accept loop takes a slot for each
// connection and refuses the connection (503) when the peer has none left; the slot goes back when the
// connection ends. Peers in `trusted_proxies` are not counted here: many clients reach Gatehouse through
// one such proxy, so they meet the global limit only. Thread-safe (every worker's acceptor uses it).
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "net/client_key.hpp"

namespace gatehouse::net {

class ConnectionSlots {
public:
  // A connection's place; an empty Slot holds nothing. Gives the place back when destroyed.
  class Slot {
  public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_), client_(other.client_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

  private:
    friend class ConnectionSlots;
    Slot(ConnectionSlots* owner, const ClientKey& client) : owner_(owner), client_(client) {}
    void release();
    ConnectionSlots* owner_ = nullptr;
    ClientKey client_;
  };

  // A slot for one more connection of `client`, or false when it already holds `per_client` (the
  // running limit: a lowered one refuses new connections only, it never closes any).
  bool take(const ClientKey& client, std::size_t per_client, Slot& slot);
  // Connections `client` holds now.
  std::size_t held_by(const ClientKey& client) const;

private:
  mutable std::mutex mutex_;
  std::unordered_map<ClientKey, std::size_t, ClientKeyHash> held_;
};

} // namespace gatehouse::net
