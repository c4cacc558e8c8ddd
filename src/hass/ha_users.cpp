// hass/ha_users: HA's user list, read from config/auth/list.
#include "hass/ha_users.hpp"

#include <algorithm>

namespace gatehouse::hass {

namespace json = boost::json;

bool HaUser::in_admin_group() const {
  return std::find(group_ids.begin(), group_ids.end(), "system-admin") != group_ids.end();
}

std::vector<HaUser> parse_users(const json::value& list) {
  std::vector<HaUser> users;
  if (!list.is_array()) return users;
  for (const auto& entry : list.as_array()) {
    if (!entry.is_object()) continue;
    const auto& o = entry.as_object();
    HaUser user;
    auto text = [&](std::string_view key) {
      const auto* v = o.if_contains(key);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto flag = [&](std::string_view key) {
      const auto* v = o.if_contains(key);
      return v && v->is_bool() && v->as_bool();
    };
    user.id = text("id");
    user.name = text("name");
    user.username = text("username");
    user.is_owner = flag("is_owner");
    user.is_active = flag("is_active");
    user.system_generated = flag("system_generated");
    if (const auto* groups = o.if_contains("group_ids"); groups && groups->is_array())
      for (const auto& g : groups->as_array())
        if (g.is_string()) user.group_ids.emplace_back(g.as_string());
    if (!user.id.empty()) users.push_back(std::move(user));
  }
  return users;
}

boost::asio::awaitable<std::variant<std::vector<HaUser>, std::string>> list_ha_users(AdminConnection& admin) {
  json::object list_command{{"type", "config/auth/list"}};
  auto listed = co_await admin.call(list_command);
  if (!listed.ok) co_return "listing HA users failed: " + listed.error_message;
  co_return parse_users(listed.result);
}

} // namespace gatehouse::hass
