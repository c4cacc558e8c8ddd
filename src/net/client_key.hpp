// net/client_key: owns who counts as one client for the per-client limits (connections per address,
// pending logins, token checks, refusal counts): an IPv4 address, or an IPv6 /64. A home network or one
// host with privacy addresses gets a whole /64, and so does anyone who wants many addresses, so counting
// IPv6 per address would let one client look like millions.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace gatehouse::net {

struct ClientKey {
  // IPv4 as an IPv4-mapped IPv6 address; IPv6 with its last 64 bits zeroed.
  std::array<unsigned char, 16> bytes{};
  bool operator==(const ClientKey&) const = default;
  // "192.0.2.7" or "2001:db8:1:2::/64": how limits and the audit log name the client.
  std::string to_string() const;
};

ClientKey client_key(const boost::asio::ip::address& address);
// From an address as text; text that is not an address is one client of its own ("" stands for them all).
ClientKey client_key(std::string_view address);

// Who counts as one network for the limits one client could otherwise multiply (pending logins): an IPv6
// /48, the allocation a home or a company commonly gets (256 /64s at least); an IPv4 address stands
// for itself. "2001:db8:1::/48" or "192.0.2.7".
std::string network_key(std::string_view address);

struct ClientKeyHash {
  std::size_t operator()(const ClientKey& key) const noexcept;
};

} // namespace gatehouse::net
