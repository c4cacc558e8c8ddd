// scim/people: owns what a SCIM User's state means for the person it names. A User that is inactive
// (`active: false`) or deleted is cut off (sessions/cut_off, source "scim"): at once if they have signed in
// through Gatehouse, and refused at sign-in if they have not yet. With scim.roles_from_groups, the
// person's role comes from the displayNames of the SCIM Groups their User is in (users.roles): a change
// of those Groups sets the HA user's group at once, and a User in none of them is cut off like an
// inactive one (when users.deny_without_role); and a User with a role whose person has not signed in yet
// gets its HA user made at once (by the serving process), which their first sign-in takes over. A User
// that is active (and in a Group) again lifts the
// cut-off SCIM asked for; one asked for on the console stays until the console lifts it. Which sign-in a
// User is comes from configuration (scim.match_attribute ↔ scim.match_claim, ignoring case) the first
// time they meet; from then on the person is bound to that User's id, whatever its name becomes.
#pragma once

#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/current.hpp"
#include "scim/resources.hpp"
#include "sessions/cut_off.hpp"
#include "store/store.hpp"

namespace gatehouse::scim {

class People {
public:
  // `current`: its users block (roles) is read whenever a role is worked out, so a reload applies it.
  People(store::Store& store, const config::Scim& settings, const config::Current& current, const Resources& resources);

  // After a User was created, replaced or patched.
  void changed(const Resource& user);
  // After a User was deleted.
  void removed(const Resource& user);
  // After a Group was created, replaced, patched or deleted: everyone's role again (roles_from_groups).
  void groups_changed();
  // A sign-in as SCIM sees it: the identity (issuer, sub) and its claims.
  struct SignInOf {
    std::string_view issuer;
    std::string_view subject;
    const boost::json::object& claims;
  };
  // The User a sign-in is: the one its identity is bound to (while that User exists), else the first
  // whose match value its scim.match_claim names (an email the IdP says is not verified names none).
  std::optional<std::string> user_of(const SignInOf& sign_in) const;
  // Why SCIM turns a sign-in away: its User is inactive, or its scim.match_claim is an email the IdP says
  // is not verified (it names nobody for sure; matched anyway, anyone typing that address would be that
  // User; left unmatched, a cut-off User's person would sign in). nullopt: it does not.
  enum class Refusal { inactive, unverified_email };
  std::optional<Refusal> refusal_for(const SignInOf& sign_in) const;
  // With roles_from_groups: the displayNames of the Groups of the sign-in's User, which decide the
  // sign-in's role instead of its groups claim. nullopt without roles_from_groups or such a User.
  std::optional<std::vector<std::string>> groups_for(const SignInOf& sign_in) const;
  // The same for a User already known (user_of).
  std::optional<std::vector<std::string>> groups_of_user(const std::string& scim_user_id) const;
  // The HA user made for this User before its person signed in, if any.
  std::optional<std::string> made_ha_user(const std::string& scim_user_id) const;

  // The HA users to make for Users whose people have not signed in (roles_from_groups).
  struct UserToMake {
    std::string scim_user_id;
    std::string display_name;
    std::string username; // wanted; HA's gets a suffix when taken
    std::string ha_group;
  };
  std::vector<UserToMake> users_to_make() const;
  // Asked in the provisioning turn just before making it: nobody signed in as that User meanwhile.
  bool still_to_make(const std::string& scim_user_id) const;
  // Recorded in the same turn, so the person's sign-in right after takes it over.
  void made(const UserToMake& user, const std::string& ha_user_id, const std::string& ha_username) const;

private:
  // The User's match value, lowercased ("" when it has none).
  std::string key_of(const Resource& user) const;
  // Someone SCIM's decisions apply to, and whether a sign-in (or SCIM itself, making their HA user) tied
  // them to the User, or it was inferred from the name of their last sign-in (then they get no role from it).
  struct BoundPerson {
    sessions::Person person;
    bool firm = true;
  };
  // Cut off, lifted and given a role as the User says.
  void reconcile(const BoundPerson& person, const Resource& user) const;
  // The role the User's Groups give (roles_from_groups); nullopt: none.
  // `mapping`: users (roles), read once by the caller for the whole decision.
  std::optional<config::Role> role_of(const Resource& user, const config::Users& mapping) const;
  // For a User nobody signed in as: its HA user asked for (active, with a role) or no longer wanted.
  void want_made(const Resource& user) const;
  // The people SCIM's decisions apply to: everyone who signed in as the User (bound to its id; or, bound
  // to no User that exists, naming its match value: then bound to it, until their next sign-in says
  // otherwise), else the HA user made for it.
  struct Known {
    std::map<std::string, std::vector<BoundPerson>> bound_by_id; // per SCIM User id
    std::map<std::string, std::vector<BoundPerson>> free_by_key; // per SCIM key, bound to no User that exists
    std::map<std::string, sessions::Person> made_by_id;          // HA users made per SCIM User id
  };
  Known known() const;
  std::vector<BoundPerson> people_of(const Resource& user, Known& known) const;
  std::vector<BoundPerson> people_of(const Resource& user) const; // one User: indexed look-ups
  // Everyone who signed in as the User (as people_of, without the HA user made for it).
  std::vector<BoundPerson> signed_in_people(const Resource& user) const;
  // Binds the sign-ins naming `key` that are free to this User, until a sign-in says otherwise.
  void bind(const std::string& user_id, const std::string& key) const;
  // At start: the sign-ins from before people were bound (and any left free) bound to the User their
  // last claim names now, so a rename that comes next still finds them.
  void bind_unbound_people() const;
  // The User an earlier sign-in of this identity bound it to, while that User exists.
  std::optional<std::string> bound_user(const SignInOf& sign_in) const;
  // The HA user made for this SCIM User before its person signed in.
  std::optional<sessions::Person> made_person(const std::string& scim_user_id) const;
  // The displayNames of the User's Groups.
  std::vector<std::string> group_names(const std::string& user_id) const;

  store::Store& store_;
  const config::Scim& settings_;
  const config::Current& current_;
  const Resources& resources_;
};

} // namespace gatehouse::scim
