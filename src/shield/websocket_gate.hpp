// shield/websocket_gate: owns the shield's half of Gatehouse's websocket auth step (contract §4.2):
// whether the client's first message is an auth message, and whether its token is valid (known, or
// asked of HA once within the client's budget). net/websocket_relay speaks the protocol around it.
#pragma once

#include <string>

#include "net/door.hpp"

namespace gatehouse::shield {

class Shield;

class WebsocketGate final : public net::WebsocketGate {
public:
  WebsocketGate(Shield& shield, std::string client_address)
      : shield_(shield), client_address_(std::move(client_address)) {}

  boost::asio::awaitable<std::string> ha_version() override;
  boost::asio::awaitable<Verdict> check(std::string_view auth_message) override;
  void heard_ha_version(std::string version) override;
  void ha_refused_token() override;
  bool still_allowed() override;

private:
  Shield& shield_;
  std::string client_address_;
  std::string ha_user_id_;       // whose token was found valid
  std::string refresh_token_id_; // of the token found valid
};

} // namespace gatehouse::shield
