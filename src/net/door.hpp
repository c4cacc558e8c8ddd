// net/door: the one seam between carrying bytes (net/) and deciding about them (front_door/ and what
// it calls). net/ reads a request head within its limits and hands it to the Door; the Door reads every
// fact about it once and returns one Decision; net/ carries that decision out and never looks at the
// request for policy again. net/ knows nothing of sign-in, the shield or HA's users: only this file.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "net/forwarding.hpp"
#include "web/refusal.hpp"

namespace gatehouse::net {

// Whose a relayed websocket is, when Gatehouse did the auth step: the HA user and the session (the
// refresh token id) of the access token it was opened with.
struct SocketOwner {
  std::string ha_user_id;
  std::string session_id;
};

// Gatehouse's own auth step on a websocket (contract §4.2), as the relay needs it: the relay speaks
// the protocol (handshake, frames, HA's socket), the gate decides. One gate per websocket.
class WebsocketGate {
public:
  virtual ~WebsocketGate() = default;

  // HA's version for the auth_required message sent in HA's place; "" when HA cannot be reached.
  virtual boost::asio::awaitable<std::string> ha_version() = 0;

  struct Verdict {
    enum class Outcome {
      open,        // open HA's socket and pass the client's auth message on
      malformed,   // not an auth message: "Auth message incorrectly formatted", as HA says it
      refused,     // "Invalid access token or password", as HA says it; HA was not asked to open a socket
      unavailable, // HA cannot be asked: the client's socket closes with 1013
    } outcome = Outcome::refused;
    SocketOwner owner; // whose socket it is, when open (relays are registered under it)
  };
  // The client's first message, the text of one whole text frame.
  virtual boost::asio::awaitable<Verdict> check(std::string_view auth_message) = 0;

  // What HA then said: its auth_required (with its version), and auth_invalid for a token the gate
  // took for valid (the session was revoked meanwhile).
  virtual void heard_ha_version(std::string version) = 0;
  virtual void ha_refused_token() = 0;
  // Asked once the relay is registered under its owner (a cut-off or session end from then on closes
  // it): whether it is still allowed, or its owner was cut off (or its session ended) while HA's socket
  // was being opened, which no close could reach yet.
  virtual bool still_allowed() = 0;
};

struct Decision {
  enum class Kind {
    answer,    // Gatehouse answers: `response` at once, or `respond` with the body read within body_limit
    forward,   // relay to HA: the head as it now is (Gatehouse's cookies are out), `target` if set
    websocket, // relay a websocket: through `gate` (Gatehouse's auth step), or as HA answers (no gate)
    refuse,    // `refusal`, closing the connection unless `keep_alive_allowed`
  } kind = Kind::refuse;
  const char* route = "gatehouse"; // for the request's log line
  bool wants_html = false;         // a browser navigation: refusals Gatehouse makes are pages

  // answer
  std::optional<web::Response> response;
  std::size_t body_limit = 0; // the body `respond` takes (read whole; larger gets 413)
  std::function<boost::asio::awaitable<web::Response>(const boost::beast::http::request_header<>& head, std::string body)>
      respond;

  // forward and websocket
  ForwardedClient client;
  std::optional<std::string> target; // what HA is asked for instead of the client's target
  std::unique_ptr<WebsocketGate> gate;

  // refuse
  web::RefusalKind refusal = web::RefusalKind::bad_request;
  bool keep_alive_allowed = false;
};

// What the door may ask of the websockets net/ relays: close all of one person's (a cut-off), or those
// of some of their sessions (a logout). Only sockets where Gatehouse did the auth step are known by owner.
class RelayedSockets {
public:
  virtual ~RelayedSockets() = default;
  // Closes the person's sockets of `session_ids` (empty: all of them) on every worker with `reason`;
  // completes with how many were closed.
  virtual boost::asio::awaitable<std::size_t> close(std::string ha_user_id, std::vector<std::string> session_ids,
                                                    boost::beast::websocket::close_reason reason) = 0;
  // Whose each open relayed websocket is, one entry per socket Gatehouse did the auth step for.
  virtual boost::asio::awaitable<std::vector<SocketOwner>> owners() = 0;
};

class Door {
public:
  virtual ~Door() = default;

  // One request head, read whole and within limits. The Door may change it (it takes Gatehouse's own
  // cookies out). `peer` is the TCP peer; `tls` whether it came in on the TLS listener; `config` the
  // configuration the head was read under, which the whole decision uses too.
  virtual boost::asio::awaitable<Decision> decide(boost::beast::http::request_header<>& head,
                                                  const boost::asio::ip::address& peer, bool tls,
                                                  std::shared_ptr<const config::Config> config) = 0;
  // A head refused before it could be parsed (obs-fold): counted like any ambiguous request.
  virtual void refused_unreadable(const boost::asio::ip::address& peer) = 0;

  // At start, on the first worker; every minute on the housekeeping timer, and once at exit.
  virtual boost::asio::awaitable<void> on_start() { co_return; }
  // For as long as the server runs, on the first worker: what the door watches for (cut-offs), with the
  // relayed websockets it may close.
  virtual boost::asio::awaitable<void> watch(RelayedSockets&) { co_return; }
  virtual void housekeeping() {}
};

} // namespace gatehouse::net
