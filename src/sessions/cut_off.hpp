// sessions/cut_off: owns cutting a person off, and setting the role SCIM's Groups give them. A cut-off
// is a row in the store, so the console (`gatehouse cut-off`) and the serving process share it and a
// restart keeps it. The serving process applies each new one within a second (apply_cut_offs, on the
// front door's watch): the person's relayed websockets close, their access tokens are refused at the
// door whether cached or not, a refresh through /auth/token gets HA's invalid_grant, and signing in
// again is refused; then, in HA itself, every session of theirs is ended and their HA user deactivated
// or deleted (retried until done). A lift is applied by the serving process too: the HA user active
// again, then signing in restored (never the sessions the cut-off ended). A role asked for
// (request_role) is set in HA the same way: by the serving process, within a second, retried until HA
// takes it. Every step is audited.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store.hpp"

namespace gatehouse::net {
class RelayedSockets;
}
namespace gatehouse::shield {
class TokenCache;
}

namespace gatehouse::sessions {

class SessionEnds;

// Someone who signed in through Gatehouse, as HA knows them.
struct Person {
  std::string ha_user_id;
  std::string username;
};

// The person a console argument names: the HA username or HA user id of someone who signed in through
// Gatehouse. nullopt when nobody matches.
std::optional<Person> find_person(const store::Store& store, std::string_view username_or_id);

// `source`: who asked ("console", "people_page", "scim"). Each source's cut-off holds the person until that
// source lifts it (the console lifts them all), so one source's lift never ends another's cut-off.
enum class CutOffAsked {
  cut_off, // a new cut-off (or one whose lift was on its way: called off and applied again)
  joined,  // the person was cut off already; this source holds it now too
  already, // this source holds it already: nothing changes
};
CutOffAsked request_cut_off(store::Store& store, const Person& person, std::string_view source, std::string_view reason);
struct LiftAsked {
  enum Outcome {
    asked,      // the serving process lifts it
    still_held, // this source's hold is gone, but others still hold it (held_by)
    not_held,   // this source holds no cut-off of the person (none at all, or a lift is on its way already)
  } outcome = not_held;
  std::vector<std::string> held_by;
};
// Ends `source`'s hold ("console": every hold) and, once no source holds the person, asks the serving
// process to lift the cut-off.
LiftAsked request_lift(store::Store& store, const Person& person, std::string_view source);
// The sources holding the person's cut-off, oldest first (empty: not cut off, or a lift on its way).
std::vector<std::string> cut_off_holders(const store::Store& store, std::string_view ha_user_id);
// Asks the serving process to put the person's HA user in `ha_group` (system-admin, system-users,
// system-read-only). False when that group is what was asked for last (nothing changes).
bool request_role(store::Store& store, const Person& person, std::string_view ha_group, std::string_view source);
// Whether the person is still cut off (a lift not applied yet counts as cut off).
bool still_cut_off(const store::Store& store, std::string_view ha_user_id);

// What became of the person's HA user when HA's side of their cut-off was done (cut_offs.ha_user_deactivated).
enum class HaUserAfterCutOff : std::int64_t {
  kept_active = 0,      // HA keeps it active (the owner, a system user)
  deactivated = 1,      // by Gatehouse: a lift activates it again
  gone = 2,             // deleted in HA meanwhile: nothing there to end
  inactive_already = 3, // an admin had deactivated it in HA: a lift leaves it so
};

struct AppliedCutOff {
  std::int64_t requested_at_ms = 0;
  std::int64_t applied_at_ms = 0;
  std::int64_t websockets_closed = 0;
  std::int64_t ha_sessions_ended_at_ms = 0; // HA's side done (sessions ended, user deactivated); 0: not yet
  HaUserAfterCutOff ha_user = HaUserAfterCutOff::kept_active;
  std::string ha_sessions_left; // why HA's sessions could not be ended ("" when they were)
};
// Written just before Gatehouse asks HA to deactivate the person's HA user: a lift activates it again
// even if HA's answer was lost (HA did it, the call timed out, and the next round finds it inactive).
void note_deactivating(store::Store& store, std::string_view ha_user_id);
// The person's cut-off once the serving process has applied it; nullopt while it waits (or if none).
std::optional<AppliedCutOff> applied_cut_off(const store::Store& store, std::string_view ha_user_id);

// Who is cut off, for the serving process. is_cut_off reads the store itself, so a cut-off counts (and a
// lift stops counting) from the moment the console writes it; it is asked only on rare paths (after HA
// vouched for a token Gatehouse did not know, before a code or a refreshed token is handed out), from any
// worker thread.
class CutOffs {
public:
  explicit CutOffs(store::Store& store) : store_(store) {}
  bool is_cut_off(std::string_view ha_user_id) const;
  // Whether a token of this HA session is refused at the door: its person cut off, or this one session
  // ended (sessions/session_ends: a back-channel logout).
  bool refuses(std::string_view ha_user_id, std::string_view refresh_token_id) const;
  // The same for a session whose owner Gatehouse knows from its refresh token id alone (it saw the token
  // issued): answered from the store, before HA is asked, so a person cut off is refused at the door even
  // while HA cannot be reached.
  bool refuses_session(std::string_view refresh_token_id) const;

  struct Pending {
    std::string ha_user_id;
    std::string username;
    std::string source;
    std::int64_t requested_at_ms = 0;
    bool ha_user_deactivated = false; // by Gatehouse: a lift must activate the HA user again first
    // HA's sessions of the person were ended (not merely their user deactivated, nor still to do): a lift
    // of a cut-off whose sessions were not ends the sessions Gatehouse knows, so none comes back with it.
    bool ha_sessions_ended = false;
  };
  // The cut-offs not applied yet (their websockets not closed, their cached tokens not forgotten).
  std::vector<Pending> pending() const;
  void mark_applied(const Pending& pending, std::size_t websockets_closed);
  // Applied, but HA's side (sessions, deactivation) not done yet, and no lift asked.
  std::vector<Pending> sessions_to_end() const;
  // `not_deactivated`: why HA keeps the user active (empty: deactivated).
  // `sessions_left`: why HA's sessions could not be ended (the user deactivated instead), empty when they were.
  // `ha_user`: what became of the HA user; by default deactivated, or kept active when `not_deactivated`
  // says why.
  void mark_sessions_ended(const Pending& pending, const std::string& not_deactivated,
                           const std::string& sessions_left = {}, std::optional<HaUserAfterCutOff> ha_user = {});
  void note_sessions_not_ended(const Pending& pending, const std::string& failure);
  // The cut-offs whose lift was asked for.
  std::vector<Pending> lifts() const;
  void finish_lift(const Pending& lift);

  struct RoleRequest {
    std::string ha_user_id;
    std::string username;
    std::string ha_group;
    std::int64_t requested_at_ms = 0;
    std::string source; // who asked ("scim", "revalidation")
  };
  // The roles asked for and not set in HA yet.
  std::vector<RoleRequest> roles_to_set() const;
  // `not_set`: why HA keeps the user's groups (the owner), empty when set. A newer request stays pending.
  void mark_role_set(const RoleRequest& request, const std::string& not_set);

private:
  store::Store& store_;
};

struct CutOffTiming {
  // How often the serving process looks for new cut-offs: the "within a second" promise rests on it.
  std::chrono::milliseconds poll{200};
  // After HA's side of a cut-off or a lift could not be done (HA down), the next try.
  std::chrono::milliseconds retry{30'000};
};

// What Gatehouse does in HA itself (sso::SignIn, which has the admin connection and signs in as people).
struct HomeAssistantSide {
  struct CutOff {
    std::string failure;         // empty: done (try again later otherwise)
    std::string not_deactivated; // done, but HA keeps the user active: why
    std::string sessions_left;   // done, but HA's sessions could not be ended (the user deactivated instead): why
    std::optional<HaUserAfterCutOff> ha_user; // done: what became of the HA user, when not what not_deactivated says
  };
  // Every HA session of the person ended, then their HA user deactivated (or deleted: scim.on_deactivate,
  // for a cut-off SCIM asked for).
  std::function<boost::asio::awaitable<CutOff>(std::string ha_user_id, std::string username, std::string source)> cut_off;
  // Their HA user active again. Empty: done.
  std::function<boost::asio::awaitable<std::string>(std::string ha_user_id)> restore;
  struct SetRole {
    std::string failure; // empty: done (try again later otherwise)
    std::string not_set; // done, but HA keeps the user's groups (the owner): why
  };
  // Their HA user in exactly this group.
  std::function<boost::asio::awaitable<SetRole>(std::string ha_user_id, std::string ha_group, std::string source)> set_role;
  struct EndSessions {
    std::string failure; // empty: done
    bool left = false;   // HA will not let Gatehouse end them (the person set up MFA): not asked again
  };
  // Only these refresh tokens of the person deleted in HA (sessions/session_ends).
  std::function<boost::asio::awaitable<EndSessions>(std::string ha_user_id, std::string username,
                                                    std::vector<std::string> token_ids)>
      end_sessions;
  // Whether HA is reachable now: when it comes back, what waited for it is done at once, not at the next
  // retry. May be empty.
  std::function<bool()> reachable;
  // Work for HA that another module keeps (the HA users SCIM wants made): whether some waits, and doing
  // it (true: all of it done). Either may be empty.
  std::function<bool()> more_waiting;
  std::function<boost::asio::awaitable<bool>()> do_more;
};

// For as long as the server runs: applies every new cut-off and session end (tokens forgotten, websockets
// closed), each within timing.poll of its request; beside it, does HA's side of cut-offs, session ends and
// lifts with `ha` (without one — no single sign-on — lifts only end the cut-off).
boost::asio::awaitable<void> apply_cut_offs(CutOffs& cut_offs, shield::TokenCache& tokens, net::RelayedSockets& sockets,
                                            std::optional<HomeAssistantSide> ha, CutOffTiming timing = {},
                                            SessionEnds* session_ends = nullptr);

} // namespace gatehouse::sessions
