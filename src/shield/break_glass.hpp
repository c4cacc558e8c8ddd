// shield/break_glass: owns the console's way back in when local login is switched off. `gatehouse
// breakglass` (another process) stores a grant with a one-time URL; the serving process redeems it
// from the same SQLite store, so it needs no restart and no signal: the first browser that opens the
// URL gets an HttpOnly cookie that opens HA's own login for that browser only, until the grant expires
// or `gatehouse breakglass --close` closes it. Only SHA-256 digests of the URL token and of the cookie
// are stored. Every step is audited.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace gatehouse::shield {

constexpr std::string_view kBreakGlassPathPrefix = "/sso/breakglass/";
constexpr std::string_view kBreakGlassCookie = "gatehouse_breakglass";

struct BreakGlassGrant {
  std::string url;
  std::int64_t expires_at_ms = 0;
};

// Creates a grant (CLI). `external_url` without trailing slash.
BreakGlassGrant open_break_glass(store::Store& store, const std::string& external_url, std::chrono::seconds lifetime);
// Closes every grant still open (CLI). Returns how many were open.
int close_break_glass(store::Store& store);

struct Redemption {
  enum class Outcome { opened, unknown, already_used, expired, closed } outcome = Outcome::unknown;
  std::string browser_secret; // when opened: the cookie value
  std::int64_t expires_at_ms = 0;
};

// "opened", "unknown", "already_used", "expired", "closed".
std::string_view name_of(Redemption::Outcome outcome);

// The URL was opened (serving process): single use. Audits `breakglass_opened`; a refusal is the
// caller's to audit (shield/shield counts them, anyone can try made-up links as fast as they like).
Redemption redeem_break_glass(store::Store& store, std::string_view url_token, const std::string& client_address);
// Whether this browser's cookie holds an open grant.
bool break_glass_allows(const store::Store& store, std::string_view browser_secret);

} // namespace gatehouse::shield
