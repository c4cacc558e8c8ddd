// oidc/pending_login: pending logins in the store.
#include "oidc/pending_login.hpp"

#include <array>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdexcept>

#include <sqlite3.h>

#include "jose/base64url.hpp"
#include "net/client_key.hpp"
#include "store/statement.hpp"

namespace gatehouse::oidc {

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("the OS random source failed");
  return jose::base64url_encode(std::span<const unsigned char>(bytes));
}

std::string binding_hash(std::string_view secret) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
  return jose::base64url_encode(std::span<const unsigned char>(digest));
}

bool binding_matches(std::string_view secret, std::string_view stored_hash) {
  const std::string presented = binding_hash(secret);
  return !stored_hash.empty() && presented.size() == stored_hash.size() &&
         CRYPTO_memcmp(presented.data(), stored_hash.data(), presented.size()) == 0;
}

namespace {

void remove_expired(sqlite3* db, std::int64_t now_ms) {
  store::Statement sweep(db, "DELETE FROM pending_logins WHERE expires_at_ms <= ?", "remove expired pending logins");
  sweep.bind_int64(1, now_ms);
  sweep.run();
}

// Who a pending login or hand-off counts against.
struct Counted {
  std::string client_key;
  std::string network_key;
};

// Whether the rows of `table` (those meeting `condition`, when there is one) already fill the limits:
// all of them, or those of the client, or of its network. nullopt when there is room.
std::optional<SaveOutcome> full(sqlite3* db, std::string_view table, std::string_view condition, const Counted& who,
                                const PendingLoginLimits& limits) {
  const std::string base = "SELECT count(*) FROM " + std::string(table);
  const std::string also = condition.empty() ? "" : " AND " + std::string(condition);
  store::Statement of_client(db, (base + " WHERE client_key = ?" + also).c_str(), "count pending logins");
  of_client.bind_text(1, who.client_key);
  if ((of_client.step() ? of_client.column_int64(0) : 0) >= static_cast<std::int64_t>(limits.per_address))
    return SaveOutcome::address_full;
  if (who.network_key != who.client_key) {
    store::Statement of_network(db, (base + " WHERE network_key = ?" + also).c_str(), "count pending logins");
    of_network.bind_text(1, who.network_key);
    if ((of_network.step() ? of_network.column_int64(0) : 0) >= static_cast<std::int64_t>(limits.per_network))
      return SaveOutcome::network_full;
  }
  const std::string where = condition.empty() ? "" : " WHERE " + std::string(condition);
  store::Statement all(db, (base + where).c_str(), "count pending logins");
  if ((all.step() ? all.column_int64(0) : 0) >= static_cast<std::int64_t>(limits.total)) return SaveOutcome::all_full;
  return std::nullopt;
}

void insert_handoff(sqlite3* db, const AppHandoff& handoff, const Counted& who) {
  store::Statement insert(db,
                          "INSERT INTO app_handoffs (id, waiter_hash, user_code, client_address, client_key, idp_url, "
                          "restart_url, status, created_at_ms, expires_at_ms, network_key) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?)",
                          "save an app hand-off");
  insert.bind_text(1, handoff.id).bind_text(2, handoff.waiter_hash).bind_text(3, handoff.user_code);
  insert.bind_text(4, handoff.client_address).bind_text(5, who.client_key).bind_text(6, handoff.idp_url);
  insert.bind_text(7, handoff.restart_url).bind_int64(8, handoff.created_at_ms).bind_int64(9, handoff.expires_at_ms);
  insert.bind_text(10, who.network_key);
  insert.run();
}

} // namespace

SaveOutcome save_pending_login(store::Store& store, const PendingLogin& login, const PendingLoginLimits& limits,
                               std::int64_t now_ms, const AppHandoff* handoff) {
  const Counted who{net::client_key(login.client_address).to_string(), net::network_key(login.client_address)};
  SaveOutcome outcome = SaveOutcome::saved;
  store.write([&](sqlite3* db) {
    remove_expired(db, now_ms);
    if (const auto over = full(db, "pending_logins", "", who, limits)) {
      outcome = *over;
      return;
    }
    if (handoff) {
      remove_old_handoffs(db, now_ms);
      // A pending login leaves when its callback takes it; its hand-off waits on: counted on its own, every
      // record kept (expired ones too) but those collected.
      if (const auto over = full(db, "app_handoffs", "status != 'collected'", who, limits)) {
        outcome = *over;
        return;
      }
      insert_handoff(db, *handoff, who);
    }
    store::Statement insert(db,
                            "INSERT INTO pending_logins (state, provider_id, nonce, code_verifier, client_id, "
                            "redirect_uri, client_state, client_address, browser_binding_hash, created_at_ms, "
                            "expires_at_ms, client_key, handoff_id, started_on_another_site, network_key) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            "save a pending login");
    insert.bind_text(1, login.state).bind_text(2, login.provider_id).bind_text(3, login.nonce);
    insert.bind_text(4, login.code_verifier).bind_text(5, login.client_id).bind_text(6, login.redirect_uri);
    if (login.client_state) insert.bind_text(7, *login.client_state);
    else insert.bind_null(7);
    insert.bind_text(8, login.client_address).bind_text(9, login.browser_binding_hash);
    insert.bind_int64(10, login.created_at_ms).bind_int64(11, login.expires_at_ms).bind_text(12, who.client_key);
    if (login.handoff_id.empty()) insert.bind_null(13);
    else insert.bind_text(13, login.handoff_id);
    insert.bind_int64(14, login.started_on_another_site ? 1 : 0).bind_text(15, who.network_key);
    insert.run();
  });
  return outcome;
}

std::size_t sweep_expired_pending_logins(store::Store& store, std::int64_t now_ms) {
  std::size_t removed = 0;
  store.write([&](sqlite3* db) {
    remove_expired(db, now_ms);
    removed = static_cast<std::size_t>(sqlite3_changes(db));
  });
  return removed;
}

namespace {

constexpr const char* kLoginColumns =
    "provider_id, nonce, code_verifier, client_id, redirect_uri, client_state, client_address, "
    "browser_binding_hash, created_at_ms, expires_at_ms, handoff_id, started_on_another_site";

PendingLogin login_from(store::Statement& row, std::string_view state) {
  PendingLogin login;
  login.state = std::string(state);
  login.provider_id = row.column_text(0);
  login.nonce = row.column_text(1);
  login.code_verifier = row.column_text(2);
  login.client_id = row.column_text(3);
  login.redirect_uri = row.column_text(4);
  if (!row.column_is_null(5)) login.client_state = row.column_text(5);
  login.client_address = row.column_text(6);
  login.browser_binding_hash = row.column_text(7);
  login.created_at_ms = row.column_int64(8);
  login.expires_at_ms = row.column_int64(9);
  if (!row.column_is_null(10)) login.handoff_id = row.column_text(10);
  login.started_on_another_site = row.column_int64(11) == 1;
  return login;
}

} // namespace

std::optional<PendingLogin> find_pending_login(const store::Store& store, std::string_view state) {
  std::optional<PendingLogin> found;
  store.read([&](sqlite3* db) {
    store::Statement find(db, (std::string("SELECT ") + kLoginColumns + " FROM pending_logins WHERE state = ?").c_str(),
                          "find a pending login");
    find.bind_text(1, state);
    if (find.step()) found = login_from(find, state);
  });
  return found;
}

std::optional<PendingLogin> take_pending_login(store::Store& store, std::string_view state, std::int64_t now_ms,
                                               bool& expired) {
  std::optional<PendingLogin> taken;
  expired = false;
  store.write([&](sqlite3* db) {
    store::Statement take(db, (std::string("DELETE FROM pending_logins WHERE state = ? RETURNING ") + kLoginColumns).c_str(),
                          "take a pending login");
    take.bind_text(1, state);
    if (take.step()) {
      taken = login_from(take, state);
      while (take.step()) {
      }
    }
    remove_expired(db, now_ms);
  });
  if (taken && taken->expires_at_ms <= now_ms) {
    expired = true;
    taken.reset();
  }
  return taken;
}

} // namespace gatehouse::oidc
