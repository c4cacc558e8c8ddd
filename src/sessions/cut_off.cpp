// sessions/cut_off: the cut_offs table (store migration 5) and applying it in the serving process.
#include "sessions/cut_off.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <sqlite3.h>

#include "logging/log.hpp"
#include "net/door.hpp"
#include "shield/token_cache.hpp"

namespace gatehouse::sessions {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

void audit(store::Store& store, std::string_view event, const std::string& username, json::object detail) {
  store.append_audit({0, store::now_unix_ms(), std::string(event), username, "", json::serialize(detail)});
}

} // namespace

std::optional<Person> find_person(const store::Store& store, std::string_view username_or_id) {
  std::optional<Person> found;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT ha_user_id, ha_username FROM identities "
                            "WHERE ha_username = ?1 OR ha_user_id = ?1 ORDER BY last_login_at_ms DESC LIMIT 1",
                            "find a person by HA username or id");
    select.bind_text(1, username_or_id);
    if (select.step()) found = Person{select.column_text(0), select.column_text(1)};
  });
  return found;
}

bool request_cut_off(store::Store& store, const Person& person, std::string_view source, std::string_view reason) {
  bool added = false;
  store.write([&](sqlite3* db) {
    store::Statement insert(db,
                            "INSERT OR IGNORE INTO cut_offs (ha_user_id, username, source, reason, requested_at_ms) "
                            "VALUES (?, ?, ?, ?, ?)",
                            "record a cut-off");
    insert.bind_text(1, person.ha_user_id).bind_text(2, person.username).bind_text(3, source).bind_text(4, reason);
    insert.bind_int64(5, store::now_unix_ms());
    insert.run();
    added = sqlite3_changes(db) == 1;
  });
  if (added)
    audit(store, "cut_off_requested", person.username,
          {{"ha_user_id", person.ha_user_id}, {"source", source}, {"reason", reason}});
  return added;
}

bool lift_cut_off(store::Store& store, const Person& person, std::string_view source) {
  bool removed = false;
  store.write([&](sqlite3* db) {
    store::Statement remove(db, "DELETE FROM cut_offs WHERE ha_user_id = ?", "lift a cut-off");
    remove.bind_text(1, person.ha_user_id);
    remove.run();
    removed = sqlite3_changes(db) == 1;
  });
  if (removed) audit(store, "cut_off_lifted", person.username, {{"ha_user_id", person.ha_user_id}, {"source", source}});
  return removed;
}

std::optional<AppliedCutOff> applied_cut_off(const store::Store& store, std::string_view ha_user_id) {
  std::optional<AppliedCutOff> applied;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT requested_at_ms, applied_at_ms, websockets_closed FROM cut_offs "
                            "WHERE ha_user_id = ? AND applied_at_ms IS NOT NULL",
                            "read a cut-off");
    select.bind_text(1, ha_user_id);
    if (select.step()) applied = AppliedCutOff{select.column_int64(0), select.column_int64(1), select.column_int64(2)};
  });
  return applied;
}

bool CutOffs::is_cut_off(std::string_view ha_user_id) const {
  bool cut_off = false;
  store_.read([&](sqlite3* db) {
    store::Statement select(db, "SELECT 1 FROM cut_offs WHERE ha_user_id = ?", "check for a cut-off");
    select.bind_text(1, ha_user_id);
    cut_off = select.step();
  });
  return cut_off;
}

std::vector<CutOffs::Pending> CutOffs::pending() const {
  std::vector<Pending> pending;
  store_.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT ha_user_id, username, source, requested_at_ms FROM cut_offs "
                            "WHERE applied_at_ms IS NULL ORDER BY requested_at_ms",
                            "read the cut-offs to apply");
    while (select.step())
      pending.push_back({select.column_text(0), select.column_text(1), select.column_text(2), select.column_int64(3)});
  });
  return pending;
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

asio::awaitable<void> apply_cut_offs(CutOffs& cut_offs, shield::TokenCache& tokens, net::RelayedSockets& sockets) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const boost::beast::websocket::close_reason removed{boost::beast::websocket::close_code::policy_error,
                                                      "Access removed"};
  for (;;) {
    std::vector<CutOffs::Pending> pending;
    try {
      pending = cut_offs.pending();
    } catch (const std::exception& error) {
      logging::error("cannot read the cut-offs; trying again", {{"error", error.what()}});
    }
    for (const auto& person : pending) {
      // The person counts as cut off already (the row is there): a token check finishing from here on
      // refuses them, so a valid entry forgotten now cannot come back.
      tokens.forget_user(person.ha_user_id);
      // Named first: GCC 12 mishandles non-trivial temporaries inside co_await.
      std::string ha_user_id = person.ha_user_id;
      const std::size_t closed = co_await sockets.close_user(std::move(ha_user_id), removed);
      try {
        cut_offs.mark_applied(person, closed);
      } catch (const std::exception& error) {
        logging::error("cannot record an applied cut-off", {{"user", person.username}, {"error", error.what()}});
      }
    }
    timer.expires_after(kCutOffPoll);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

} // namespace gatehouse::sessions
