// front_door/request_facts: owns the one reading of a request head that every later step uses: the
// strict target, who the client is (and what HA is told about it), whether it asks to upgrade and to
// what, whether it is a browser, its Authorization header, and Gatehouse's own cookies — which are
// taken out of the head here, so no way a request can leave for HA carries them (contract §9.4: HA
// forwards cookies to add-ons). A head that cannot be read one way only is refused, never guessed at.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "front_door/request_target.hpp"
#include "net/forwarding.hpp"
#include "net/ip_network.hpp"

namespace gatehouse::front_door {

// What the request asks to switch to. Only a websocket is ever relayed (and only where the shield
// allows it); any other upgrade request is refused with 400, never tunnelled.
enum class Upgrade {
  none,
  websocket, // GET, HTTP/1.1, exactly one "Upgrade: websocket" and "upgrade" among the Connection tokens
  other,     // anything else that mentions an upgrade
};

// The person a forward-auth proxy names in its headers (config header_identity), taken out of the head.
struct IdentityHeaders {
  bool from_proxy = false; // the TCP peer is one of header_identity.proxies: only then is it believed
  bool repeated = false;   // a header sent more than once: never believed
  std::string username, name, groups; // as sent; "" when absent
  std::string assertion;               // the signed token, with header_identity.assertion; "" when absent
};

// Sec-Fetch-Site: the person's own navigation (none: typed, a bookmark, another app such as the
// camera), a page of this origin, of a sibling site, of another site; unknown without the header.
enum class FetchSite { unknown, none, same_origin, same_site, cross_site };

struct RequestFacts {
  // The configuration this request is decided under, from start to end (config/current): a reload
  // applies to the requests read after it. Never null in facts that read_facts made.
  std::shared_ptr<const config::Config> config;
  Target target;
  net::ForwardedClient client;
  std::string client_address; // client.address as text: the address HA is told about
  boost::beast::http::verb method = boost::beast::http::verb::get;
  unsigned version = 11;
  Upgrade upgrade = Upgrade::none;
  bool wants_html = false;     // a browser navigation: refusals are pages
  bool cors_preflight = false; // OPTIONS with Access-Control-Request-Method
  FetchSite fetch_site = FetchSite::unknown; // who the browser says sent the request (Sec-Fetch-Site)
  std::string_view origin;     // the Origin header ("" when absent); lives with the head
  std::string_view authorization; // the Authorization header as sent ("" when absent); lives with the head
  std::string_view content_type;  // likewise, for the bodies Gatehouse reads itself
  std::vector<std::pair<std::string, std::string>> own_cookies; // taken out of the head
  std::optional<IdentityHeaders> identity; // with header_identity, when any of its headers came
  std::int64_t now_unix_seconds = 0;
  // Whose HA access token the request carries, for endpoints whose caller must be an HA user: set by the
  // front door once it has checked the token, before the endpoint's handler runs; "" otherwise.
  std::string caller_ha_user_id;

  std::optional<std::string_view> own_cookie(std::string_view name) const;
};

struct FactsReading {
  std::optional<RequestFacts> facts;
  std::string_view refusal; // why the head is refused (400) when there are no facts
};

// Reads `head` once under `config` (its trusted_proxies and header_identity), and takes Gatehouse's own
// cookies out of it, and the identity headers of header_identity (when configured) from whoever sent them.
FactsReading read_facts(boost::beast::http::request_header<>& head, const boost::asio::ip::address& peer,
                        bool tls_listener, std::shared_ptr<const config::Config> config, std::int64_t now_unix_seconds);

// The upgrade a head asks for (exposed for tests).
Upgrade upgrade_of(const boost::beast::http::request_header<>& head);

} // namespace gatehouse::front_door
