// net/session: owns one client connection from accept to close (plain TCP or TLS, one template). The
// request path reads top to bottom in `handle_request`: read the head within limits → the door's one
// decision (net/door) → answer here, relay to HA, relay a websocket, or refuse (web/refusal renders it).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>

#include "net/worker.hpp"

namespace gatehouse::net {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// Serves requests on `stream` until the client leaves, an error, or shutdown; a websocket goes on in a
// relay of its own (net/websocket_relay), with `claim`.
template <class Stream>
boost::asio::awaitable<void> serve_connection(Stream stream, Worker& worker, boost::asio::ip::tcp::endpoint peer,
                                              ConnectionClaim claim);

// Answers a connection over the limit with 503 and closes it.
boost::asio::awaitable<void> refuse_connection(boost::asio::ip::tcp::socket socket);

} // namespace gatehouse::net
