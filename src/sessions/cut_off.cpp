// sessions/cut_off: the cut_offs table (store migration 5) and applying it in the serving process.
#include "sessions/cut_off.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <sqlite3.h>

#include "logging/log.hpp"
#include "metrics/metrics.hpp"
#include "net/door.hpp"
#include "sessions/session_ends.hpp"
#include "shield/token_cache.hpp"

namespace gatehouse::sessions {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

metrics::Counter cut_offs_applied("gatehouse_cut_offs_total",
                                  "People cut off (sockets closed, tokens refused at the door), by who asked (scim, console, ...)",
                                  {"source"});
metrics::Histogram cut_off_seconds("gatehouse_cut_off_duration_seconds",
                                   "Time from a cut-off's request to its stage: applied at the door, or Home Assistant's "
                                   "side done (sessions ended, user deactivated)",
                                   {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}, {"stage"});

void audit(store::Store& store, std::string_view event, const std::string& username, json::object detail) {
  store.append_audit({0, store::now_unix_ms(), std::string(event), username, "", json::serialize(detail)});
}

} // namespace

namespace {

// The person of the latest sign-in whose identity row meets `condition` (one parameter, ?1).
std::optional<Person> latest_person_where(const store::Store& store, std::string_view condition, std::string_view value,
                                          const char* purpose) {
  std::optional<Person> found;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT ha_user_id, ha_username FROM identities WHERE " + std::string(condition) +
                                " ORDER BY last_login_at_ms DESC LIMIT 1",
                            purpose);
    select.bind_text(1, value);
    if (select.step()) found = Person{select.column_text(0), select.column_text(1)};
  });
  return found;
}

// The sources holding a person's cut-off (cut_off_holds), oldest first.
std::vector<std::string> holders(sqlite3* db, std::string_view ha_user_id) {
  std::vector<std::string> found;
  store::Statement select(db, "SELECT source FROM cut_off_holds WHERE ha_user_id = ? ORDER BY requested_at_ms, rowid",
                          "read who holds a cut-off");
  select.bind_text(1, ha_user_id);
  while (select.step()) found.push_back(select.column_text(0));
  return found;
}

} // namespace

std::optional<Person> find_person(const store::Store& store, std::string_view username_or_id) {
  return latest_person_where(store, "ha_username = ?1 OR ha_user_id = ?1", username_or_id,
                             "find a person by HA username or id");
}

CutOffAsked request_cut_off(store::Store& store, const Person& person, std::string_view source, std::string_view reason) {
  bool held = false;
  bool added = false;
  bool lift_cancelled = false;
  std::vector<std::string> held_before;
  store.write([&](sqlite3* db) {
    held_before = holders(db, person.ha_user_id);
    store::Statement hold(db,
                          "INSERT OR IGNORE INTO cut_off_holds (ha_user_id, source, reason, requested_at_ms) "
                          "VALUES (?, ?, ?, ?)",
                          "hold a cut-off");
    hold.bind_text(1, person.ha_user_id).bind_text(2, source).bind_text(3, reason).bind_int64(4, store::now_unix_ms());
    hold.run();
    held = sqlite3_changes(db) == 1;
    store::Statement insert(db,
                            "INSERT OR IGNORE INTO cut_offs (ha_user_id, username, source, reason, requested_at_ms) "
                            "VALUES (?, ?, ?, ?, ?)",
                            "record a cut-off");
    insert.bind_text(1, person.ha_user_id).bind_text(2, person.username).bind_text(3, source).bind_text(4, reason);
    insert.bind_int64(5, store::now_unix_ms());
    insert.run();
    added = sqlite3_changes(db) == 1;
    if (added) return;
    // A lift asked for and not applied yet is called off: the cut-off stays and is applied again, HA's
    // side included (the lift may already have made the HA user active).
    store::Statement cancel(db,
                            "UPDATE cut_offs SET lift_requested_at_ms = NULL, applied_at_ms = NULL, "
                            "ha_sessions_ended_at_ms = NULL, source = ?, reason = ?, requested_at_ms = ? "
                            "WHERE ha_user_id = ? AND lift_requested_at_ms IS NOT NULL",
                            "call off a lift");
    cancel.bind_text(1, source).bind_text(2, reason).bind_int64(3, store::now_unix_ms()).bind_text(4, person.ha_user_id);
    cancel.run();
    lift_cancelled = sqlite3_changes(db) == 1;
  });
  if (added || lift_cancelled || held) {
    json::object detail{{"ha_user_id", person.ha_user_id}, {"source", source}, {"reason", reason}};
    if (lift_cancelled) detail["lift_called_off"] = true;
    if (!added && !lift_cancelled) detail["already_held_by"] = json::value_from(held_before);
    audit(store, "cut_off_requested", person.username, std::move(detail));
  }
  if (added || lift_cancelled) return CutOffAsked::cut_off;
  return held ? CutOffAsked::joined : CutOffAsked::already;
}

LiftAsked request_lift(store::Store& store, const Person& person, std::string_view source) {
  LiftAsked result;
  const bool console = source == "console";
  store.write([&](sqlite3* db) {
    store::Statement release(db,
                             console ? "DELETE FROM cut_off_holds WHERE ha_user_id = ?1"
                                     : "DELETE FROM cut_off_holds WHERE ha_user_id = ?1 AND source = ?2",
                             "release a cut-off");
    release.bind_text(1, person.ha_user_id);
    if (!console) release.bind_text(2, source);
    release.run();
    if (!console && sqlite3_changes(db) == 0) return; // not this source's to lift
    result.held_by = holders(db, person.ha_user_id);
    if (!result.held_by.empty()) {
      result.outcome = LiftAsked::still_held;
      return;
    }
    store::Statement update(db,
                            "UPDATE cut_offs SET lift_requested_at_ms = ? WHERE ha_user_id = ? AND lift_requested_at_ms IS NULL",
                            "ask for a lift");
    update.bind_int64(1, store::now_unix_ms()).bind_text(2, person.ha_user_id);
    update.run();
    if (sqlite3_changes(db) == 1) result.outcome = LiftAsked::asked;
  });
  if (result.outcome == LiftAsked::asked)
    audit(store, "cut_off_lift_requested", person.username, {{"ha_user_id", person.ha_user_id}, {"source", source}});
  if (result.outcome == LiftAsked::still_held)
    audit(store, "cut_off_released", person.username,
          {{"ha_user_id", person.ha_user_id}, {"source", source}, {"still_held_by", json::value_from(result.held_by)}});
  return result;
}

std::vector<std::string> cut_off_holders(const store::Store& store, std::string_view ha_user_id) {
  std::vector<std::string> found;
  store.read([&](sqlite3* db) { found = holders(db, ha_user_id); });
  return found;
}

bool request_role(store::Store& store, const Person& person, std::string_view ha_group, std::string_view source) {
  bool asked = false;
  store.write([&](sqlite3* db) {
    store::Statement upsert(db,
                            "INSERT INTO role_requests (ha_user_id, username, ha_group, source, requested_at_ms) "
                            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (ha_user_id) DO UPDATE SET username = ?2, "
                            "ha_group = ?3, source = ?4, requested_at_ms = ?5, applied_at_ms = NULL "
                            "WHERE ha_group != ?3",
                            "ask for a role");
    upsert.bind_text(1, person.ha_user_id).bind_text(2, person.username).bind_text(3, ha_group).bind_text(4, source);
    upsert.bind_int64(5, store::now_unix_ms());
    upsert.run();
    asked = sqlite3_changes(db) == 1;
  });
  if (asked)
    audit(store, "role_requested", person.username,
          {{"ha_user_id", person.ha_user_id}, {"group", ha_group}, {"source", source}});
  return asked;
}

bool still_cut_off(const store::Store& store, std::string_view ha_user_id) {
  bool cut_off = false;
  store.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT 1 FROM cut_offs WHERE ha_user_id = ?", "check for a cut-off");
    select.bind_text(1, ha_user_id);
    cut_off = select.step();
  });
  return cut_off;
}

void note_deactivating(store::Store& store, std::string_view ha_user_id) {
  store.write([&](sqlite3* db) {
    store::Statement update(db, "UPDATE cut_offs SET ha_user_deactivated = 1 WHERE ha_user_id = ?",
                            "note a deactivation asked of HA");
    update.bind_text(1, ha_user_id);
    update.run();
  });
}

std::optional<AppliedCutOff> applied_cut_off(const store::Store& store, std::string_view ha_user_id) {
  std::optional<AppliedCutOff> applied;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT requested_at_ms, applied_at_ms, websockets_closed, ha_sessions_ended_at_ms, "
                            "ha_user_deactivated, COALESCE(ha_sessions_left, '') FROM cut_offs WHERE ha_user_id = ? "
                            "AND applied_at_ms IS NOT NULL",
                            "read a cut-off");
    select.bind_text(1, ha_user_id);
    if (select.step())
      applied = AppliedCutOff{select.column_int64(0), select.column_int64(1), select.column_int64(2),
                              select.column_int64(3), static_cast<HaUserAfterCutOff>(select.column_int64(4)),
                              select.column_text(5)};
  });
  return applied;
}

bool CutOffs::is_cut_off(std::string_view ha_user_id) const { return still_cut_off(store_, ha_user_id); }

bool CutOffs::refuses(std::string_view ha_user_id, std::string_view refresh_token_id) const {
  bool refused = false;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT 1 FROM cut_offs WHERE ha_user_id = ?1 UNION ALL "
                            "SELECT 1 FROM session_ends WHERE token_id = ?2 LIMIT 1",
                            "check a session for a cut-off or an end");
    select.bind_text(1, ha_user_id).bind_text(2, refresh_token_id);
    refused = select.step();
  });
  return refused;
}

bool CutOffs::refuses_session(std::string_view refresh_token_id) const {
  bool refused = false;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT 1 FROM session_ends WHERE token_id = ?1 UNION ALL "
                            "SELECT 1 FROM refresh_tokens JOIN cut_offs USING (ha_user_id) "
                            "WHERE refresh_tokens.token_id = ?1 LIMIT 1",
                            "check a known session for a cut-off or an end");
    select.bind_text(1, refresh_token_id);
    refused = select.step();
  });
  return refused;
}

namespace {

std::vector<CutOffs::Pending> cut_offs_where(const store::Store& store, std::string_view condition) {
  std::vector<CutOffs::Pending> found;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT ha_user_id, username, source, requested_at_ms, ha_user_deactivated = 1, "
                            "ha_sessions_ended_at_ms IS NOT NULL AND ha_sessions_left IS NULL FROM cut_offs "
                            "WHERE " + std::string(condition) + " ORDER BY requested_at_ms",
                            "read the cut-offs");
    while (select.step())
      found.push_back({select.column_text(0), select.column_text(1), select.column_text(2), select.column_int64(3),
                       select.column_int64(4) == 1, select.column_int64(5) == 1});
  });
  return found;
}

} // namespace

std::vector<CutOffs::Pending> CutOffs::pending() const { return cut_offs_where(store_, "applied_at_ms IS NULL"); }

std::vector<CutOffs::Pending> CutOffs::sessions_to_end() const {
  return cut_offs_where(store_,
                        "applied_at_ms IS NOT NULL AND ha_sessions_ended_at_ms IS NULL AND lift_requested_at_ms IS NULL");
}

void CutOffs::mark_sessions_ended(const Pending& pending, const std::string& not_deactivated,
                                  const std::string& sessions_left, std::optional<HaUserAfterCutOff> ha_user) {
  const auto now = store::now_unix_ms();
  const auto became = ha_user.value_or(not_deactivated.empty() ? HaUserAfterCutOff::deactivated
                                                                : HaUserAfterCutOff::kept_active);
  store_.write([&](sqlite3* db) {
    // A user Gatehouse deactivated for this person before (a lift called off before it activated them
    // again) stays Gatehouse's to activate, though it was found inactive now.
    store::Statement update(db,
                            "UPDATE cut_offs SET ha_sessions_ended_at_ms = ?1, ha_user_deactivated = CASE WHEN ?2 = 3 "
                            "AND ha_user_deactivated = 1 THEN 1 ELSE ?2 END, ha_sessions_left = NULLIF(?3, '') "
                            "WHERE ha_user_id = ?4",
                            "mark a person's HA side done");
    update.bind_int64(1, now).bind_int64(2, static_cast<std::int64_t>(became));
    update.bind_text(3, sessions_left);
    update.bind_text(4, pending.ha_user_id);
    update.run();
  });
  cut_off_seconds.observe({"home_assistant_done"}, static_cast<double>(now - pending.requested_at_ms) / 1000.0);
  json::object detail{{"ha_user_id", pending.ha_user_id}, {"took_ms", now - pending.requested_at_ms},
                      {"ha_user_deactivated", became == HaUserAfterCutOff::deactivated}};
  if (!not_deactivated.empty()) detail["not_deactivated"] = not_deactivated;
  if (!sessions_left.empty()) detail["sessions_left"] = sessions_left;
  audit(store_, "cut_off_ha_sessions_ended", pending.username, std::move(detail));
  if (!sessions_left.empty())
    logging::warn(became == HaUserAfterCutOff::kept_active
                      ? "HA's sessions of a person cut off could not be ended, and HA keeps their user active; "
                        "Gatehouse refuses them in front of HA"
                      : "HA's sessions of a person cut off could not be ended; their HA user is inactive, so HA "
                        "refuses every token of theirs",
                  {{"user", pending.username}, {"reason", sessions_left}});
  else
    logging::info("HA sessions of a person cut off ended",
                  {{"user", pending.username}, {"ha_user_deactivated", became == HaUserAfterCutOff::deactivated}});
}

std::vector<CutOffs::Pending> CutOffs::lifts() const { return cut_offs_where(store_, "lift_requested_at_ms IS NOT NULL"); }

void CutOffs::finish_lift(const Pending& lift) {
  bool ended = false;
  store_.write([&](sqlite3* db) {
    // Only while the lift is still asked for: a cut-off asked since then calls it off (request_cut_off).
    store::Statement remove(db, "DELETE FROM cut_offs WHERE ha_user_id = ? AND lift_requested_at_ms IS NOT NULL",
                            "end a cut-off");
    remove.bind_text(1, lift.ha_user_id);
    remove.run();
    ended = sqlite3_changes(db) == 1;
    if (!ended) return;
    store::Statement release(db, "DELETE FROM cut_off_holds WHERE ha_user_id = ?", "release a lifted cut-off");
    release.bind_text(1, lift.ha_user_id);
    release.run();
  });
  if (!ended) {
    audit(store_, "cut_off_lift_called_off", lift.username, {{"ha_user_id", lift.ha_user_id}});
    logging::info("lift called off by a new cut-off", {{"user", lift.username}});
    return;
  }
  audit(store_, "cut_off_lifted", lift.username,
        {{"ha_user_id", lift.ha_user_id}, {"ha_user_reactivated", lift.ha_user_deactivated}});
  logging::info("cut-off lifted", {{"user", lift.username}});
}

std::vector<CutOffs::RoleRequest> CutOffs::roles_to_set() const {
  std::vector<RoleRequest> found;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT ha_user_id, username, ha_group, requested_at_ms, source FROM role_requests "
                            "WHERE applied_at_ms IS NULL ORDER BY requested_at_ms",
                            "read the roles to set");
    while (select.step())
      found.push_back({select.column_text(0), select.column_text(1), select.column_text(2), select.column_int64(3),
                       select.column_text(4)});
  });
  return found;
}

void CutOffs::mark_role_set(const RoleRequest& request, const std::string& not_set) {
  const auto now = store::now_unix_ms();
  bool current = false;
  store_.write([&](sqlite3* db) {
    store::Statement update(db,
                            "UPDATE role_requests SET applied_at_ms = ? WHERE ha_user_id = ? AND ha_group = ? AND "
                            "requested_at_ms = ?",
                            "mark a role set");
    update.bind_int64(1, now).bind_text(2, request.ha_user_id).bind_text(3, request.ha_group);
    update.bind_int64(4, request.requested_at_ms);
    update.run();
    current = sqlite3_changes(db) == 1;
  });
  if (!current) return; // asked again meanwhile: the newer request is set on the next pass
  json::object detail{{"ha_user_id", request.ha_user_id}, {"group", request.ha_group},
                      {"took_ms", now - request.requested_at_ms}};
  if (!not_set.empty()) detail["not_set"] = not_set;
  audit(store_, "role_set", request.username, std::move(detail));
  logging::info("role set in HA", {{"user", request.username}, {"group", request.ha_group}, {"set", not_set.empty()}});
}

void CutOffs::note_sessions_not_ended(const Pending& pending, const std::string& failure) {
  audit(store_, "cut_off_ha_sessions_failed", pending.username, {{"ha_user_id", pending.ha_user_id}, {"detail", failure}});
  logging::warn("cannot end the HA sessions of a person cut off yet; trying again",
                {{"user", pending.username}, {"detail", failure}});
}

void CutOffs::mark_applied(const Pending& pending, std::size_t websockets_closed) {
  const auto now = store::now_unix_ms();
  store_.write([&](sqlite3* db) {
    store::Statement update(db, "UPDATE cut_offs SET applied_at_ms = ?, websockets_closed = ? WHERE ha_user_id = ?",
                            "mark a cut-off applied");
    update.bind_int64(1, now).bind_int64(2, static_cast<std::int64_t>(websockets_closed)).bind_text(3, pending.ha_user_id);
    update.run();
  });
  const auto took_ms = now - pending.requested_at_ms;
  cut_offs_applied.add({pending.source});
  cut_off_seconds.observe({"applied"}, static_cast<double>(took_ms) / 1000.0);
  audit(store_, "cut_off_applied", pending.username,
        {{"ha_user_id", pending.ha_user_id},
         {"source", pending.source},
         {"websockets_closed", websockets_closed},
         {"took_ms", took_ms}});
  logging::info("person cut off", {{"user", pending.username},
                                   {"source", pending.source},
                                   {"websockets_closed", websockets_closed},
                                   {"took_ms", took_ms}});
}

namespace {

// HA's side of every cut-off and lift not done yet, one person at a time. Returns whether all of it was.
asio::awaitable<bool> do_ha_side(CutOffs& cut_offs, SessionEnds* session_ends, const HomeAssistantSide& ha) {
  bool all = true;
  std::vector<CutOffs::Pending> people;
  std::vector<CutOffs::Pending> lifts;
  try {
    people = cut_offs.sessions_to_end();
    lifts = cut_offs.lifts();
  } catch (const std::exception& error) {
    logging::error("cannot read the cut-offs; trying again", {{"error", error.what()}});
    co_return false;
  }
  for (const auto& person : people) {
    std::string ha_user_id = person.ha_user_id;
    std::string username = person.username;
    std::string source = person.source;
    const auto outcome = co_await ha.cut_off(std::move(ha_user_id), std::move(username), std::move(source));
    try {
      if (outcome.failure.empty()) {
        cut_offs.mark_sessions_ended(person, outcome.not_deactivated, outcome.sessions_left, outcome.ha_user);
      } else {
        all = false;
        cut_offs.note_sessions_not_ended(person, outcome.failure);
      }
    } catch (const std::exception& error) {
      all = false;
      logging::error("cannot record a cut-off's HA side", {{"user", person.username}, {"error", error.what()}});
    }
  }
  std::vector<SessionEnds::InHa> ends;
  try {
    if (session_ends && ha.end_sessions) ends = session_ends->to_end_in_ha();
  } catch (const std::exception& error) {
    logging::error("cannot read the sessions to end; trying again", {{"error", error.what()}});
    all = false;
  }
  for (const auto& person : ends) {
    std::string ha_user_id = person.ha_user_id;
    std::string username = person.username;
    std::vector<std::string> token_ids = person.token_ids;
    const auto ended = co_await ha.end_sessions(std::move(ha_user_id), std::move(username), std::move(token_ids));
    try {
      if (ended.failure.empty()) {
        session_ends->mark_ended_in_ha(person);
      } else if (ended.left) {
        session_ends->note_left_in_ha(person, ended.failure);
      } else {
        all = false;
        session_ends->note_not_ended_in_ha(person, ended.failure);
      }
    } catch (const std::exception& error) {
      all = false;
      logging::error("cannot record sessions ended in HA", {{"user", person.username}, {"error", error.what()}});
    }
  }
  std::vector<CutOffs::RoleRequest> roles;
  try {
    if (ha.set_role) roles = cut_offs.roles_to_set();
  } catch (const std::exception& error) {
    logging::error("cannot read the roles to set; trying again", {{"error", error.what()}});
    all = false;
  }
  for (const auto& role : roles) {
    std::string ha_user_id = role.ha_user_id;
    std::string ha_group = role.ha_group;
    std::string source = role.source;
    const auto outcome = co_await ha.set_role(std::move(ha_user_id), std::move(ha_group), std::move(source));
    try {
      if (outcome.failure.empty()) {
        cut_offs.mark_role_set(role, outcome.not_set);
      } else {
        all = false;
        logging::warn("cannot set a role in HA yet; trying again", {{"user", role.username}, {"detail", outcome.failure}});
      }
    } catch (const std::exception& error) {
      all = false;
      logging::error("cannot record a role set", {{"user", role.username}, {"error", error.what()}});
    }
  }
  if (ha.do_more) {
    const bool done = co_await ha.do_more(); // not inside &&: GCC 12 and co_await
    if (!done) all = false;
  }
  for (const auto& lift : lifts) {
    std::string failure;
    // HA still holds sessions of the person (its side was not done, or could not end them): those
    // Gatehouse saw issued stay ended, at the door and then in HA, before the user is let back in.
    if (!lift.ha_sessions_ended && session_ends) {
      try {
        session_ends->end_person(lift.ha_user_id, "cut_off");
      } catch (const std::exception& error) {
        all = false;
        logging::error("cannot end the sessions of a lifted cut-off; trying again", {{"user", lift.username}, {"error", error.what()}});
        continue;
      }
    }
    if (lift.ha_user_deactivated) {
      std::string ha_user_id = lift.ha_user_id;
      failure = co_await ha.restore(std::move(ha_user_id));
    }
    try {
      if (failure.empty()) {
        cut_offs.finish_lift(lift);
      } else {
        all = false;
        logging::warn("cannot activate the HA user of a lifted cut-off yet; trying again",
                      {{"user", lift.username}, {"detail", failure}});
      }
    } catch (const std::exception& error) {
      all = false;
      logging::error("cannot record a lift", {{"user", lift.username}, {"error", error.what()}});
    }
  }
  co_return all;
}

} // namespace

asio::awaitable<void> apply_cut_offs(CutOffs& cut_offs, shield::TokenCache& tokens, net::RelayedSockets& sockets,
                                     std::optional<HomeAssistantSide> ha, CutOffTiming timing,
                                     SessionEnds* session_ends) {
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  // HA's side runs beside the poll (it can take HA's timeouts), one run at a time.
  struct HaStep {
    bool running = false;
    bool wanted = true; // at start: cut-offs applied before a restart may still have sessions to end
    std::chrono::steady_clock::time_point not_before{};
  };
  auto ha_step = std::make_shared<HaStep>();
  const boost::beast::websocket::close_reason removed{boost::beast::websocket::close_code::policy_error,
                                                      "Access removed"};
  const boost::beast::websocket::close_reason signed_out{boost::beast::websocket::close_code::policy_error,
                                                         "Session ended"};
  bool was_reachable = true;
  for (;;) {
    if (ha && ha->reachable) {
      const bool reachable = ha->reachable();
      if (reachable && !was_reachable && ha_step->not_before != std::chrono::steady_clock::time_point{}) {
        ha_step->not_before = {}; // HA is back: what waited for it goes now
        ha_step->wanted = true;
      }
      was_reachable = reachable;
    }
    std::vector<CutOffs::Pending> pending;
    bool lifts_asked = false;
    try {
      pending = cut_offs.pending();
      const auto lifts = cut_offs.lifts();
      // A role asked for wakes HA's side like a lift does.
      lifts_asked = !lifts.empty() || (ha && !cut_offs.roles_to_set().empty()) ||
                    (ha && ha->more_waiting && ha->more_waiting());
      // Without HA's side there is nothing to undo in HA: the lift just ends the cut-off.
      if (!ha)
        for (const auto& lift : lifts) cut_offs.finish_lift(lift);
    } catch (const std::exception& error) {
      logging::error("cannot read the cut-offs; trying again", {{"error", error.what()}});
    }
    if (lifts_asked && ha_step->not_before == std::chrono::steady_clock::time_point{}) ha_step->wanted = true;
    for (const auto& person : pending) {
      // The person counts as cut off already (the row is there): a token check finishing from here on
      // refuses them, so a valid entry forgotten now cannot come back.
      tokens.forget_user(person.ha_user_id);
      // Named first: GCC 12 mishandles non-trivial temporaries inside co_await.
      std::string ha_user_id = person.ha_user_id;
      std::vector<std::string> every_session; // empty: all of them
      const std::size_t closed = co_await sockets.close(std::move(ha_user_id), std::move(every_session), removed);
      try {
        cut_offs.mark_applied(person, closed);
      } catch (const std::exception& error) {
        logging::error("cannot record an applied cut-off", {{"user", person.username}, {"error", error.what()}});
      }
      ha_step->wanted = true;
      ha_step->not_before = {}; // a new cut-off does not wait for an earlier one's retry
    }
    std::vector<SessionEnds::Pending> ends;
    try {
      if (session_ends) ends = session_ends->pending(); // by person
    } catch (const std::exception& error) {
      logging::error("cannot read the sessions to end; trying again", {{"error", error.what()}});
    }
    for (auto first = ends.begin(); first != ends.end();) {
      const auto last =
          std::find_if(first, ends.end(), [&](const auto& end) { return end.ha_user_id != first->ha_user_id; });
      const std::vector<SessionEnds::Pending> persons(first, last);
      std::vector<std::string> session_ids;
      for (const auto& end : persons) {
        // The end's row is there already: a token check finishing from here on refuses the session.
        tokens.forget_session(end.token_id);
        session_ids.push_back(end.token_id);
      }
      std::string ha_user_id = first->ha_user_id; // named: GCC 12 and co_await
      const std::size_t closed = co_await sockets.close(std::move(ha_user_id), std::move(session_ids), signed_out);
      try {
        session_ends->mark_applied(persons, closed);
      } catch (const std::exception& error) {
        logging::error("cannot record ended sessions", {{"user", first->username}, {"error", error.what()}});
      }
      ha_step->wanted = true;
      ha_step->not_before = {};
      first = last;
    }
    if (ha && ha_step->wanted && !ha_step->running && std::chrono::steady_clock::now() >= ha_step->not_before) {
      ha_step->running = true;
      ha_step->wanted = false;
      asio::co_spawn(
          executor,
          [](CutOffs& cut_offs, SessionEnds* session_ends, HomeAssistantSide side, std::shared_ptr<HaStep> step,
             std::chrono::milliseconds retry) -> asio::awaitable<void> {
            const bool all = co_await do_ha_side(cut_offs, session_ends, side);
            step->running = false;
            step->not_before = all ? std::chrono::steady_clock::time_point{} : std::chrono::steady_clock::now() + retry;
            if (!all) step->wanted = true;
          }(cut_offs, session_ends, *ha, ha_step, timing.retry),
          asio::detached);
    }
    timer.expires_after(timing.poll);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

} // namespace gatehouse::sessions
