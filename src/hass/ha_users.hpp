// hass/ha_users: owns reading HA's user list through the admin connection (config/auth/list, contract
// §4.4): who each HA user is, their groups, whether they are active. users/directory provisions from it;
// the people page shows it and asks it who is an administrator.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <variant>
#include <vector>

#include "hass/admin_connection.hpp"

namespace gatehouse::hass {

struct HaUser {
  std::string id;
  std::string name;
  std::string username; // homeassistant-provider username, "" if none
  bool is_owner = false;
  bool is_active = false;
  bool system_generated = false;
  std::vector<std::string> group_ids;

  bool in_admin_group() const; // in system-admin (HA counts the owner as an administrator too)
};

// HA's config/auth/list result read as users; entries without an id are skipped.
std::vector<HaUser> parse_users(const boost::json::value& list);

// Every HA user, or why HA could not list them.
boost::asio::awaitable<std::variant<std::vector<HaUser>, std::string>> list_ha_users(AdminConnection& admin);

} // namespace gatehouse::hass
