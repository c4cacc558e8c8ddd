// users/link_rule: which existing HA users an identity may be linked to, for every kind of HA user,
// every way of naming it, and every role.
#include <gtest/gtest.h>

#include <string>

#include "users/link_rule.hpp"

using gatehouse::config::Role;
using gatehouse::users::LinkedBy;
using gatehouse::users::LinkTarget;
using gatehouse::users::LinkVerdict;
using gatehouse::users::may_link;

namespace {

struct Kind {
  const char* name;
  LinkTarget target;
};

const Kind kOwner{"owner", {.owner = true, .admin = true}};
const Kind kOwnerNotInAdminGroup{"owner outside system-admin", {.owner = true}};
const Kind kAdmin{"admin", {.admin = true}};
const Kind kServiceUser{"Gatehouse's service user", {.service_user = true, .admin = true}};
const Kind kSystemGenerated{"system-generated user", {.system_generated = true}};
const Kind kSystemGeneratedAdmin{"system-generated admin (Supervisor)", {.system_generated = true, .admin = true}};
const Kind kPlain{"plain user", {}};

struct Row {
  Kind kind;
  LinkedBy by;
  Role role;
  LinkVerdict expected;
};

std::string describe(const Row& row) {
  return std::string(row.kind.name) + " by " + std::string(gatehouse::users::to_string(row.by)) + ", role " +
         (row.role == Role::admin ? "admin" : row.role == Role::user ? "user" : "read_only");
}

} // namespace

TEST(LinkRule, WhoMayBeLinkedByWhatRule) {
  using enum LinkVerdict;
  const Row rows[] = {
      // The owner and admins: only by claim, and only for an admin.
      {kOwner, LinkedBy::claim, Role::admin, allowed},
      {kOwner, LinkedBy::claim, Role::user, privileged_without_admin_role},
      {kOwner, LinkedBy::claim, Role::read_only, privileged_without_admin_role},
      {kOwner, LinkedBy::username, Role::admin, privileged_by_username},
      {kOwner, LinkedBy::username, Role::user, privileged_by_username},
      {kOwner, LinkedBy::username, Role::read_only, privileged_by_username},
      {kOwnerNotInAdminGroup, LinkedBy::username, Role::read_only, privileged_by_username},
      {kOwnerNotInAdminGroup, LinkedBy::claim, Role::user, privileged_without_admin_role},
      {kAdmin, LinkedBy::claim, Role::admin, allowed},
      {kAdmin, LinkedBy::claim, Role::user, privileged_without_admin_role},
      {kAdmin, LinkedBy::claim, Role::read_only, privileged_without_admin_role},
      {kAdmin, LinkedBy::username, Role::admin, privileged_by_username},
      {kAdmin, LinkedBy::username, Role::read_only, privileged_by_username},
      // Gatehouse's own service user and system users: never, whatever the rule or role.
      {kServiceUser, LinkedBy::claim, Role::admin, service_user},
      {kServiceUser, LinkedBy::claim, Role::read_only, service_user},
      {kServiceUser, LinkedBy::username, Role::admin, service_user},
      {kServiceUser, LinkedBy::username, Role::user, service_user},
      {kServiceUser, LinkedBy::earlier, Role::admin, service_user},
      {kSystemGenerated, LinkedBy::claim, Role::admin, system_generated},
      {kSystemGenerated, LinkedBy::username, Role::read_only, system_generated},
      {kSystemGeneratedAdmin, LinkedBy::claim, Role::admin, system_generated},
      // A plain user: by either rule, for any role (it is then brought in line with the role).
      {kPlain, LinkedBy::claim, Role::admin, allowed},
      {kPlain, LinkedBy::claim, Role::read_only, allowed},
      {kPlain, LinkedBy::username, Role::admin, allowed},
      {kPlain, LinkedBy::username, Role::user, allowed},
      {kPlain, LinkedBy::username, Role::read_only, allowed},
      // Linked at an earlier sign-in: an admin is demoted like anyone, the owner (HA cannot demote it)
      // stays linked only while the identity is admin.
      {kOwner, LinkedBy::earlier, Role::admin, allowed},
      {kOwner, LinkedBy::earlier, Role::user, privileged_without_admin_role},
      {kOwner, LinkedBy::earlier, Role::read_only, privileged_without_admin_role},
      {kAdmin, LinkedBy::earlier, Role::read_only, allowed},
      {kPlain, LinkedBy::earlier, Role::read_only, allowed},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(may_link(row.kind.target, row.by, row.role), row.expected)
        << describe(row) << ": got " << gatehouse::users::to_string(may_link(row.kind.target, row.by, row.role));
  }
}

TEST(LinkRule, EveryRefusalHasACodeAndAnExplanation) {
  using enum LinkVerdict;
  for (auto verdict : {service_user, system_generated, privileged_by_username, privileged_without_admin_role}) {
    EXPECT_NE(gatehouse::users::to_string(verdict), "allowed");
    EXPECT_NE(gatehouse::users::to_string(verdict), "unknown");
    EXPECT_NE(gatehouse::users::explain(verdict), "unknown");
  }
  EXPECT_NE(gatehouse::users::explain(privileged_by_username).find("link_existing: claim"), std::string_view::npos);
}
