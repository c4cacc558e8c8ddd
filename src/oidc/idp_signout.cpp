// oidc/idp_signout: the idp_signouts table (store migration 13).
#include "oidc/idp_signout.hpp"

#include <openssl/crypto.h>

#include "oidc/pending_login.hpp"
#include "store/statement.hpp"

namespace gatehouse::oidc {

namespace {

std::optional<IdpSignout> read_signout(const store::Store& store, const std::string& cookie_hash, std::int64_t now_ms) {
  std::optional<IdpSignout> found;
  store.read([&](sqlite3* db) {
    store::Statement select(db,
                            "SELECT provider_id, id_token, armed, continue_url, state FROM idp_signouts "
                            "WHERE cookie_hash = ? AND created_at_ms > ?",
                            "find a browser's IdP sign-out");
    select.bind_text(1, cookie_hash).bind_int64(2, now_ms - kSignoutLifetimeMs);
    if (!select.step()) return;
    IdpSignout signout{select.column_text(0), select.column_text(1), select.column_int64(2) == 1, {}, {}};
    if (!select.column_is_null(3)) signout.continue_url = select.column_text(3);
    if (!select.column_is_null(4)) signout.state = select.column_text(4);
    found = std::move(signout);
  });
  return found;
}

} // namespace

void save_idp_signout(store::Store& store, std::string_view cookie, const IdpSignout& signout, std::int64_t now_ms) {
  store.write([&](sqlite3* db) {
    store::Statement insert(db,
                            "INSERT OR REPLACE INTO idp_signouts (cookie_hash, provider_id, id_token, armed, "
                            "continue_url, state, created_at_ms) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                            "record a browser's IdP sign-out");
    insert.bind_text(1, binding_hash(cookie)).bind_text(2, signout.provider_id).bind_text(3, signout.id_token);
    insert.bind_int64(4, signout.armed ? 1 : 0);
    if (signout.continue_url) insert.bind_text(5, *signout.continue_url);
    else insert.bind_null(5);
    insert.bind_int64(6, now_ms);
    insert.run();
    // Anyone who signs in (or holds a refresh token) can add one: the oldest go first beyond the bound.
    store::Statement trim(db,
                          "DELETE FROM idp_signouts WHERE cookie_hash IN (SELECT cookie_hash FROM idp_signouts "
                          "ORDER BY created_at_ms DESC LIMIT -1 OFFSET ?)",
                          "bound the IdP sign-outs");
    trim.bind_int64(1, static_cast<std::int64_t>(kMaxSignouts));
    trim.run();
  });
}

std::optional<IdpSignout> find_idp_signout(const store::Store& store, std::string_view cookie, std::int64_t now_ms) {
  return read_signout(store, binding_hash(cookie), now_ms);
}

void start_idp_signout(store::Store& store, std::string_view cookie, std::string_view state, std::string_view continue_url) {
  store.write([&](sqlite3* db) {
    store::Statement update(db, "UPDATE idp_signouts SET state = ?, continue_url = ? WHERE cookie_hash = ?",
                            "start a browser's IdP sign-out");
    update.bind_text(1, state).bind_text(2, continue_url).bind_text(3, binding_hash(cookie));
    update.run();
  });
}

std::optional<IdpSignout> take_idp_signout(store::Store& store, std::string_view cookie, std::string_view state,
                                           std::int64_t now_ms) {
  const auto hash = binding_hash(cookie);
  auto found = read_signout(store, hash, now_ms);
  if (!found || !found->state || found->state->size() != state.size() ||
      CRYPTO_memcmp(found->state->data(), state.data(), state.size()) != 0)
    return std::nullopt;
  drop_idp_signout(store, cookie);
  return found;
}

void drop_idp_signout(store::Store& store, std::string_view cookie) {
  store.write([&](sqlite3* db) {
    store::Statement remove(db, "DELETE FROM idp_signouts WHERE cookie_hash = ?", "drop a browser's IdP sign-out");
    remove.bind_text(1, binding_hash(cookie));
    remove.run();
  });
}

void sweep_idp_signouts(store::Store& store, std::int64_t now_ms) {
  store.write([&](sqlite3* db) {
    store::Statement remove(db, "DELETE FROM idp_signouts WHERE created_at_ms <= ?", "forget old IdP sign-outs");
    remove.bind_int64(1, now_ms - kSignoutLifetimeMs);
    remove.run();
  });
}

} // namespace gatehouse::oidc
