// scim/people: SCIM's word on a person, turned into cut-offs, lifts, roles and HA users made early.
#include "scim/people.hpp"

#include <sqlite3.h>

#include "logging/log.hpp"
#include "scim/text.hpp"
#include "store/statement.hpp"
#include "users/directory.hpp"

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

// `active` absent counts as active (RFC 7643 §4.1.1 leaves it to the provider; the IdPs send it).
bool is_active(const json::object& body) {
  const auto* active = body.if_contains("active");
  return !active || !active->is_bool() || active->get_bool();
}

// What HA shows as the name of a User's HA user: displayName, else name.formatted, else userName.
std::string display_name_of(const json::object& body) {
  std::string name = text_at(body, "displayName");
  if (const auto* full = body.if_contains("name"); name.empty() && full && full->is_object())
    name = text_at(full->get_object(), "formatted");
  if (name.empty()) name = text_at(body, "userName");
  return name.empty() ? std::string("SCIM user") : name.substr(0, 100);
}

void forget_unmade(store::Store& store, const std::string& scim_user_id) {
  store.write([&](sqlite3* db) {
    store::Statement remove(db, "DELETE FROM scim_made_users WHERE scim_user_id = ? AND ha_user_id IS NULL",
                            "forget an HA user not made");
    remove.bind_text(1, scim_user_id);
    remove.run();
  });
}

// A sign-in free to be bound by its key: bound to no User, or to one deleted since (the IdP made the
// person's User again, as Entra ID does when they are assigned to the app again). One bound to a User
// that exists keeps it, however that User is renamed and whoever gets its old name.
const std::string kUnbound =
    "(scim_user_id IS NULL OR scim_user_id NOT IN (SELECT id FROM scim_resources WHERE kind = 'User'))";
// A sign-in bound by an earlier sign-in to a User that exists.
const std::string kFirmlyBound = "scim_binding_firm = 1 AND scim_user_id IS NOT NULL AND scim_user_id IN "
                                 "(SELECT id FROM scim_resources WHERE kind = 'User')";
// Binds the free sign-ins whose last claim was `key` to this User, until a sign-in says otherwise (the
// statement's ?1 the User's id, ?2 the key).
const std::string kBindByKey =
    "UPDATE identities SET scim_user_id = ?1, scim_binding_firm = 0 WHERE scim_key = ?2 AND " + kUnbound;

// The people of the identities meeting `condition` (one parameter, ?1), with whether a sign-in bound them.
std::vector<std::pair<sessions::Person, bool>> people_where(const store::Store& store, const std::string& condition,
                                                            const std::string& value, const char* purpose) {
  std::vector<std::pair<sessions::Person, bool>> found;
  store.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT ha_user_id, ha_username, scim_binding_firm = 1 FROM identities WHERE " + condition,
                            purpose);
    select.bind_text(1, value);
    while (select.step())
      found.push_back({sessions::Person{select.column_text(0), select.column_text(1)}, select.column_int64(2) == 1});
  });
  return found;
}

} // namespace

People::People(store::Store& store, const config::Scim& settings, const config::Current& current,
               const Resources& resources)
    : store_(store), settings_(settings), current_(current), resources_(resources) {
  bind_unbound_people();
}

void People::bind_unbound_people() const {
  bool any = false;
  store_.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT 1 FROM identities WHERE scim_key IS NOT NULL AND " + kUnbound + " LIMIT 1",
                            "look for people not bound to a SCIM User");
    any = select.step();
  });
  if (!any) return;
  std::vector<std::pair<std::string, std::string>> keys; // User id, key
  resources_.each(Kind::user, [&](const Resource& user) {
    if (auto key = key_of(user); !key.empty()) keys.emplace_back(user.id, std::move(key));
  });
  store_.write([&](sqlite3* db) {
    store::Statement bind(db, kBindByKey, "bind people to their SCIM Users");
    for (const auto& [id, key] : keys) {
      bind.reset();
      bind.bind_text(1, id).bind_text(2, key);
      bind.run();
    }
  });
}

std::vector<People::BoundPerson> People::signed_in_people(const Resource& user) const {
  if (const auto key = key_of(user); !key.empty()) {
    const bool any_free = !people_where(store_, "scim_key = ?1 AND " + kUnbound, key,
                                        "find people by their SCIM User's name")
                               .empty();
    if (any_free) bind(user.id, key);
  }
  std::vector<BoundPerson> people;
  for (auto& [person, firm] : people_where(store_, "scim_user_id = ?1", user.id, "find the people bound to a SCIM User"))
    people.push_back({std::move(person), firm});
  return people;
}

void People::bind(const std::string& user_id, const std::string& key) const {
  store_.write([&](sqlite3* db) {
    store::Statement update(db, kBindByKey, "bind people to their SCIM User");
    update.bind_text(1, user_id).bind_text(2, key);
    update.run();
  });
}

std::string People::key_of(const Resource& user) const { return lowercase(text_at(user.body, settings_.match_attribute)); }

std::vector<std::string> People::group_names(const std::string& user_id) const {
  std::vector<std::string> names;
  for (auto& group : resources_.groups_of(user_id)) names.push_back(std::move(group.display_name));
  return names;
}

std::optional<config::Role> People::role_of(const Resource& user, const config::Users& mapping) const {
  // The same reading of groups as a sign-in's claim (users/directory), so both give one answer.
  json::array names;
  for (auto& name : group_names(user.id)) names.emplace_back(std::move(name));
  return users::role_from_claims(json::object{{mapping.groups_claim, std::move(names)}}, mapping);
}

People::Known People::known() const {
  Known known;
  store_.read([&](sqlite3* db) {
    store::Statement bound(db,
                           "SELECT scim_user_id, scim_key, ha_user_id, ha_username, " + kUnbound +
                               ", scim_binding_firm = 1 FROM identities WHERE scim_key IS NOT NULL OR scim_user_id IS "
                               "NOT NULL",
                           "list the people SCIM names");
    while (bound.step()) {
      const sessions::Person person{bound.column_text(2), bound.column_text(3)};
      if (bound.column_int64(4) == 1) {
        // Bound by its key now: inferred, so not firm.
        if (!bound.column_is_null(1)) known.free_by_key[bound.column_text(1)].push_back({person, false});
      } else {
        known.bound_by_id[bound.column_text(0)].push_back({person, bound.column_int64(5) == 1});
      }
    }
    store::Statement select(db,
                            "SELECT scim_user_id, ha_user_id, ha_username FROM scim_made_users WHERE ha_user_id IS NOT NULL",
                            "list the HA users SCIM made");
    while (select.step())
      known.made_by_id.emplace(select.column_text(0), sessions::Person{select.column_text(1), select.column_text(2)});
  });
  return known;
}

std::vector<People::BoundPerson> People::people_of(const Resource& user, Known& known) const {
  if (const auto key = key_of(user); !key.empty())
    if (const auto found = known.free_by_key.find(key); found != known.free_by_key.end()) {
      bind(user.id, key);
      auto& bound = known.bound_by_id[user.id];
      bound.insert(bound.end(), found->second.begin(), found->second.end());
      known.free_by_key.erase(found);
    }
  if (const auto bound = known.bound_by_id.find(user.id); bound != known.bound_by_id.end()) return bound->second;
  if (const auto made = known.made_by_id.find(user.id); made != known.made_by_id.end())
    return {BoundPerson{made->second, true}};
  return {};
}

std::optional<sessions::Person> People::made_person(const std::string& scim_user_id) const {
  std::optional<sessions::Person> made;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT ha_user_id, ha_username FROM scim_made_users WHERE scim_user_id = ? AND "
                            "ha_user_id IS NOT NULL",
                            "find the HA user SCIM made");
    select.bind_text(1, scim_user_id);
    if (select.step()) made = sessions::Person{select.column_text(0), select.column_text(1)};
  });
  return made;
}

std::vector<People::BoundPerson> People::people_of(const Resource& user) const {
  auto people = signed_in_people(user);
  if (people.empty())
    if (auto made = made_person(user.id)) people.push_back({std::move(*made), true});
  return people;
}

void People::reconcile(const BoundPerson& person, const Resource& user) const {
  const auto config_now = current_.get();
  const config::Users& mapping = config_now->users;
  std::string out_because;
  std::optional<config::Role> role;
  if (!is_active(user.body)) out_because = "SCIM User " + user.id + " is inactive";
  if (settings_.roles_from_groups) {
    role = role_of(user, mapping);
    if (!role && mapping.deny_without_role && out_because.empty())
      out_because = "SCIM User " + user.id + " is in none of the Groups under users.roles";
  }
  if (!out_because.empty()) {
    sessions::request_cut_off(store_, person.person, "scim", out_because);
    return;
  }
  // Ends SCIM's own hold only: a cut-off the console or the people page asked for stays.
  sessions::request_lift(store_, person.person, "scim");
  // A role only for someone a sign-in bound to this User: one inferred from the name of their last sign-in
  // may be someone the IdP renamed since, who must not get the role of the User that took their name.
  // Their next sign-in takes its role from their own User.
  if (settings_.roles_from_groups && person.firm)
    sessions::request_role(store_, person.person, users::ha_group_of(role.value_or(mapping.default_role)), "scim");
}

void People::want_made(const Resource& user) const {
  const auto config_now = current_.get();
  const config::Users& mapping = config_now->users;
  const auto role = settings_.roles_from_groups ? role_of(user, mapping) : std::nullopt;
  if (!settings_.roles_from_groups || !is_active(user.body) || (!role && mapping.deny_without_role)) {
    forget_unmade(store_, user.id);
    return;
  }
  const std::string group(users::ha_group_of(role.value_or(mapping.default_role)));
  store_.write([&](sqlite3* db) {
    store::Statement upsert(db,
                            "INSERT INTO scim_made_users (scim_user_id, display_name, username, ha_group, requested_at_ms) "
                            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (scim_user_id) DO UPDATE SET display_name = ?2, "
                            "username = ?3, ha_group = ?4 WHERE ha_user_id IS NULL",
                            "ask for an HA user for a SCIM User");
    upsert.bind_text(1, user.id).bind_text(2, display_name_of(user.body)).bind_text(3, text_at(user.body, "userName"));
    upsert.bind_text(4, group).bind_int64(5, store::now_unix_ms());
    upsert.run();
  });
}

void People::changed(const Resource& user) {
  // Not signed in yet: refuses() stops the first sign-in if the User is inactive, groups_for() gives its
  // role, and with a role its HA user is made now.
  const auto people = people_of(user);
  for (const auto& person : people) reconcile(person, user);
  if (people.empty()) want_made(user);
}

void People::removed(const Resource& user) {
  forget_unmade(store_, user.id);
  for (const auto& person : people_of(user))
    sessions::request_cut_off(store_, person.person, "scim", "SCIM User " + user.id + " was deleted");
}

void People::groups_changed() {
  if (!settings_.roles_from_groups) return;
  Known everyone = known();
  std::vector<Resource> users;
  resources_.each(Kind::user, [&](const Resource& user) { users.push_back(user); });
  for (const auto& user : users) {
    const auto people = people_of(user, everyone);
    for (const auto& person : people) reconcile(person, user);
    if (people.empty()) want_made(user);
  }
}

std::optional<std::string> People::bound_user(const SignInOf& sign_in) const {
  std::optional<std::string> bound;
  store_.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT scim_user_id FROM identities WHERE issuer = ? AND subject = ? AND " + kFirmlyBound,
                            "find the SCIM User a sign-in is bound to");
    select.bind_text(1, sign_in.issuer).bind_text(2, sign_in.subject);
    if (select.step()) bound = select.column_text(0);
  });
  return bound;
}

std::optional<std::string> People::user_of(const SignInOf& sign_in) const {
  if (auto bound = bound_user(sign_in)) return bound;
  const std::string key = users::scim_key_of(sign_in.claims, settings_.match_claim);
  std::optional<std::string> id;
  if (key.empty()) return id;
  resources_.each(Kind::user, [&](const Resource& user) {
    if (!id && key_of(user) == key) id = user.id;
  });
  return id;
}

std::optional<People::Refusal> People::refusal_for(const SignInOf& sign_in) const {
  if (users::is_unverified_email(sign_in.claims, settings_.match_claim)) return Refusal::unverified_email;
  if (const auto bound = bound_user(sign_in)) {
    const auto user = resources_.get(Kind::user, *bound);
    return user && !is_active(user->body) ? std::optional(Refusal::inactive) : std::nullopt;
  }
  // Not bound yet: any User its name could be that is inactive turns it away.
  const std::string key = users::scim_key_of(sign_in.claims, settings_.match_claim);
  if (key.empty()) return std::nullopt;
  bool inactive = false;
  resources_.each(Kind::user, [&](const Resource& user) {
    if (!inactive && key_of(user) == key && !is_active(user.body)) inactive = true;
  });
  return inactive ? std::optional(Refusal::inactive) : std::nullopt;
}

std::optional<std::vector<std::string>> People::groups_for(const SignInOf& sign_in) const {
  if (!settings_.roles_from_groups) return std::nullopt;
  const auto user_id = user_of(sign_in);
  if (!user_id) return std::nullopt;
  return groups_of_user(*user_id);
}

std::optional<std::vector<std::string>> People::groups_of_user(const std::string& scim_user_id) const {
  if (!settings_.roles_from_groups) return std::nullopt;
  return group_names(scim_user_id);
}

std::optional<std::string> People::made_ha_user(const std::string& scim_user_id) const {
  const auto made = made_person(scim_user_id);
  return made ? std::optional(made->ha_user_id) : std::nullopt;
}

std::vector<People::UserToMake> People::users_to_make() const {
  std::vector<UserToMake> wanted;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT scim_user_id, display_name, username, ha_group FROM scim_made_users "
                            "WHERE ha_user_id IS NULL ORDER BY requested_at_ms",
                            "list the HA users to make for SCIM");
    while (select.step())
      wanted.push_back({select.column_text(0), select.column_text(1), select.column_text(2), select.column_text(3)});
  });
  return wanted;
}

bool People::still_to_make(const std::string& scim_user_id) const {
  const auto user = resources_.get(Kind::user, scim_user_id);
  if (!user) return false;
  if (!signed_in_people(*user).empty()) {
    forget_unmade(store_, scim_user_id); // the person signed in first and has their own HA user
    return false;
  }
  bool wanted = false;
  store_.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT 1 FROM scim_made_users WHERE scim_user_id = ? AND ha_user_id IS NULL",
                            "check an HA user is still to make");
    select.bind_text(1, scim_user_id);
    wanted = select.step();
  });
  return wanted;
}

void People::made(const UserToMake& wanted, const std::string& ha_user_id, const std::string& ha_username) const {
  store_.write([&](sqlite3* db) {
    store::Statement update(db,
                            "UPDATE scim_made_users SET ha_user_id = ?, ha_username = ?, made_at_ms = ? WHERE scim_user_id = ?",
                            "record an HA user SCIM made");
    update.bind_text(1, ha_user_id).bind_text(2, ha_username).bind_int64(3, store::now_unix_ms());
    update.bind_text(4, wanted.scim_user_id);
    update.run();
  });
  logging::info("HA user made for a SCIM User", {{"user", ha_username}, {"scim_user_id", wanted.scim_user_id}});
  // Its Groups may have changed while it was being made.
  if (const auto user = resources_.get(Kind::user, wanted.scim_user_id))
    reconcile(BoundPerson{sessions::Person{ha_user_id, ha_username}, true}, *user);
}

} // namespace gatehouse::scim
