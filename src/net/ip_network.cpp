// net/ip_network: owns parsing and matching of IP networks (CIDR) and single addresses. Parsing is strict
// on purpose: these networks decide whom Gatehouse believes (X-Forwarded-For, trusted devices), so a typo
// must be refused at start rather than silently widen or narrow who is trusted.
#include "net/ip_network.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <span>
#include <vector>

#include <boost/system/error_code.hpp>

namespace gatehouse::net {
namespace {

constexpr unsigned kIpv4Bits = 32;
constexpr unsigned kIpv6Bits = 128;
// ::ffff:0:0/96 holds the IPv4-mapped addresses; a mapped network with a longer prefix is an IPv4 network.
constexpr unsigned kMappedPrefixBits = 96;

unsigned address_bits(const boost::asio::ip::address& address) {
  return address.is_v4() ? kIpv4Bits : kIpv6Bits;
}

// Network byte order, 4 or 16 bytes, so IPv4 and IPv6 share one prefix comparison.
struct AddressBytes {
  std::array<unsigned char, 16> storage{};
  std::size_t size = 0;
  std::span<unsigned char> bytes() { return {storage.data(), size}; }
  std::span<const unsigned char> bytes() const { return {storage.data(), size}; }
};

AddressBytes bytes_of(const boost::asio::ip::address& address) {
  AddressBytes result;
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), result.storage.begin());
    result.size = v4.size();
  } else {
    const auto v6 = address.to_v6().to_bytes();
    std::copy(v6.begin(), v6.end(), result.storage.begin());
    result.size = v6.size();
  }
  return result;
}

bool same_prefix(std::span<const unsigned char> a, std::span<const unsigned char> b, unsigned prefix) {
  const std::size_t whole_bytes = prefix / 8;
  if (!std::equal(a.begin(), a.begin() + whole_bytes, b.begin())) return false;
  const unsigned remaining_bits = prefix % 8;
  if (remaining_bits == 0) return true;
  const auto mask = static_cast<unsigned char>(0xFFu << (8 - remaining_bits));
  return (a[whole_bytes] & mask) == (b[whole_bytes] & mask);
}

bool has_bits_beyond_prefix(std::span<const unsigned char> bytes, unsigned prefix) {
  for (std::size_t bit = prefix; bit < bytes.size() * 8; ++bit) {
    if (bytes[bit / 8] & (0x80u >> (bit % 8))) return true;
  }
  return false;
}

// Only plain decimal digits: "/8", "/128". Signs, spaces and leading zeros ("/08") are refused as typos.
std::optional<unsigned> parse_prefix(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<boost::asio::ip::address> parse_address(std::string_view text) {
  // Zone ids ("fe80::1%eth0") name an interface, which a network cannot match on.
  // make_address reads a C string, so an embedded NUL would silently cut the text short.
  if (text.empty() || text.find_first_of(std::string_view("%\0", 2)) != std::string_view::npos) return std::nullopt;
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(std::string(text), error);
  if (error) return std::nullopt;
  return address;
}

} // namespace

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address_text = text.substr(0, slash);
  auto address = parse_address(address_text);
  if (!address) return std::nullopt;

  unsigned prefix = address_bits(*address);
  if (slash != std::string_view::npos) {
    const auto parsed_prefix = parse_prefix(text.substr(slash + 1));
    if (!parsed_prefix || *parsed_prefix > address_bits(*address)) return std::nullopt;
    prefix = *parsed_prefix;
  }

  if (has_bits_beyond_prefix(bytes_of(*address).bytes(), prefix)) return std::nullopt;

  // "::ffff:10.0.0.0/104" is 10.0.0.0/8 written the IPv6 way; store it as IPv4 so it matches IPv4 peers.
  if (address->is_v6() && address->to_v6().is_v4_mapped() && prefix >= kMappedPrefixBits) {
    address = unmap(*address);
    prefix -= kMappedPrefixBits;
  }

  IpNetwork network;
  network.base_ = *address;
  network.prefix_ = prefix;
  return network;
}

bool IpNetwork::contains(const boost::asio::ip::address& address) const {
  const auto candidate = unmap(address);
  if (candidate.is_v4() != base_.is_v4()) return false;
  return same_prefix(bytes_of(candidate).bytes(), bytes_of(base_).bytes(), prefix_);
}

std::string IpNetwork::to_string() const {
  return base_.to_string() + "/" + std::to_string(prefix_);
}

boost::asio::ip::address unmap(const boost::asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

bool is_public(const boost::asio::ip::address& given) {
  static const std::vector<IpNetwork> kNotPublic = [] {
    std::vector<IpNetwork> networks;
    for (const char* text : {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                             "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
                             "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3", "::/96", "::1/128",
                             "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7",
                             "fe80::/10", "ff00::/8"})
      networks.push_back(*IpNetwork::parse(text));
    return networks;
  }();
  auto address = unmap(given);
  // NAT64 (64:ff9b::/96) carries an IPv4 address: judged as that address.
  if (address.is_v6()) {
    const auto bytes = address.to_v6().to_bytes();
    static constexpr std::array<unsigned char, 12> kNat64{0x00, 0x64, 0xff, 0x9b};
    if (std::equal(kNat64.begin(), kNat64.end(), bytes.begin()))
      address = boost::asio::ip::make_address_v4(boost::asio::ip::address_v4::bytes_type{bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  for (const auto& network : kNotPublic)
    if (network.contains(address)) return false;
  return true;
}

} // namespace gatehouse::net
