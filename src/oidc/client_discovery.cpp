#include "oidc/client_discovery.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <cstdio>
#include <optional>
#include <utility>

#include "logging/log.hpp"
#include "net/client_key.hpp"
#include "net/ip_network.hpp"

namespace gatehouse::oidc {

namespace asio = boost::asio;

namespace {

constexpr auto kKeepFound = std::chrono::minutes(5);
constexpr auto kKeepFailure = std::chrono::seconds(30);
constexpr std::size_t kMaxCachedClients = 1000;

std::string lowercase(std::string_view text) {
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// html.unescape for what a URL in an attribute carries: the five named entities and numeric references.
std::string unescape(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '&') {
      out += value[i];
      continue;
    }
    const auto end = value.find(';', i);
    if (end == std::string_view::npos || end - i > 10) {
      out += '&';
      continue;
    }
    const std::string_view name = value.substr(i + 1, end - i - 1);
    std::string replacement;
    if (name == "amp") replacement = "&";
    else if (name == "lt") replacement = "<";
    else if (name == "gt") replacement = ">";
    else if (name == "quot") replacement = "\"";
    else if (name == "apos") replacement = "'";
    else if (name.size() > 1 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      unsigned long code = 0;
      bool digits = name.size() > (hex ? 2u : 1u);
      for (const char c : name.substr(hex ? 2 : 1)) {
        if (!std::isxdigit(static_cast<unsigned char>(c)) || (!hex && !std::isdigit(static_cast<unsigned char>(c)))) digits = false;
        else code = std::min<unsigned long>(code * (hex ? 16 : 10) + (std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10)), 0x110000);
      }
      // ASCII only: a URL Gatehouse compares byte for byte needs no more.
      if (digits && code > 0 && code < 0x80) replacement = std::string(1, static_cast<char>(code));
    }
    if (replacement.empty()) {
      out += '&';
      continue;
    }
    out += replacement;
    i = end;
  }
  return out;
}

// urljoin(page_url, href) as RFC 3986 resolution; "" when either cannot be read.
std::string resolved(std::string_view page_url, std::string_view href) {
  const auto base = boost::urls::parse_uri(page_url);
  const auto reference = boost::urls::parse_uri_reference(href);
  if (!base || !reference) return {};
  boost::urls::url result;
  if (!boost::urls::resolve(*base, *reference, result)) return {};
  return std::string(result.buffer());
}

} // namespace

namespace {

asio::awaitable<net::OutboundResult> fetch_page(net::HttpClient& http, net::OutboundRequest request) {
  co_return co_await http.send(request);
}

} // namespace

std::vector<std::string> link_redirect_uris(std::string_view html, std::string_view page_url) {
  std::vector<std::string> found;
  std::size_t at = 0;
  while ((at = html.find('<', at)) != std::string_view::npos) {
    if (html.substr(at, 4) == "<!--") {
      const auto end = html.find("-->", at + 4);
      if (end == std::string_view::npos) break;
      at = end + 3;
      continue;
    }
    std::size_t i = at + 1;
    std::size_t name_start = i;
    while (i < html.size() && std::isalnum(static_cast<unsigned char>(html[i]))) ++i;
    if (i == name_start || !std::isalpha(static_cast<unsigned char>(html[name_start]))) {
      at += 1;
      continue;
    }
    const std::string tag = lowercase(html.substr(name_start, i - name_start));
    // Attributes up to the tag's '>'; a repeated attribute keeps its last value (Python's dict(attrs)).
    std::map<std::string, std::optional<std::string>> attributes;
    while (i < html.size() && html[i] != '>') {
      if (is_space(html[i]) || html[i] == '/') {
        ++i;
        continue;
      }
      const std::size_t attribute_start = i;
      while (i < html.size() && !is_space(html[i]) && html[i] != '=' && html[i] != '>' && html[i] != '/') ++i;
      std::string attribute = lowercase(html.substr(attribute_start, i - attribute_start));
      while (i < html.size() && is_space(html[i])) ++i;
      std::optional<std::string> value;
      if (i < html.size() && html[i] == '=') {
        ++i;
        while (i < html.size() && is_space(html[i])) ++i;
        if (i < html.size() && (html[i] == '"' || html[i] == '\'')) {
          const char quote = html[i];
          const auto end = html.find(quote, i + 1);
          if (end == std::string_view::npos) return found; // an unterminated tag ends the page for the parser
          value = unescape(html.substr(i + 1, end - i - 1));
          i = end + 1;
        } else {
          const std::size_t value_start = i;
          while (i < html.size() && !is_space(html[i]) && html[i] != '>') ++i;
          value = unescape(html.substr(value_start, i - value_start));
        }
      }
      attributes[std::move(attribute)] = std::move(value);
    }
    if (i >= html.size()) break;
    at = i + 1;
    if (tag == "script" || tag == "style") {
      // Their content is text, not tags.
      const std::string lower_rest = lowercase(html.substr(at));
      const auto end = lower_rest.find("</" + tag);
      if (end == std::string::npos) break;
      at += end;
      continue;
    }
    if (tag != "link") continue;
    const auto rel = attributes.find("rel");
    const auto href = attributes.find("href");
    if (rel == attributes.end() || rel->second != "redirect_uri" || href == attributes.end() || !href->second) continue;
    if (auto uri = resolved(page_url, *href->second); !uri.empty()) found.push_back(std::move(uri));
  }
  return found;
}

bool may_name_metadata_document(std::string_view client_id) {
  const auto url = boost::urls::parse_uri(client_id);
  return url && lowercase(url->scheme()) == "https" && !url->encoded_path().empty() &&
         client_id.find('#') == std::string_view::npos;
}

namespace {

// An entry as urlparse reads it: a scheme (an ASCII letter, then letters, digits, '+', '-', '.', then ':';
// an app's own like app:/callback too), and after "//" a port, if any, that is a number up to 65535.
bool absolute_without_fragment(std::string_view uri) {
  if (uri.find('#') != std::string_view::npos) return false;
  const auto colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(uri[0]))) return false;
  for (const char c : uri.substr(0, colon))
    if (static_cast<unsigned char>(c) > 0x7f || (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.'))
      return false;
  const std::string_view rest = uri.substr(colon + 1);
  if (!rest.starts_with("//")) return true;
  std::string_view authority = rest.substr(2, rest.find_first_of("/?", 2) - 2);
  authority = authority.substr(authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1);
  const auto bracket = authority.rfind(']');
  const auto port_colon = authority.rfind(':');
  if (port_colon == std::string_view::npos || (bracket != std::string_view::npos && port_colon < bracket)) return true;
  const std::string_view port = authority.substr(port_colon + 1);
  if (port.empty()) return true; // "host:" has no port for urlparse
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoul(std::string(port)) <= 65535;
}

// HA's version as year and month ("2026.8.0" → 2026, 8); nullopt when it cannot be read.
std::optional<std::pair<int, int>> year_and_month(std::string_view version) {
  int year = 0, month = 0;
  if (std::sscanf(std::string(version).c_str(), "%d.%d", &year, &month) != 2) return std::nullopt;
  return std::pair{year, month};
}

} // namespace

std::vector<std::string> metadata_redirect_uris(std::string_view body, std::string_view client_id, std::string& problem) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 256; // Python's json nests deeper than Boost's default 32
  const auto document = boost::json::parse(body, ec, {}, options);
  if (ec || !document.is_object()) {
    problem = "its page lists no <link rel=\"redirect_uri\"> and is no client metadata document (JSON)";
    return {};
  }
  const auto& fields = document.as_object();
  const auto* named = fields.if_contains("client_id");
  if (!named || !named->is_string() || named->as_string() != client_id) {
    problem = "its client metadata document names another client_id";
    return {};
  }
  const auto* listed = fields.if_contains("redirect_uris");
  if (!listed || !listed->is_array() || listed->as_array().empty()) {
    problem = "its client metadata document lists no redirect_uris";
    return {};
  }
  std::vector<std::string> uris;
  for (const auto& entry : listed->as_array()) {
    const auto* uri = entry.if_string();
    // Absolute (a scheme: an app's own like app:/callback too) and without a fragment, a bare '#' included.
    if (!uri || !absolute_without_fragment(*uri)) {
      problem = "its client metadata document lists a redirect_uri that is not an absolute URI without fragment";
      return {};
    }
    uris.emplace_back(*uri);
  }
  problem.clear();
  return uris;
}

ClientDiscovery::ClientDiscovery(const config::ClientDiscovery& settings)
    : settings_(settings),
      http_(net::HttpClient::Options{
          settings.ca_file, std::chrono::seconds(5), kMaxPageBytes,
          [&settings](const asio::ip::address& address) {
            return net::is_public(address) ||
                   std::any_of(settings.networks.begin(), settings.networks.end(),
                               [&](const net::IpNetwork& network) { return network.contains(net::unmap(address)); });
          }}),
      keep_running_(lookups_.get_executor()), thread_([this] { lookups_.run(); }) {}

ClientDiscovery::~ClientDiscovery() {
  keep_running_.reset();
  lookups_.stop();
  thread_.join();
}

asio::awaitable<DiscoveredClient> ClientDiscovery::redirect_uris(std::string client_id, std::string client_address,
                                                                 std::string ha_version) {
  auto client = co_await discovered(std::move(client_id), std::move(client_address));
  const auto version = year_and_month(ha_version);
  if (client.metadata_document && version && *version < std::pair{2026, 8}) {
    client.redirect_uris.clear();
    client.problem = client.shown = "Home Assistant " + ha_version +
                                    " does not read client metadata documents (2026.8 and later do): update it first";
  }
  co_return client;
}

asio::awaitable<DiscoveredClient> ClientDiscovery::discovered(std::string client_id, std::string client_address) {
  if (!settings_.enabled) {
    const std::string off = "looking up apps' pages is switched off (client_discovery.enabled)";
    co_return DiscoveredClient{{}, off, off};
  }
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (const auto cached = cache_.find(client_id); cached != cache_.end() && cached->second.expires > now)
      co_return cached->second.client;
  }
  const auto ticket = budget_.spend(net::client_key(client_address), shield::CheckBudget::Clock::now());
  if (!ticket) {
    const std::string busy = ticket.verdict() == shield::CheckBudget::Verdict::too_many_at_once
                                 ? "Gatehouse is looking up other apps right now; try again in a moment"
                                 : "this address asked Gatehouse to look up too many apps; try again in a minute";
    co_return DiscoveredClient{{}, busy, busy};
  }
  net::OutboundRequest request;
  request.url = client_id;
  request.headers = {{"Accept", "*/*"}}; // as HA's aiohttp asks: a page chosen by Accept is the one HA sees
  auto fetching = asio::co_spawn(lookups_, fetch_page(http_, std::move(request)), asio::use_awaitable);
  auto response = co_await std::move(fetching);
  DiscoveredClient client;
  if (!response) {
    const bool too_large = response.failure == net::OutboundFailure::too_large;
    client.problem = too_large ? "its page is larger than " + std::to_string(kMaxPageBytes / 1024) + " KiB" : response.message;
    // What failed on the way (a name, an address, a port) is for the log, not for whoever asked.
    client.shown = too_large ? client.problem : "its page could not be fetched (Gatehouse's log says why)";
  } else if (response.response->status != 200) {
    client.problem = "its page answered HTTP " + std::to_string(response.response->status) +
                     (response.response->status / 100 == 3 ? " (Gatehouse follows no redirects here)" : "");
    client.shown = "its page could not be read (Gatehouse's log says why)";
  } else {
    const auto& body = response.response->body;
    client.redirect_uris = link_redirect_uris(body, client_id);
    // No tags: a metadata document is read only from a direct 200, as here (no redirects are followed),
    // and only whole: HA refuses one that fills its 10 KiB.
    if (client.redirect_uris.empty() && may_name_metadata_document(client_id)) {
      client.metadata_document = true;
      if (body.size() >= kMaxPageBytes) client.problem = "its client metadata document is 10 KiB or larger";
      else client.redirect_uris = metadata_redirect_uris(body, client_id, client.problem);
    } else if (client.redirect_uris.empty()) {
      client.problem = "its page lists no <link rel=\"redirect_uri\">";
    }
    client.shown = client.problem;
  }
  logging::info("client page looked up", {{"client_id", client_id}, {"redirect_uris", client.redirect_uris.size()},
                                          {"problem", client.problem}});
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kMaxCachedClients)
    std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
  if (cache_.size() >= kMaxCachedClients) cache_.clear();
  cache_[client_id] = Cached{client, now + (client.problem.empty() ? kKeepFound : kKeepFailure)};
  co_return client;
}

} // namespace gatehouse::oidc
