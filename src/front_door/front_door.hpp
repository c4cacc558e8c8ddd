// front_door/front_door: owns what becomes of each request, decided once and top to bottom: its facts
// (request_facts) → one of Gatehouse's own endpoints (endpoints)? → the shield (shield/) → one
// net::Decision: answer here, forward to HA, relay a websocket, or refuse. net/ carries it out. Also the
// minute's housekeeping away from requests: refusal counts, sign-in sweeps, the audit log's retention.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <atomic>

#include "config/current.hpp"
#include "front_door/endpoints.hpp"
#include "net/door.hpp"
#include "web/health.hpp"

namespace gatehouse::shield {
class Shield;
struct Admission;
struct TokenDecision;
}
namespace gatehouse::sso {
class SignIn;
}
namespace gatehouse::sessions {
class CutOffs;
class AppWebhooks;
}
namespace gatehouse::scim {
class Service;
}
namespace gatehouse::store {
class Store;
}
namespace gatehouse::people {
class PeoplePage;
}

namespace gatehouse::front_door {

class FrontDoor final : public net::Door {
public:
  // `sign_in` is null without providers and trusted devices, `scim` without a scim: block, `webhooks` and
  // `people` (the people-and-sessions page) without single sign-on. All must outlive the door. `current`
  // is read once (HA's address for /healthz); each request comes with the configuration it is decided under.
  FrontDoor(const config::Current& current, store::Store& store, shield::Shield& shield, sso::SignIn* sign_in,
            sessions::CutOffs& cut_offs, scim::Service* scim = nullptr, sessions::AppWebhooks* webhooks = nullptr,
            people::PeoplePage* people = nullptr);

  boost::asio::awaitable<net::Decision> decide(boost::beast::http::request_header<>& head,
                                               const boost::asio::ip::address& peer, bool tls,
                                               std::shared_ptr<const config::Config> config) override;
  void refused_unreadable(const boost::asio::ip::address& peer) override;
  boost::asio::awaitable<void> on_start() override;
  // Cut-offs (sessions/cut_off), applied as they come.
  boost::asio::awaitable<void> watch(net::RelayedSockets& sockets) override;
  void housekeeping() override;

  const Endpoints& endpoints() const { return endpoints_; }

private:
  // Counts and logs a request refused as ambiguous (a head no reading can trust); returns its client.
  boost::asio::ip::address refuse_ambiguous(const boost::asio::ip::address& peer, std::string_view reason);
  // The shield's answer as the decision net/ carries out.
  net::Decision shield_decision(const shield::Admission& admission, const RequestFacts& facts);
  // An endpoint for HA users refusing a token HA did not vouch for (or could not be asked about).
  net::Decision refuse_caller(const RequestFacts& facts, const char* route, const shield::TokenDecision& verdict);

  const config::Current& current_; // housekeeping's settings (logging.audit_keep_days)
  store::Store& store_;
  shield::Shield& shield_;
  sso::SignIn* sign_in_;
  sessions::CutOffs& cut_offs_;
  people::PeoplePage* people_;
  web::HealthProbe health_;
  Endpoints endpoints_;
  std::atomic<net::RelayedSockets*> sockets_{nullptr}; // from watch(): the people page counts them
};

} // namespace gatehouse::front_door
