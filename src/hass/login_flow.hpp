// hass/login_flow: owns running HA's own login flow (contract §1.5–§1.7) for a user Gatehouse signs
// in: with the client's client_id and redirect_uri, so HA checks and binds the code to them (§1.6,
// §1.9), and with the client's address in X-Forwarded-For on both steps, so HA's IP pinning holds and
// any failure is counted against the client, never against Gatehouse (§1.12).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "net/http_client.hpp"

namespace gatehouse::hass {

struct LoginFlowResult {
  // mfa_required: HA asked for a multi-factor code after the password (the person set up MFA in HA).
  enum class Failure { unreachable, invalid_auth, blocked, refused, mfa_required };
  std::optional<std::string> code; // HA's authorization code on success
  Failure failure = Failure::unreachable;
  std::string reason; // HA's message or what went wrong; never the password
};

class LoginFlowClient {
public:
  explicit LoginFlowClient(const config::HomeAssistant& home_assistant);
  // `client_address` empty: in Gatehouse's own name (no X-Forwarded-For), when no client is involved.
  boost::asio::awaitable<LoginFlowResult> sign_in(std::string username, std::string password, std::string client_id,
                                                  std::string redirect_uri, std::string client_address);

private:
  std::string base_url_;
  net::HttpClient http_;
};

} // namespace gatehouse::hass
