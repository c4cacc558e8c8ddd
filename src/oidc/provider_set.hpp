// oidc/provider_set: owns the oidc::Provider of each configured provider as the configuration changes
// (config/current): a provider whose configuration (client secret included) did not change keeps its
// object, and with it its discovery and signing keys; a changed or new one gets a new object; a removed
// one is dropped once nothing in flight holds it. The set of the configuration before is kept too, so
// requests still under it (read before a reload) use it instead of making providers again. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "config/config.hpp"
#include "oidc/provider.hpp"

namespace gatehouse::oidc {

using Providers = std::vector<std::shared_ptr<Provider>>;

class ProviderSet {
public:
  // Throws std::runtime_error when a provider cannot be set up (its CA bundle); later sets leave such a
  // provider out and log why.
  explicit ProviderSet(const std::vector<config::Provider>& at_start);
  // The providers of `configured` (a request's, or the running configuration's), in its order. Hold the
  // result for as long as one of them is used: a reload may replace them meanwhile.
  std::shared_ptr<const Providers> of(const std::vector<config::Provider>& configured);

private:
  struct Made {
    std::vector<config::Provider> configured; // what `providers` was made from
    std::shared_ptr<const Providers> providers;
  };
  Made make(const std::vector<config::Provider>& configured) const; // under mutex_

  std::mutex mutex_;
  Made newest_;
  Made before_;
};

// The provider whose configured id (or issuer) is `value`, or null.
std::shared_ptr<Provider> provider_with_id(const Providers& providers, std::string_view id);
std::shared_ptr<Provider> provider_with_issuer(const Providers& providers, std::string_view issuer);

} // namespace gatehouse::oidc
