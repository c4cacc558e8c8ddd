// people/people_page: the page's JSON API over the store, HA's user list and the relayed websockets.
#include "people/people_page.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <variant>

#include "hass/ha_users.hpp"
#include "logging/log.hpp"
#include "people/page_assets.hpp"
#include "sessions/cut_off.hpp"
#include "sessions/session_ends.hpp"
#include "store/statement.hpp"
#include "web/query.hpp"

namespace gatehouse::people {
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kSource = "people_page"; // who asked, as cut-offs and session ends record it
constexpr std::size_t kMaxReasonBytes = 200;
constexpr std::int64_t kMaxAuditHours = 24 * 366;

// {message, code}: every refusal, and an action's acceptance.
web::Response coded_answer(http::status status, std::string_view code, std::string message, unsigned version) {
  return web::json_response(status, json::object{{"message", message}, {"code", code}}, version);
}

web::Response asset(std::string_view content_type, std::string_view body, unsigned version) {
  web::Response response{http::status::ok, version};
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-cache");
  response.set("X-Content-Type-Options", "nosniff");
  response.body() = std::string(body);
  response.prepare_payload();
  return response;
}

json::value time_or_null(const store::Statement& row, int column) {
  if (row.column_is_null(column)) return nullptr;
  return json::value(store::iso_time(row.column_int64(column)));
}

std::string_view role_of(const hass::HaUser& user) {
  for (const auto& group : user.group_ids) {
    if (group == "system-admin") return "admin";
    if (group == "system-users") return "user";
    if (group == "system-read-only") return "read_only";
  }
  return "none";
}

std::string local_login_text(const config::Config& config) {
  switch (config.local_login) {
    case config::LocalLogin::disabled: return "disabled";
    case config::LocalLogin::allowed: return "allowed";
    case config::LocalLogin::networks: break;
  }
  std::string text = "from ";
  for (std::size_t i = 0; i < config.local_login_networks.size(); ++i)
    text += (i ? ", " : "") + config.local_login_networks[i].to_string();
  return text;
}

} // namespace

PeoplePage::PeoplePage(const config::Config& config, store::Store& store, hass::AdminConnection& admin,
                       shield::TokenCache& tokens)
    : config_(config), store_(store), admin_(admin), tokens_(tokens) {}

void PeoplePage::keep_last_uses() {
  const auto uses = tokens_.take_new_uses(store::now_unix_ms() / 1000);
  if (uses.empty()) return;
  try {
    write_last_uses(uses);
  } catch (const std::exception& error) {
    tokens_.put_back(uses); // tried again in a minute
    logging::warn("sessions' last uses not stored; trying again in a minute", {{"error", error.what()}});
  }
}

void PeoplePage::write_last_uses(const std::unordered_map<std::string, std::int64_t>& uses) {
  store_.write([&](sqlite3* db) {
    store::Statement update(db,
                            "UPDATE refresh_tokens SET last_used_at_ms = MAX(COALESCE(last_used_at_ms, 0), ?) "
                            "WHERE token_id = ?",
                            "keep when a session was last used");
    for (const auto& [token_id, at] : uses) {
      update.reset();
      update.bind_int64(1, at * 1000).bind_text(2, token_id);
      update.run();
    }
  });
}

asio::awaitable<std::variant<std::vector<hass::HaUser>, std::string>> PeoplePage::ha_users() {
  std::optional<std::vector<hass::HaUser>> recent;
  {
    std::lock_guard lock(users_mutex_);
    if (!users_.empty() && std::chrono::steady_clock::now() - users_listed_at_ < kUserListFor) recent = users_;
  }
  if (recent) co_return std::move(*recent);
  auto listed = co_await hass::list_ha_users(admin_);
  if (auto* users = std::get_if<std::vector<hass::HaUser>>(&listed)) {
    std::lock_guard lock(users_mutex_);
    users_ = *users;
    users_listed_at_ = std::chrono::steady_clock::now();
  }
  co_return listed;
}

asio::awaitable<web::Response> PeoplePage::api(Api call, const front_door::RequestFacts& facts, std::string body,
                                               net::RelayedSockets* sockets) {
  auto listed = co_await ha_users();
  if (auto* failure = std::get_if<std::string>(&listed)) {
    logging::warn("people page: HA's users could not be listed", {{"detail", *failure}});
    co_return coded_answer(http::status::bad_gateway, "home_assistant_unavailable",
                           "Home Assistant cannot be asked who is an administrator right now; try again in a minute.",
                           facts.version);
  }
  AdminCaller caller;
  caller.ha_users = std::move(std::get<std::vector<hass::HaUser>>(listed));
  const auto found = std::find_if(caller.ha_users.begin(), caller.ha_users.end(),
                                  [&](const hass::HaUser& user) { return user.id == facts.caller_ha_user_id; });
  // HA's User.is_admin (the owner, or in system-admin), active, and a person: not a system user.
  const bool admin = found != caller.ha_users.end() && found->is_active && !found->system_generated &&
                     (found->is_owner || found->in_admin_group());
  if (!admin) {
    logging::info("people page refused a user who is not an administrator",
                  {{"ha_user_id", facts.caller_ha_user_id}, {"client", facts.client_address}});
    co_return coded_answer(http::status::forbidden, "not_admin",
                           "Only Home Assistant administrators may see people and sessions.", facts.version);
  }
  caller.user = *found;
  switch (call) {
    case Api::people: {
      auto answer = co_await people(facts, caller, sockets);
      co_return answer;
    }
    case Api::audit: co_return audit(facts);
    case Api::act: co_return act(facts, caller, body);
  }
  co_return coded_answer(http::status::not_found, "not_found", "No such call.", facts.version);
}

web::Response PeoplePage::page(const front_door::RequestFacts& facts) const {
  web::Response response{http::status::ok, facts.version};
  response.set(http::field::content_type, "text/html; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.set("X-Frame-Options", "DENY");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  response.set("Content-Security-Policy",
               "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  response.body() = page_html(config_.external_url);
  response.prepare_payload();
  return response;
}

web::Response PeoplePage::script(const front_door::RequestFacts& facts) const {
  return asset("text/javascript; charset=utf-8", page_script(), facts.version);
}

web::Response PeoplePage::style(const front_door::RequestFacts& facts) const {
  return asset("text/css; charset=utf-8", page_style(), facts.version);
}

asio::awaitable<web::Response> PeoplePage::people(const front_door::RequestFacts& facts, const AdminCaller& caller,
                                                  net::RelayedSockets* sockets) {

  // One declaration each: GCC 12 lays out a coroutine's `T a, b;` wrongly (writes to `a` land in `b`).
  std::map<std::string, std::size_t> sockets_by_person;
  std::map<std::string, std::size_t> sockets_by_session;
  if (sockets) {
    const auto owners = co_await sockets->owners();
    for (const auto& owner : owners) {
      ++sockets_by_person[owner.ha_user_id];
      ++sockets_by_session[owner.session_id];
    }
  }
  const auto last_uses = tokens_.last_uses();
  std::map<std::string, std::string> provider_names;
  for (const auto& provider : facts.config->providers) provider_names[provider.id] = provider.name;
  std::map<std::string, const hass::HaUser*> ha_user_by_id;
  for (const auto& user : caller.ha_users) ha_user_by_id[user.id] = &user;

  json::array people;
  bool more_people = false;
  json::array grants;
  store_.read([&](sqlite3* db) {
    store::Statement person(db,
                            "SELECT i.ha_user_id, i.ha_username, i.provider_id, i.created_at_ms, i.last_login_at_ms, "
                            "c.source, c.reason, c.requested_at_ms, c.applied_at_ms, c.lift_requested_at_ms, "
                            "(SELECT group_concat(source) FROM (SELECT source FROM cut_off_holds h WHERE "
                            "h.ha_user_id = i.ha_user_id ORDER BY requested_at_ms, rowid)) "
                            "FROM identities i LEFT JOIN cut_offs c ON c.ha_user_id = i.ha_user_id "
                            "ORDER BY i.last_login_at_ms DESC LIMIT ?",
                            "list the people for the people page");
    person.bind_int64(1, static_cast<std::int64_t>(kMaxPeople) + 1);
    store::Statement last_from(db,
                               "SELECT client_address FROM audit_log WHERE subject = ? AND event = 'login_succeeded' "
                               "ORDER BY at_unix_ms DESC, id DESC LIMIT 1",
                               "find where a person last signed in from");
    store::Statement session(db,
                             "SELECT r.token_id, r.client_id, r.created_at_ms, e.requested_at_ms, e.source, "
                             "r.last_used_at_ms "
                             "FROM refresh_tokens r LEFT JOIN session_ends e ON e.token_id = r.token_id "
                             "WHERE r.ha_user_id = ? ORDER BY r.created_at_ms DESC LIMIT ?",
                             "list a person's sessions");
    while (person.step()) {
      if (people.size() == kMaxPeople) {
        more_people = true;
        break;
      }
      const std::string id = person.column_text(0);
      const std::string username = person.column_text(1);
      const std::string provider_id = person.column_text(2);
      json::object entry{{"ha_user_id", id},
                         {"username", username},
                         {"provider", provider_id},
                         {"first_sign_in", store::iso_time(person.column_int64(3))},
                         {"last_sign_in", store::iso_time(person.column_int64(4))}};
      const auto provider = provider_names.find(provider_id);
      entry["provider_name"] = provider == provider_names.end() ? provider_id : provider->second; // a device's, or one removed
      const auto known = ha_user_by_id.find(id);
      entry["in_home_assistant"] = known != ha_user_by_id.end();
      entry["name"] = known != ha_user_by_id.end() ? known->second->name : username;
      entry["role"] = known != ha_user_by_id.end() ? role_of(*known->second) : "none";
      entry["owner"] = known != ha_user_by_id.end() && known->second->is_owner;
      entry["active"] = known != ha_user_by_id.end() && known->second->is_active;
      entry["you"] = id == caller.user.id;
      last_from.reset();
      last_from.bind_text(1, username);
      entry["last_sign_in_from"] = last_from.step() ? json::value(last_from.column_text(0)) : json::value(nullptr);
      if (person.column_is_null(7)) {
        entry["cut_off"] = nullptr;
      } else {
        // Every source holding it: only when the page alone does may the page lift it.
        json::array held_by;
        const std::string holders = person.column_is_null(10) ? std::string() : person.column_text(10);
        for (std::size_t at = 0; at < holders.size();) {
          const auto comma = std::min(holders.find(',', at), holders.size());
          held_by.emplace_back(holders.substr(at, comma - at));
          at = comma + 1;
        }
        entry["cut_off"] = json::object{{"by", person.column_text(5)},
                                        {"held_by", std::move(held_by)},
                                        {"reason", person.column_text(6)},
                                        {"requested", store::iso_time(person.column_int64(7))},
                                        {"applied", time_or_null(person, 8)},
                                        {"lift_requested", time_or_null(person, 9)}};
      }
      const auto open = sockets_by_person.find(id);
      entry["websockets"] = open == sockets_by_person.end() ? 0 : open->second;
      json::array sessions;
      session.reset();
      session.bind_text(1, id).bind_int64(2, static_cast<std::int64_t>(kMaxSessionsPerPerson));
      while (session.step()) {
        const std::string token_id = session.column_text(0);
        const auto session_sockets = sockets_by_session.find(token_id);
        json::object row{{"id", token_id},
                         {"client_id", session.column_text(1)},
                         {"created", store::iso_time(session.column_int64(2))},
                         {"websockets", session_sockets == sockets_by_session.end() ? 0 : session_sockets->second}};
        // Noted in memory since the last minute's write, or kept in the store before.
        std::int64_t last_used_ms = session.column_is_null(5) ? 0 : session.column_int64(5);
        if (const auto use = last_uses.find(token_id); use != last_uses.end())
          last_used_ms = std::max(last_used_ms, use->second * 1000);
        row["last_used"] = last_used_ms ? json::value(store::iso_time(last_used_ms)) : json::value(nullptr);
        row["ended"] = session.column_is_null(3)
                           ? json::value(nullptr)
                           : json::value(json::object{{"requested", store::iso_time(session.column_int64(3))},
                                                      {"by", session.column_text(4)}});
        sessions.push_back(std::move(row));
      }
      entry["sessions"] = std::move(sessions);
      people.push_back(std::move(entry));
    }
    store::Statement grant(db,
                           "SELECT created_at_ms, expires_at_ms, used_at_ms, used_by FROM break_glass "
                           "WHERE closed_at_ms IS NULL AND expires_at_ms > ? ORDER BY created_at_ms DESC LIMIT 20",
                           "list the open break-glass grants");
    grant.bind_int64(1, store::now_unix_ms());
    while (grant.step())
      grants.push_back(json::object{{"created", store::iso_time(grant.column_int64(0))},
                                    {"expires", store::iso_time(grant.column_int64(1))},
                                    {"used", time_or_null(grant, 2)},
                                    {"used_by", grant.column_is_null(3) ? json::value(nullptr)
                                                                         : json::value(grant.column_text(3))}});
  });
  json::object body{{"you", json::object{{"ha_user_id", caller.user.id}, {"name", caller.user.name}, {"owner", caller.user.is_owner}}},
                    {"people", std::move(people)},
                    {"more_people", more_people},
                    {"websockets_counted", sockets != nullptr},
                    {"local_login", local_login_text(*facts.config)},
                    {"break_glass", std::move(grants)}};
  co_return web::json_response(http::status::ok, body, facts.version);
}

web::Response PeoplePage::audit(const front_door::RequestFacts& facts) const {
  const auto query = web::parse_query(facts.target.query, 256);
  const std::string hours_text = query.get("hours");
  std::int64_t hours = 0; // 0: since ever
  bool hours_valid = true;
  if (!hours_text.empty()) {
    const char* const last = hours_text.data() + hours_text.size();
    const auto [end, ec] = std::from_chars(hours_text.data(), last, hours);
    hours_valid = ec == std::errc() && end == last && hours >= 1 && hours <= kMaxAuditHours;
  }
  if (!query.valid || !hours_valid)
    return coded_answer(http::status::bad_request, "bad_filter",
                      "The filters are person=<HA username>, event=<event name> and hours=<1.." +
                          std::to_string(kMaxAuditHours) + ">.",
                      facts.version);
  const auto filter = [](std::string value) { return value.empty() ? std::nullopt : std::optional(std::move(value)); };
  const auto since = hours > 0 ? std::optional(store::now_unix_ms() - hours * 3'600'000) : std::nullopt;
  // One more than shown: whether there are more.
  const auto found = store_.audit(since, filter(query.get("person")), kMaxAuditEntries + 1, filter(query.get("event")));
  const bool more = found.size() > kMaxAuditEntries;

  json::array entries;
  for (auto entry = found.rbegin(); entry != found.rend() && entries.size() < kMaxAuditEntries; ++entry) {
    boost::system::error_code ec;
    json::value detail = json::parse(entry->detail, ec);
    if (ec) detail = json::object{};
    entries.push_back(json::object{{"at", store::iso_time(entry->at_unix_ms)},
                                   {"event", entry->event},
                                   {"subject", entry->subject},
                                   {"client", entry->client_address},
                                   {"detail", std::move(detail)}});
  }
  return web::json_response(http::status::ok, json::object{{"entries", std::move(entries)}, {"more", more}}, facts.version);
}

web::Response PeoplePage::act(const front_door::RequestFacts& facts, const AdminCaller& caller, const std::string& body) {
  const auto version = facts.version;

  if (!facts.content_type.starts_with("application/json"))
    return coded_answer(http::status::unsupported_media_type, "json_expected", "Send the action as application/json.",
                      version);
  boost::system::error_code ec;
  const json::value parsed = json::parse(body, ec);
  const json::object* fields = !ec ? parsed.if_object() : nullptr;
  const auto text = [&](std::string_view name) -> std::optional<std::string> {
    const auto* value = fields ? fields->if_contains(name) : nullptr;
    if (!value) return std::string();
    if (!value->is_string()) return std::nullopt;
    return std::string(value->as_string());
  };
  const auto action = text("action");
  const auto person_id = text("person");
  const auto session_id = text("session");
  const auto reason = text("reason");
  if (!fields || !action || !person_id || !session_id || !reason)
    return coded_answer(http::status::bad_request, "bad_action",
                      "Expected a JSON object: {\"action\": \"cut_off\" or \"lift\", \"person\": <HA user id>, "
                      "\"reason\": <text>} or {\"action\": \"end_session\", \"session\": <session id>}.",
                      version);
  if (reason->size() > kMaxReasonBytes)
    return coded_answer(http::status::bad_request, "reason_too_long",
                      "The reason may be at most " + std::to_string(kMaxReasonBytes) + " bytes.", version);

  // Who the action is about, from the store: a person who signed in, or the owner of a session.
  std::optional<sessions::Person> person;
  bool session_known = false;
  bool session_ended = false;
  store_.read([&](sqlite3* db) {
    if (*action == "end_session") {
      store::Statement select(db,
                              "SELECT r.ha_user_id, COALESCE(i.ha_username, ''), e.token_id IS NOT NULL FROM "
                              "refresh_tokens r LEFT JOIN identities i ON i.ha_user_id = r.ha_user_id LEFT JOIN "
                              "session_ends e ON e.token_id = r.token_id WHERE r.token_id = ?",
                              "find a session for the people page");
      select.bind_text(1, *session_id);
      if (select.step()) {
        session_known = true;
        person = sessions::Person{select.column_text(0), select.column_text(1)};
        session_ended = select.column_int64(2) != 0;
      } else {
        // Ended, and deleted in HA since (its refresh token row is gone): still "already ended", not unknown.
        store::Statement ended(db, "SELECT ha_user_id, username FROM session_ends WHERE token_id = ?",
                               "find an ended session for the people page");
        ended.bind_text(1, *session_id);
        if (ended.step()) {
          session_known = session_ended = true;
          person = sessions::Person{ended.column_text(0), ended.column_text(1)};
        }
      }
    } else {
      store::Statement select(db,
                              "SELECT ha_user_id, ha_username FROM identities WHERE ha_user_id = ?",
                              "find a person for the people page");
      select.bind_text(1, *person_id);
      if (select.step()) person = sessions::Person{select.column_text(0), select.column_text(1)};
    }
  });

  json::object detail{{"action", *action}, {"by", caller.user.name}, {"by_ha_user_id", caller.user.id}};
  std::string message;
  if (*action == "end_session") {
    if (!session_known)
      return coded_answer(http::status::not_found, "no_such_session",
                        "Gatehouse knows no session with this id (it lists only the sessions it saw issued).", version);
    if (session_ended || !sessions::SessionEnds(store_).end_refresh_token(*session_id, kSource))
      return coded_answer(http::status::conflict, "already_ended", "This session was already asked to end.", version);
    detail["session"] = *session_id;
    message = "The session ends within a second: its websockets close and its tokens are refused.";
  } else if (*action == "cut_off" || *action == "lift") {
    if (!person)
      return coded_answer(http::status::not_found, "no_such_person",
                        "Nobody with this HA user id signed in through Gatehouse.", version);
    if (*action == "cut_off") {
      if (person->ha_user_id == caller.user.id)
        return coded_answer(http::status::conflict, "own_account",
                          "You cannot cut yourself off here; another administrator can, or use `gatehouse cut-off` "
                          "on the console.",
                          version);
      // HA keeps its owner active whatever an administrator does (contract §5); locking the owner out
      // at the door is the owner's own decision, or the console's.
      const auto owner = std::find_if(caller.ha_users.begin(), caller.ha_users.end(), [&](const hass::HaUser& user) {
        return user.id == person->ha_user_id && user.is_owner;
      });
      if (owner != caller.ha_users.end() && !caller.user.is_owner)
        return coded_answer(http::status::forbidden, "owner",
                            "Only the owner may cut the owner off here; use `gatehouse cut-off` on the console.", version);
      const auto asked = sessions::request_cut_off(store_, *person, kSource, *reason);
      if (asked == sessions::CutOffAsked::already)
        return coded_answer(http::status::conflict, "already_cut_off", person->username + " is already cut off.", version);
      detail["reason"] = *reason;
      if (asked == sessions::CutOffAsked::joined) {
        detail["joined"] = true;
        message = person->username + " was already cut off; this page's cut-off holds them now too, so they stay cut "
                  "off until this page lifts it as well.";
      } else {
        message = person->username + " is cut off within a second: their websockets close, their tokens are refused, "
                  "and Home Assistant ends their sessions.";
      }
    } else {
      // A cut-off the console or the identity provider (SCIM) asked for is theirs to lift, even when this
      // page asked for it too.
      auto others_than_page = [&](const std::vector<std::string>& holders) {
        std::string others;
        for (const auto& holder : holders)
          if (holder != kSource) others += (others.empty() ? "" : " and ") + holder;
        return others;
      };
      auto held_elsewhere = [&](const std::string& others) {
        return coded_answer(http::status::conflict, "cut_off_elsewhere",
                            person->username + " was cut off by " + others +
                                ", not only on this page; lift it there (the console: `gatehouse cut-off --lift`).",
                            version);
      };
      if (const auto others = others_than_page(sessions::cut_off_holders(store_, person->ha_user_id)); !others.empty())
        return held_elsewhere(others);
      const auto lift = sessions::request_lift(store_, *person, kSource);
      if (lift.outcome == sessions::LiftAsked::still_held) return held_elsewhere(others_than_page(lift.held_by));
      if (lift.outcome != sessions::LiftAsked::asked)
        return coded_answer(http::status::conflict, "not_cut_off",
                          person->username + " is not cut off (or their access is being restored already).", version);
      message = person->username + " may sign in again within a second (their old sessions stay ended).";
    }
  } else {
    return coded_answer(http::status::bad_request, "bad_action",
                      "Unknown action; the actions are cut_off, lift and end_session.", version);
  }
  store_.append_audit({0, store::now_unix_ms(), "people_page_action", person ? person->username : std::string(),
                       facts.client_address, json::serialize(detail)});
  logging::info("people page action", {{"action", *action}, {"by", caller.user.name},
                                       {"person", person ? person->username : std::string()}});
  return coded_answer(http::status::accepted, "requested", message, version);
}

} // namespace gatehouse::people
