// Unit tests for web/refusal: API clients get JSON, browsers get a page; both say what to do.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "web/refusal.hpp"

using namespace gatehouse::web;

TEST(RefusalRender, JsonForApiClients) {
  auto res = render(RefusalKind::upstream_unavailable, false);
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_EQ(res[boost::beast::http::field::content_type], "application/json");
  auto body = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(body.at("code").as_string(), "upstream_unavailable");
  EXPECT_EQ(body.at("message").as_string(), "Home Assistant is unavailable");
}

TEST(RefusalRender, PageForBrowsers) {
  auto res = render(RefusalKind::upstream_unavailable, wants_html("text/html,application/xhtml+xml,*/*;q=0.8"));
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_NE(res[boost::beast::http::field::content_type].find("text/html"), std::string::npos);
  EXPECT_NE(res.body().find("<title>Home Assistant is unavailable</title>"), std::string::npos);
  EXPECT_NE(res.body().find("Try again"), std::string::npos);
}

TEST(RefusalRender, StatusCodesMatchKinds) {
  EXPECT_EQ(render(RefusalKind::header_too_large, false).result_int(), 431);
  EXPECT_EQ(render(RefusalKind::body_too_large, false).result_int(), 413);
  EXPECT_EQ(render(RefusalKind::request_timeout, false).result_int(), 408);
  EXPECT_EQ(render(RefusalKind::too_many_connections, false).result_int(), 503);
  EXPECT_EQ(render(RefusalKind::upstream_timeout, false).result_int(), 504);
  EXPECT_EQ(render(RefusalKind::bad_request, false).result_int(), 400);
  EXPECT_FALSE(render(RefusalKind::bad_request, false).keep_alive());
}

TEST(RefusalRender, WantsHtmlOnlyForNavigations) {
  EXPECT_FALSE(wants_html("application/json"));
  EXPECT_FALSE(wants_html("*/*"));
  EXPECT_FALSE(wants_html(""));
  EXPECT_TRUE(wants_html("text/html"));
}
