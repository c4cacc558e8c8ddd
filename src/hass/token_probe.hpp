// hass/token_probe: owns asking HA about one access token Gatehouse does not know yet. It opens a
// websocket to HA as the client would (the client's address in X-Forwarded-For, so a refused token is
// a failed login HA records against that client, never against Gatehouse — contract §1.12), sends the
// token in the auth step (§4.2) and, when HA accepts it, asks `auth/current_user` whose token it is.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "net/upstream.hpp"

namespace gatehouse::hass {

struct TokenProbe {
  enum class Outcome { valid, refused, unreachable } outcome = Outcome::unreachable;
  std::string user_id;    // when valid
  std::string ha_version; // from HA's auth_required, when HA answered at all
};

boost::asio::awaitable<TokenProbe> probe_access_token(net::UpstreamTarget ha, std::string token,
                                                      std::string client_address, std::chrono::milliseconds timeout);

// HA's version, from the auth_required message of a websocket Gatehouse opens and closes again without
// authenticating (an unanswered auth step is not a failed login). Empty when HA cannot be reached.
boost::asio::awaitable<std::string> fetch_ha_version(net::UpstreamTarget ha, std::chrono::milliseconds timeout);

} // namespace gatehouse::hass
