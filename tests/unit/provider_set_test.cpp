// oidc/provider_set: a reload keeps the object (and its cached discovery and keys) of each provider whose
// configuration did not change, and makes new ones only for what changed.
#include "oidc/provider_set.hpp"

#include <gtest/gtest.h>

namespace gatehouse::oidc {
namespace {

config::Provider provider(std::string id, std::string secret) {
  return config::Provider{.id = id, .name = id, .issuer = "https://" + id + ".example", .client_id = "gatehouse",
                          .client_secret = std::move(secret)};
}

TEST(ProviderSet, KeepsUnchangedProvidersAndRemakesChangedOnes) {
  const std::vector<config::Provider> at_start{provider("corp", "one"), provider("partners", "two")};
  ProviderSet set(at_start);
  const auto first = set.of(at_start);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ(set.of(at_start), first) << "the same configuration: the same providers";

  // partners' secret rotated: corp keeps its object, partners gets a new one with the new secret.
  const auto rotated = set.of({provider("corp", "one"), provider("partners", "three")});
  EXPECT_EQ(rotated->at(0), first->at(0));
  EXPECT_NE(rotated->at(1), first->at(1));
  EXPECT_EQ(rotated->at(1)->config().client_secret, "three");
  EXPECT_EQ(first->at(1)->config().client_secret, "two") << "a sign-in holding the old list keeps its provider";
  EXPECT_EQ(set.of(at_start), first) << "a request read before the reload gets the set before, not a new one";
  EXPECT_EQ(set.of({provider("corp", "one"), provider("partners", "three")}), rotated);

  // Removed and reordered: what is left keeps its object.
  const auto only_partners = set.of({provider("partners", "three")});
  ASSERT_EQ(only_partners->size(), 1u);
  EXPECT_EQ(only_partners->at(0), rotated->at(1));
  EXPECT_EQ(provider_with_id(*only_partners, "partners"), rotated->at(1));
  EXPECT_EQ(provider_with_id(*only_partners, "corp"), nullptr);
  EXPECT_EQ(provider_with_issuer(*only_partners, "https://partners.example"), rotated->at(1));
}

} // namespace
} // namespace gatehouse::oidc
