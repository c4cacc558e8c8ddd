// net/ip_network: owns parsing and matching of IP networks (CIDR) and single addresses, IPv4 and IPv6,
// with IPv4-mapped IPv6 addresses treated as the IPv4 address they carry.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::net {

class IpNetwork {
public:
  // "10.0.0.0/8", "127.0.0.1" (= /32), "::1", "fd00::/8". nullopt on anything else, including host bits
  // set beyond the prefix ("10.0.0.1/8"), which usually means a typo.
  static std::optional<IpNetwork> parse(std::string_view text);
  bool contains(const boost::asio::ip::address& address) const;
  std::string to_string() const;
  unsigned prefix_length() const { return prefix_; }

private:
  boost::asio::ip::address base_;
  unsigned prefix_ = 0;
};

// IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes plain IPv4; other addresses are returned unchanged.
boost::asio::ip::address unmap(const boost::asio::ip::address& address);

// Whether `address` is on the public internet: not loopback, private (RFC 1918, fc00::/7), shared
// (100.64.0.0/10), link-local, unspecified, multicast, documentation, benchmarking or reserved space,
// IPv4-mapped or NAT64 forms of those included. For requests a stranger can make Gatehouse send.
bool is_public(const boost::asio::ip::address& address);

} // namespace gatehouse::net
