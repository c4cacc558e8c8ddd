// net/websocket_relay: owns a relayed websocket: the upstream leg to HA is opened first (so a refusal
// from HA reaches the client as HA sent it), then the client's handshake is completed, then frames are
// pumped in both directions, one read in flight per direction (the slower side sets the pace). Close
// codes and reasons pass through; HA vanishing gives the client 1012; HA unreachable gives 1013.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>

#include "net/forwarding.hpp"
#include "net/worker.hpp"

namespace gatehouse::net {

struct RelayOutcome {
  unsigned status = 101; // what the client's handshake got (101, or HA's refusal status)
};

template <class Stream>
boost::asio::awaitable<RelayOutcome>
relay_websocket(Stream client_stream, boost::beast::http::request<boost::beast::http::buffer_body> request,
                const ForwardedClient& client, Worker& worker);

} // namespace gatehouse::net
