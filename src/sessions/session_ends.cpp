// sessions/session_ends: the session_ends and idp_logouts tables (store migration 13), and the IdP
// session of each refresh token.
#include "sessions/session_ends.hpp"

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <sqlite3.h>

#include "logging/log.hpp"
#include "store/statement.hpp"

namespace gatehouse::sessions {
namespace json = boost::json;

namespace {

constexpr char kSource[] = "backchannel_logout";
// A logout is kept for as long as its token may be replayed (10 min, oidc kLogoutTokenMaxAgeSeconds) and
// a code issued before it may still be redeemed (10 min), with room for clock skew.
constexpr std::int64_t kLogoutKeptMs = 30 * 60 * 1000;
constexpr std::int64_t kEndKeptMs = 24 * 60 * 60 * 1000;

void audit(store::Store& store, std::string_view event, const std::string& username, json::object detail) {
  store.append_audit({0, store::now_unix_ms(), std::string(event), username, "", json::serialize(detail)});
}

void bind_optional(store::Statement& statement, int index, const std::optional<std::string>& value) {
  if (value) statement.bind_text(index, *value);
  else statement.bind_null(index);
}

// Asks for the end of every recorded refresh token meeting `condition` (on `r`, refresh_tokens, with
// parameters from ?1 that `bind` sets); one already asked for stays as it was. Returns how many were new.
std::size_t ask_to_end(sqlite3* db, std::string_view condition, const std::function<void(store::Statement&)>& bind,
                       std::int64_t now, std::string_view source = kSource) {
  store::Statement ask(db,
                       "INSERT OR IGNORE INTO session_ends (token_id, ha_user_id, username, source, requested_at_ms) "
                       "SELECT r.token_id, r.ha_user_id, COALESCE(i.ha_username, ''), ?10, ?11 FROM refresh_tokens r "
                       "LEFT JOIN identities i ON i.ha_user_id = r.ha_user_id WHERE " + std::string(condition),
                       "ask for sessions to end");
  bind(ask);
  ask.bind_text(10, source).bind_int64(11, now);
  ask.run();
  return static_cast<std::size_t>(sqlite3_changes(db));
}

} // namespace

void SessionEnds::record_refresh_token(std::string_view token_id, std::string_view token_digest,
                                       std::string_view ha_user_id, std::string_view client_id,
                                       const std::optional<IdpSession>& idp_session) {
  const auto text_or_null = [](const std::string& text) { return text.empty() ? std::nullopt : std::optional(text); };
  const auto now = store::now_unix_ms();
  store_.write([&](sqlite3* db) {
    store::Statement insert(db,
                            "INSERT OR REPLACE INTO refresh_tokens (token_id, ha_user_id, client_id, created_at_ms, "
                            "refresh_token_digest, idp_issuer, idp_subject, idp_sid, idp_id_token, "
                            "idp_refresh_token_sealed, revalidate_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            "record a refresh token");
    insert.bind_text(1, token_id).bind_text(2, ha_user_id).bind_text(3, client_id);
    insert.bind_int64(4, now).bind_text(5, token_digest);
    if (idp_session) {
      insert.bind_text(6, idp_session->issuer).bind_text(7, idp_session->subject);
      bind_optional(insert, 8, text_or_null(idp_session->sid));
      bind_optional(insert, 9, text_or_null(idp_session->id_token));
      const bool revalidates = idp_session->revalidate_every_ms > 0 && !idp_session->refresh_token_sealed.empty();
      bind_optional(insert, 10, revalidates ? std::optional(idp_session->refresh_token_sealed) : std::nullopt);
      if (revalidates) insert.bind_int64(11, now + idp_session->revalidate_every_ms);
      else insert.bind_null(11);
    } else {
      insert.bind_null(6).bind_null(7).bind_null(8).bind_null(9).bind_null(10).bind_null(11);
    }
    insert.run();
  });
}

std::optional<IdpSession> SessionEnds::idp_session_of(std::string_view token_digest) const {
  std::optional<IdpSession> found;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT idp_issuer, idp_subject, COALESCE(idp_sid, ''), idp_id_token FROM refresh_tokens "
                            "WHERE refresh_token_digest = ? AND idp_id_token IS NOT NULL",
                            "find the IdP session of a refresh token");
    select.bind_text(1, token_digest);
    if (select.step())
      found = IdpSession{select.column_text(0), select.column_text(1), select.column_text(2), 0, select.column_text(3)};
  });
  return found;
}

bool SessionEnds::logged_out(const IdpSession& idp_session) const {
  bool found = false;
  store_.read([&](sqlite3* db) {
    // A logout by sid ends that IdP session whenever its sign-ins were; one by sub alone (or naming the
    // person of a sign-in without a sid) ends what the person had signed in before it.
    store::Statement select(db,
                            "SELECT 1 FROM idp_logouts WHERE issuer = ?1 AND ((sid IS NOT NULL AND sid = ?2) OR "
                            "((sid IS NULL OR ?2 = '') AND subject = ?3 AND received_at_ms >= ?4)) LIMIT 1",
                            "check for a logout of an IdP session");
    select.bind_text(1, idp_session.issuer).bind_text(2, idp_session.sid).bind_text(3, idp_session.subject);
    select.bind_int64(4, idp_session.signed_in_at_ms);
    found = select.step();
  });
  return found;
}

bool SessionEnds::end_refresh_token(std::string_view token_id, std::string_view source) {
  std::size_t asked = 0;
  store_.write([&](sqlite3* db) {
    asked = ask_to_end(db, "r.token_id = ?1", [&](store::Statement& ask) { ask.bind_text(1, token_id); },
                       store::now_unix_ms(), source);
  });
  return asked > 0;
}

std::size_t SessionEnds::end_person(std::string_view ha_user_id, std::string_view source) {
  std::size_t asked = 0;
  store_.write([&](sqlite3* db) {
    asked = ask_to_end(db, "r.ha_user_id = ?1", [&](store::Statement& ask) { ask.bind_text(1, ha_user_id); },
                       store::now_unix_ms(), source);
  });
  return asked;
}

std::vector<SessionEnds::Revalidation> SessionEnds::due_for_revalidation(std::int64_t now_ms, std::size_t limit) const {
  std::vector<Revalidation> due;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT r.token_id, r.ha_user_id, COALESCE(i.ha_username, ''), r.idp_issuer, r.idp_subject, "
                            "r.idp_refresh_token_sealed FROM refresh_tokens r LEFT JOIN identities i ON "
                            "i.ha_user_id = r.ha_user_id WHERE r.revalidate_at_ms <= ? AND "
                            "r.idp_refresh_token_sealed IS NOT NULL AND r.token_id NOT IN "
                            "(SELECT token_id FROM session_ends) AND r.ha_user_id NOT IN (SELECT ha_user_id FROM "
                            "cut_offs) ORDER BY r.revalidate_at_ms LIMIT ?",
                            "read the sign-ins due for re-validation");
    select.bind_int64(1, now_ms).bind_int64(2, static_cast<std::int64_t>(limit));
    while (select.step())
      due.push_back({select.column_text(0), select.column_text(1), select.column_text(2), select.column_text(3),
                     select.column_text(4), select.column_text(5)});
  });
  return due;
}

void SessionEnds::revalidated(std::string_view token_id, const std::optional<std::string>& rotated_sealed,
                              std::int64_t next_at_ms) {
  store_.write([&](sqlite3* db) {
    store::Statement update(db,
                            "UPDATE refresh_tokens SET revalidate_at_ms = ?, idp_refresh_token_sealed = "
                            "COALESCE(?, idp_refresh_token_sealed) WHERE token_id = ?",
                            "record a re-validation");
    update.bind_int64(1, next_at_ms);
    bind_optional(update, 2, rotated_sealed);
    update.bind_text(3, token_id);
    update.run();
  });
}

void SessionEnds::stop_revalidating(std::string_view token_id) {
  store_.write([&](sqlite3* db) {
    store::Statement update(db,
                            "UPDATE refresh_tokens SET revalidate_at_ms = NULL, idp_refresh_token_sealed = NULL "
                            "WHERE token_id = ?",
                            "stop re-validating a sign-in");
    update.bind_text(1, token_id);
    update.run();
  });
}

SessionEnds::Logout SessionEnds::take_logout(const IdpLogout& logout, std::string_view provider_id) {
  Logout taken;
  const auto now = store::now_unix_ms();
  store_.write([&](sqlite3* db) {
    store::Statement remember(db,
                              "INSERT OR IGNORE INTO idp_logouts (issuer, jti, subject, sid, received_at_ms) "
                              "VALUES (?, ?, ?, ?, ?)",
                              "record a back-channel logout");
    remember.bind_text(1, logout.issuer).bind_text(2, logout.jti);
    bind_optional(remember, 3, logout.subject);
    bind_optional(remember, 4, logout.sid);
    remember.bind_int64(5, now);
    remember.run();
    if (sqlite3_changes(db) == 0) {
      taken.replayed = true;
      return;
    }
    // A sign-in whose IdP named no session is ended by any logout that names its person.
    taken.sessions = ask_to_end(db,
                                "r.idp_issuer = ?1 AND (?2 IS NULL OR r.idp_sid = ?2 OR (r.idp_sid IS NULL AND ?3 IS "
                                "NOT NULL)) AND (?3 IS NULL OR r.idp_subject = ?3)",
                                [&](store::Statement& ask) {
                                  ask.bind_text(1, logout.issuer);
                                  bind_optional(ask, 2, logout.sid);
                                  bind_optional(ask, 3, logout.subject);
                                },
                                now);
    store::Statement names(db,
                           "SELECT DISTINCT username FROM session_ends WHERE source = ? AND requested_at_ms = ? "
                           "ORDER BY username",
                           "read whose sessions a logout ends");
    names.bind_text(1, kSource).bind_int64(2, now);
    while (names.step()) taken.people.push_back(names.column_text(0));
  });
  if (taken.replayed) {
    logging::warn("back-channel logout token replayed; ignored", {{"provider", provider_id}});
    return taken;
  }
  json::array people;
  for (const auto& name : taken.people) people.emplace_back(name);
  audit(store_, "backchannel_logout", taken.people.size() == 1 ? taken.people.front() : std::string(),
        {{"provider", provider_id},
         {"by", logout.sid ? "sid" : "sub"},
         {"sessions", taken.sessions},
         {"people", std::move(people)}});
  logging::info("back-channel logout", {{"provider", provider_id}, {"by", logout.sid ? "sid" : "sub"},
                                        {"sessions", taken.sessions}});
  return taken;
}

std::vector<SessionEnds::Pending> SessionEnds::pending() const {
  std::vector<Pending> found;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT token_id, ha_user_id, username, requested_at_ms FROM session_ends "
                            "WHERE applied_at_ms IS NULL ORDER BY ha_user_id, requested_at_ms",
                            "read the sessions to end");
    while (select.step())
      found.push_back({select.column_text(0), select.column_text(1), select.column_text(2), select.column_int64(3)});
  });
  return found;
}

void SessionEnds::mark_applied(const std::vector<Pending>& ends, std::size_t websockets_closed) {
  if (ends.empty()) return;
  const auto now = store::now_unix_ms();
  store_.write([&](sqlite3* db) {
    for (const auto& end : ends) {
      store::Statement update(db, "UPDATE session_ends SET applied_at_ms = ?, websockets_closed = ? WHERE token_id = ?",
                              "mark a session end applied");
      update.bind_int64(1, now).bind_int64(2, static_cast<std::int64_t>(websockets_closed)).bind_text(3, end.token_id);
      update.run();
    }
  });
  const auto took_ms = now - ends.front().requested_at_ms;
  audit(store_, "sessions_ended", ends.front().username,
        {{"ha_user_id", ends.front().ha_user_id},
         {"sessions", ends.size()},
         {"websockets_closed", websockets_closed},
         {"took_ms", took_ms}});
  logging::info("sessions ended", {{"user", ends.front().username},
                                   {"sessions", ends.size()},
                                   {"websockets_closed", websockets_closed},
                                   {"took_ms", took_ms}});
}

std::vector<SessionEnds::InHa> SessionEnds::to_end_in_ha() const {
  std::map<std::string, InHa> people;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT token_id, ha_user_id, username, requested_at_ms FROM session_ends WHERE "
                            "applied_at_ms IS NOT NULL AND ha_ended_at_ms IS NULL AND left_in_ha IS NULL AND "
                            "ha_user_id NOT IN (SELECT ha_user_id FROM cut_offs) ORDER BY requested_at_ms",
                            "read the sessions to end in HA");
    while (select.step()) {
      auto& person = people[select.column_text(1)];
      if (person.token_ids.empty()) {
        person.ha_user_id = select.column_text(1);
        person.username = select.column_text(2);
        person.requested_at_ms = select.column_int64(3);
      }
      person.token_ids.push_back(select.column_text(0));
    }
  });
  std::vector<InHa> found;
  for (auto& [id, person] : people) found.push_back(std::move(person));
  return found;
}

void SessionEnds::mark_ended_in_ha(const InHa& person) {
  const auto now = store::now_unix_ms();
  store_.write([&](sqlite3* db) {
    for (const auto& token_id : person.token_ids) {
      store::Statement update(db, "UPDATE session_ends SET ha_ended_at_ms = ? WHERE token_id = ?",
                              "mark a session ended in HA");
      update.bind_int64(1, now).bind_text(2, token_id);
      update.run();
      // HA refuses the token itself from now on: nothing is left to find it by.
      store::Statement forget(db, "DELETE FROM refresh_tokens WHERE token_id = ?", "forget an ended refresh token");
      forget.bind_text(1, token_id);
      forget.run();
    }
  });
  audit(store_, "sessions_ended_in_ha", person.username,
        {{"ha_user_id", person.ha_user_id}, {"sessions", person.token_ids.size()},
         {"took_ms", now - person.requested_at_ms}});
}

void SessionEnds::note_not_ended_in_ha(const InHa& person, const std::string& failure) {
  audit(store_, "sessions_end_in_ha_failed", person.username, {{"ha_user_id", person.ha_user_id}, {"detail", failure}});
  logging::warn("cannot end sessions in HA yet; trying again", {{"user", person.username}, {"detail", failure}});
}

void SessionEnds::note_left_in_ha(const InHa& person, const std::string& reason) {
  store_.write([&](sqlite3* db) {
    for (const auto& token_id : person.token_ids) {
      store::Statement update(db, "UPDATE session_ends SET left_in_ha = ? WHERE token_id = ?", "leave a session in HA");
      update.bind_text(1, reason).bind_text(2, token_id);
      update.run();
    }
  });
  audit(store_, "sessions_left_in_ha", person.username,
        {{"ha_user_id", person.ha_user_id}, {"sessions", person.token_ids.size()}, {"detail", reason}});
  logging::warn("HA will not let Gatehouse end these sessions; they stay refused at the door",
                {{"user", person.username}, {"detail", reason}});
}

void SessionEnds::housekeeping() {
  const auto now = store::now_unix_ms();
  store_.write([&](sqlite3* db) {
    store::Statement logouts(db, "DELETE FROM idp_logouts WHERE received_at_ms < ?", "forget old logouts");
    logouts.bind_int64(1, now - kLogoutKeptMs);
    logouts.run();
    store::Statement ends(db, "DELETE FROM session_ends WHERE ha_ended_at_ms < ?", "forget old session ends");
    ends.bind_int64(1, now - kEndKeptMs);
    ends.run();
  });
}

} // namespace gatehouse::sessions
