// front_door/request_facts: the facts of one request head, read once.
#include "front_door/request_facts.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include "net/head_checks.hpp"
#include "web/refusal.hpp"

namespace gatehouse::front_door {
namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool connection_names_upgrade(const http::request_header<>& head) {
  auto range = head.equal_range(http::field::connection);
  for (auto it = range.first; it != range.second; ++it) {
    std::string_view value = it->value();
    while (!value.empty()) {
      const auto comma = value.find(',');
      if (boost::beast::iequals(trim(value.substr(0, comma)), "upgrade")) return true;
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return false;
}

} // namespace

std::optional<std::string_view> RequestFacts::own_cookie(std::string_view name) const {
  for (const auto& [key, value] : own_cookies)
    if (key == name) return std::string_view(value);
  return std::nullopt;
}

Upgrade upgrade_of(const http::request_header<>& head) {
  const auto lines = head.count(http::field::upgrade);
  const bool connection_upgrade = connection_names_upgrade(head);
  if (lines == 0 && !connection_upgrade) return Upgrade::none;
  // A handshake has no body: bytes after its head are the first frames, whatever a length says.
  const auto length = head.find(http::field::content_length);
  const bool bodiless = head.find(http::field::transfer_encoding) == head.end() &&
                        (length == head.end() || length->value() == "0");
  if (lines == 1 && connection_upgrade && bodiless && head.method() == http::verb::get && head.version() == 11 &&
      boost::beast::iequals(trim(head[http::field::upgrade]), "websocket"))
    return Upgrade::websocket;
  return Upgrade::other;
}

namespace {

// The methods HA's views answer (HomeAssistantView: get, post, put, patch, delete, head, and options for
// CORS). Any other is refused before HA: aiohttp takes CONNECT as a switch away from HTTP, which would
// leave a pooled connection that no longer reads requests.
bool is_served_method(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::post:
    case http::verb::put:
    case http::verb::patch:
    case http::verb::delete_:
    case http::verb::options: return true;
    default: return false;
  }
}

// Takes every `name` line out of the head; its value when it came once.
std::string take_header(http::request_header<>& head, const std::string& name, bool& repeated) {
  if (name.empty()) return {};
  const auto lines = head.count(name);
  if (lines == 0) return {};
  std::string value(head[name]);
  if (lines > 1) repeated = true;
  head.erase(name);
  return lines > 1 ? std::string() : value;
}

} // namespace

FactsReading read_facts(http::request_header<>& head, const boost::asio::ip::address& peer, bool tls_listener,
                        std::shared_ptr<const config::Config> config, std::int64_t now_unix_seconds) {
  FactsReading reading;
  const config::HeaderIdentity* header_identity = config->header_identity ? &*config->header_identity : nullptr;
  auto target = check_target(head.target());
  if (!target) {
    reading.refusal = describe(target.problem);
    return reading;
  }
  if (!is_served_method(head.method())) {
    reading.refusal = "a method Home Assistant does not serve";
    return reading;
  }
  if (const auto framing = net::ambiguous_framing(head); !framing.empty()) {
    reading.refusal = framing;
    return reading;
  }
  auto client = net::resolve_client(head, peer, tls_listener, config->trusted_proxies);
  if (!client) {
    reading.refusal = "forwarding headers from a trusted proxy cannot be read one way only";
    return reading;
  }
  RequestFacts facts;
  facts.target = std::move(*target.target);
  facts.client_address = client->address_text;
  facts.client = std::move(*client);
  facts.method = head.method();
  facts.version = head.version();
  facts.upgrade = upgrade_of(head);
  facts.wants_html = web::wants_html(head[http::field::accept]);
  const std::string_view fetch_site = head["Sec-Fetch-Site"];
  facts.fetch_site = fetch_site == "none"          ? FetchSite::none
                     : fetch_site == "same-origin" ? FetchSite::same_origin
                     : fetch_site == "same-site"   ? FetchSite::same_site
                     : fetch_site == "cross-site"  ? FetchSite::cross_site
                                                   : FetchSite::unknown;
  facts.origin = head[http::field::origin];
  facts.cors_preflight = head.method() == http::verb::options &&
                         head.find(http::field::access_control_request_method) != head.end();
  facts.authorization = head[http::field::authorization];
  facts.content_type = head[http::field::content_type];
  if (head.find(http::field::cookie) != head.end()) facts.own_cookies = net::take_cookies(head, net::kOwnCookiePrefix);
  if (header_identity) {
    IdentityHeaders identity;
    identity.username = take_header(head, header_identity->username_header, identity.repeated);
    identity.name = take_header(head, header_identity->name_header, identity.repeated);
    identity.groups = take_header(head, header_identity->groups_header, identity.repeated);
    if (header_identity->assertion)
      identity.assertion = take_header(head, header_identity->assertion->header, identity.repeated);
    if (identity.repeated || !identity.username.empty() || !identity.name.empty() || !identity.groups.empty() ||
        !identity.assertion.empty()) {
      identity.from_proxy = net::is_trusted(net::unmap(peer), header_identity->proxies);
      facts.identity = std::move(identity);
    }
  }
  facts.now_unix_seconds = now_unix_seconds;
  facts.config = std::move(config);
  reading.facts = std::move(facts);
  return reading;
}

} // namespace gatehouse::front_door
