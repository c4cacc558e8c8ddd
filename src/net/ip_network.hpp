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

} // namespace gatehouse::net
