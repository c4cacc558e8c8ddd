// people/people_page: owns the people-and-sessions page for HA administrators: who signed in through
// Gatehouse (IdP identity ↔ HA user, role, last sign-in and from where), their sessions (the HA refresh
// tokens Gatehouse saw issued, with when each was last used) and open websockets, the sign-in settings (local login, break-glass
// grants), the audit log with filters, and two actions: cut a person off (or restore them) and end one
// session. The page itself holds no data: it signs in to HA as any HA client does (the person's own
// HA token, through Gatehouse's single sign-on) and calls the JSON endpoints below with it as a bearer
// token — which a browser never attaches on its own, so no other site can make it act (no CSRF). The
// front door checks the token with HA before a handler runs; each handler asks HA's user list whether
// its owner is an administrator. Actions only ask: the serving process applies cut-offs and session
// ends within a second (sessions/cut_off), as for the console and SCIM, and each is audited with who asked.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "front_door/request_facts.hpp"
#include "hass/admin_connection.hpp"
#include "hass/ha_users.hpp"
#include "net/door.hpp"
#include "shield/token_cache.hpp"
#include "store/store.hpp"
#include "web/page.hpp"

namespace gatehouse::people {

// Where the page and its API live.
constexpr std::string_view kPagePath = "/gatehouse/people";
constexpr std::string_view kScriptPath = "/gatehouse/people.js";
constexpr std::string_view kStylePath = "/gatehouse/people.css";
constexpr std::string_view kPeopleApiPath = "/gatehouse/api/people";
constexpr std::string_view kAuditApiPath = "/gatehouse/api/audit";
constexpr std::string_view kActionApiPath = "/gatehouse/api/actions";

class PeoplePage {
public:
  static constexpr std::size_t kMaxActionBytes = 4 * 1024;
  static constexpr std::size_t kMaxPeople = 500;
  static constexpr std::size_t kMaxSessionsPerPerson = 50;
  static constexpr std::size_t kMaxAuditEntries = 200;

  // All must outlive the page. `config`: as at start, for the keys a reload does not apply (external_url,
  // providers). `tokens`: the shield's, which notes when each session was last used.
  PeoplePage(const config::Config& config, store::Store& store, hass::AdminConnection& admin,
             shield::TokenCache& tokens);

  // Every minute (and at exit): the sessions' last uses noted since, kept in the store.
  void keep_last_uses();

  // GET kPagePath, kScriptPath, kStylePath: the page and what it loads (the same for everyone).
  web::Response page(const front_door::RequestFacts& facts) const;
  web::Response script(const front_door::RequestFacts& facts) const;
  web::Response style(const front_door::RequestFacts& facts) const;

  // The API, for facts.caller_ha_user_id (set by the front door once HA vouched for the token). Every call
  // is checked here, once, before anything else: the caller must be an HA administrator (the owner, or
  // active in system-admin; never a system user), as HA's user list says (read at most every
  // kUserListFor, so no caller can flood the admin connection). JSON; refusals are {message, code}.
  enum class Api {
    people, // GET kPeopleApiPath: everyone who signed in, with sessions and open websockets (`sockets` may
            // be null before the server runs: then none are counted), and the sign-in settings
    audit,  // GET kAuditApiPath?person=<HA username>&event=<name>&hours=<N>: the newest entries first
    act,    // POST kActionApiPath, JSON {"action": "cut_off"|"lift", "person": <HA user id>, "reason"?} or
            // {"action": "end_session", "session": <refresh token id>}: 202 when asked
  };
  boost::asio::awaitable<web::Response> api(Api call, const front_door::RequestFacts& facts, std::string body,
                                            net::RelayedSockets* sockets);

  static constexpr std::chrono::seconds kUserListFor{5};

  struct AdminCaller {
    hass::HaUser user;
    std::vector<hass::HaUser> ha_users;
  };

private:
  void write_last_uses(const std::unordered_map<std::string, std::int64_t>& uses);
  // HA's users, from the admin connection or the last listing younger than kUserListFor; or why not.
  boost::asio::awaitable<std::variant<std::vector<hass::HaUser>, std::string>> ha_users();
  boost::asio::awaitable<web::Response> people(const front_door::RequestFacts& facts, const AdminCaller& caller,
                                               net::RelayedSockets* sockets);
  web::Response audit(const front_door::RequestFacts& facts) const;
  web::Response act(const front_door::RequestFacts& facts, const AdminCaller& caller, const std::string& body);

  const config::Config& config_;
  store::Store& store_;
  hass::AdminConnection& admin_;
  shield::TokenCache& tokens_;
  std::mutex users_mutex_;
  std::chrono::steady_clock::time_point users_listed_at_{};
  std::vector<hass::HaUser> users_; // guarded by users_mutex_
};

} // namespace gatehouse::people
