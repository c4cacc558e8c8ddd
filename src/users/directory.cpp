// users/directory: identities in the store, HA users through the admin API.
#include "users/directory.hpp"

#include <variant>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>
#include <set>

#include "hass/ha_users.hpp"
#include "logging/log.hpp"
#include "sessions/cut_off.hpp"
#include "store/statement.hpp"
#include "users/link_rule.hpp"

namespace gatehouse::users {

namespace asio = boost::asio;
namespace json = boost::json;
using Kind = DirectoryRefusal::Kind;
using hass::HaUser;
using hass::list_ha_users;

namespace {

constexpr std::size_t kMaxUsernameLength = 32;

// A new HA user named `display_name` in `group`, with a login: the username `base` (or "user"), or
// base-2, base-3… when taken in HA or by an identity; its password derived from the master key.
asio::awaitable<std::variant<MadeUser, std::string>> create_ha_user(hass::AdminConnection& admin, store::Store& store,
                                                                   const MasterKey& key,
                                                                   const std::vector<HaUser>& ha_users,
                                                                   std::string display_name, std::string base,
                                                                   std::string group) {
  if (base.empty()) base = "user";
  std::set<std::string> taken;
  for (const auto& u : ha_users) taken.insert(u.username);
  store.read([&](sqlite3* db) {
    store::Statement names(db, "SELECT ha_username FROM identities", "list managed usernames");
    while (names.step()) taken.insert(names.column_text(0));
  });
  auto next_free = [&] {
    for (int n = 1;; ++n) {
      std::string candidate = n == 1 ? base : base.substr(0, kMaxUsernameLength - 4) + "-" + std::to_string(n);
      if (!taken.contains(candidate)) return candidate;
    }
  };
  json::object create_user{{"type", "config/auth/create"}, {"name", display_name}, {"group_ids", json::array{json::string(group)}}};
  auto created = co_await admin.call(create_user);
  const json::value* user_value = created.ok && created.result.is_object() ? created.result.as_object().if_contains("user") : nullptr;
  const json::value* id_value = user_value && user_value->is_object() ? user_value->as_object().if_contains("id") : nullptr;
  if (!id_value || !id_value->is_string()) co_return "creating the HA user failed: " + created.error_message;
  const std::string user_id(id_value->as_string());
  std::string username;
  hass::CommandResult credential;
  for (int attempt = 0; attempt < 5; ++attempt) {
    username = next_free();
    json::object login{{"type", "config/auth_provider/homeassistant/create"},
                       {"user_id", user_id},
                       {"username", username},
                       {"password", key.password_for(user_id)}};
    credential = co_await admin.call(login);
    if (credential.ok) break;
    taken.insert(username); // someone took it in HA meanwhile: try the next one
  }
  if (!credential.ok) {
    json::object undo{{"type", "config/auth/delete"}, {"user_id", user_id}};
    co_await admin.call(undo);
    co_return "giving the new HA user a login failed: " + credential.error_message;
  }
  co_return MadeUser{user_id, username};
}

// The HA user with this id (nullopt: none), or why HA could not list them.
asio::awaitable<std::variant<std::optional<HaUser>, std::string>> find_ha_user(hass::AdminConnection& admin,
                                                                              std::string ha_user_id) {
  auto listed = co_await list_ha_users(admin);
  if (auto* failure = std::get_if<std::string>(&listed)) co_return std::move(*failure);
  for (auto& user : std::get<std::vector<HaUser>>(listed))
    if (user.id == ha_user_id) co_return std::optional<HaUser>(std::move(user));
  co_return std::optional<HaUser>();
}

std::string claim_string(const json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

struct Identity {
  std::string ha_user_id;
  std::string ha_username;
};

std::optional<Identity> find_identity(store::Store& store, const std::string& issuer, const std::string& subject) {
  std::optional<Identity> found;
  store.read([&](sqlite3* db) {
    store::Statement query(db, "SELECT ha_user_id, ha_username FROM identities WHERE issuer = ? AND subject = ?",
                           "look up an identity");
    query.bind_text(1, issuer).bind_text(2, subject);
    if (query.step()) found = Identity{query.column_text(0), query.column_text(1)};
  });
  return found;
}

bool ha_user_is_linked(store::Store& store, const std::string& ha_user_id) {
  bool linked = false;
  store.read([&](sqlite3* db) {
    store::Statement query(db, "SELECT 1 FROM identities WHERE ha_user_id = ?", "look up an identity by HA user");
    query.bind_text(1, ha_user_id);
    linked = query.step();
  });
  return linked;
}

void audit(store::Store& store, std::string event, std::string subject, std::string client_address, json::object detail) {
  store.append_audit({0, store::now_unix_ms(), std::move(event), std::move(subject), std::move(client_address),
                      json::serialize(detail)});
}

} // namespace

std::string clean_username(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
    else if (c == '.' || c == '_' || c == '-') out += static_cast<char>(c);
    else if (!out.empty() && out.back() != '-') out += '-'; // spaces, '@', non-ASCII bytes...
  }
  auto edge = [](char c) { return c == '-' || c == '.' || c == '_'; };
  while (!out.empty() && edge(out.back())) out.pop_back();
  std::size_t start = 0;
  while (start < out.size() && edge(out[start])) ++start;
  out = out.substr(start, kMaxUsernameLength);
  while (!out.empty() && edge(out.back())) out.pop_back();
  return out;
}

std::optional<config::Role> role_from_claims(const json::object& claims, const config::Users& mapping) {
  std::set<std::string> groups;
  if (const auto* value = claims.if_contains(mapping.groups_claim)) {
    if (value->is_string()) groups.emplace(value->as_string());
    if (value->is_array())
      for (const auto& g : value->as_array())
        if (g.is_string()) groups.emplace(g.as_string());
  }
  auto any_of = [&](const std::vector<std::string>& names) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return groups.contains(n); });
  };
  if (any_of(mapping.admin_groups)) return config::Role::admin;
  if (any_of(mapping.user_groups)) return config::Role::user;
  if (any_of(mapping.read_only_groups)) return config::Role::read_only;
  return std::nullopt;
}

bool is_unverified_email(const json::object& claims, std::string_view claim) {
  if (claim != "email") return false;
  const auto* verified = claims.if_contains("email_verified");
  return verified && verified->is_bool() && !verified->as_bool();
}

std::string scim_key_of(const json::object& claims, std::string_view claim) {
  if (is_unverified_email(claims, claim)) return std::string();
  std::string key = claim_string(claims, claim);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return key;
}

std::string_view ha_group_of(config::Role role) {
  switch (role) {
  case config::Role::admin: return "system-admin";
  case config::Role::user: return "system-users";
  case config::Role::read_only: return "system-read-only";
  }
  return "system-read-only";
}

Directory::Directory(store::Store& store, hass::AdminConnection& admin, const config::Current& current,
                     const MasterKey& key, std::string scim_claim)
    : store_(store), admin_(admin), current_(current), key_(key), scim_claim_(std::move(scim_claim)) {}

asio::awaitable<void> Directory::lock() {
  if (!busy_) {
    busy_ = true;
    co_return;
  }
  asio::steady_timer turn(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  waiting_.push_back(&turn);
  co_await turn.async_wait(asio::as_tuple(asio::use_awaitable)); // cancelled by unlock(): our turn
}

void Directory::unlock() {
  if (waiting_.empty()) {
    busy_ = false;
    return;
  }
  auto* next = waiting_.front();
  waiting_.pop_front();
  next->cancel(); // busy_ stays true: the lock passes straight to the next run
}

asio::awaitable<DirectoryOutcome> Directory::prepare(std::string issuer, std::string subject, std::string provider_id,
                                                     json::object claims, std::string client_address,
                                                     Provisioning provisioning) {
  auto operation = prepare_here(std::move(issuer), std::move(subject), std::move(provider_id), std::move(claims),
                                std::move(client_address), provisioning);
  co_return co_await asio::co_spawn(admin_.executor(), std::move(operation), asio::use_awaitable);
}

asio::awaitable<DirectoryOutcome> Directory::prepare_here(std::string issuer, std::string subject,
                                                          std::string provider_id, json::object claims,
                                                          std::string client_address, Provisioning provisioning) {
  const auto config_now = provisioning.config ? provisioning.config : current_.get();
  const config::Users& mapping = config_now->users;
  DirectoryOutcome outcome;
  auto role = provisioning.role ? provisioning.role : role_from_claims(claims, mapping);
  if (!role && mapping.deny_without_role) {
    outcome.refusal = {Kind::no_role, "the IdP puts this user in none of the groups under users.roles"};
    co_return outcome;
  }
  const config::Role effective_role = role.value_or(mapping.default_role);
  const std::string group(ha_group_of(effective_role));
  const std::string display_name = [&] {
    auto name = claim_string(claims, mapping.name_claim);
    if (name.empty()) name = claim_string(claims, mapping.username_claim);
    return name.empty() ? std::string("SSO user") : name.substr(0, 100);
  }();

  co_await lock();
  const Turn turn{this};
  auto listed = co_await list_ha_users(admin_);
  if (auto* failure = std::get_if<std::string>(&listed)) {
    outcome.refusal = {Kind::ha_unavailable, *failure};
    co_return outcome;
  }
  auto ha_users = std::move(std::get<std::vector<HaUser>>(listed));
  auto find_user = [&](auto predicate) -> const HaUser* {
    auto it = std::find_if(ha_users.begin(), ha_users.end(), predicate);
    return it == ha_users.end() ? nullptr : &*it;
  };
  const std::string service_user_id = admin_.service_user_id(); // known once the admin connection is ready
  if (service_user_id.empty()) {
    outcome.refusal = {Kind::ha_unavailable, "Gatehouse does not know its own HA user yet"};
    co_return outcome;
  }
  // Whether this identity may be (or stay) linked to `user`; a refusal is audited with its reason.
  auto link_refused = [&](const HaUser& user, LinkedBy by) {
    const bool admin = user.in_admin_group();
    const LinkTarget target{user.id == service_user_id, user.system_generated, user.is_owner, admin};
    const LinkVerdict verdict = may_link(target, by, effective_role);
    if (verdict == LinkVerdict::allowed) return false;
    audit(store_, "link_refused", user.username, client_address,
          {{"ha_user_id", user.id},
           {"provider", provider_id},
           {"by", to_string(by)},
           {"group", ha_group_of(effective_role)},
           {"why", to_string(verdict)}});
    outcome.refusal = {Kind::conflict, "HA user '" + user.username + "' cannot be linked to this identity: " +
                                           std::string(explain(verdict))};
    return true;
  };

  // Brings name and role in line. The owner's groups are never touched (HA cannot demote the owner);
  // an owner whose identity is not admin was refused by link_refused before this.
  auto bring_in_line = [&](const HaUser& user) -> asio::awaitable<bool> {
    const bool group_differs = !user.is_owner && user.group_ids != std::vector<std::string>{group};
    if (!group_differs && user.name == display_name) co_return true;
    json::object update{{"type", "config/auth/update"}, {"user_id", user.id}, {"name", display_name}};
    if (group_differs) update["group_ids"] = json::array{json::string(group)};
    auto updated = co_await admin_.call(update);
    if (!updated.ok) co_return false;
    if (group_differs) {
      json::array before;
      for (const auto& g : user.group_ids) before.emplace_back(g);
      audit(store_, "role_changed", user.username, client_address,
            {{"ha_user_id", user.id}, {"from", before}, {"to", group}});
    }
    co_return true;
  };
  // Which SCIM User this is (scim/people), as of this sign-in: only for a sign-in through SCIM's source.
  const bool scim_source = config_now->scim && config_now->scim->provisions(provider_id);
  const std::string scim_key = scim_claim_.empty() || !scim_source ? std::string() : scim_key_of(claims, scim_claim_);
  auto ready = [&](const std::string& id, const std::string& username, bool created) {
    outcome.user = ReadyUser{id, username, display_name, key_.password_for(id), created};
    store_.write([&](sqlite3* db) {
      store::Statement touch(db,
                             "UPDATE identities SET last_login_at_ms = ?1, ha_username = ?2, scim_key = NULLIF(?3, ''), "
                             "scim_user_id = COALESCE(NULLIF(?4, ''), scim_user_id), "
                             "scim_binding_firm = CASE WHEN ?4 = '' THEN scim_binding_firm ELSE 1 END "
                             "WHERE issuer = ?5 AND subject = ?6",
                             "record a login");
      touch.bind_int64(1, store::now_unix_ms()).bind_text(2, username).bind_text(3, scim_key);
      touch.bind_text(4, scim_key.empty() ? std::string() : provisioning.scim_user_id);
      touch.bind_text(5, issuer).bind_text(6, subject);
      touch.run();
    });
  };
  auto remember = [&](const std::string& id, const std::string& username) {
    store_.write([&](sqlite3* db) {
      store::Statement insert(db,
                              "INSERT INTO identities (issuer, subject, ha_user_id, ha_username, provider_id, "
                              "created_at_ms, last_login_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              "remember an identity");
      insert.bind_text(1, issuer).bind_text(2, subject).bind_text(3, id).bind_text(4, username);
      insert.bind_text(5, provider_id).bind_int64(6, store::now_unix_ms()).bind_int64(7, store::now_unix_ms());
      insert.run();
    });
  };

  // Known identity whose HA user still exists.
  if (auto identity = find_identity(store_, issuer, subject)) {
    if (const HaUser* user = find_user([&](const HaUser& u) { return u.id == identity->ha_user_id; })) {
      if (link_refused(*user, LinkedBy::earlier)) co_return outcome; // e.g. linked before this rule existed
      if (!co_await bring_in_line(*user)) {
        outcome.refusal = {Kind::ha_unavailable, "updating the HA user failed"};
        co_return outcome;
      }
      ready(user->id, user->username.empty() ? identity->ha_username : user->username, false);
      co_return outcome;
    }
    // Deleted in HA meanwhile: the identity starts over, unless its person is cut off (the cut-off names
    // the old HA user; a new one would escape it).
    if (sessions::still_cut_off(store_, identity->ha_user_id)) {
      outcome.refusal = {Kind::cut_off, "cut off, and their HA user " + identity->ha_user_id + " no longer exists"};
      co_return outcome;
    }
    store_.write([&](sqlite3* db) {
      store::Statement forget(db, "DELETE FROM identities WHERE issuer = ? AND subject = ?", "forget an identity");
      forget.bind_text(1, issuer).bind_text(2, subject);
      forget.run();
    });
    audit(store_, "identity_reset", identity->ha_username, client_address,
          {{"ha_user_id", identity->ha_user_id}, {"reason", "the HA user no longer exists"}});
  }

  // Sets a derived password on an HA user: the credential is replaced (admin API, no owner needed).
  auto set_credential = [&](const std::string& user_id, const std::string& old_username,
                            const std::string& username) -> asio::awaitable<hass::CommandResult> {
    if (!old_username.empty()) {
      json::object remove{{"type", "config/auth_provider/homeassistant/delete"}, {"username", old_username}};
      auto removed = co_await admin_.call(remove);
      if (!removed.ok) co_return removed;
    }
    json::object create{{"type", "config/auth_provider/homeassistant/create"},
                        {"user_id", user_id},
                        {"username", username},
                        {"password", key_.password_for(user_id)}};
    co_return co_await admin_.call(create);
  };

  // The HA user SCIM made for this person before their first sign-in: theirs, unless someone has it.
  if (provisioning.scim_made_user)
    if (const auto made_id = provisioning.scim_made_user())
      if (const HaUser* user = find_user([&](const HaUser& u) { return u.id == *made_id; });
          user && !ha_user_is_linked(store_, user->id) && !link_refused(*user, LinkedBy::scim)) {
        remember(user->id, user->username);
        audit(store_, "user_linked", user->username, client_address,
              {{"ha_user_id", user->id}, {"provider", provider_id}, {"by", to_string(LinkedBy::scim)}});
        if (!co_await bring_in_line(*user)) {
          outcome.refusal = {Kind::ha_unavailable, "updating the HA user failed"};
          co_return outcome;
        }
        ready(user->id, user->username, false);
        co_return outcome;
      }
  if (outcome.refusal.kind == Kind::conflict) co_return outcome;

  // Linking an existing HA user, when configured. A user that may not be linked is a refusal, never a
  // reason to create a second user beside it: the person asks the administrator (link_rule).
  std::string link_name;
  LinkedBy linked_by = LinkedBy::username;
  if (mapping.link_existing == config::LinkExisting::claim) {
    link_name = claim_string(claims, mapping.link_claim);
    linked_by = LinkedBy::claim;
  }
  if (mapping.link_existing == config::LinkExisting::username || provisioning.link_by_username) {
    // Only a claim that is that HA username as it stands (case aside): "Bob." or "bob smith" folded into
    // "bob" or "bob-smith" would hand someone else's HA user to whoever the IdP calls that.
    const std::string claimed = claim_string(claims, mapping.username_claim);
    std::string lowered = claimed;
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!lowered.empty() && clean_username(claimed) == lowered) {
      link_name = lowered;
    } else if (!lowered.empty()) {
      audit(store_, "link_skipped", clean_username(claimed), client_address,
            {{"provider", provider_id},
             {"by", to_string(LinkedBy::username)},
             {"why", "the username claim is not an HA username as it stands, so it names no existing HA user"}});
    }
    linked_by = LinkedBy::username;
  }
  if (!link_name.empty()) {
    std::string wanted = link_name;
    std::transform(wanted.begin(), wanted.end(), wanted.begin(), [](unsigned char c) { return std::tolower(c); });
    if (const HaUser* user = find_user([&](const HaUser& u) { return u.username == wanted; })) {
      if (link_refused(*user, linked_by)) co_return outcome;
      if (ha_user_is_linked(store_, user->id)) {
        outcome.refusal = {Kind::conflict, "HA user '" + wanted + "' is already linked to another identity"};
        co_return outcome;
      }
      auto linked = co_await set_credential(user->id, user->username, user->username);
      if (!linked.ok) {
        outcome.refusal = {Kind::ha_unavailable, "linking HA user failed: " + linked.error_message};
        co_return outcome;
      }
      remember(user->id, user->username);
      audit(store_, "user_linked", user->username, client_address,
            {{"ha_user_id", user->id}, {"provider", provider_id}, {"by", to_string(linked_by)}});
      if (!co_await bring_in_line(*user)) {
        outcome.refusal = {Kind::ha_unavailable, "updating the HA user failed"};
        co_return outcome;
      }
      ready(user->id, user->username, false);
      co_return outcome;
    }
  }

  // A new HA user.
  std::string base = clean_username(claim_string(claims, mapping.username_claim));
  if (base.empty()) base = clean_username(display_name);
  auto made = co_await create_ha_user(admin_, store_, key_, ha_users, display_name, base, group);
  if (auto* failure = std::get_if<std::string>(&made)) {
    outcome.refusal = {Kind::ha_unavailable, *failure};
    co_return outcome;
  }
  const std::string user_id = std::get<MadeUser>(made).ha_user_id;
  const std::string username = std::get<MadeUser>(made).username;
  remember(user_id, username);
  audit(store_, "user_created", username, client_address,
        {{"ha_user_id", user_id}, {"provider", provider_id}, {"group", group}});
  ready(user_id, username, true);
  co_return outcome;
}

asio::awaitable<std::string> Directory::make_for_scim(std::string display_name, std::string username_hint,
                                                      std::string ha_group, std::function<bool()> still_wanted,
                                                      std::function<void(const MadeUser&)> made) {
  auto operation = make_for_scim_here(std::move(display_name), std::move(username_hint), std::move(ha_group),
                                      std::move(still_wanted), std::move(made));
  co_return co_await asio::co_spawn(admin_.executor(), std::move(operation), asio::use_awaitable);
}

asio::awaitable<std::string> Directory::make_for_scim_here(std::string display_name, std::string username_hint,
                                                           std::string ha_group, std::function<bool()> still_wanted,
                                                           std::function<void(const MadeUser&)> made) {
  co_await lock();
  const Turn turn{this};
  if (!still_wanted()) co_return std::string();
  auto listed = co_await list_ha_users(admin_);
  if (auto* failure = std::get_if<std::string>(&listed)) co_return *failure;
  const auto& ha_users = std::get<std::vector<HaUser>>(listed);
  std::string base = clean_username(username_hint); // named: GCC 12 and temporaries inside co_await
  auto created = co_await create_ha_user(admin_, store_, key_, ha_users, display_name, base, ha_group);
  if (auto* failure = std::get_if<std::string>(&created)) co_return *failure;
  const auto& user = std::get<MadeUser>(created);
  made(user);
  audit(store_, "user_created", user.username, "", {{"ha_user_id", user.ha_user_id}, {"provider", "scim"}, {"group", ha_group}});
  co_return std::string();
}

bool Directory::home_assistant_ready() const { return admin_.status() == hass::AdminStatus::ready; }

asio::awaitable<Directory::RoleOutcome> Directory::set_role(std::string ha_user_id, std::string ha_group,
                                                             std::string source) {
  auto operation = set_role_here(std::move(ha_user_id), std::move(ha_group), std::move(source));
  co_return co_await asio::co_spawn(admin_.executor(), std::move(operation), asio::use_awaitable);
}

asio::awaitable<Directory::RoleOutcome> Directory::set_role_here(std::string ha_user_id, std::string ha_group,
                                                                  std::string source) {
  RoleOutcome outcome;
  co_await lock();
  const Turn turn{this};
  auto found = co_await find_ha_user(admin_, ha_user_id);
  if (auto* failure = std::get_if<std::string>(&found)) {
    outcome.failure = *failure;
    co_return outcome;
  }
  const auto& user = std::get<std::optional<HaUser>>(found);
  if (!user) {
    outcome.not_set = "the HA user no longer exists";
  } else if (user->is_owner || user->system_generated) {
    outcome.not_set = "HA does not change the groups of the owner or a system user";
  } else if (user->group_ids != std::vector<std::string>{ha_group}) {
    json::object update{{"type", "config/auth/update"}, {"user_id", ha_user_id}, {"group_ids", json::array{json::string(ha_group)}}};
    auto updated = co_await admin_.call(update);
    if (updated.error_code == "not_found") {
      outcome.not_set = "the HA user no longer exists";
    } else if (!updated.ok) {
      outcome.failure = "HA did not change the user's group (" + updated.error_code + ")";
    } else {
      json::array before;
      for (const auto& g : user->group_ids) before.emplace_back(g);
      audit(store_, "role_changed", user->username, "", {{"ha_user_id", ha_user_id}, {"from", before}, {"to", ha_group}, {"source", source}});
    }
  }
  co_return outcome;
}

asio::awaitable<Directory::DeleteOutcome> Directory::delete_user(std::string ha_user_id) {
  auto operation = delete_user_here(std::move(ha_user_id));
  co_return co_await asio::co_spawn(admin_.executor(), std::move(operation), asio::use_awaitable);
}

asio::awaitable<Directory::DeleteOutcome> Directory::delete_user_here(std::string ha_user_id) {
  DeleteOutcome outcome;
  co_await lock();
  const Turn turn{this};
  auto found = co_await find_ha_user(admin_, ha_user_id);
  if (auto* failure = std::get_if<std::string>(&found)) {
    outcome.failure = *failure;
    co_return outcome;
  }
  const auto& user = std::get<std::optional<HaUser>>(found);
  // HA lets an admin delete the owner (contract §4.4): Gatehouse never does.
  if (!user || user->is_owner || user->system_generated || user->id == admin_.service_user_id())
    co_return outcome;
  json::object remove{{"type", "config/auth/delete"}, {"user_id", ha_user_id}};
  auto removed = co_await admin_.call(remove);
  if (!removed.ok && removed.error_code != "not_found") {
    outcome.failure = "HA did not delete the user (" + removed.error_code + ")";
    co_return outcome;
  }
  outcome.deleted = removed.ok;
  if (removed.ok) audit(store_, "user_deleted", user->username, "", {{"ha_user_id", ha_user_id}, {"source", "scim"}});
  co_return outcome;
}

asio::awaitable<std::optional<Directory::HaUserState>> Directory::ha_user_state(std::string ha_user_id) {
  auto operation = [](hass::AdminConnection& admin, std::string id) -> asio::awaitable<std::optional<HaUserState>> {
    auto found = co_await find_ha_user(admin, std::move(id));
    if (std::holds_alternative<std::string>(found)) co_return std::nullopt;
    const auto& user = std::get<std::optional<HaUser>>(found);
    if (!user) co_return HaUserState::gone;
    co_return user->is_active ? HaUserState::active : HaUserState::inactive;
  }(admin_, std::move(ha_user_id));
  co_return co_await asio::co_spawn(admin_.executor(), std::move(operation), asio::use_awaitable);
}

asio::awaitable<hass::CommandResult> Directory::set_active(std::string ha_user_id, bool active) {
  json::object update{{"type", "config/auth/update"}, {"user_id", ha_user_id}, {"is_active", active}};
  co_return co_await admin_.call(update);
}

asio::awaitable<bool> Directory::repair_password(std::string ha_user_id, std::string username) {
  json::object remove{{"type", "config/auth_provider/homeassistant/delete"}, {"username", username}};
  co_await admin_.call(remove);
  json::object create{{"type", "config/auth_provider/homeassistant/create"},
                      {"user_id", ha_user_id},
                      {"username", username},
                      {"password", key_.password_for(ha_user_id)}};
  auto created = co_await admin_.call(create);
  if (created.ok)
    logging::warn("reset the HA password of a managed user", {{"username", username}});
  co_return created.ok;
}

} // namespace gatehouse::users
