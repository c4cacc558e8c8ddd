// oidc/client_discovery's page reading (HA's LinkTagParser + urljoin, contract §1.8 step 4) and
// net/ip_network's is_public, which keeps the fetch off the home network.
#include "oidc/client_discovery.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "net/ip_network.hpp"

namespace {

using gatehouse::oidc::link_redirect_uris;
using Uris = std::vector<std::string>;

TEST(ClientPage, LinksAreReadAsHtmlParserReadsThem) {
  const std::string base = "https://music.example/app/start";
  EXPECT_EQ(link_redirect_uris(R"(<link rel="redirect_uri" href="https://music.example/cb">)", base),
            Uris{"https://music.example/cb"});
  // Relative hrefs resolved against the page; names without case; values unquoted or single-quoted.
  EXPECT_EQ(link_redirect_uris(R"(<LINK Rel=redirect_uri HREF='done'><link rel="redirect_uri" href="/root">)", base),
            (Uris{"https://music.example/app/done", "https://music.example/root"}));
  // Entities decoded; the last of a repeated attribute counts.
  EXPECT_EQ(link_redirect_uris(R"(<link rel="redirect_uri" href="x://a" href="cb?a=1&amp;b=2&#38;c=3">)", base),
            Uris{"https://music.example/app/cb?a=1&b=2&c=3"});
  // Another scheme is taken as it is (the app's own callback).
  EXPECT_EQ(link_redirect_uris(R"(<link href="musicapp://auth" rel="redirect_uri"/>)", base), Uris{"musicapp://auth"});
}

TEST(ClientPage, WhatIsNotALinkWithExactlyThatRelCountsForNothing) {
  const std::string base = "https://music.example/";
  EXPECT_EQ(link_redirect_uris(R"(<link rel="me redirect_uri" href="/a"><link rel="Redirect_URI" href="/b">)", base), Uris{});
  EXPECT_EQ(link_redirect_uris(R"(<a rel="redirect_uri" href="/a">x</a><linked rel="redirect_uri" href="/b">)", base), Uris{});
  EXPECT_EQ(link_redirect_uris(R"(<!-- <link rel="redirect_uri" href="/hidden"> -->)", base), Uris{});
  EXPECT_EQ(link_redirect_uris(R"(<script>var s = '<link rel="redirect_uri" href="/js">';</script>)", base), Uris{});
  EXPECT_EQ(link_redirect_uris(R"(<style>/* <link rel="redirect_uri" href="/css"> */</style><link rel="redirect_uri" href="/ok">)", base),
            Uris{"https://music.example/ok"});
  EXPECT_EQ(link_redirect_uris(R"(<link rel="redirect_uri">)", base), Uris{}) << "no href";
  EXPECT_EQ(link_redirect_uris(R"(<link rel="redirect_uri" href="/unterminated)", base), Uris{});
  EXPECT_EQ(link_redirect_uris("<<<<link", base), Uris{});
  EXPECT_EQ(link_redirect_uris("", base), Uris{});
}

// Client ID Metadata Documents (HA 2026.8, core PR #176286): the document vouches for itself only when
// it names the very client_id it was fetched from.
TEST(ClientMetadataDocument, ListsItsRedirectUrisWhenItNamesItself) {
  using gatehouse::oidc::metadata_redirect_uris;
  const std::string id = "https://mcp.example/oauth/client.json";
  std::string problem = "left over";
  EXPECT_EQ(metadata_redirect_uris(R"({"client_id":")" + id + R"(","client_name":"Agent","redirect_uris":["https://other.example/cb","app:/callback"]})",
                                   id, problem),
            (Uris{"https://other.example/cb", "app:/callback"}));
  EXPECT_EQ(problem, "");
  const auto refused = [&](const std::string& body, const std::string& why) {
    std::string reason;
    EXPECT_EQ(metadata_redirect_uris(body, id, reason), Uris{}) << body;
    EXPECT_NE(reason.find(why), std::string::npos) << body << " gave: " << reason;
  };
  refused(R"({"client_id":"https://mcp.example/oauth/client.json/","redirect_uris":["https://x/cb"]})", "another client_id");
  refused(R"({"client_id":"https://evil.example/client.json","redirect_uris":["https://x/cb"]})", "another client_id");
  refused(R"({"redirect_uris":["https://x/cb"]})", "another client_id");
  refused(R"({"client_id":")" + id + R"("})", "no redirect_uris");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":[]})", "no redirect_uris");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":"https://x/cb"})", "no redirect_uris");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":["https://x/cb","/relative"]})", "not an absolute URI");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":["https://x/cb#"]})", "not an absolute URI");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":[7]})", "not an absolute URI");
  refused(R"(["https://x/cb"])", "no client metadata document");
  refused(R"({"client_id":")" + id + R"(", "redirect_uris":["https://x/cb"])", "no client metadata document"); // not closed
  refused(R"({"client_id":")" + id + R"(","redirect_uris":["https://x:99999/cb"]})", "not an absolute URI");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":["https://x:8o/cb"]})", "not an absolute URI");
  refused(R"({"client_id":")" + id + R"(","redirect_uris":["1app:/cb"]})", "not an absolute URI");
  refused("<html></html>", "no client metadata document");
  // What Python's urlparse takes, Gatehouse takes too: HA would accept the client.
  EXPECT_EQ(metadata_redirect_uris(R"({"client_id":")" + id + R"(","redirect_uris":["https://x.example/a b|{é}%zz","https://[::1]:8443/cb","app+x.y-z:cb","https://x:/cb"]})",
                                   id, problem),
            (Uris{"https://x.example/a b|{é}%zz", "https://[::1]:8443/cb", "app+x.y-z:cb", "https://x:/cb"}))
      << problem;
  // Deep nesting is an error to report, not a crash.
  refused(R"({"client_id":")" + id + R"(","x":)" + std::string(5000, '[') + "}", "no client metadata document");
}

TEST(ClientMetadataDocument, OnlyAnHttpsClientIdWithAPathNamesOne) {
  using gatehouse::oidc::may_name_metadata_document;
  EXPECT_TRUE(may_name_metadata_document("https://mcp.example/client.json"));
  EXPECT_TRUE(may_name_metadata_document("https://mcp.example/"));
  EXPECT_TRUE(may_name_metadata_document("HTTPS://mcp.example/client.json")) << "urlparse lowercases the scheme";
  EXPECT_FALSE(may_name_metadata_document("https://mcp.example"));
  EXPECT_FALSE(may_name_metadata_document("http://mcp.example/client.json"));
  EXPECT_FALSE(may_name_metadata_document("https://mcp.example/client.json#x"));
}

TEST(ClientPage, OnlyPublicAddressesArePublic) {
  using boost::asio::ip::make_address;
  for (const char* address : {"93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34", "64:ff9b::808:808"})
    EXPECT_TRUE(gatehouse::net::is_public(make_address(address))) << address;
  for (const char* address : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.20", "169.254.169.254", "100.64.0.1",
                              "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "::", "fe80::1", "fd00::1",
                              "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:192.168.1.1", "64:ff9b::a00:1",
                              "64:ff9b::7f00:1", "2001:db8::1", "2002:c0a8:101::1"})
    EXPECT_FALSE(gatehouse::net::is_public(make_address(address))) << address;
}

} // namespace
