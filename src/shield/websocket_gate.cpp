// shield/websocket_gate: the auth message and its token.
#include "shield/websocket_gate.hpp"

#include <boost/json/parse.hpp>

#include "logging/log.hpp"
#include "shield/shield.hpp"

namespace gatehouse::shield {
namespace asio = boost::asio;

asio::awaitable<std::string> WebsocketGate::ha_version() { co_return co_await shield_.ha_version(); }

asio::awaitable<net::WebsocketGate::Verdict> WebsocketGate::check(std::string_view auth_message) {
  using Outcome = Verdict::Outcome;
  // Exactly {"type":"auth","access_token":"..."} (contract §4.2); anything else is what HA calls
  // incorrectly formatted.
  boost::system::error_code ec;
  const auto value = boost::json::parse(auth_message, ec);
  const auto* message = !ec ? value.if_object() : nullptr;
  const auto* type = message ? message->if_contains("type") : nullptr;
  const auto* token = message ? message->if_contains("access_token") : nullptr;
  if (!message || message->size() != 2 || !type || *type != "auth" || !token || !token->is_string()) {
    logging::info("websocket auth refused", {{"reason", "auth message incorrectly formatted"}, {"client", client_address_}});
    shield_.count_refusal(RefusalClass::websocket_auth_invalid, client_address_);
    co_return Verdict{Outcome::malformed, {}};
  }

  const auto decision = co_await shield_.check_token(std::string_view(token->as_string()), client_address_);
  switch (decision.outcome) {
    case TokenDecision::Outcome::valid:
      ha_user_id_ = decision.owner.ha_user_id;
      refresh_token_id_ = decision.owner.refresh_token_id;
      co_return Verdict{Outcome::open, {decision.owner.ha_user_id, decision.owner.refresh_token_id}};
    case TokenDecision::Outcome::unreachable:
      co_return Verdict{Outcome::unavailable, {}};
    case TokenDecision::Outcome::over_budget:
    case TokenDecision::Outcome::refused:
      // Over its budget of token checks the client hears what HA would say to a bad token (HA was not asked).
      logging::info("websocket auth refused", {{"reason", decision.reason}, {"client", client_address_}});
      shield_.count_refusal(decision.outcome == TokenDecision::Outcome::over_budget ? RefusalClass::too_many_token_checks
                                                                                     : RefusalClass::websocket_auth_invalid,
                            client_address_);
      co_return Verdict{Outcome::refused, {}};
  }
  co_return Verdict{Outcome::refused, {}};
}

void WebsocketGate::heard_ha_version(std::string version) { shield_.note_ha_version(std::move(version)); }

// Valid a moment ago, refused now: the session was revoked meanwhile.
void WebsocketGate::ha_refused_token() { shield_.tokens().forget_session(refresh_token_id_); }

bool WebsocketGate::still_allowed() {
  try {
    return !shield_.refuses_session_of(ha_user_id_, refresh_token_id_);
  } catch (const std::exception& error) {
    // The store cannot say: closed rather than relayed on a guess (the client reconnects).
    logging::error("cannot check a websocket's person against the cut-offs; closing it", {{"error", error.what()}});
    return false;
  }
}

} // namespace gatehouse::shield
