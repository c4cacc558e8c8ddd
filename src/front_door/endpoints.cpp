// front_door/endpoints: finding the row that takes a request.
#include "front_door/endpoints.hpp"

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "web/page.hpp"

namespace gatehouse::front_door {
namespace http = boost::beast::http;

namespace {

bool path_matches(const Endpoint& row, std::string_view path) {
  return row.prefix ? path.starts_with(row.path) : path == row.path;
}

bool takes_method(const Endpoint& row, http::verb method) {
  return row.methods.empty() || std::find(row.methods.begin(), row.methods.end(), method) != row.methods.end();
}

} // namespace

Match Endpoints::find(const RequestFacts& facts) const {
  Match match;
  if (facts.upgrade != Upgrade::none) return match;
  const std::string_view path = facts.target.path;
  bool path_is_ours = false;
  for (const auto& row : rows_) {
    if (!path_matches(row, path) || (row.active && !row.active(facts))) continue;
    if (takes_method(row, facts.method)) {
      match.endpoint = &row;
      return match;
    }
    if (row.other_methods == OtherMethods::to_home_assistant) continue;
    path_is_ours = true;
    for (const auto method : row.methods) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += http::to_string(method);
    }
  }
  match.method_not_allowed = path_is_ours;
  return match;
}

web::Response method_not_allowed(const RequestFacts& facts, const std::string& allow) {
  web::Response response;
  if (facts.wants_html) {
    web::Page page{"Method not allowed", {"This address of Gatehouse does not take " +
                                          std::string(http::to_string(facts.method)) + " requests."},
                   {}, "Gatehouse · 405 method_not_allowed"};
    response = web::page_response(http::status::method_not_allowed, page, facts.version);
  } else {
    response = web::Response{http::status::method_not_allowed, facts.version};
    response.set(http::field::content_type, "application/json");
    response.body() = boost::json::serialize(
        boost::json::object{{"message", "Method not allowed"}, {"code", "method_not_allowed"}});
  }
  response.set(http::field::allow, allow);
  response.set(http::field::cache_control, "no-store");
  response.prepare_payload();
  return response;
}

} // namespace gatehouse::front_door
