// store/refusal_summary: counts per reason and client, one audit entry per minute.
#include "store/refusal_summary.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::store {

RefusalSummary::RefusalSummary(std::string event, Limits limits) : event_(std::move(event)), limits_(limits) {}

void RefusalSummary::retune(Limits limits) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
}

bool RefusalSummary::count(std::string_view reason, const net::ClientKey& client) {
  std::lock_guard lock(mutex_);
  auto found = clients_.find(client);
  if (found == clients_.end() && clients_.size() < limits_.clients_kept) found = clients_.emplace(client, Client{}).first;
  if (found != clients_.end() && found->second.own_entries < limits_.own_entries_per_client &&
      own_entries_ < limits_.own_entries_total) {
    ++found->second.own_entries;
    ++own_entries_;
    return true;
  }
  if (found != clients_.end()) ++found->second.counted;
  else ++other_clients_;
  ++total_;
  auto reason_count = reasons_.find(reason);
  if (reason_count == reasons_.end()) reason_count = reasons_.emplace(std::string(reason), 0).first;
  ++reason_count->second;
  return false;
}

std::optional<AuditEntry> RefusalSummary::take(std::int64_t now_unix_ms) {
  boost::json::object detail;
  {
    std::lock_guard lock(mutex_);
    const bool counted = total_ > 0;
    if (counted) {
      boost::json::object reasons, clients;
      for (const auto& [reason, n] : reasons_) reasons[reason] = n;
      for (const auto& [client, tally] : clients_)
        if (tally.counted > 0) clients[client.to_string()] = tally.counted;
      detail = {{"total", total_}, {"reasons", std::move(reasons)}, {"clients", std::move(clients)},
                {"other_clients", other_clients_}};
    }
    reasons_.clear();
    clients_.clear();
    other_clients_ = 0;
    total_ = 0;
    own_entries_ = 0;
    if (!counted) return std::nullopt;
  }
  return AuditEntry{0, now_unix_ms, event_, "", "", boost::json::serialize(detail)};
}

void RefusalSummary::flush(Store& store, std::int64_t now_unix_ms) {
  if (auto entry = take(now_unix_ms)) store.append_audit(*entry);
}

void audit_refusal(Store& store, RefusalSummary& summary, const AuditEntry& entry, std::string_view reason) {
  if (summary.count(reason, std::string_view(entry.client_address))) store.append_audit(entry);
}

} // namespace gatehouse::store
