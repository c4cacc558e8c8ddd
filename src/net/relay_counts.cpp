#include "net/relay_counts.hpp"

namespace gatehouse::net {

namespace {
metrics::Counter relayed_bytes("gatehouse_relayed_bytes_total",
                               "Body and websocket bytes relayed between clients and Home Assistant, by direction",
                               {"direction"});
} // namespace

metrics::Gauge open_connections_gauge("gatehouse_open_connections", "Client connections open now");
metrics::LabeledGauge worker_connections_gauge("gatehouse_worker_connections",
                                               "Client connections each worker thread serves now", {"worker"});
metrics::Gauge relayed_websockets_gauge("gatehouse_relayed_websockets", "Websockets relayed to Home Assistant now");

std::atomic<std::uint64_t>& relayed_toward(bool to_home_assistant) {
  static auto& to_ha = relayed_bytes.series({"to_home_assistant"});
  static auto& to_client = relayed_bytes.series({"to_client"});
  return to_home_assistant ? to_ha : to_client;
}

} // namespace gatehouse::net
