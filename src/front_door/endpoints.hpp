// front_door/endpoints: owns the table of Gatehouse's own endpoints. Each row says where it is (exact
// path or prefix), which methods it takes, how much body it reads, who may call it, when it is on at
// all, and which handler answers. A request the table does not take goes on to the shield. Adding an
// endpoint is one row, one handler and a test.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "front_door/request_facts.hpp"
#include "web/refusal.hpp"

namespace gatehouse::front_door {

// Who may call an endpoint. Anything beyond `anyone` is checked by the handler against its own state
// (the row documents it; the handler proves it), because only the handler holds that state.
enum class Caller {
  anyone,
  browser_with_pending_login, // a POST bound by an HttpOnly, SameSite=Strict cookie to a sign-in in progress
  scim_bearer,                // the provisioning client, with the bearer token of scim.token_file (checked
                              // by the row's caller_refusal before the body is read)
  home_assistant_user,        // an HA access token the shield admits, as for any HA API call (checked
                              // by the front door before the body is read)
  home_assistant_admin,       // an HA access token HA vouches for (checked by the front door, whatever the
                              // shield's mode, and its owner put in the facts), whose user the handler
                              // finds among HA's administrators
};

// What happens to a method the row does not list. Paths Gatehouse takes over from HA keep HA's own
// answer for the other methods; Gatehouse's own paths answer 405 themselves.
enum class OtherMethods { to_home_assistant, not_allowed };

using Handler = std::function<boost::asio::awaitable<web::Response>(
    const RequestFacts& facts, const boost::beast::http::request_header<>& head, std::string body)>;

struct Endpoint {
  std::string_view path;
  bool prefix = false;                              // `path` is a prefix ("/sso/login/")
  std::vector<boost::beast::http::verb> methods;    // empty: any method
  std::size_t body_limit = 0;                       // bytes of body read whole before the handler; 0: none
  Caller caller = Caller::anyone;
  // A caller check the row's own state answers (the SCIM bearer): the refusal, or nullopt to go on. Asked
  // before the body is read, so a caller without the credential never makes Gatehouse hold one.
  std::function<std::optional<web::Response>(const RequestFacts&)> caller_refusal;
  OtherMethods other_methods = OtherMethods::not_allowed;
  std::function<bool(const RequestFacts&)> active;  // whether the row applies to this request (configuration)
  Handler handler;
  const char* route = "gatehouse";                  // the log line's route
};

struct Match {
  const Endpoint* endpoint = nullptr; // the row that takes the request
  bool method_not_allowed = false;    // the path is a row's, the method none of its rows take
  std::string allow;                  // then: the methods that are (for the Allow header)
};

class Endpoints {
public:
  void add(Endpoint endpoint) { rows_.push_back(std::move(endpoint)); }
  // The row that takes this request. Upgrade requests are never Gatehouse's: they go to the shield.
  Match find(const RequestFacts& facts) const;
  const std::vector<Endpoint>& rows() const { return rows_; }

private:
  std::vector<Endpoint> rows_;
};

// 405 for a browser (a page) or an API client (JSON), with Allow.
web::Response method_not_allowed(const RequestFacts& facts, const std::string& allow);

} // namespace gatehouse::front_door
