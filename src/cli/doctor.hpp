// cli/doctor: `gatehouse doctor -c FILE` checks a live setup end to end and says what to fix, one line
// each: HA reachable; HA taking Gatehouse as its proxy (it honours the X-Forwarded-For Gatehouse sends,
// or every user shows up as Gatehouse and HA's IP ban can lock everyone out); HA's own password
// provider on; the admin token valid and an admin's; each IdP's discovery, signing keys and clock; the
// addresses to register at each IdP; the TLS certificate's expiry. It only reads: the one request HA
// could count as a failed login is the admin token's check, when the token is wrong.
#pragma once

#include <iosfwd>

#include "config/config.hpp"

namespace gatehouse::cli {

// Writes one line per check to `out` ("ok", "FAIL" with what to do, "note"); returns 0 when nothing
// failed, 1 otherwise.
int doctor(const config::Config& config, std::ostream& out);

} // namespace gatehouse::cli
