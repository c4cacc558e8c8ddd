// oidc/client_discovery: owns HA's discovery of a third-party client's redirect URIs (contract §1.8 step
// 4, IndieAuth): the client_id page is fetched and its <link rel="redirect_uri" href="…"> tags (rel
// exactly that; hrefs resolved against the client_id) list the redirect URIs HA accepts, exact match.
// A page with no such tags may be a Client ID Metadata Document (MCP clients; HA 2026.8 reads them,
// core PR #176286: the contract predates it): a JSON object, for an https client_id with a path, whose
// "client_id" is the client_id itself and whose "redirect_uris" are absolute and without fragments.
// Gatehouse asks the same before it sends anyone to the IdP, without becoming a way to reach what it
// can reach: only public addresses (config client_discovery.networks adds others), the name resolved
// once and only its allowed addresses connected to, no redirects followed, 5 s, 10 KiB, TLS verified,
// on a thread of its own.
// Answers are cached per client_id (5 minutes; a failure 30 s) and fetches are budgeted per client
// address (10 a minute) and at once (4), so nobody can make Gatehouse fetch for them at will.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "net/http_client.hpp"
#include "shield/check_budget.hpp"

namespace gatehouse::oidc {

struct DiscoveredClient {
  std::vector<std::string> redirect_uris;
  std::string problem; // why the page gave none ("" when it was read), for the audit and logs
  std::string shown;   // the same for the refusal page, without what would map the network for a stranger
  bool metadata_document = false; // the page was read as a Client ID Metadata Document (HA reads them from 2026.8)
};

class ClientDiscovery {
public:
  explicit ClientDiscovery(const config::ClientDiscovery& settings);
  ~ClientDiscovery();
  ClientDiscovery(const ClientDiscovery&) = delete;
  ClientDiscovery& operator=(const ClientDiscovery&) = delete;
  // The redirect URIs `client_id`'s page lists, fetched for a request from `client_address`. A metadata
  // document's count only when `ha_version` (HA's, "" when not known yet) reads them too.
  boost::asio::awaitable<DiscoveredClient> redirect_uris(std::string client_id, std::string client_address,
                                                         std::string ha_version);

  static constexpr std::size_t kMaxPageBytes = 10 * 1024; // HA reads 10 chunks of 1 KiB

private:
  boost::asio::awaitable<DiscoveredClient> discovered(std::string client_id, std::string client_address);

  struct Cached {
    DiscoveredClient client;
    std::chrono::steady_clock::time_point expires;
  };

  const config::ClientDiscovery& settings_;
  net::HttpClient http_;
  // Fetches run on a thread of their own: a name a stranger chose that never resolves (the resolver has
  // no deadline) holds up only other lookups, never Gatehouse's IdP, JWKS or HA connections.
  boost::asio::io_context lookups_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running_;
  std::thread thread_;
  // Fetches per client address (10 a minute) and at once (4).
  shield::CheckBudget budget_{{.per_minute = 10, .burst = 10, .concurrent = 4}};
  std::mutex mutex_; // guards the cache
  std::map<std::string, Cached> cache_;
};

// The redirect URIs a Client ID Metadata Document at `client_id` lists; "" in `problem` when it is one,
// else why not (not JSON, another client_id, an entry that is not an absolute URI without fragment, as
// Python's urlparse reads one: a scheme, a port that is a number up to 65535, no '#').
std::vector<std::string> metadata_redirect_uris(std::string_view body, std::string_view client_id, std::string& problem);
// Whether `client_id` may name a metadata document at all: https (any case), a path, no fragment (as HA checks).
bool may_name_metadata_document(std::string_view client_id);

// The <link rel="redirect_uri"> hrefs of `html`, resolved against `page_url`, as HA's LinkTagParser and
// urljoin read them: tag and attribute names without case, rel exactly "redirect_uri", entities in
// values decoded; comments and script or style contents skipped.
std::vector<std::string> link_redirect_uris(std::string_view html, std::string_view page_url);

} // namespace gatehouse::oidc
