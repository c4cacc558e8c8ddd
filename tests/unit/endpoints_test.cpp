// front_door/endpoints: which row takes a request, and what a method no row takes gets.
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>

#include "front_door/endpoints.hpp"

namespace {
using gatehouse::front_door::Endpoint;
using gatehouse::front_door::Endpoints;
using gatehouse::front_door::OtherMethods;
using gatehouse::front_door::RequestFacts;
using gatehouse::front_door::Upgrade;
namespace http = boost::beast::http;

RequestFacts facts_for(http::verb method, std::string path, Upgrade upgrade = Upgrade::none) {
  RequestFacts facts;
  facts.method = method;
  facts.target.path = std::move(path);
  facts.upgrade = upgrade;
  return facts;
}

Endpoints table(bool sign_in_on = true) {
  Endpoints endpoints;
  endpoints.add({.path = "/healthz", .route = "health"});
  endpoints.add({.path = "/auth/token", .methods = {http::verb::post}, .body_limit = 1024,
                 .other_methods = OtherMethods::to_home_assistant, .route = "token"});
  endpoints.add({.path = "/sso/login/", .prefix = true, .methods = {http::verb::get},
                 .active = [sign_in_on](const RequestFacts&) { return sign_in_on; }, .route = "login"});
  endpoints.add({.path = "/sso/consent", .methods = {http::verb::post}, .route = "consent"});
  endpoints.add({.path = "/sso/consent", .methods = {http::verb::delete_}, .route = "consent-withdrawn"});
  return endpoints;
}

std::string route_of(const Endpoints& endpoints, const RequestFacts& facts) {
  const auto match = endpoints.find(facts);
  return match.endpoint ? match.endpoint->route : match.method_not_allowed ? "405 " + match.allow : "to the shield";
}

} // namespace

TEST(Endpoints, ARowTakesItsPathAndMethods) {
  const auto endpoints = table();
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/healthz")), "health");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::post, "/healthz")), "health") << "no methods listed: any method";
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::post, "/auth/token")), "token");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/sso/login/main")), "login");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::delete_, "/sso/consent")), "consent-withdrawn");
}

TEST(Endpoints, ExactPathsAreExactAndPrefixesArePrefixes) {
  const auto endpoints = table();
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/healthz/")), "to the shield");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/healthzz")), "to the shield");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::post, "/auth/token/x")), "to the shield");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/sso/login")), "to the shield");
}

TEST(Endpoints, OtherMethodsOnGatehousePathsAre405WithEveryAllowedMethod) {
  const auto endpoints = table();
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/sso/consent")), "405 POST, DELETE");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::post, "/sso/login/main")), "405 GET");
}

TEST(Endpoints, OtherMethodsOnPathsTakenFromHaStayHas) {
  const auto endpoints = table();
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/auth/token")), "to the shield");
}

TEST(Endpoints, AnInactiveRowIsNotThere) {
  const auto endpoints = table(false);
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/sso/login/main")), "to the shield");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::post, "/sso/login/main")), "to the shield");
}

TEST(Endpoints, AnUpgradeRequestIsNeverGatehouses) {
  const auto endpoints = table();
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/healthz", Upgrade::websocket)), "to the shield");
  EXPECT_EQ(route_of(endpoints, facts_for(http::verb::get, "/sso/login/main", Upgrade::other)), "to the shield");
}
