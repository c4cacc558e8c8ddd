// shield/break_glass: grants in the store, redeemed once, checked per request by cookie.
#include "shield/break_glass.hpp"

#include <boost/json/serialize.hpp>
#include <sqlite3.h>

#include "oidc/pending_login.hpp" // random_token, binding_hash: the same secrets-at-rest rules
#include "store/statement.hpp"

namespace gatehouse::shield {
namespace json = boost::json;

BreakGlassGrant open_break_glass(store::Store& store, const std::string& external_url, std::chrono::seconds lifetime) {
  const std::string token = oidc::random_token();
  const std::int64_t now = store::now_unix_ms();
  BreakGlassGrant grant{external_url + std::string(kBreakGlassPathPrefix) + token,
                        now + std::chrono::duration_cast<std::chrono::milliseconds>(lifetime).count()};
  store.write([&](sqlite3* db) {
    store::Statement insert(db, "INSERT INTO break_glass (url_token_hash, created_at_ms, expires_at_ms) VALUES (?, ?, ?)",
                            "create a break-glass grant");
    insert.bind_text(1, oidc::binding_hash(token)).bind_int64(2, now).bind_int64(3, grant.expires_at_ms);
    insert.run();
  });
  const json::object detail{{"expires_at_ms", grant.expires_at_ms}, {"seconds", lifetime.count()}};
  store.append_audit({0, now, "breakglass_created", "console", "", json::serialize(detail)});
  return grant;
}

int close_break_glass(store::Store& store) {
  const std::int64_t now = store::now_unix_ms();
  int closed = 0;
  store.write([&](sqlite3* db) {
    store::Statement update(db,
                            "UPDATE break_glass SET closed_at_ms = ? WHERE closed_at_ms IS NULL AND expires_at_ms > ?",
                            "close break-glass grants");
    update.bind_int64(1, now).bind_int64(2, now);
    update.run();
    closed = sqlite3_changes(db);
  });
  const json::object detail{{"closed", closed}};
  store.append_audit({0, now, "breakglass_closed", "console", "", json::serialize(detail)});
  return closed;
}

Redemption redeem_break_glass(store::Store& store, std::string_view url_token, const std::string& client_address) {
  Redemption redemption;
  const std::int64_t now = store::now_unix_ms();
  const std::string secret = oidc::random_token();
  store.write([&](sqlite3* db) {
    store::Statement select(db, "SELECT id, expires_at_ms, used_at_ms, closed_at_ms FROM break_glass WHERE url_token_hash = ?",
                            "find a break-glass grant");
    select.bind_text(1, oidc::binding_hash(url_token));
    if (!select.step()) return;
    const std::int64_t id = select.column_int64(0);
    redemption.expires_at_ms = select.column_int64(1);
    if (!select.column_is_null(2)) redemption.outcome = Redemption::Outcome::already_used;
    else if (!select.column_is_null(3)) redemption.outcome = Redemption::Outcome::closed;
    else if (redemption.expires_at_ms <= now) redemption.outcome = Redemption::Outcome::expired;
    else redemption.outcome = Redemption::Outcome::opened;
    if (redemption.outcome != Redemption::Outcome::opened) return;
    store::Statement update(db, "UPDATE break_glass SET used_at_ms = ?, used_by = ?, browser_secret_hash = ? WHERE id = ?",
                            "redeem a break-glass grant");
    update.bind_int64(1, now).bind_text(2, client_address).bind_text(3, oidc::binding_hash(secret)).bind_int64(4, id);
    update.run();
    redemption.browser_secret = secret;
  });
  if (redemption.outcome == Redemption::Outcome::opened) {
    const json::object detail{{"outcome", name_of(redemption.outcome)}, {"expires_at_ms", redemption.expires_at_ms}};
    store.append_audit({0, now, "breakglass_opened", "", client_address, json::serialize(detail)});
  }
  return redemption;
}

std::string_view name_of(Redemption::Outcome outcome) {
  switch (outcome) {
    case Redemption::Outcome::opened: return "opened";
    case Redemption::Outcome::unknown: return "unknown";
    case Redemption::Outcome::already_used: return "already_used";
    case Redemption::Outcome::expired: return "expired";
    case Redemption::Outcome::closed: return "closed";
  }
  return "unknown";
}

bool break_glass_allows(const store::Store& store, std::string_view browser_secret) {
  if (browser_secret.empty() || browser_secret.size() > 128) return false;
  bool allowed = false;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT 1 FROM break_glass WHERE browser_secret_hash = ? AND closed_at_ms IS NULL AND "
                            "expires_at_ms > ?",
                            "check a break-glass cookie");
    select.bind_text(1, oidc::binding_hash(browser_secret)).bind_int64(2, store::now_unix_ms());
    allowed = select.step();
  });
  return allowed;
}

} // namespace gatehouse::shield
