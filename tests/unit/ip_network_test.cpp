// Tests for net/ip_network: CIDR parsing (strict, since these networks decide whom Gatehouse believes),
// matching of IPv4, IPv6 and IPv4-mapped IPv6 peers, and unmap.
#include "net/ip_network.hpp"

#include <gtest/gtest.h>

namespace gatehouse::net {
namespace {

boost::asio::ip::address ip(const char* text) { return boost::asio::ip::make_address(text); }

IpNetwork network(const char* text) {
  auto parsed = IpNetwork::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(*IpNetwork::parse("0.0.0.0/32"));
}

TEST(IpNetworkParse, AcceptsIpv4NetworksAndAddresses) {
  EXPECT_EQ(network("10.0.0.0/8").to_string(), "10.0.0.0/8");
  EXPECT_EQ(network("192.168.1.0/24").to_string(), "192.168.1.0/24");
  EXPECT_EQ(network("127.0.0.1").to_string(), "127.0.0.1/32");
  EXPECT_EQ(network("127.0.0.1/32").to_string(), "127.0.0.1/32");
  EXPECT_EQ(network("0.0.0.0/0").to_string(), "0.0.0.0/0");
}

TEST(IpNetworkParse, AcceptsIpv6NetworksAndAddresses) {
  EXPECT_EQ(network("::1").to_string(), "::1/128");
  EXPECT_EQ(network("fd00::/8").to_string(), "fd00::/8");
  EXPECT_EQ(network("2001:db8::/32").to_string(), "2001:db8::/32");
  EXPECT_EQ(network("::/0").to_string(), "::/0");
  EXPECT_EQ(network("2001:DB8::1/128").to_string(), "2001:db8::1/128");
}

TEST(IpNetworkParse, StoresIpv4MappedNetworksAsIpv4) {
  EXPECT_EQ(network("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
  EXPECT_EQ(network("::ffff:192.168.1.50").to_string(), "192.168.1.50/32");
}

TEST(IpNetworkParse, RejectsHostBitsBeyondPrefix) {
  EXPECT_FALSE(IpNetwork::parse("10.0.0.1/8"));
  EXPECT_FALSE(IpNetwork::parse("192.168.1.1/24"));
  EXPECT_FALSE(IpNetwork::parse("fd00::1/8"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.1/0"));
}

TEST(IpNetworkParse, RejectsPrefixesOutOfRangeOrMalformed) {
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/33"));
  EXPECT_FALSE(IpNetwork::parse("::/129"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/-1"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/+8"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/08"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/8/8"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/8a"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/99999999999"));
}

TEST(IpNetworkParse, RejectsJunkAndWhitespace) {
  EXPECT_FALSE(IpNetwork::parse(""));
  EXPECT_FALSE(IpNetwork::parse("/8"));
  EXPECT_FALSE(IpNetwork::parse("localhost"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.256"));
  EXPECT_FALSE(IpNetwork::parse("010.0.0.1"));
  EXPECT_FALSE(IpNetwork::parse(" 10.0.0.0/8"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/8 "));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0 /8"));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/ 8"));
  EXPECT_FALSE(IpNetwork::parse("[::1]"));
  EXPECT_FALSE(IpNetwork::parse("fe80::1%eth0"));
  EXPECT_FALSE(IpNetwork::parse(std::string_view("10.0.0.1\0", 9)));
}

TEST(IpNetworkContains, MatchesIpv4ByPrefix) {
  const auto ten = network("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(ip("10.0.0.0")));
  EXPECT_TRUE(ten.contains(ip("10.255.255.255")));
  EXPECT_FALSE(ten.contains(ip("11.0.0.0")));
  EXPECT_FALSE(ten.contains(ip("9.255.255.255")));

  const auto odd_prefix = network("192.168.1.64/27");
  EXPECT_TRUE(odd_prefix.contains(ip("192.168.1.64")));
  EXPECT_TRUE(odd_prefix.contains(ip("192.168.1.95")));
  EXPECT_FALSE(odd_prefix.contains(ip("192.168.1.96")));
  EXPECT_FALSE(odd_prefix.contains(ip("192.168.1.63")));
}

TEST(IpNetworkContains, SingleAddressMatchesOnlyItself) {
  const auto host = network("127.0.0.1");
  EXPECT_TRUE(host.contains(ip("127.0.0.1")));
  EXPECT_FALSE(host.contains(ip("127.0.0.2")));
  const auto host6 = network("::1");
  EXPECT_TRUE(host6.contains(ip("::1")));
  EXPECT_FALSE(host6.contains(ip("::2")));
}

TEST(IpNetworkContains, MatchesIpv6ByPrefix) {
  const auto unique_local = network("fd00::/8");
  EXPECT_TRUE(unique_local.contains(ip("fd12:3456::1")));
  EXPECT_FALSE(unique_local.contains(ip("fe80::1")));
  const auto documentation = network("2001:db8::/33");
  EXPECT_TRUE(documentation.contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(documentation.contains(ip("2001:db8:8000::1")));
}

TEST(IpNetworkContains, Ipv4MappedPeerMatchesIpv4Network) {
  // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
  EXPECT_TRUE(network("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(network("10.0.0.0/8").contains(ip("::ffff:11.1.2.3")));
  EXPECT_TRUE(network("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
  EXPECT_TRUE(network("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
}

TEST(IpNetworkContains, FamiliesDoNotMix) {
  EXPECT_FALSE(network("0.0.0.0/0").contains(ip("::1")));
  EXPECT_FALSE(network("::/0").contains(ip("10.0.0.1")));
  EXPECT_FALSE(network("::/0").contains(ip("::ffff:10.0.0.1")));
  EXPECT_TRUE(network("0.0.0.0/0").contains(ip("::ffff:10.0.0.1")));
  EXPECT_TRUE(network("::/0").contains(ip("2001:db8::1")));
}

TEST(IpNetworkUnmap, TurnsMappedIntoIpv4AndLeavesOthers) {
  EXPECT_EQ(unmap(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
  EXPECT_TRUE(unmap(ip("::ffff:192.0.2.1")).is_v4());
  EXPECT_EQ(unmap(ip("192.0.2.1")), ip("192.0.2.1"));
  EXPECT_EQ(unmap(ip("2001:db8::1")), ip("2001:db8::1"));
  EXPECT_EQ(unmap(ip("::1")), ip("::1"));
}

} // namespace
} // namespace gatehouse::net
