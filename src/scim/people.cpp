// scim/people: SCIM's word on a person, turned into cut-offs, lifts and roles.
#include "scim/people.hpp"

#include <map>

#include "scim/text.hpp"
#include "users/directory.hpp"

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

// `active` absent counts as active (RFC 7643 §4.1.1 leaves it to the provider; the IdPs send it).
bool is_active(const json::object& body) {
  const auto* active = body.if_contains("active");
  return !active || !active->is_bool() || active->get_bool();
}

} // namespace

People::People(store::Store& store, const config::Scim& settings, const config::Users& users,
               const Resources& resources)
    : store_(store), settings_(settings), users_(users), resources_(resources) {}

std::string People::key_of(const Resource& user) const { return lowercase(text_at(user.body, settings_.match_attribute)); }

void People::reconcile(const sessions::Person& person, const Resource& user) {
  std::string out_because;
  std::optional<config::Role> role;
  if (!is_active(user.body)) out_because = "SCIM User " + user.id + " is inactive";
  if (settings_.roles_from_groups) {
    // The same reading of groups as a sign-in's claim (users/directory), so both give one answer.
    json::array names;
    for (const auto& group : resources_.groups_of(user.id)) names.emplace_back(group.display_name);
    role = users::role_from_claims(json::object{{users_.groups_claim, std::move(names)}}, users_);
    if (!role && users_.deny_without_role && out_because.empty())
      out_because = "SCIM User " + user.id + " is in none of the Groups under users.roles";
  }
  if (!out_because.empty()) {
    sessions::request_cut_off(store_, person, "scim", out_because);
    return;
  }
  if (sessions::cut_off_source(store_, person.ha_user_id) == "scim") sessions::request_lift(store_, person, "scim");
  if (settings_.roles_from_groups)
    sessions::request_role(store_, person, users::ha_group_of(role.value_or(users_.default_role)), "scim");
}

void People::changed(const Resource& user) {
  // Not signed in yet: refuses() stops the first sign-in if the User is inactive, groups_for() gives its role.
  if (const auto person = sessions::find_person_by_scim_key(store_, key_of(user))) reconcile(*person, user);
}

void People::removed(const Resource& user) {
  if (const auto person = sessions::find_person_by_scim_key(store_, key_of(user)))
    sessions::request_cut_off(store_, *person, "scim", "SCIM User " + user.id + " was deleted");
}

void People::groups_changed() {
  if (!settings_.roles_from_groups) return;
  const auto people = sessions::people_by_scim_key(store_);
  if (people.empty()) return;
  std::map<std::string, Resource> users_by_key;
  resources_.each(Kind::user, [&](const Resource& user) {
    if (auto key = key_of(user); !key.empty()) users_by_key.emplace(std::move(key), user);
  });
  for (const auto& [key, person] : people)
    if (const auto user = users_by_key.find(key); user != users_by_key.end()) reconcile(person, user->second);
}

bool People::refuses(const json::object& claims) const {
  const std::string key = lowercase(text_at(claims, settings_.match_claim));
  if (key.empty()) return false;
  bool inactive = false;
  resources_.each(Kind::user, [&](const Resource& user) {
    if (!inactive && key_of(user) == key && !is_active(user.body)) inactive = true;
  });
  return inactive;
}

std::optional<std::vector<std::string>> People::groups_for(const json::object& claims) const {
  if (!settings_.roles_from_groups) return std::nullopt;
  const std::string key = lowercase(text_at(claims, settings_.match_claim));
  if (key.empty()) return std::nullopt;
  std::optional<std::string> user_id;
  resources_.each(Kind::user, [&](const Resource& user) {
    if (!user_id && key_of(user) == key) user_id = user.id;
  });
  if (!user_id) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& group : resources_.groups_of(*user_id)) names.push_back(group.display_name);
  return names;
}

} // namespace gatehouse::scim
