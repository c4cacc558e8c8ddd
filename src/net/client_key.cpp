// net/client_key: IPv4 addresses and IPv6 /64s as one key type.
#include "net/client_key.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include "net/ip_network.hpp"

namespace gatehouse::net {

ClientKey client_key(const boost::asio::ip::address& address) {
  ClientKey key;
  const auto plain = unmap(address);
  if (plain.is_v4()) {
    const auto v4 = plain.to_v4().to_bytes();
    key.bytes[10] = 0xff;
    key.bytes[11] = 0xff;
    std::memcpy(key.bytes.data() + 12, v4.data(), 4);
  } else {
    const auto v6 = plain.to_v6().to_bytes();
    std::memcpy(key.bytes.data(), v6.data(), 8);
  }
  return key;
}

ClientKey client_key(std::string_view address) {
  boost::system::error_code ec;
  const auto parsed = boost::asio::ip::make_address(address, ec);
  if (ec) return ClientKey{}; // "::/64": never a real client's key (:: is not a peer address)
  return client_key(parsed);
}

std::string network_key(std::string_view address) {
  ClientKey key = client_key(address);
  const auto v6 = boost::asio::ip::make_address_v6(key.bytes);
  if (v6.is_v4_mapped()) return key.to_string();
  std::fill(key.bytes.begin() + 6, key.bytes.end(), 0);
  return boost::asio::ip::make_address_v6(key.bytes).to_string() + "/48";
}

std::string ClientKey::to_string() const {
  const auto v6 = boost::asio::ip::make_address_v6(bytes);
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  return v6.to_string() + "/64";
}

std::size_t ClientKeyHash::operator()(const ClientKey& key) const noexcept {
  // FNV-1a from a per-process random start, so a client choosing its addresses cannot aim them all at
  // one bucket of the tables that count clients.
  static const std::size_t seed = [] {
    std::random_device random;
    return (static_cast<std::size_t>(random()) << 32) ^ random();
  }();
  std::size_t hash = 1469598103934665603ull ^ seed;
  for (unsigned char byte : key.bytes) hash = (hash ^ byte) * 1099511628211ull;
  return hash;
}

} // namespace gatehouse::net
