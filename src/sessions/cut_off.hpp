// sessions/cut_off: owns cutting a person off. A cut-off is a row in the store, so the console
// (`gatehouse cut-off`) and the serving process share it and a restart keeps it. The serving process
// applies each new one within a second (apply_cut_offs, on the front door's watch): the person's
// relayed websockets close, their access tokens are refused at the door whether cached or not, a
// refresh through /auth/token gets HA's invalid_grant, and signing in again is refused; then every HA
// session of theirs is ended in HA itself (retried until it is). Lifting it restores signing in, never
// the sessions it ended. Every step is audited.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace gatehouse::net {
class RelayedSockets;
}
namespace gatehouse::shield {
class TokenCache;
}

namespace gatehouse::sessions {

// Someone who signed in through Gatehouse, as HA knows them.
struct Person {
  std::string ha_user_id;
  std::string username;
};

// The person a console argument names: the HA username or HA user id of someone who signed in through
// Gatehouse. nullopt when nobody matches.
std::optional<Person> find_person(const store::Store& store, std::string_view username_or_id);

// `source`: who asked ("console", later "scim", "backchannel_logout"). False when that person was
// already cut off (nothing changes).
bool request_cut_off(store::Store& store, const Person& person, std::string_view source, std::string_view reason);
// False when that person was not cut off.
bool lift_cut_off(store::Store& store, const Person& person, std::string_view source);

struct AppliedCutOff {
  std::int64_t requested_at_ms = 0;
  std::int64_t applied_at_ms = 0;
  std::int64_t websockets_closed = 0;
  std::int64_t ha_sessions_ended_at_ms = 0; // 0: not yet
};
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

  struct Pending {
    std::string ha_user_id;
    std::string username;
    std::string source;
    std::int64_t requested_at_ms = 0;
  };
  // The cut-offs not applied yet (their websockets not closed, their cached tokens not forgotten).
  std::vector<Pending> pending() const;
  void mark_applied(const Pending& pending, std::size_t websockets_closed);
  // Applied, but HA's own sessions of the person not ended yet.
  std::vector<Pending> sessions_to_end() const;
  void mark_sessions_ended(const Pending& pending);
  void note_sessions_not_ended(const Pending& pending, const std::string& failure);

private:
  store::Store& store_;
};

// How often the serving process looks for new cut-offs: the "within a second" promise rests on it.
constexpr std::chrono::milliseconds kCutOffPoll{200};
// After HA's sessions of someone could not be ended (HA down), the next try.
constexpr std::chrono::seconds kEndSessionsRetry{30};

// Ends every HA session of a person (sso::SignIn::end_ha_sessions): empty on success, else what failed.
using EndHaSessions = std::function<boost::asio::awaitable<std::string>(std::string ha_user_id, std::string username)>;

// For as long as the server runs: applies every new cut-off (tokens forgotten, websockets closed),
// each within kCutOffPoll of its request; then, beside it, ends the person's HA sessions with
// `end_ha_sessions` (if there is one: it needs single sign-on's admin connection).
boost::asio::awaitable<void> apply_cut_offs(CutOffs& cut_offs, shield::TokenCache& tokens, net::RelayedSockets& sockets,
                                            EndHaSessions end_ha_sessions);

} // namespace gatehouse::sessions
