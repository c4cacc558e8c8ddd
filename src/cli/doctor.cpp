#include "cli/doctor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <ostream>
#include <string>

#include "hass/admin_connection.hpp"
#include "net/http_client.hpp"
#include "oidc/idp_signout.hpp"
#include "oidc/provider.hpp"

namespace gatehouse::cli {

namespace asio = boost::asio;

namespace {

constexpr auto kMaxClockSkew = std::chrono::seconds(60);
constexpr int kCertificateWarningDays = 14;
constexpr const char* kDocumentationAddress = "192.0.2.10"; // TEST-NET-1: an address that is nobody's

class Report {
public:
  explicit Report(std::ostream& out) : out_(out) {}
  void ok(const std::string& what) { out_ << "ok    " << what << "\n"; }
  void note(const std::string& what) { out_ << "note  " << what << "\n"; }
  void fail(const std::string& what, const std::string& fix) {
    out_ << "FAIL  " << what << "\n      fix: " << fix << "\n";
    failed_ = true;
  }
  bool failed() const { return failed_; }

private:
  std::ostream& out_;
  bool failed_ = false;
};

template <class T>
T run_awaitable(asio::awaitable<T> work) {
  asio::io_context io;
  auto done = asio::co_spawn(io, std::move(work), asio::use_future);
  io.run();
  return done.get();
}

asio::awaitable<net::OutboundResult> send_one(net::HttpClient& http, net::OutboundRequest request) {
  co_return co_await http.send(request);
}

// One request, to completion (the doctor is a short sequential program).
net::OutboundResult fetch(net::HttpClient& http, net::OutboundRequest request) {
  return run_awaitable(send_one(http, std::move(request)));
}

// An HTTP Date ("Thu, 03 Dec 2026 17:45:00 GMT") as a time; nullopt when it cannot be read.
std::optional<std::chrono::system_clock::time_point> http_date(std::string_view text) {
  std::tm parts{};
  const std::string value(text);
  const char* end = ::strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (!end || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&parts));
}

void check_home_assistant(const config::Config& config, Report& report, bool signs_people_in) {
  const std::string& base = config.home_assistant.url;
  std::optional<net::HttpClient> client;
  try {
    client.emplace(net::HttpClient::Options{config.home_assistant.ca_file, std::chrono::seconds(10), 1024 * 1024});
  } catch (const std::exception& error) {
    report.fail(error.what(), "name a PEM file of CA certificates in home_assistant.ca_file");
    return;
  }
  net::HttpClient& http = *client;
  const auto reached = fetch(http, {boost::beast::http::verb::get, base + "/manifest.json", {}, {}});
  if (!reached) {
    report.fail("Home Assistant cannot be reached at " + base + ": " + reached.message,
                reached.failure == net::OutboundFailure::tls
                    ? "HA's certificate must be valid for " + config.home_assistant.host +
                          " and signed by a CA in the system store or in home_assistant.ca_file"
                    : "start Home Assistant, or correct home_assistant.url");
    return;
  }
  report.ok("Home Assistant answers at " + base + " (HTTP " + std::to_string(reached.response->status) + ")");

  // Contract §3.2: with X-Forwarded-For from a proxy it does not trust, HA answers 400 to everything.
  const auto forwarded = fetch(http, {boost::beast::http::verb::get, base + "/manifest.json",
                                      {{"X-Forwarded-For", kDocumentationAddress}}, {}});
  if (!forwarded)
    report.fail("a request with X-Forwarded-For did not reach Home Assistant: " + forwarded.message,
                "check that Home Assistant is up and reachable at home_assistant.url");
  else if (forwarded.response->status == 400 && reached.response->status != 400)
    report.fail("Home Assistant does not take Gatehouse as its proxy (HTTP 400 to a request with X-Forwarded-For)",
                "in HA's configuration.yaml set http: use_x_forwarded_for: true and trusted_proxies: [the address "
                "Gatehouse connects from], then restart HA");
  else if (forwarded.response->status == 400)
    report.fail("Home Assistant answers 400 to /manifest.json even without X-Forwarded-For",
                "check that home_assistant.url points at Home Assistant itself");
  else
    report.ok("Home Assistant takes Gatehouse as its proxy (it honours X-Forwarded-For)");

  if (signs_people_in) {
    // Contract §1.4: the list is bare in older versions, wrapped in {"providers": [...]} in newer ones.
    const auto listed = fetch(http, {boost::beast::http::verb::get, base + "/auth/providers", {}, {}});
    bool has_password_provider = false;
    if (listed && listed.response->status == 200) {
      boost::system::error_code ec;
      auto value = boost::json::parse(listed.response->body, ec);
      const boost::json::array* providers = value.if_array();
      if (const auto* wrapped = value.if_object(); wrapped && wrapped->contains("providers"))
        providers = wrapped->at("providers").if_array();
      if (providers)
        for (const auto& provider : *providers)
          if (const auto* entry = provider.if_object(); entry && entry->contains("type") && entry->at("type") == "homeassistant")
            has_password_provider = true;
    }
    if (has_password_provider)
      report.ok("Home Assistant's own password login (the homeassistant auth provider) is on: Gatehouse signs people in with it");
    else
      report.fail("Home Assistant does not list its homeassistant auth provider",
                  "keep - type: homeassistant in HA's auth_providers (Gatehouse closes it to everyone else itself, "
                  "with local_login)");
  }

  if (config.home_assistant.token.empty()) {
    report.note("no home_assistant.token_file: Gatehouse cannot create or update HA users (needed for sign-in)");
    return;
  }
  hass::AdminConnection admin(config.home_assistant);
  admin.start();
  const auto status = admin.wait_first_outcome(std::chrono::seconds(15));
  switch (status) {
  case hass::AdminStatus::ready:
    report.ok("the token in home_assistant.token_file is valid and belongs to an admin (Home Assistant " +
              admin.ha_version() + ")");
    break;
  case hass::AdminStatus::token_rejected:
    report.fail("Home Assistant rejected the token in home_assistant.token_file",
                "make a long-lived access token for an admin user (HA: your profile, Security) and put it in the file");
    break;
  case hass::AdminStatus::not_admin:
    report.fail("the token in home_assistant.token_file belongs to a user who is not an admin",
                "make the token for an admin user, or make its user an administrator in HA");
    break;
  case hass::AdminStatus::connecting:
  case hass::AdminStatus::unreachable:
    report.fail("Home Assistant's websocket API did not answer: " + admin.status_message(),
                "check that /api/websocket reaches Home Assistant at home_assistant.url");
    break;
  }
  admin.stop();
}

void check_provider(const config::Config& config, const config::Provider& settings, Report& report) {
  const std::string who = "provider " + settings.id + ": ";
  net::HttpClient http(net::HttpClient::Options{settings.ca_file, std::chrono::seconds(10), 1024 * 1024});
  std::string issuer = settings.issuer;
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  const std::string discovery_url = issuer + "/.well-known/openid-configuration";
  const auto discovery = fetch(http, {boost::beast::http::verb::get, discovery_url, {}, {}});
  if (!discovery || discovery.response->status != 200) {
    report.fail(who + "its discovery document at " + discovery_url + " cannot be read: " +
                    (discovery ? "HTTP " + std::to_string(discovery.response->status) : discovery.message),
                "check providers[].issuer (exactly as the IdP names itself) and, for a private CA, providers[].ca_file");
    return;
  }
  oidc::Provider provider(settings);
  const auto metadata = run_awaitable(provider.metadata());
  if (!metadata) {
    report.fail(who + "discovery does not check out: " + metadata.failure.reason,
                "write providers[].issuer exactly as the IdP's discovery names its issuer");
    return;
  }
  report.ok(who + "discovery at " + discovery_url);

  const auto keys = fetch(http, {boost::beast::http::verb::get, metadata.value->jwks_uri, {}, {}});
  std::size_t key_count = 0;
  if (keys && keys.response->status == 200) {
    boost::system::error_code ec;
    const auto value = boost::json::parse(keys.response->body, ec);
    if (const auto* set = value.if_object(); set && set->contains("keys") && set->at("keys").is_array())
      key_count = set->at("keys").as_array().size();
  }
  if (key_count == 0)
    report.fail(who + "no signing keys at " + metadata.value->jwks_uri,
                "give the application a signing key at the IdP (ID tokens must be signed with a public key)");
  else
    report.ok(who + std::to_string(key_count) + " signing key(s) at " + metadata.value->jwks_uri);

  if (const auto date = http_date(discovery.response->headers[boost::beast::http::field::date])) {
    // A cached answer keeps its origin's Date and says how old it is in Age.
    long age = 0;
    const auto age_text = std::string(discovery.response->headers[boost::beast::http::field::age]);
    if (!age_text.empty() && age_text.size() < 10 && age_text.find_first_not_of("0123456789") == std::string::npos)
      age = std::stol(age_text);
    const auto skew = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - *date) -
                      std::chrono::seconds(age);
    const std::string seconds = std::to_string(std::llabs(skew.count())) + " s";
    if (std::chrono::abs(skew) > kMaxClockSkew)
      report.fail(who + "its clock and this machine's differ by " + seconds +
                      ": ID tokens would be refused as not yet valid or expired",
                  "keep both clocks synchronised (NTP)");
    else
      report.ok(who + "clocks agree within " + seconds);
  } else {
    report.note(who + "its answer has no Date: the clocks could not be compared");
  }
  report.note(who + "register redirect URI " + config.external_url + "/sso/callback, back-channel logout URI " +
              config.external_url + "/sso/backchannel-logout, post-logout redirect URI " + config.external_url +
              std::string(oidc::kSignedOutPath));
}

void check_certificate(const config::TlsListener& tls, Report& report) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(tls.cert_file.c_str(), "r"), std::fclose);
  std::unique_ptr<X509, void (*)(X509*)> certificate(file ? PEM_read_X509(file.get(), nullptr, nullptr, nullptr) : nullptr,
                                                     X509_free);
  if (!certificate) {
    report.fail("the TLS certificate " + tls.cert_file.string() + " cannot be read", "point tls.cert_file at a PEM certificate");
    return;
  }
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(certificate.get()));
  const std::string where = "the TLS certificate " + tls.cert_file.string();
  if (days < 0 || (days == 0 && seconds <= 0))
    report.fail(where + " has expired", "renew it and run systemctl reload gatehouse (SIGHUP reads it again)");
  else if (days < kCertificateWarningDays)
    report.fail(where + " expires in " + std::to_string(days) + " day(s)",
                "renew it now and run systemctl reload gatehouse (SIGHUP reads it again)");
  else
    report.ok(where + " is valid for " + std::to_string(days) + " more days");
}

} // namespace

int doctor(const config::Config& config, std::ostream& out) {
  Report report(out);
  const bool signs_people_in =
      !config.providers.empty() || config.header_identity.has_value() || !config.trusted_devices.empty();
  check_home_assistant(config, report, signs_people_in);
  for (const auto& provider : config.providers) check_provider(config, provider, report);
  if (config.tls) check_certificate(*config.tls, report);
  return report.failed() ? 1 : 0;
}

} // namespace gatehouse::cli
