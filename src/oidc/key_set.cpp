#include "oidc/key_set.hpp"

namespace gatehouse::oidc {

namespace asio = boost::asio;

namespace {
constexpr auto kKeysLifetime = std::chrono::hours(1);
constexpr auto kUnknownKidRefetchInterval = std::chrono::seconds(10);
// After a failed refetch, keys already held keep being used this long before the next try.
constexpr auto kStaleKeysGrace = std::chrono::seconds(30);
} // namespace

std::shared_ptr<const jose::JwkSet> KeySet::cached(const std::string& jwks_uri, bool fresh_only) {
  std::lock_guard lock(mutex_);
  if (keys_uri_ != jwks_uri) return nullptr; // the issuer moved its JWKS (discovery says so)
  if (fresh_only && std::chrono::steady_clock::now() >= fresh_until_) return nullptr;
  return keys_;
}

asio::awaitable<KeySet::Refreshed> KeySet::refresh(const std::string& jwks_uri, bool unknown_kid) {
  const auto now = std::chrono::steady_clock::now();
  if (unknown_kid) {
    std::lock_guard lock(mutex_);
    if (now - last_unknown_kid_refetch_ < kUnknownKidRefetchInterval) {
      auto held = keys_uri_ == jwks_uri ? keys_ : nullptr;
      co_return Refreshed{held, held ? "" : "JWKS: no keys held"};
    }
    last_unknown_kid_refetch_ = now;
  }
  net::OutboundRequest request;
  request.url = jwks_uri;
  request.headers = {{"Accept", "application/json"}};
  auto response = co_await http_.send(request);
  std::string problem;
  if (!response) problem = "JWKS: " + response.message;
  else if (response.response->status != 200) problem = "JWKS answered HTTP " + std::to_string(response.response->status);
  std::optional<jose::JwkSet> parsed;
  if (problem.empty()) {
    auto read = jose::parse_jwks(response.response->body);
    if (read.set) parsed = std::move(*read.set);
    else problem = "JWKS: " + read.error;
  }
  std::lock_guard lock(mutex_);
  if (!parsed) {
    // Keys this issuer published before still verify its tokens: used a while longer rather than
    // refusing everyone while its JWKS is briefly unavailable, and not fetched again at every request.
    if (keys_ && keys_uri_ == jwks_uri && !unknown_kid) {
      fresh_until_ = now + kStaleKeysGrace;
      co_return Refreshed{keys_, {}};
    }
    co_return Refreshed{nullptr, std::move(problem)};
  }
  keys_ = std::make_shared<const jose::JwkSet>(std::move(*parsed));
  keys_uri_ = jwks_uri;
  fresh_until_ = now + kKeysLifetime;
  co_return Refreshed{keys_, {}};
}

asio::awaitable<KeySetResult> KeySet::verify(std::string token, std::string jwks_uri,
                                             std::span<const std::string> algorithms) {
  KeySetResult result;
  auto keys = cached(jwks_uri, true);
  if (!keys) {
    auto refreshed = co_await refresh(jwks_uri, false);
    if (!refreshed.keys) {
      result.keys_unavailable = true;
      result.reason = std::move(refreshed.problem);
      co_return result;
    }
    keys = std::move(refreshed.keys);
  }
  auto verified = jose::verify_compact(token, *keys, algorithms);
  if (jose::is_unknown_key(verified)) {
    // The issuer may have rotated its keys since they were fetched: look once more.
    auto refreshed = co_await refresh(jwks_uri, true);
    if (!refreshed.keys) {
      result.keys_unavailable = true;
      result.reason = std::move(refreshed.problem);
      co_return result;
    }
    verified = jose::verify_compact(token, *refreshed.keys, algorithms);
  }
  if (!verified.ok()) {
    result.reason = std::move(verified.message);
    co_return result;
  }
  result.verified = std::move(*verified.verified);
  co_return result;
}

} // namespace gatehouse::oidc
