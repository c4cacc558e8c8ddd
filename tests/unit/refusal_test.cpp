// Unit tests for web/refusal: API clients get JSON, browsers get a page; both say what to do.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "web/page.hpp"
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

// A consent page lets its form lead to the client's redirect_uri (web/page form_target): the CSP source is
// the URL's origin or an app's scheme, and nothing that could close the directive or add another.
TEST(PageCsp, FormTargetIsTheRedirectUrisOriginOrSchemeAndNothingElse) {
  using gatehouse::web::csp_source_of;
  EXPECT_EQ(csp_source_of("https://layla.amazon.com/api/skill/link/M2?x=1#f"), "https://layla.amazon.com");
  EXPECT_EQ(csp_source_of("http://[::1]:8123/cb"), "http://[::1]:8123");
  EXPECT_EQ(csp_source_of("homeassistant://auth-callback"), "homeassistant:");
  EXPECT_EQ(csp_source_of("https://a.example;script-src *"), "");
  EXPECT_EQ(csp_source_of("https://a.example 'unsafe-inline'/x"), "");
  EXPECT_EQ(csp_source_of("https://user@a.example/"), "");
  EXPECT_EQ(csp_source_of("java script:x"), "");
  EXPECT_EQ(csp_source_of("no-scheme"), "");
  gatehouse::web::Page page{"t", {}};
  page.form_target = "https://layla.amazon.com/cb";
  EXPECT_EQ(gatehouse::web::page_response(boost::beast::http::status::ok, page)["Content-Security-Policy"],
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://layla.amazon.com; frame-ancestors 'none'");
}
