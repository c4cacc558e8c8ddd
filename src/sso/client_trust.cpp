// sso/client_trust: which clients complete a sign-in without a consent page.
#include "sso/client_trust.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <boost/url/parse.hpp>

namespace gatehouse::sso {

namespace {

struct KnownPair {
  std::string_view client_id;
  std::string_view redirect_uri;
  std::string_view name;
};

// Contract §7.1 / §1.8: the exact pairs HA itself accepts without a discovery fetch.
constexpr std::array<KnownPair, 4> kCompanionApps{{
    {"https://home-assistant.io/iOS", "homeassistant://auth-callback", "Home Assistant for iOS"},
    {"https://home-assistant.io/android", "homeassistant://auth-callback", "Home Assistant for Android"},
    {"https://home-assistant.io/android", "https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android",
     "Home Assistant for Wear OS"},
    {"https://home-assistant.io/android", "https://wear.googleapis-cn.com/3p_auth/io.homeassistant.companion.android",
     "Home Assistant for Wear OS"},
}};

struct KnownHost {
  std::string_view host;
  std::string_view name;
};

// Contract §7.1: the voice assistants' account-linking client_ids, by host. They still get the page:
// the name only helps the person recognise what they are allowing.
constexpr std::array<KnownHost, 4> kVoiceAssistants{{
    {"pitangui.amazon.com", "Amazon Alexa"},
    {"layla.amazon.com", "Amazon Alexa"},
    {"alexa.amazon.co.jp", "Amazon Alexa"},
    {"oauth-redirect.googleusercontent.com", "Google Assistant"},
}};

} // namespace

ClientTrust trust_of(std::string_view client_id, std::string_view redirect_uri, std::string_view external_url,
                     const std::vector<config::TrustedClient>& listed, bool started_on_another_site) {
  ClientTrust trust;
  trust.started_on_another_site = started_on_another_site;
  std::string host;
  if (auto parsed = boost::urls::parse_absolute_uri(client_id)) {
    trust.origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority());
    host = std::string(parsed->encoded_host());
    for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (client_id.size() == external_url.size() + 1 && client_id.starts_with(external_url) && client_id.back() == '/') {
    trust.kind = ClientTrust::Kind::own_frontend;
    trust.name = "Home Assistant";
    return trust;
  }
  for (const auto& app : kCompanionApps) {
    if (client_id == app.client_id && redirect_uri == app.redirect_uri) {
      trust.kind = ClientTrust::Kind::companion_app;
      trust.name = std::string(app.name);
      trust.web_view_stays_on_host = app.client_id == "https://home-assistant.io/android" &&
                                     app.redirect_uri == "homeassistant://auth-callback";
      return trust;
    }
  }
  for (const auto& client : listed) {
    if (client_id == client.client_id &&
        std::find(client.redirect_uris.begin(), client.redirect_uris.end(), redirect_uri) != client.redirect_uris.end()) {
      trust.kind = ClientTrust::Kind::listed;
      trust.name = client.name;
      return trust;
    }
  }
  for (const auto& known : kVoiceAssistants)
    if (host == known.host) trust.name = std::string(known.name);
  return trust;
}

} // namespace gatehouse::sso
