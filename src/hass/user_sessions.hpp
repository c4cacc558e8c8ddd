// hass/user_sessions: owns ending every HA session of one user, or some of them. HA has no admin command for another
// user's refresh tokens (contract §4.4), so it is done as the user: a code from HA's login flow for them
// (hass/login_flow) is exchanged at /auth/token for a session of its own, and on that session's
// websocket `auth/delete_all_refresh_tokens` (2023.9 and later) removes every refresh token of the user;
// that session itself is then revoked at /auth/revoke (HA 2024.2+ would delete it only 2 s later).
// Removing them runs HA's revoke callbacks, so HA closes its own websockets of those sessions, and their
// next refresh gets HA's 400 invalid_grant (§5, §1.10).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace gatehouse::hass {

// `code` was issued by HA's login flow for `client_id`. With `token_ids`, only those refresh tokens of the
// user go (`auth/delete_refresh_token` each; one HA no longer has counts as gone), otherwise all of them.
// Empty on success, otherwise what failed (for the operator; never a token).
boost::asio::awaitable<std::string> end_sessions_with_code(const config::HomeAssistant& home_assistant, std::string code,
                                                           std::string client_id, std::vector<std::string> token_ids = {});

} // namespace gatehouse::hass
