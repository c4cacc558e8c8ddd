// net/forwarding: X-Forwarded-* resolution and header hygiene between client and HA.
#include "net/forwarding.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <string_view>

namespace gatehouse::net {
namespace http = boost::beast::http;
using boost::asio::ip::address;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ASCII only, as header names and tokens are (std::tolower asks the locale for every character).
bool iequals(std::string_view a, std::string_view b) { return boost::beast::iequals(a, b); }

// One header value as a comma-separated list split into trimmed elements, appended to `out`.
void add_list_elements(std::string_view value, std::vector<std::string_view>& out) {
  while (true) {
    auto comma = value.find(',');
    out.push_back(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// All values of one header, as one list: several header lines are one list (RFC 9110 §5.3).
template <class Name>
std::vector<std::string_view> list_elements(const http::fields& headers, Name name) {
  std::vector<std::string_view> out;
  auto range = headers.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) add_list_elements(it->value(), out);
  return out;
}

constexpr std::string_view kXForwardedFor = "X-Forwarded-For";
constexpr std::string_view kXForwardedProto = "X-Forwarded-Proto";
constexpr std::string_view kXForwardedHost = "X-Forwarded-Host";

std::optional<address> parse_ip(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmap(a);
}

// Hop-by-hop per RFC 9110 §7.6.1, plus the legacy ones proxies still see.
constexpr std::array<http::field, 7> kHopByHop = {
    http::field::connection, http::field::keep_alive, http::field::proxy_connection,
    http::field::proxy_authenticate, http::field::proxy_authorization, http::field::te,
    http::field::trailer};

// An address as text. IPv4 (every request's common case) without inet_ntop, whose sprintf cost ~1% of
// a proxied request's CPU.
std::string address_text(const address& ip) {
  if (!ip.is_v4()) return ip.to_string();
  const auto bytes = ip.to_v4().to_bytes();
  std::string text;
  text.reserve(15);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) text += '.';
    const unsigned octet = bytes[i];
    if (octet >= 100) text += static_cast<char>('0' + octet / 100);
    if (octet >= 10) text += static_cast<char>('0' + octet / 10 % 10);
    text += static_cast<char>('0' + octet % 10);
  }
  return text;
}

} // namespace

bool is_trusted(const address& peer, const std::vector<IpNetwork>& trusted_proxies) {
  auto plain = unmap(peer);
  return std::any_of(trusted_proxies.begin(), trusted_proxies.end(),
                     [&](const IpNetwork& n) { return n.contains(plain); });
}

std::optional<ForwardedClient> resolve_client(const http::fields& headers, const address& peer,
                                              bool tls_listener,
                                              const std::vector<IpNetwork>& trusted_proxies) {
  ForwardedClient client;
  client.address = unmap(peer);
  client.proto = tls_listener ? "https" : "http";
  if (auto host = headers.find(http::field::host); host != headers.end()) client.host = host->value();
  if (!is_trusted(peer, trusted_proxies)) {
    client.address_text = address_text(client.address);
    client.forwarding_ignored = headers.count(kXForwardedFor) > 0 || headers.count(http::field::forwarded) > 0 ||
                                headers.count("X-Real-IP") > 0;
    return client;
  }

  std::size_t chosen_hop = 0, hop_count = 0;

  if (headers.count(kXForwardedFor) > 0) {
    auto chain = list_elements(headers, kXForwardedFor);
    std::vector<address> hops;
    for (auto element : chain) {
      auto ip = parse_ip(element);
      if (!ip) return std::nullopt;
      hops.push_back(*ip);
    }
    // Right to left, skipping our own trusted proxies; if all are trusted, the left-most (§3.2 step 6).
    chosen_hop = 0;
    for (std::size_t i = hops.size(); i-- > 0;) {
      if (!is_trusted(hops[i], trusted_proxies)) {
        chosen_hop = i;
        break;
      }
    }
    client.address = hops[chosen_hop];
    hop_count = hops.size();
  }
  if (headers.count(kXForwardedProto) > 0) {
    // One value, or one per X-Forwarded-For hop, the chosen hop's counting (HA's rule, §3.2 step 7).
    auto protos = list_elements(headers, kXForwardedProto);
    std::string_view proto;
    if (protos.size() == 1) proto = protos[0];
    else if (protos.size() == hop_count) proto = protos[chosen_hop];
    else return std::nullopt;
    if (iequals(proto, "https")) client.proto = "https";
    else if (iequals(proto, "http")) client.proto = "http";
    else return std::nullopt;
  }
  if (headers.count(kXForwardedHost) > 0) {
    if (headers.count(kXForwardedHost) != 1) return std::nullopt;
    auto host = trim(headers.find(kXForwardedHost)->value());
    if (host.empty()) return std::nullopt;
    client.host = std::string(host);
  }
  client.address_text = address_text(client.address);
  return client;
}

bool sets_own_cookie(http::field name, std::string_view value) {
  if (name != http::field::set_cookie) return false;
  value = trim(value);
  return value.size() >= kOwnCookiePrefix.size() && iequals(value.substr(0, kOwnCookiePrefix.size()), kOwnCookiePrefix);
}

bool is_hop_by_hop(http::field name) {
  return name == http::field::upgrade || std::find(kHopByHop.begin(), kHopByHop.end(), name) != kHopByHop.end();
}

void ConnectionNamed::add(std::string_view connection_value) {
  std::vector<std::string_view> tokens;
  add_list_elements(connection_value, tokens);
  for (auto token : tokens) {
    if (token.empty() || iequals(token, "close") || iequals(token, "keep-alive")) continue;
    if (iequals(token, "host") || iequals(token, "content-length") || iequals(token, "transfer-encoding"))
      continue;
    names_.emplace_back(token);
  }
}

bool ConnectionNamed::contains(std::string_view header_name) const {
  return std::any_of(names_.begin(), names_.end(), [&](const std::string& n) { return iequals(n, header_name); });
}

namespace {

// The forwarding headers a client may not set for HA: Gatehouse writes its own.
bool is_forwarding(const http::fields::value_type& field) {
  if (field.name() == http::field::forwarded) return true;
  const auto name = field.name_string();
  return iequals(name, kXForwardedFor) || iequals(name, kXForwardedProto) || iequals(name, kXForwardedHost) ||
         iequals(name, "X-Real-IP");
}

// Which of a message's fields stay on this side of Gatehouse: the hop-by-hop ones, those its Connection
// names, and (`forwarding`) the client's own forwarding headers. One test per field, so a message is
// cleaned in one pass whether its fields are erased or written out.
class StaysHere {
public:
  StaysHere(const http::fields& headers, bool forwarding) : forwarding_(forwarding) {
    auto connection = headers.equal_range(http::field::connection);
    for (auto it = connection.first; it != connection.second; ++it) named_.add(it->value());
  }
  bool operator()(const http::fields::value_type& field) const {
    return is_hop_by_hop(field.name()) || (forwarding_ && is_forwarding(field)) ||
           sets_own_cookie(field.name(), field.value()) ||
           (!named_.empty() && named_.contains(field.name_string()));
  }

private:
  ConnectionNamed named_; // copied: the Connection fields it is read from may be erased in the pass
  bool forwarding_;
};

void remove_hop_by_hop(http::fields& headers, bool forwarding) {
  const StaysHere stays_here(headers, forwarding);
  for (auto it = headers.begin(); it != headers.end();)
    it = stays_here(*it) ? headers.erase(it) : std::next(it);
}

// Gatehouse's own forwarding headers, each as add(name, value), in the order HA gets them.
template <class Add>
void add_forwarding_headers(const ForwardedClient& client, Add add) {
  add(kXForwardedFor, client.address_text.empty() ? address_text(client.address) : client.address_text);
  add(kXForwardedProto, client.proto);
  if (!client.host.empty()) add(kXForwardedHost, client.host);
}

} // namespace

void remove_hop_by_hop(http::fields& headers) { remove_hop_by_hop(headers, false); }

void prepare_upstream_request(http::fields& headers, const ForwardedClient& client) {
  remove_hop_by_hop(headers, true); // the client's own forwarding headers too: none is left to replace
  add_forwarding_headers(client, [&](std::string_view name, std::string_view value) { headers.insert(name, value); });
}

std::string upstream_request_head(const http::request_header<>& request, std::string_view target,
                                  const ForwardedClient& client, std::string_view host_when_none) {
  using namespace std::string_view_literals; // literals as views: no strlen per piece
  std::string out;
  const auto line = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
  };
  out.reserve(512);
  out += request.method_string();
  out += ' ';
  out += target;
  out += " HTTP/1.1\r\n"sv;
  const StaysHere stays_here(request, true);
  bool has_host = false;
  for (const auto& field : request) {
    if (stays_here(field) || field.name() == http::field::expect) continue;
    has_host = has_host || field.name() == http::field::host;
    line(field.name_string(), field.value());
  }
  add_forwarding_headers(client, line);
  if (!has_host) line("Host"sv, host_when_none);
  out += "\r\n"sv;
  return out;
}

namespace {

// The next "name=value" of a Cookie header, leading spaces trimmed; `rest` moves past it.
std::string_view next_cookie(std::string_view& rest) {
  const auto semicolon = rest.find(';');
  auto pair = rest.substr(0, semicolon);
  rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
  while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
  return pair;
}

} // namespace

std::vector<std::pair<std::string, std::string>> take_cookies(http::fields& headers, std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> taken;
  std::vector<std::string> kept_headers;
  for (auto it = headers.find(http::field::cookie); it != headers.end() && it->name() == http::field::cookie; ++it) {
    std::string kept;
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const auto pair = next_cookie(rest);
      const auto eq = pair.find('=');
      if (pair.starts_with(prefix) && eq != std::string_view::npos) {
        taken.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
      } else if (!pair.empty()) {
        if (!kept.empty()) kept += "; ";
        kept += pair;
      }
    }
    if (!kept.empty()) kept_headers.push_back(std::move(kept));
  }
  if (taken.empty()) return taken;
  headers.erase(http::field::cookie);
  for (auto& value : kept_headers) headers.insert(http::field::cookie, value);
  return taken;
}

} // namespace gatehouse::net
