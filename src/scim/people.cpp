// scim/people: SCIM's word on a person, turned into cut-offs and lifts.
#include "scim/people.hpp"

#include "scim/text.hpp"
#include "sessions/cut_off.hpp"

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

// `active` absent counts as active (RFC 7643 §4.1.1 leaves it to the provider; the IdPs send it).
bool is_active(const json::object& body) {
  const auto* active = body.if_contains("active");
  return !active || !active->is_bool() || active->get_bool();
}

} // namespace

People::People(store::Store& store, const config::Scim& settings, const Resources& resources)
    : store_(store), settings_(settings), resources_(resources) {}

std::string People::key_of(const Resource& user) const { return lowercase(text_at(user.body, settings_.match_attribute)); }

void People::changed(const Resource& user) {
  const auto person = sessions::find_person_by_scim_key(store_, key_of(user));
  if (!person) return; // not signed in yet: refuses() stops the first sign-in if the User is inactive
  if (!is_active(user.body)) {
    sessions::request_cut_off(store_, *person, "scim", "SCIM User " + user.id + " is inactive");
  } else if (sessions::cut_off_source(store_, person->ha_user_id) == "scim") {
    sessions::request_lift(store_, *person, "scim");
  }
}

void People::removed(const Resource& user) {
  if (const auto person = sessions::find_person_by_scim_key(store_, key_of(user)))
    sessions::request_cut_off(store_, *person, "scim", "SCIM User " + user.id + " was deleted");
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

} // namespace gatehouse::scim
