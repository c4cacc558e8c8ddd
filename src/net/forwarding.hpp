// net/forwarding: owns who the client is and what HA is told about it. The client address is the TCP
// peer, unless the peer is one of Gatehouse's own trusted proxies; then X-Forwarded-For is walked from
// the right, skipping trusted entries, exactly as HA does (contract §3.2). HA always gets exactly one
// clean X-Forwarded-For / -Proto / -Host, never the client's own copies. Hop-by-hop headers are dropped.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/ip_network.hpp"

namespace gatehouse::net {

struct ForwardedClient {
  boost::asio::ip::address address; // what HA sees as the client (request.remote after XFF)
  std::string proto;                // "http" or "https"
  std::string host;                 // Host the client asked for ("" if none)
  std::string address_text;         // `address` as text, formatted once (X-Forwarded-For, logs, budgets)
  // Forwarding headers came from a peer not in trusted_proxies and were ignored: the peer may be a proxy
  // or tunnel on this host Gatehouse was not told of, so its address says nothing about the client.
  bool forwarding_ignored = false;
};

// Whether `peer` is in any of `networks` (trusted proxies, local-login networks, a trusted device's).
bool is_trusted(const boost::asio::ip::address& peer, const std::vector<IpNetwork>& networks);

// nullopt when a trusted proxy sent forwarding headers that cannot be read unambiguously (several
// X-Forwarded-Proto values, a non-IP X-Forwarded-For entry...): refused, never guessed.
std::optional<ForwardedClient> resolve_client(const boost::beast::http::fields& headers,
                                              const boost::asio::ip::address& peer, bool tls_listener,
                                              const std::vector<IpNetwork>& trusted_proxies);

// Whether a header is hop-by-hop by its name alone (RFC 9110 §7.6.1, plus the legacy ones proxies
// still see): Connection, Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE,
// Trailer, Upgrade.
bool is_hop_by_hop(boost::beast::http::field name);

// The header names a message's Connection values make hop-by-hop: every token but the connection
// options (close, keep-alive) and the headers that frame the message. Names compare in any case.
class ConnectionNamed {
public:
  void add(std::string_view connection_value);
  bool empty() const { return names_.empty(); }
  bool contains(std::string_view header_name) const;

private:
  std::vector<std::string> names_;
};

// Every cookie whose name starts with this is Gatehouse's own: taken out of each request before HA sees
// it (take_cookies), and never set by an answer of HA's (an add-on's page behind ingress shares
// Gatehouse's origin, and could otherwise plant a sign-in cookie of its choosing).
constexpr std::string_view kOwnCookiePrefix = "gatehouse_";

// Whether an answer's header sets one of Gatehouse's own cookies (the name compared in any case).
bool sets_own_cookie(boost::beast::http::field name, std::string_view value);

// Removes hop-by-hop headers (and every header the Connection header names) except message framing,
// and any Set-Cookie of Gatehouse's own cookies.
void remove_hop_by_hop(boost::beast::http::fields& headers);

// Takes every cookie whose name starts with `prefix` out of the Cookie header(s), keeping the others
// as they were; returns the taken ones as (name, value).
std::vector<std::pair<std::string, std::string>> take_cookies(boost::beast::http::fields& headers,
                                                              std::string_view prefix);

// Request to HA: hop-by-hop removed, client-supplied forwarding headers removed, ours set.
void prepare_upstream_request(boost::beast::http::fields& headers, const ForwardedClient& client);

// The head of a request relayed to HA, as the bytes HA gets: the request line with `target` and
// HTTP/1.1 (Gatehouse keeps its connection to HA alive whatever the client's); the client's fields in
// their order, less what prepare_upstream_request takes out and Expect (Gatehouse answers a client's
// 100-continue itself); then X-Forwarded-For, -Proto and -Host, and `host_when_none` as Host when the
// client sent none. Written from the parsed head, which stays as the client sent it.
std::string upstream_request_head(const boost::beast::http::request_header<>& request, std::string_view target,
                                  const ForwardedClient& client, std::string_view host_when_none);

} // namespace gatehouse::net
