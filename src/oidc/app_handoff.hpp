// oidc/app_handoff: owns the server-side record of a sign-in handed from an app's web view (or any
// browser that chose to sign in with another device) to the person's browser, found by its id or, on
// another device, by its short code. The Android app's web view sends every address on another host to the system
// browser and never hears back from it (contract §7.2), so the web view waits on Gatehouse's own page
// while the browser signs in at the IdP. Only the web view holds the waiter secret (an HttpOnly cookie;
// the store keeps its hash): the id in the browser's URL alone collects nothing. Both screens show the
// same short code, which the person compares before allowing. The result (the redirect to the app with
// HA's code, sealed with the master key) is collected once. A hand-off expires with its pending login
// (10 minutes); its record stays 10 minutes longer so its page can say so. Saved with its pending login
// (oidc/pending_login), under the same limits, which count every record not yet collected, expired ones
// included.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.hpp"

struct sqlite3;

namespace gatehouse::oidc {

// The web view's waiting page is kHandoffPathPrefix + id; its waiter secret is the cookie
// kHandoffCookiePrefix + the id's first 8 characters.
constexpr std::string_view kHandoffPathPrefix = "/sso/handoff/";
constexpr std::string_view kHandoffCookiePrefix = "gatehouse_handoff_";
// The purpose its sealed result is sealed for (users/master_key).
constexpr std::string_view kHandoffSealPurpose = "app-handoff";

// Kept after it expired, so the waiting page can say "expired" rather than "unknown".
constexpr std::int64_t kHandoffKeptAfterExpiryMs = 10 * 60 * 1000;

enum class HandoffStatus { waiting, approved, denied, collected };

struct AppHandoff {
  std::string id;          // in the waiting page's address; 256 random bits
  std::string waiter_hash; // binding_hash of the secret in the web view's cookie
  std::string user_code;   // shown on both screens, e.g. "KXBR-TMPD"
  std::string client_address;
  std::string idp_url;     // where the browser signs in
  std::string restart_url; // /auth/authorize as the app opened it: a new sign-in after this one expired
  HandoffStatus status = HandoffStatus::waiting;
  std::string result_sealed; // once settled: the redirect to the app (HA's code or the refusal), sealed
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;
};

// Eight letters from 20 that are not confused with each other or with digits, with a dash in the middle
// (about 34 bits, from the OS CSPRNG).
std::string new_user_code();

std::optional<AppHandoff> find_handoff(const store::Store& store, std::string_view id);
// The code as shown ("KXBR-TMPD") from what a person typed (case, spaces and dashes do not matter); ""
// when it cannot be a code.
std::string normalized_user_code(std::string_view typed);
// The waiting, unexpired hand-off showing the code a person typed on another device (/sso/device).
std::optional<AppHandoff> find_waiting_handoff_by_code(const store::Store& store, std::string_view typed_code,
                                                       std::int64_t now_ms);
// A waiting, unexpired hand-off becomes approved or denied with its sealed result; false otherwise
// (already settled, expired or unknown: the person's answer then changes nothing).
bool settle_handoff(store::Store& store, std::string_view id, bool approved, const std::string& result_sealed,
                    std::int64_t now_ms);
// A settled, unexpired hand-off becomes collected; its sealed result, exactly once.
// (close_handoff: the web view finished the sign-in itself; nothing is left to collect.)
std::optional<std::string> collect_handoff(store::Store& store, std::string_view id, std::int64_t now_ms);
void close_handoff(store::Store& store, std::string_view id);
// Removes the hand-offs that expired more than kHandoffKeptAfterExpiryMs ago; returns how many.
std::size_t sweep_handoffs(store::Store& store, std::int64_t now_ms);
// The same inside a write transaction already open (save_pending_login).
void remove_old_handoffs(sqlite3* db, std::int64_t now_ms);

} // namespace gatehouse::oidc
