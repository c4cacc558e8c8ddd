// users/link_rule: owns the answer to "may this identity be linked to this existing HA user?". Linking
// replaces the HA user's password and puts its rights in the hands of whoever the IdP says it is, so
// the HA users whose rights matter most are guarded. Gatehouse's own service user (the user of
// home_assistant.token_file) is never linked: that would hand over Gatehouse's admin and demote it. The
// owner and admins are linked only when the identity names them explicitly (link_existing: claim)
// and its role under users.roles is admin, never because a username happens to match (link_existing:
// username, trusted devices). Pure: no HA, no store.
#pragma once

#include <string_view>

#include "config/config.hpp"

namespace gatehouse::users {

// What matters about the HA user that would be linked (from config/auth/list, contract §4.4, §6).
struct LinkTarget {
  bool service_user = false;     // the user of home_assistant.token_file
  bool system_generated = false; // contract §6.3: cannot sign in interactively
  bool owner = false;            // contract §6.3: cannot be demoted or deactivated
  bool admin = false;            // in system-admin (active or not: linking could activate it later)
};

// How the identity came to name that HA user.
enum class LinkedBy {
  claim,    // link_existing: claim: the IdP names the HA user explicitly
  username, // link_existing: username, or a trusted device's user: the names merely match
  earlier,  // linked at an earlier sign-in; checked again at every sign-in
  scim,     // made by Gatehouse for the person's SCIM User before they signed in
};

enum class LinkVerdict {
  allowed,
  service_user,                  // never: Gatehouse's own admin
  system_generated,              // never: HA gives such users no credentials
  privileged_by_username,        // the owner or an admin, named only by a matching username
  privileged_without_admin_role, // the owner or an admin, and the identity's role is not admin
};

// `role` is the identity's effective role (from users.roles, a trusted device's role, or
// users.default_role). For an earlier link the owner stays linked only while the role is admin (HA
// cannot demote the owner, contract §6.3); an earlier-linked admin is simply demoted like anyone.
LinkVerdict may_link(const LinkTarget& target, LinkedBy by, config::Role role);

std::string_view to_string(LinkedBy by);
std::string_view to_string(LinkVerdict verdict); // short code, for the audit log
std::string_view explain(LinkVerdict verdict);   // one sentence, for the audit log and the operator
} // namespace gatehouse::users
