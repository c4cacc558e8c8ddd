// shield/shield: owns the pre-authentication decision for every request Gatehouse does not answer
// itself: which route class it is in (shield/routes), and for classes that need one, whether its HA
// access token is valid — from the token cache, or by asking HA once (hass/token_probe) with the
// client's address. Garbage and expired tokens are refused without HA. In `report` mode the decision
// is logged and the request forwarded anyway.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "net/http_client.hpp"
#include "shield/access_token.hpp"
#include "shield/request_target.hpp"
#include "shield/routes.hpp"
#include "shield/token_cache.hpp"

namespace gatehouse::shield {

struct TokenDecision {
  enum class Outcome { valid, refused, unreachable } outcome = Outcome::refused;
  TokenOwner owner;        // when valid
  std::string reason;      // when refused: for the log (never the token)
  bool asked_home_assistant = false;
};

struct Admission {
  enum class Action {
    forward,       // relay to HA as is
    forward_shell, // relay to HA as "GET /" (an app page opened in a browser)
    websocket,     // Gatehouse does the websocket auth step itself
    refuse,        // 401 (or 403 / 502) without forwarding
  } action = Action::refuse;
  RouteClass route = RouteClass::protected_path;
  unsigned refusal_status = 401;
  std::string reason; // why refused, for the log
};

class Shield {
public:
  Shield(const config::Config& config, bool sign_in_enabled);

  bool enforcing() const { return mode_ == config::ShieldMode::enforce; }

  boost::asio::awaitable<Admission> admit(const boost::beast::http::request_header<>& request, const Target& target,
                                          const std::string& client_address);

  // A token from the client (websocket auth step, or a bearer header already read).
  boost::asio::awaitable<TokenDecision> check_token(std::string_view token, const std::string& client_address);

  // HA's version for the auth_required message Gatehouse sends in HA's place.
  boost::asio::awaitable<std::string> ha_version();
  void note_ha_version(std::string version);

  TokenCache& tokens() { return tokens_; }

private:
  boost::asio::awaitable<bool> onboarding_open();

  config::ShieldMode mode_;
  std::string ha_host_;
  std::uint16_t ha_port_;
  PublicPaths public_paths_;
  TokenCache tokens_;
  net::HttpClient http_;
  std::atomic<bool> onboarded_{false}; // once HA reports onboarding done, it stays done
  std::mutex version_mutex_;
  std::string ha_version_;
};

} // namespace gatehouse::shield
