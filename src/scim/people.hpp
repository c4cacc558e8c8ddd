// scim/people: owns what a SCIM User's state means for the person it names. A User that is inactive
// (`active: false`) or deleted is cut off (sessions/cut_off, source "scim"): at once if they have signed in
// through Gatehouse, and refused at sign-in if they have not yet. With scim.roles_from_groups, the
// person's role comes from the displayNames of the SCIM Groups their User is in (users.roles): a change
// of those Groups sets the HA user's group at once, and a User in none of them is cut off like an
// inactive one (when users.deny_without_role). A User that is active (and in a Group) again lifts the
// cut-off SCIM asked for; one asked for on the console stays until the console lifts it. Which sign-in a
// User is comes from configuration (scim.match_attribute ↔ scim.match_claim, ignoring case).
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "scim/resources.hpp"
#include "sessions/cut_off.hpp"
#include "store/store.hpp"

namespace gatehouse::scim {

class People {
public:
  People(store::Store& store, const config::Scim& settings, const config::Users& users, const Resources& resources);

  // After a User was created, replaced or patched.
  void changed(const Resource& user);
  // After a User was deleted.
  void removed(const Resource& user);
  // After a Group was created, replaced, patched or deleted: everyone's role again (roles_from_groups).
  void groups_changed();
  // Whether the SCIM User these sign-in claims name is inactive (then the sign-in is refused).
  bool refuses(const boost::json::object& claims) const;
  // With roles_from_groups: the displayNames of the Groups of the User these claims name, which decide
  // the sign-in's role instead of its groups claim. nullopt without roles_from_groups or such a User.
  std::optional<std::vector<std::string>> groups_for(const boost::json::object& claims) const;

private:
  // The User's match value, lowercased ("" when it has none).
  std::string key_of(const Resource& user) const;
  // Cut off, lifted and given a role as the User says.
  void reconcile(const sessions::Person& person, const Resource& user);

  store::Store& store_;
  const config::Scim& settings_;
  const config::Users& users_;
  const Resources& resources_;
};

} // namespace gatehouse::scim
