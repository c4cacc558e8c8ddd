// Unit tests for net/forwarding: who the client is (contract §3.2) and header hygiene towards HA.
#include <gtest/gtest.h>

#include <boost/beast/http/fields.hpp>
#include <string>
#include <vector>

#include "net/forwarding.hpp"

namespace {
namespace http = boost::beast::http;
using boost::asio::ip::make_address;
using gatehouse::net::IpNetwork;

std::vector<IpNetwork> networks(std::initializer_list<const char*> texts) {
  std::vector<IpNetwork> out;
  for (auto t : texts) out.push_back(*IpNetwork::parse(t));
  return out;
}

TEST(ForwardingResolveClient, UntrustedPeerIsTheClientWhateverItClaims) {
  http::fields h;
  h.set("X-Forwarded-For", "203.0.113.9");
  h.set("X-Forwarded-Proto", "https");
  h.set(http::field::host, "ha.example.com");
  auto c = gatehouse::net::resolve_client(h, make_address("192.0.2.10"), false, networks({"127.0.0.1"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address.to_string(), "192.0.2.10");
  EXPECT_EQ(c->proto, "http");
  EXPECT_EQ(c->host, "ha.example.com");
  EXPECT_TRUE(c->forwarding_ignored) << "a proxy Gatehouse was not told of may stand in front";
}

TEST(ForwardingResolveClient, IgnoredForwardingIsNotedOnlyWhenThereWasSome) {
  const auto resolve = [](const char* name, const char* peer) {
    http::fields h;
    if (*name) h.set(name, "203.0.113.9");
    return gatehouse::net::resolve_client(h, make_address(peer), false, networks({"127.0.0.1"}));
  };
  EXPECT_FALSE(resolve("", "192.0.2.10")->forwarding_ignored);
  EXPECT_TRUE(resolve("Forwarded", "192.0.2.10")->forwarding_ignored);
  EXPECT_TRUE(resolve("X-Real-IP", "192.0.2.10")->forwarding_ignored);
  EXPECT_FALSE(resolve("X-Forwarded-For", "127.0.0.1")->forwarding_ignored) << "a trusted proxy's forwarding is read";
}

TEST(ForwardingResolveClient, TrustedPeerRightMostUntrustedEntryWins) {
  http::fields h;
  h.set("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.0.0.5");
  auto c = gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, networks({"127.0.0.1", "10.0.0.0/8"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address.to_string(), "203.0.113.9");
}

TEST(ForwardingResolveClient, AllEntriesTrustedMeansLeftMost) {
  http::fields h;
  h.set("X-Forwarded-For", "10.0.0.7, 10.0.0.5");
  auto c = gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, networks({"127.0.0.1", "10.0.0.0/8"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address.to_string(), "10.0.0.7");
}

TEST(ForwardingResolveClient, SeveralHeaderLinesAreOneList) {
  http::fields h;
  h.insert("X-Forwarded-For", "203.0.113.1");
  h.insert("X-Forwarded-For", "203.0.113.2");
  auto c = gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, networks({"127.0.0.1"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address.to_string(), "203.0.113.2");
}

TEST(ForwardingResolveClient, MappedIpv6PeerMatchesIpv4TrustedProxy) {
  http::fields h;
  h.set("X-Forwarded-For", "203.0.113.9");
  auto c = gatehouse::net::resolve_client(h, make_address("::ffff:127.0.0.1"), false, networks({"127.0.0.1"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address.to_string(), "203.0.113.9");
}

TEST(ForwardingResolveClient, TrustedPeerProtoAndHostBelieved) {
  http::fields h;
  h.set("X-Forwarded-Proto", "HTTPS");
  h.set("X-Forwarded-Host", "ha.example.com");
  h.set(http::field::host, "internal:8123");
  auto c = gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, networks({"127.0.0.1"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proto, "https");
  EXPECT_EQ(c->host, "ha.example.com");
}

TEST(ForwardingResolveClient, ProtoListMatchingTheHopsPicksTheChosenHop) {
  http::fields h;
  h.set("X-Forwarded-For", "203.0.113.9, 10.0.0.5");
  h.set("X-Forwarded-Proto", "https, http");
  auto c = gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, networks({"127.0.0.1", "10.0.0.0/8"}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->address.to_string(), "203.0.113.9");
  EXPECT_EQ(c->proto, "https");
}

TEST(ForwardingResolveClient, TlsListenerSaysHttps) {
  http::fields h;
  auto c = gatehouse::net::resolve_client(h, make_address("192.0.2.1"), true, {});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proto, "https");
}

// Refused rather than guessed: each of these from a trusted proxy.
TEST(ForwardingResolveClient, UnreadableHeadersFromTrustedProxyAreRefused) {
  auto trusted = networks({"127.0.0.1"});
  for (auto [name, value] : std::vector<std::pair<const char*, const char*>>{
           {"X-Forwarded-For", "not-an-ip"},
           {"X-Forwarded-For", "203.0.113.9:443"},
           {"X-Forwarded-For", "[2001:db8::1]"},
           {"X-Forwarded-For", "203.0.113.9,,10.0.0.1"},
           {"X-Forwarded-For", ""},
           {"X-Forwarded-Proto", "https, http"}, // two values but no X-Forwarded-For hops to match
           {"X-Forwarded-Proto", "gopher"},
           {"X-Forwarded-Host", ""}}) {
    http::fields h;
    h.set(name, value);
    EXPECT_FALSE(gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, trusted))
        << name << ": " << value;
  }
}

TEST(ForwardingPrepareUpstream, SetsExactlyOneOfEachForwardedHeaderAndDropsClientCopies) {
  http::fields h;
  h.insert("X-Forwarded-For", "1.2.3.4");
  h.insert("X-Forwarded-For", "5.6.7.8");
  h.insert("X-Forwarded-Proto", "https, http");
  h.insert("Forwarded", "for=1.2.3.4");
  h.insert("X-Real-IP", "1.2.3.4");
  h.set(http::field::host, "ha.example.com");
  gatehouse::net::ForwardedClient client{make_address("192.0.2.5"), "https", "ha.example.com"};
  gatehouse::net::prepare_upstream_request(h, client);
  EXPECT_EQ(h.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(h["X-Forwarded-For"], "192.0.2.5");
  EXPECT_EQ(h.count("X-Forwarded-Proto"), 1u);
  EXPECT_EQ(h["X-Forwarded-Proto"], "https");
  EXPECT_EQ(h["X-Forwarded-Host"], "ha.example.com");
  EXPECT_EQ(h.count("Forwarded"), 0u);
  EXPECT_EQ(h.count("X-Real-IP"), 0u);
  EXPECT_EQ(h[http::field::host], "ha.example.com");
}

TEST(ForwardingHopByHop, RemovesStandardAndConnectionNamedHeadersButNotFraming) {
  http::fields h;
  h.set(http::field::connection, "keep-alive, X-Secret-Hop, Content-Length, Host");
  h.set("X-Secret-Hop", "1");
  h.set(http::field::keep_alive, "timeout=5");
  h.set(http::field::proxy_authorization, "Basic abc");
  h.set(http::field::te, "trailers");
  h.set(http::field::trailer, "X-T");
  h.set(http::field::upgrade, "h2c");
  h.set(http::field::content_length, "5");
  h.set(http::field::host, "x");
  h.set("X-End-To-End", "kept");
  gatehouse::net::remove_hop_by_hop(h);
  for (auto name : {"Connection", "X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "TE", "Trailer", "Upgrade"})
    EXPECT_EQ(h.count(name), 0u) << name;
  EXPECT_EQ(h[http::field::content_length], "5");
  EXPECT_EQ(h[http::field::host], "x");
  EXPECT_EQ(h["X-End-To-End"], "kept");
}

// Several Connection lines are one list, names match in any case, a named header goes with all its
// lines, and what stays keeps its order (the pass erases as it walks the fields).
TEST(ForwardingHopByHop, SeveralConnectionLinesAndRepeatedNamedHeadersAllGoAndTheRestKeepsItsOrder) {
  http::fields h;
  h.insert("X-First", "1");
  h.insert(http::field::connection, "x-hop-a");
  h.insert("X-Hop-A", "a1");
  h.insert("X-Middle", "2");
  h.insert(http::field::connection, "X-HOP-B, close");
  h.insert("x-hop-b", "b1");
  h.insert("X-Hop-A", "a2");
  h.insert(http::field::proxy_connection, "keep-alive");
  h.insert("X-Last", "3");
  gatehouse::net::remove_hop_by_hop(h);
  std::vector<std::string> left;
  for (const auto& field : h) left.emplace_back(field.name_string());
  EXPECT_EQ(left, (std::vector<std::string>{"X-First", "X-Middle", "X-Last"}));
}

// An answer of HA's (or of an add-on behind ingress, which shares the origin) never sets Gatehouse's own
// cookies: the websocket handshake's answers and the token relay's go through this pass.
TEST(ForwardingHopByHop, ASetCookieOfGatehousesOwnCookiesStaysHereOthersPass) {
  http::fields h;
  h.insert(http::field::set_cookie, "gatehouse_login_abcdefgh=planted; Path=/sso/");
  h.insert(http::field::set_cookie, "ingress_session=abc; Path=/api/hassio_ingress/");
  h.insert(http::field::set_cookie, " GATEHOUSE_idp_signout=x");
  h.insert(http::field::set_cookie, "my_gatehouse_x=1");
  h.insert("X-Note", "gatehouse_login_abcdefgh=not-a-cookie");
  gatehouse::net::remove_hop_by_hop(h);
  std::vector<std::string> left;
  for (const auto& field : h) left.emplace_back(field.value());
  EXPECT_EQ(left, (std::vector<std::string>{"ingress_session=abc; Path=/api/hassio_ingress/", "my_gatehouse_x=1",
                                            "gatehouse_login_abcdefgh=not-a-cookie"}));
}

TEST(ForwardingPrepareUpstream, ClientForwardingHeadersGoInAnyCaseAndLookalikesStay) {
  http::fields h;
  h.insert("x-forwarded-for", "6.6.6.6");
  h.insert("X-FORWARDED-HOST", "evil.example");
  h.insert("x-real-ip", "6.6.6.6");
  h.insert("X-Forwarded-Forwarder", "kept");
  h.insert("X-Real-IPv6", "kept");
  gatehouse::net::ForwardedClient client{make_address("192.0.2.5"), "http", ""};
  gatehouse::net::prepare_upstream_request(h, client);
  EXPECT_EQ(h.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(h["X-Forwarded-For"], "192.0.2.5");
  EXPECT_EQ(h.count("X-Forwarded-Host"), 0u); // no Host from the client: none is claimed for it
  EXPECT_EQ(h.count("X-Real-IP"), 0u);
  EXPECT_EQ(h["X-Forwarded-Forwarder"], "kept");
  EXPECT_EQ(h["X-Real-IPv6"], "kept");
}

// The head HA gets is written from the parsed request in one pass; the fields stay as the client sent
// them (the door's facts were read from them).
TEST(ForwardingUpstreamHead, WritesTheTargetTheFieldsHaMaySeeAndOursAsBytes) {
  http::request_header<> request;
  request.method(http::verb::post);
  request.target("/client/target?x=1");
  request.version(10);
  request.insert("X-First", "1");
  request.insert(http::field::connection, "keep-alive, X-Hop");
  request.insert("X-Hop", "gone");
  request.insert(http::field::expect, "100-continue");
  request.insert("x-forwarded-for", "6.6.6.6");
  request.insert(http::field::forwarded, "for=6.6.6.6");
  request.insert(http::field::te, "trailers");
  request.insert(http::field::content_length, "5");
  request.insert("X-Last", "two words");
  const auto fields_before = std::distance(request.begin(), request.end());
  gatehouse::net::ForwardedClient client{make_address("192.0.2.5"), "https", "ha.example.com"};
  EXPECT_EQ(gatehouse::net::upstream_request_head(request, "/decided", client, "ha.internal:8123"),
            "POST /decided HTTP/1.1\r\n"
            "X-First: 1\r\n"
            "Content-Length: 5\r\n"
            "X-Last: two words\r\n"
            "X-Forwarded-For: 192.0.2.5\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: ha.example.com\r\n"
            "Host: ha.internal:8123\r\n"
            "\r\n");
  EXPECT_EQ(std::distance(request.begin(), request.end()), fields_before);
  EXPECT_EQ(request.target(), "/client/target?x=1");
}

// The client's Host goes on in its place, and none is added; without a Host of the client's, no
// X-Forwarded-Host is claimed for it.
TEST(ForwardingUpstreamHead, TheClientsHostStaysWhereItWas) {
  http::request_header<> request;
  request.method(http::verb::get);
  request.target("/");
  request.insert(http::field::host, "ha.example.com");
  request.insert("X-After", "1");
  gatehouse::net::ForwardedClient client{make_address("192.0.2.5"), "http", ""};
  EXPECT_EQ(gatehouse::net::upstream_request_head(request, "/", client, "unused:1"),
            "GET / HTTP/1.1\r\nHost: ha.example.com\r\nX-After: 1\r\nX-Forwarded-For: 192.0.2.5\r\n"
            "X-Forwarded-Proto: http\r\n\r\n");
}

} // namespace

namespace {
TEST(ForwardingResolveClient, TheAddressTextIsTheAddressWrittenOutForEveryOctetWidth) {
  for (const char* text : {"0.0.0.0", "1.2.3.4", "10.0.0.1", "192.168.100.255", "99.100.9.200", "255.255.255.255",
                           "2001:db8::1", "::1"}) {
    http::fields h;
    auto c = gatehouse::net::resolve_client(h, make_address(text), false, networks({}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->address_text, text);
    h.set("X-Forwarded-For", text);
    auto through_proxy = gatehouse::net::resolve_client(h, make_address("127.0.0.1"), false, networks({"127.0.0.1"}));
    ASSERT_TRUE(through_proxy);
    EXPECT_EQ(through_proxy->address_text, text);
  }
}
} // namespace
