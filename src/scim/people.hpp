// scim/people: owns what a SCIM User's state means for the person it names. A User that is inactive
// (`active: false`) or deleted is cut off (sessions/cut_off, source "scim"): at once if they have signed in
// through Gatehouse, and refused at sign-in if they have not yet. A User made active again lifts the
// cut-off SCIM asked for; one asked for on the console stays until the console lifts it. Which sign-in a
// User is comes from configuration (scim.match_attribute ↔ scim.match_claim, ignoring case).
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "config/config.hpp"
#include "scim/resources.hpp"
#include "store/store.hpp"

namespace gatehouse::scim {

class People {
public:
  People(store::Store& store, const config::Scim& settings, const Resources& resources);

  // After a User was created, replaced or patched.
  void changed(const Resource& user);
  // After a User was deleted.
  void removed(const Resource& user);
  // Whether the SCIM User these sign-in claims name is inactive (then the sign-in is refused).
  bool refuses(const boost::json::object& claims) const;

private:
  // The User's match value, lowercased ("" when it has none).
  std::string key_of(const Resource& user) const;

  store::Store& store_;
  const config::Scim& settings_;
  const Resources& resources_;
};

} // namespace gatehouse::scim
