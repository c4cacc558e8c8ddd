// oidc/app_handoff: hand-offs in the store.
#include "oidc/app_handoff.hpp"

#include <array>
#include <cctype>
#include <openssl/rand.h>
#include <stdexcept>

#include <sqlite3.h>

#include "store/statement.hpp"

namespace gatehouse::oidc {

namespace {

constexpr std::string_view kCodeLetters = "BCDFGHJKLMNPQRSTVWXZ"; // 20: no vowels (no words), no I/O/U/Y

std::string_view status_text(HandoffStatus status) {
  switch (status) {
  case HandoffStatus::waiting: return "waiting";
  case HandoffStatus::approved: return "approved";
  case HandoffStatus::denied: return "denied";
  case HandoffStatus::collected: return "collected";
  }
  return "waiting";
}

HandoffStatus status_from(std::string_view text) {
  if (text == "approved") return HandoffStatus::approved;
  if (text == "denied") return HandoffStatus::denied;
  if (text == "collected") return HandoffStatus::collected;
  return HandoffStatus::waiting;
}

} // namespace

std::string new_user_code() {
  std::string code;
  while (code.size() < 9) {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
      throw std::runtime_error("the OS random source failed");
    for (const unsigned char b : bytes) {
      if (b >= 240) continue; // 240 = 12 × 20: no letter is likelier than another
      if (code.size() == 4) code += '-';
      code += kCodeLetters[b % kCodeLetters.size()];
      if (code.size() == 9) break;
    }
  }
  return code;
}

namespace {

// The hand-off of the row `condition` (with parameters ?1, ?2) selects, if any.
std::optional<AppHandoff> handoff_where(const store::Store& store, const std::string& condition, std::string_view text,
                                        std::int64_t number) {
  std::optional<AppHandoff> found;
  store.read([&](sqlite3* db) {
    store::Statement find(db,
                          "SELECT id, waiter_hash, user_code, client_address, idp_url, restart_url, status, result_sealed, "
                          "created_at_ms, expires_at_ms FROM app_handoffs WHERE " + condition + " LIMIT 1",
                          "find an app hand-off");
    find.bind_text(1, text);
    if (condition.find("?2") != std::string::npos) find.bind_int64(2, number);
    if (!find.step()) return;
    AppHandoff handoff;
    handoff.id = find.column_text(0);
    handoff.waiter_hash = find.column_text(1);
    handoff.user_code = find.column_text(2);
    handoff.client_address = find.column_text(3);
    handoff.idp_url = find.column_text(4);
    handoff.restart_url = find.column_text(5);
    handoff.status = status_from(find.column_text(6));
    if (!find.column_is_null(7)) handoff.result_sealed = find.column_text(7);
    handoff.created_at_ms = find.column_int64(8);
    handoff.expires_at_ms = find.column_int64(9);
    found = std::move(handoff);
  });
  return found;
}

} // namespace

std::optional<AppHandoff> find_handoff(const store::Store& store, std::string_view id) {
  return handoff_where(store, "id = ?1", id, 0);
}

std::string normalized_user_code(std::string_view typed) {
  std::string letters;
  for (const char c : typed) {
    if (c == ' ' || c == '-' || c == '\t') continue;
    const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (kCodeLetters.find(upper) == std::string_view::npos || letters.size() == 8) return {};
    letters += upper;
  }
  if (letters.size() != 8) return {};
  return letters.substr(0, 4) + "-" + letters.substr(4);
}

std::optional<AppHandoff> find_waiting_handoff_by_code(const store::Store& store, std::string_view typed_code,
                                                       std::int64_t now_ms) {
  const std::string code = normalized_user_code(typed_code);
  if (code.empty()) return std::nullopt;
  return handoff_where(store, "user_code = ?1 AND status = 'waiting' AND expires_at_ms > ?2", code, now_ms);
}

bool settle_handoff(store::Store& store, std::string_view id, bool approved, const std::string& result_sealed,
                    std::int64_t now_ms) {
  bool settled = false;
  store.write([&](sqlite3* db) {
    store::Statement settle(db,
                            "UPDATE app_handoffs SET status = ?, result_sealed = ? "
                            "WHERE id = ? AND status = 'waiting' AND expires_at_ms > ?",
                            "settle an app hand-off");
    settle.bind_text(1, status_text(approved ? HandoffStatus::approved : HandoffStatus::denied));
    settle.bind_text(2, result_sealed).bind_text(3, id).bind_int64(4, now_ms);
    settle.run();
    settled = sqlite3_changes(db) == 1;
  });
  return settled;
}

std::optional<std::string> collect_handoff(store::Store& store, std::string_view id, std::int64_t now_ms) {
  std::optional<std::string> result;
  store.write([&](sqlite3* db) {
    store::Statement find(db,
                          "SELECT result_sealed FROM app_handoffs "
                          "WHERE id = ? AND status IN ('approved', 'denied') AND expires_at_ms > ?",
                          "find a settled app hand-off");
    find.bind_text(1, id).bind_int64(2, now_ms);
    if (!find.step() || find.column_is_null(0)) return;
    result = find.column_text(0);
    store::Statement collect(db, "UPDATE app_handoffs SET status = 'collected', result_sealed = NULL WHERE id = ?",
                             "collect an app hand-off");
    collect.bind_text(1, id);
    collect.run();
  });
  return result;
}

void close_handoff(store::Store& store, std::string_view id) {
  store.write([&](sqlite3* db) {
    store::Statement close(db, "UPDATE app_handoffs SET status = 'collected', result_sealed = NULL WHERE id = ?",
                           "close an app hand-off");
    close.bind_text(1, id);
    close.run();
  });
}

void remove_old_handoffs(sqlite3* db, std::int64_t now_ms) {
  store::Statement sweep(db, "DELETE FROM app_handoffs WHERE expires_at_ms <= ?", "remove old app hand-offs");
  sweep.bind_int64(1, now_ms - kHandoffKeptAfterExpiryMs);
  sweep.run();
}

std::size_t sweep_handoffs(store::Store& store, std::int64_t now_ms) {
  std::size_t removed = 0;
  store.write([&](sqlite3* db) {
    remove_old_handoffs(db, now_ms);
    removed = static_cast<std::size_t>(sqlite3_changes(db));
  });
  return removed;
}

} // namespace gatehouse::oidc
