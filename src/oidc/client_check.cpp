// oidc/client_check: HA's client_id / redirect_uri rules (ha-auth-contract §1.8), in C++.
#include "oidc/client_check.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <optional>

namespace gatehouse::oidc {

namespace {

// The parts HA compares, canonicalized as HA's _parse_url does: netloc lowercased, empty path "/".
struct UrlParts {
  std::string scheme;
  std::string netloc; // userinfo@host:port as written, lowercased
  std::string path;
  bool has_fragment = false;
  bool has_userinfo = false;
  std::string host; // without brackets
  bool port_valid = true;
};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::optional<UrlParts> parse(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return std::nullopt;
  const auto& url = *parsed;
  UrlParts parts;
  parts.scheme = lowercase(url.scheme());
  parts.netloc = url.has_authority() ? lowercase(url.encoded_authority()) : "";
  parts.path = url.encoded_path();
  if (parts.path.empty()) parts.path = "/";
  parts.has_fragment = url.has_fragment() && !url.encoded_fragment().empty();
  parts.has_userinfo = url.has_userinfo();
  parts.host = lowercase(url.encoded_host());
  if (parts.host.size() >= 2 && parts.host.front() == '[' && parts.host.back() == ']')
    parts.host = parts.host.substr(1, parts.host.size() - 2);
  if (url.has_port()) {
    const auto port = url.port();
    parts.port_valid = !port.empty() && port.size() <= 5 &&
                       std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) &&
                       std::stoul(std::string(port)) <= 65535;
  }
  return parts;
}

// HA's is_local: loopback, RFC 1918, fd00::/8, link-local.
bool is_local(const boost::asio::ip::address& address) {
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    return bytes[0] == 127 || bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xf0) == 16) ||
           (bytes[0] == 192 && bytes[1] == 168) || (bytes[0] == 169 && bytes[1] == 254);
  }
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return is_local(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  const auto bytes = v6.to_bytes();
  return v6.is_loopback() || bytes[0] == 0xfd || v6.is_link_local();
}

std::optional<UrlParts> parse_client_id(std::string_view client_id) {
  auto parts = parse(client_id);
  if (!parts || (parts->scheme != "http" && parts->scheme != "https")) return std::nullopt;
  if (parts->netloc.empty()) return std::nullopt; // HA answers 500 here; refusing is the kind version
  std::string_view path = parts->path;
  for (std::size_t start = 0; start <= path.size();) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment == "." || segment == ".." || segment == "%2e" || segment == "%2E" || segment == "%2e%2e" ||
        segment == "%2E%2E")
      return std::nullopt;
    start = end + 1;
  }
  if (parts->has_fragment || parts->has_userinfo || !parts->port_valid) return std::nullopt;
  // HA parses the netloc (port included) as an IP: a name, or a netloc with a port, is not an IP and
  // passes; a bare IP literal must be local.
  std::string netloc = parts->netloc;
  if (netloc.size() >= 2 && netloc.front() == '[' && netloc.back() == ']') netloc = netloc.substr(1, netloc.size() - 2);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(netloc, ec);
  if (ec) return parts;
  if (is_local(address)) return parts;
  return std::nullopt;
}

constexpr std::string_view kIosClientId = "https://home-assistant.io/iOS";
constexpr std::string_view kAndroidClientId = "https://home-assistant.io/android";
constexpr std::string_view kAppCallback = "homeassistant://auth-callback";
constexpr std::array<std::string_view, 3> kAndroidRedirects{
    kAppCallback, "https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android",
    "https://wear.googleapis-cn.com/3p_auth/io.homeassistant.companion.android"};

} // namespace

bool client_id_acceptable(std::string_view client_id) { return parse_client_id(client_id).has_value(); }

RedirectCheck check_redirect(std::string_view client_id, std::string_view redirect_uri) {
  const auto client = parse_client_id(client_id);
  if (!client) return RedirectCheck::bad_client_id;
  const auto redirect = parse(redirect_uri);
  if (!redirect) return RedirectCheck::bad_redirect_uri;
  if (client->scheme == redirect->scheme && client->netloc == redirect->netloc) return RedirectCheck::accepted;
  if (client_id == kIosClientId && redirect_uri == kAppCallback) return RedirectCheck::accepted;
  if (client_id == kAndroidClientId &&
      std::find(kAndroidRedirects.begin(), kAndroidRedirects.end(), redirect_uri) != kAndroidRedirects.end())
    return RedirectCheck::accepted;
  return RedirectCheck::needs_discovery;
}

std::string with_query_parameters(std::string_view redirect_uri,
                                  const std::vector<std::pair<std::string, std::string>>& parameters) {
  // Strictly percent-encoded (a '+' would read as a space to form decoders, RFC 6749 §4.1.2).
  boost::urls::url url(redirect_uri);
  for (const auto& [name, value] : parameters) {
    const std::string encoded_name = boost::urls::encode(name, boost::urls::unreserved_chars);
    const std::string encoded_value = boost::urls::encode(value, boost::urls::unreserved_chars);
    url.encoded_params().append(boost::urls::param_pct_view(encoded_name, encoded_value));
  }
  return std::string(url.buffer());
}

} // namespace gatehouse::oidc
