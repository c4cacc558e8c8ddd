// net/relay_counts: owns the numbers about what net/ carries, for /metrics: bytes relayed each way
// (HTTP bodies and websocket frames), open client connections (in all, and per worker) and relayed
// websockets. Declared once here because the HTTP relay, the websocket relay and the accept loop all
// add to them.
#pragma once

#include <atomic>
#include <cstdint>

#include "metrics/metrics.hpp"

namespace gatehouse::net {

// The count of bytes relayed toward HA (true) or toward clients (false).
std::atomic<std::uint64_t>& relayed_toward(bool to_home_assistant);

extern metrics::Gauge open_connections_gauge;
extern metrics::Gauge relayed_websockets_gauge;
extern metrics::LabeledGauge worker_connections_gauge; // by worker: net/server balances new connections by it

} // namespace gatehouse::net
