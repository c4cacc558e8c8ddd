// sso/sign_in: owns the login journey a person makes through Gatehouse: /auth/authorize (the URL every
// HA client opens) → the provider chooser, if several → the IdP → /sso/callback → the HA user made
// ready (users::Directory) → HA's own login flow for that user with the client's client_id and
// redirect_uri (hass::LoginFlowClient) → back to the client with HA's code. Each step that fails ends
// on a page that says what happened and what to do, with a correlation id that is also in the audit
// log; nothing reaches HA's login flow before the IdP's answer has been verified.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "hass/login_flow.hpp"
#include "net/forwarding.hpp"
#include "net/http_client.hpp"
#include "oidc/provider.hpp"
#include "shield/token_cache.hpp"
#include "store/refusal_summary.hpp"
#include "store/store.hpp"
#include "users/directory.hpp"
#include "web/page.hpp"

namespace gatehouse::sso {

class SignIn {
public:
  SignIn(const config::Config& config, store::Store& store, users::Directory& directory);

  // Whether `target` is one of the routes this owns.
  bool handles(std::string_view target) const;
  // Whether /auth/authorize from this client is answered here: always with providers; with trusted
  // devices only, only for the devices (everyone else gets HA's own login page, where local_login allows).
  bool answers_authorize(const std::string& client_address) const {
    return !providers_.empty() || trusted_device_for(client_address) != nullptr;
  }
  // Answers one request on those routes. `client_address` is the address HA is told about.
  boost::asio::awaitable<web::Response> handle(const boost::beast::http::request_header<>& request,
                                               std::string client_address);

  // POST /auth/token, relayed to HA as it is (sso/token_relay.cpp); when it redeems a code this login
  // journey obtained, the new refresh token's id is recorded under the HA user it belongs to.
  static bool is_token_request(const boost::beast::http::request_header<>& request);
  boost::asio::awaitable<web::Response> relay_token_request(
      boost::beast::http::request<boost::beast::http::string_body> request, net::ForwardedClient client);

  // Access tokens HA issues through relay_token_request are recorded here as valid, with their user.
  void learn_tokens_into(shield::TokenCache& cache) { token_cache_ = &cache; }

  // Every minute (and at exit): the `sign_in_refusals` count goes to the audit log, expired pending
  // logins leave the store.
  void housekeeping();

private:
  // What an HA client asked for at /auth/authorize, carried through its sign-in.
  struct ClientRequest {
    std::string client_id;
    std::string redirect_uri;
    std::optional<std::string> state;
    std::string address;
  };
  struct Refusal {
    boost::beast::http::status status = boost::beast::http::status::bad_gateway;
    std::string reason;
    std::string title;
    std::vector<std::string> paragraphs;
    boost::json::object detail;
  };
  struct Handoff {
    std::optional<web::Response> redirect; // to the client's redirect_uri with HA's code
    Refusal refusal;                       // otherwise
  };
  // The last steps of every sign-in: HA's login flow for `user` with the client's own client_id and
  // redirect_uri, the audit entry, and the redirect back to the client with HA's code.
  boost::asio::awaitable<Handoff> hand_code_to_client(users::ReadyUser user, ClientRequest client,
                                                      boost::json::object detail);
  // A client on a trusted device's network signs in as that device's user, without an IdP.
  boost::asio::awaitable<web::Response> sign_in_device(const config::TrustedDevice& device, ClientRequest client);
  const config::TrustedDevice* trusted_device_for(const std::string& client_address) const;

  std::optional<std::string> user_of_refresh_token(const std::string& refresh_token_id);
  boost::asio::awaitable<web::Response> authorize(std::string target, std::string client_address,
                                                  std::string only_provider);
  boost::asio::awaitable<web::Response> callback(std::string target, std::string cookies, std::string client_address);

  // Codes HA gave this journey, until redeemed (HA's own lifetime: 10 minutes, contract §1.9).
  struct IssuedCode {
    std::string ha_user_id;
    std::chrono::steady_clock::time_point expires;
  };
  void remember_code(const std::string& client_id, const std::string& code, const std::string& ha_user_id);
  std::optional<std::string> take_code(const std::string& client_id, const std::string& code);

  const config::Config& config_;
  store::Store& store_;
  std::mutex issued_mutex_;
  std::map<std::string, IssuedCode> issued_codes_;
  net::HttpClient home_assistant_http_;
  users::Directory& directory_;
  hass::LoginFlowClient login_flow_;
  std::vector<std::unique_ptr<oidc::Provider>> providers_;
  shield::TokenCache* token_cache_ = nullptr;
  // Refused sign-ins: the first few of each address per minute get a `login_refused` entry with the
  // reference on their page, the rest are counted (anyone can make sign-ins fail as fast as they like).
  store::RefusalSummary refused_sign_ins_;
};

} // namespace gatehouse::sso
