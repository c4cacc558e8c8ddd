// users/link_rule: which existing HA users an identity may take over.
#include "users/link_rule.hpp"

namespace gatehouse::users {

LinkVerdict may_link(const LinkTarget& target, LinkedBy by, config::Role role) {
  if (target.service_user) return LinkVerdict::service_user;
  if (target.system_generated) return LinkVerdict::system_generated;
  const bool privileged = target.owner || target.admin;
  if (!privileged) return LinkVerdict::allowed;
  switch (by) {
  case LinkedBy::username: return LinkVerdict::privileged_by_username;
  case LinkedBy::claim:
    return role == config::Role::admin ? LinkVerdict::allowed : LinkVerdict::privileged_without_admin_role;
  case LinkedBy::earlier:
  case LinkedBy::scim: // Gatehouse made it: the same as its own earlier link
    // An admin is brought in line (demoted) like anyone; the owner cannot be, so it is refused instead.
    return !target.owner || role == config::Role::admin ? LinkVerdict::allowed
                                                         : LinkVerdict::privileged_without_admin_role;
  }
  return LinkVerdict::privileged_by_username;
}

std::string_view to_string(LinkedBy by) {
  switch (by) {
  case LinkedBy::claim: return "claim";
  case LinkedBy::username: return "username";
  case LinkedBy::earlier: return "earlier_link";
  case LinkedBy::scim: return "scim";
  }
  return "unknown";
}

std::string_view to_string(LinkVerdict verdict) {
  switch (verdict) {
  case LinkVerdict::allowed: return "allowed";
  case LinkVerdict::service_user: return "service_user";
  case LinkVerdict::system_generated: return "system_generated";
  case LinkVerdict::privileged_by_username: return "privileged_by_username";
  case LinkVerdict::privileged_without_admin_role: return "privileged_without_admin_role";
  }
  return "unknown";
}

std::string_view explain(LinkVerdict verdict) {
  switch (verdict) {
  case LinkVerdict::allowed: return "the link is allowed";
  case LinkVerdict::service_user:
    return "it is Gatehouse's own service user (home_assistant.token_file), which is never linked";
  case LinkVerdict::system_generated: return "it is a system-generated HA user, which is never linked";
  case LinkVerdict::privileged_by_username:
    return "it is the HA owner or an administrator, which a matching username never takes over (only "
           "link_existing: claim, for an identity whose role is admin)";
  case LinkVerdict::privileged_without_admin_role:
    return "it is the HA owner or an administrator, and this identity's role under users.roles is not admin";
  }
  return "unknown";
}

} // namespace gatehouse::users
