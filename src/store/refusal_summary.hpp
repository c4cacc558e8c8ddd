// store/refusal_summary: owns keeping refusals from filling the audit log. Anyone can make Gatehouse
// refuse something as fast as they can send requests, so refusals are counted, per reason and per
// client (net/client_key: an IPv4 address or an IPv6 /64), and written as one audit entry per minute
// with activity, e.g. `sign_in_refusals`:
//   {"total":3000,"reasons":{"unknown_state":3000},"clients":{"203.0.113.7":3000},"other_clients":0}
// At most `clients_kept` clients are named per minute; refusals of the others are counted together in
// "other_clients". A few refusals are worth an entry of their own (a person who shows the reference on a
// refusal page to the admin): `count` says when, for at most `own_entries_per_client` refusals of one
// client and `own_entries_total` of all clients per minute; those are not counted again in the summary.
// Thread-safe: workers count, the server's minute timer flushes.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/client_key.hpp"
#include "store/store.hpp"

namespace gatehouse::store {

class RefusalSummary {
public:
  struct Limits {
    std::size_t own_entries_per_client = 0;
    std::size_t own_entries_total = 100;
    std::size_t clients_kept = 100;
  };
  RefusalSummary(std::string event, Limits limits);
  // New limits (a reload), from the next count on; what was counted stays.
  void retune(Limits limits);

  // Counts one refusal of `client`; true when it gets an audit entry of its own instead.
  bool count(std::string_view reason, const net::ClientKey& client);
  bool count(std::string_view reason, const boost::asio::ip::address& client) {
    return count(reason, net::client_key(client));
  }
  bool count(std::string_view reason, std::string_view client_address) {
    return count(reason, net::client_key(client_address));
  }

  // The entry for what was counted since the last take (nothing if nothing was); starts the next minute.
  std::optional<AuditEntry> take(std::int64_t now_unix_ms);
  // take(), written to the audit log.
  void flush(Store& store, std::int64_t now_unix_ms);

private:
  struct Client {
    std::uint64_t counted = 0;
    std::size_t own_entries = 0;
  };
  const std::string event_;
  Limits limits_; // guarded by mutex_
  std::mutex mutex_;
  std::map<std::string, std::uint64_t, std::less<>> reasons_;
  std::unordered_map<net::ClientKey, Client, net::ClientKeyHash> clients_;
  std::uint64_t other_clients_ = 0;
  std::uint64_t total_ = 0;
  std::size_t own_entries_ = 0;
};

// Writes `entry` (a refusal for `reason`) when `summary` gives it an entry of its own; otherwise only
// counts it there.
void audit_refusal(Store& store, RefusalSummary& summary, const AuditEntry& entry, std::string_view reason);

} // namespace gatehouse::store
