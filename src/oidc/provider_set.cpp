// oidc/provider_set: providers made once per configuration, kept while it holds.
#include "oidc/provider_set.hpp"

#include <algorithm>

#include "logging/log.hpp"

namespace gatehouse::oidc {

ProviderSet::ProviderSet(const std::vector<config::Provider>& at_start) {
  // At start a provider that cannot be set up stops Gatehouse (it throws): the operator is there to read it.
  auto made = std::make_shared<Providers>();
  for (const auto& provider : at_start) made->push_back(std::make_shared<Provider>(provider));
  newest_ = {at_start, std::move(made)};
}

ProviderSet::Made ProviderSet::make(const std::vector<config::Provider>& configured) const {
  auto made = std::make_shared<Providers>();
  for (const auto& provider : configured) {
    std::shared_ptr<Provider> same;
    for (const auto* set : {&newest_, &before_})
      if (set->providers && !same)
        for (const auto& existing : *set->providers)
          if (existing->config() == provider) same = existing;
    try {
      made->push_back(same ? same : std::make_shared<Provider>(provider));
    } catch (const std::exception& error) {
      // A CA bundle that loaded when the file was checked and no longer does: this provider is left out
      // (its sign-ins are refused as an unknown provider) until a reload or restart sets it up.
      logging::error("identity provider left out: it could not be set up",
                     {{"provider", provider.id}, {"error", error.what()}});
    }
  }
  return {configured, std::move(made)};
}

std::shared_ptr<const Providers> ProviderSet::of(const std::vector<config::Provider>& configured) {
  std::lock_guard lock(mutex_);
  if (configured == newest_.configured) return newest_.providers;
  if (configured == before_.configured && before_.providers) return before_.providers;
  auto made = make(configured);
  before_ = std::move(newest_);
  newest_ = std::move(made);
  return newest_.providers;
}

std::shared_ptr<Provider> provider_with_id(const Providers& providers, std::string_view id) {
  for (const auto& provider : providers)
    if (provider->config().id == id) return provider;
  return nullptr;
}

std::shared_ptr<Provider> provider_with_issuer(const Providers& providers, std::string_view issuer) {
  for (const auto& provider : providers)
    if (provider->config().issuer == issuer) return provider;
  return nullptr;
}

} // namespace gatehouse::oidc
