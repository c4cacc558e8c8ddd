// oidc/client_discovery: owns HA's discovery of a third-party client's redirect URIs (contract §1.8 step
// 4, IndieAuth): the client_id page is fetched and its <link rel="redirect_uri" href="…"> tags (rel
// exactly that; hrefs resolved against the client_id) list the redirect URIs HA accepts, exact match.
// Gatehouse asks the same before it sends anyone to the IdP, without becoming a way to reach what it
// can reach: only public addresses (config client_discovery.networks adds others), the name resolved
// once and only its allowed addresses connected to, no redirects followed, 5 s, 10 KiB, TLS verified.
// Answers are cached per client_id (5 minutes; a failure 30 s) and fetches are budgeted per client
// address (10 a minute) and at once (4), so nobody can make Gatehouse fetch for them at will.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "net/client_key.hpp"
#include "net/http_client.hpp"

namespace gatehouse::oidc {

struct DiscoveredClient {
  std::vector<std::string> redirect_uris;
  std::string problem; // why the page gave none ("" when it was read), for the refusal page and logs
};

class ClientDiscovery {
public:
  explicit ClientDiscovery(const config::ClientDiscovery& settings);
  // The redirect URIs `client_id`'s page lists, fetched for a request from `client_address`.
  boost::asio::awaitable<DiscoveredClient> redirect_uris(std::string client_id, std::string client_address);

  static constexpr std::size_t kMaxPageBytes = 10 * 1024; // HA reads 10 chunks of 1 KiB
  static constexpr std::size_t kFetchesPerMinute = 10;     // per client address
  static constexpr std::size_t kFetchesAtOnce = 4;

private:
  struct Cached {
    DiscoveredClient client;
    std::chrono::steady_clock::time_point expires;
  };
  struct Budget {
    std::size_t used = 0;
    std::chrono::steady_clock::time_point window_start;
  };
  // nullopt when the fetch may go ahead (and is counted), else why not.
  std::optional<std::string> take_budget(const std::string& client_address);

  const config::ClientDiscovery& settings_;
  net::HttpClient http_;
  std::mutex mutex_; // guards the fields below
  std::map<std::string, Cached> cache_;
  std::unordered_map<net::ClientKey, Budget, net::ClientKeyHash> budgets_;
  std::size_t in_flight_ = 0;
};

// The <link rel="redirect_uri"> hrefs of `html`, resolved against `page_url`, as HA's LinkTagParser and
// urljoin read them: tag and attribute names without case, rel exactly "redirect_uri", entities in
// values decoded; comments and script or style contents skipped.
std::vector<std::string> link_redirect_uris(std::string_view html, std::string_view page_url);

} // namespace gatehouse::oidc
