// sso/client_trust: owns which HA clients get a code without being named to the person first. HA's own
// login page names the client and asks every time (contract §1.3); Gatehouse skips that step only for
// this instance's own frontend (client_id `<external_url>/`), the companion apps' fixed pairs
// (contract §7.1, §1.8) and the clients the admin lists in `trusted_clients`, each for the exact
// redirect_uris listed with it (HA takes any on the client's host). Every other client — a
// voice assistant, any IndieAuth client — is named on a consent page the person must allow; and a
// trusted device (signed in by its address alone) hands codes only to the frontend and listed clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace gatehouse::sso {

struct ClientTrust {
  enum class Kind { own_frontend, companion_app, listed, needs_consent } kind = Kind::needs_consent;
  std::string name;   // what the person is shown: a friendly name for known clients, else ""
  std::string origin; // scheme://host[:port] of the client_id
  // The Android app's web view sends every address on another host to the system browser and never
  // hears back (contract §7.2): it waits on Gatehouse's own page instead (oidc/app_handoff).
  bool web_view_stays_on_host = false;
  // The browser said another site sent it to /auth/authorize (Sec-Fetch-Site cross-site or same-site):
  // a page anyone can put up started it, so the person is asked even for a companion app or a listed
  // client (a code for an app pair's custom scheme goes to whichever app claims it; a listed client's
  // account linking would link the person to whoever made the link). Never for HA's own frontend, whose
  // code stays on this origin.
  bool started_on_another_site = false;
  bool asks_person() const {
    return kind == Kind::needs_consent || (started_on_another_site && kind != Kind::own_frontend);
  }
  // Trusted devices sign in without a person, so nobody could allow a sign-in another site started: only
  // these clients may get their codes.
  bool serves_devices() const {
    return kind == Kind::own_frontend || (kind == Kind::listed && !started_on_another_site);
  }
};

ClientTrust trust_of(std::string_view client_id, std::string_view redirect_uri, std::string_view external_url,
                     const std::vector<config::TrustedClient>& listed, bool started_on_another_site = false);

} // namespace gatehouse::sso
