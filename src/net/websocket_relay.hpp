// net/websocket_relay: owns a relayed websocket. The upgrade goes to HA first, so HA's answer decides
// what the client gets (HA's 101 with its own extensions and subprotocol choice, or HA's refusal as
// HA sent it). After the 101 the relay copies bytes, one read in flight per direction (the slower side
// sets the pace), while a FrameScanner per direction follows frame boundaries: that is what lets
// Gatehouse cap client messages (1009), tell the client HA vanished (1012) or Gatehouse is stopping
// (1001), always between frames. HA unreachable gives the client a websocket closed with 1013.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <functional>
#include <memory>

#include "net/door.hpp"
#include "net/forwarding.hpp"
#include "net/worker.hpp"

namespace gatehouse::net {

// Relays one websocket on a coroutine of its own, so that the connection's coroutine (and everything
// it held for reading HTTP) ends now. `client_buffer` holds whatever the client sent after its upgrade
// request (relayed first). With a `gate`, Gatehouse does the auth step itself (route class `websocket`,
// enforce mode): it answers the handshake and HA's auth step (auth_required with HA's version, the
// client's auth message handed to the gate), and only when the gate says open does it open HA's socket,
// pass the client's own auth message on, hand HA's answer back and relay; a bad token never causes a
// websocket to HA. Without one, the upgrade goes to HA as it is. `claim` (the connection's place in the
// limits) is held until the websocket closes; `config` is the configuration the upgrade was decided
// under (its limits and timeouts); `handshake_done` hears the status the client's handshake got (for
// the request's log line).
template <class Stream>
void start_websocket_relay(Stream client_stream, boost::beast::flat_buffer client_buffer,
                           boost::beast::http::request<boost::beast::http::buffer_body> request,
                           const ForwardedClient& client, Worker& worker, std::unique_ptr<WebsocketGate> gate,
                           ConnectionClaim claim, std::shared_ptr<const config::Config> config,
                           std::function<void(unsigned)> handshake_done);

} // namespace gatehouse::net
