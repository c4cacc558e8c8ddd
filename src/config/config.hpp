// config: owns reading Gatehouse's YAML file into one immutable Config. Every key is checked once, at
// start (or on `check-config`); the request path never touches YAML. Errors name the key path, the
// line and what was expected, and all of them are reported together so a user fixes the file in one go.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/ip_network.hpp"

namespace gatehouse::config {

struct ListenAddress {
  std::string host;  // literal IP address ("0.0.0.0", "::", "127.0.0.1")
  uint16_t port = 0; // 0 = pick a free port (tests); the bound port is logged
};

struct TlsListener {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

struct HomeAssistant {
  std::string url;            // e.g. http://127.0.0.1:8124 (scheme http or https, no path)
  std::string host;           // parsed from url
  uint16_t port = 0;          // parsed from url (default 80/443 by scheme)
  bool tls = false;           // https
  std::optional<std::filesystem::path> ca_file; // with https: a PEM bundle trusted besides the system store
  std::string token;          // admin long-lived token; empty when not configured
};

// The largest request or response head Gatehouse reads: Beast 1.81 throws (instead of failing the read)
// on a header value over 65,533 bytes, so no head may be larger than that can hold.
constexpr std::size_t kMaxHeaderBytesCeiling = 64 * 1024;

// "Per address" below means per client as net/client_key counts them: an IPv4 address or an IPv6 /64.
struct Limits {
  std::size_t max_header_bytes = 64 * 1024;                 // whole request head
  std::uint64_t max_body_bytes = 1024ull * 1024 * 1024;     // per request body (streamed, never buffered)
  // Client connections at once; 0 = derived at start from the open-files limit (net/open_files).
  std::size_t max_connections = 0;
  // Connections of one client address at once (its TCP peer; peers in trusted_proxies are not capped).
  std::size_t max_connections_per_address = 256;
  std::size_t max_websocket_message_bytes = 4 * 1024 * 1024; // client→HA, HA's own limit (contract §4.1)
  // Sign-ins waiting for the IdP's answer (each a row in the store for up to 10 minutes).
  std::size_t max_pending_logins = 10'000;
  std::size_t max_pending_logins_per_address = 50;
  std::size_t max_pending_logins_per_network = 200; // per IPv6 /48 (net/network_key)
  // Checks of unknown tokens with HA (shield/check_budget): per address a bucket of `burst` refilled at
  // `per_minute`, and at most `max_concurrent` at once for everyone.
  std::uint32_t token_checks_per_minute = 60;
  std::uint32_t token_check_burst = 30;
  std::uint32_t max_concurrent_token_checks = 32;
  // Refused sign-ins and break-glass links of one address per minute that get an audit entry of their
  // own (with the reference shown on the page); the rest are counted (store/refusal_summary).
  std::size_t audited_refusals_per_address = 5;
};

struct Timeouts {
  std::chrono::milliseconds header_read{10'000};     // time to receive a whole request head
  std::chrono::milliseconds idle_keepalive{75'000};  // idle client keep-alive connection
  std::chrono::milliseconds upstream_connect{5'000}; // TCP connect to HA
  std::chrono::milliseconds upstream_response{300'000}; // HA's response head after the request was sent
  std::chrono::milliseconds shutdown_grace{10'000};  // SIGTERM: time to let requests in flight finish
};

struct Logging {
  std::string level = "info"; // trace|debug|info|warn|error
  std::uint32_t audit_keep_days = 400; // the audit log forgets entries older than this
};

// How Gatehouse authenticates itself at a provider's token endpoint (RFC 6749 §2.3.1).
enum class ClientAuth { client_secret_basic, client_secret_post };
// What signing out of HA does at the IdP (`providers[].logout`): nothing (`local`), or the next sign-in
// from that browser first ends the IdP session (`idp`: RP-initiated logout with id_token_hint).
enum class ProviderLogout { local, idp };

// HA's three user groups: system-admin, system-users, system-read-only.
enum class Role { admin, user, read_only };

// Whether a first login may take over an HA user that already exists instead of creating a new one:
// off; by the HA username named in a claim (`link_claim`); or by the username derived from the IdP.
enum class LinkExisting { off, claim, username };

// One OpenID Connect identity provider (`providers:` list item).
struct Provider {
  std::string id;            // ^[a-z0-9][a-z0-9_-]{0,31}$, unique; in /sso/login/<id> and the secret's env name
  std::string name;          // label on the chooser page; the id when not given
  std::string issuer;        // exactly as written: discovery's "issuer" and the ID token's "iss" must equal it
  std::string client_id;
  std::string client_secret; // from client_secret_file or GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET. Never log it.
  ClientAuth client_auth = ClientAuth::client_secret_basic;
  std::vector<std::string> scopes{"openid", "profile", "email", "groups"}; // always contains "openid"
  std::optional<std::filesystem::path> ca_file; // PEM bundle trusted in addition to the system store
  // ID token signature algorithms accepted, in the order written. Filled with all ten asymmetric ones
  // (RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA) when not given; "none" and HS* never.
  std::vector<std::string> algorithms;
  bool userinfo = true;      // complete the claims from the userinfo endpoint when the IdP has one
  ProviderLogout logout = ProviderLogout::local;
  // How often each sign-in's IdP refresh token is refreshed to ask the IdP whether the person may still
  // be signed in (for IdPs without SCIM or back-channel logout); nullopt: never (the default). At least 1 s.
  std::optional<std::chrono::milliseconds> revalidate;

  bool operator==(const Provider&) const = default; // a reload keeps a provider whose configuration is equal
};

// How IdP claims become HA users (`users:` block).
struct Users {
  std::string username_claim = "preferred_username", name_claim = "name", groups_claim = "groups";
  std::vector<std::string> admin_groups, user_groups, read_only_groups; // users.roles.{admin,user,read_only}
  bool deny_without_role = true; // a user in none of the groups above is refused
  Role default_role = Role::read_only; // only when deny_without_role is false; never admin
  LinkExisting link_existing = LinkExisting::off;
  std::string link_claim = "hass_user"; // claim naming an existing HA username (link_existing: claim)
};

// What the pre-authentication shield does with a request it would refuse (`shield:` block).
enum class ShieldMode {
  enforce, // refuse it (the default)
  report,  // log it as "shield would refuse" and forward it anyway: only while rolling Gatehouse out
};

struct Shield {
  ShieldMode mode = ShieldMode::enforce;
  std::vector<std::string> public_paths; // added to the built-in list: "/exact" or "/prefix/*"
  bool local_files = false;              // HA's /local/* (the config's www folder) without a token
  // Paths where a websocket upgrade is relayed to HA as it is (add-on ingress: the Supervisor checks
  // its own cookie). /api/websocket is never among them: Gatehouse authenticates it itself.
  std::vector<std::string> websocket_passthrough;
};

// Who may use HA's own password login (`local_login:`): its login page and /auth/login_flow.
enum class LocalLogin { disabled, allowed, networks };

// A wall tablet or dashboard signed in by its address (`trusted_devices:` item).
struct TrustedDevice {
  std::string name;
  std::vector<net::IpNetwork> networks;
  std::string user;                 // HA username, created if missing
  Role role = Role::read_only;      // never admin
};

// People signed in by a forward-auth proxy in front of Gatehouse (`header_identity:`): the identity its
// headers name is believed only on requests whose TCP peer is one of `proxies`; the headers are taken
// out of every request, so HA never sees them.
// A JWT the proxy signs for each request (Cloudflare Access's Cf-Access-Jwt-Assertion, Pomerium's
// X-Pomerium-Jwt-Assertion): believed only when its signature verifies with the keys at `jwks_uri` and
// its iss, aud and exp hold; the person is its (iss, sub), their name and groups its claims, read with
// users.*_claim like an ID token's.
struct SignedAssertion {
  std::string header;
  std::string issuer;   // exact
  std::string audience; // one of aud
  std::string jwks_uri;
  std::optional<std::filesystem::path> ca_file; // PEM bundle trusted in addition to the system store
  std::vector<std::string> algorithms;          // as providers[].algorithms

  bool operator==(const SignedAssertion&) const = default;
};

struct HeaderIdentity {
  std::vector<net::IpNetwork> proxies;
  std::string username_header; // e.g. X-authentik-username, Remote-User; "" with an assertion
  std::string groups_header;   // "" for none; groups separated by '|' or ','
  std::string name_header;     // "" for none
  std::optional<SignedAssertion> assertion; // set: the person comes from it, not from plain headers
};

// Discovering a third-party client's redirect URIs from its client_id page (`client_discovery:`), as HA
// does (oidc/client_discovery). Public addresses only, unless `networks` lists others.
struct ClientDiscovery {
  bool enabled = true;
  std::vector<net::IpNetwork> networks; // non-public addresses a client_id page may be fetched from
  std::optional<std::filesystem::path> ca_file; // PEM bundle trusted besides the system's (a client on a private CA)
};

// Prometheus's /metrics: who may read it (by the client address Gatehouse decided on, so a client
// behind a trusted proxy is judged by its own address).
struct Metrics {
  bool enabled = true;
  std::vector<net::IpNetwork> networks{*net::IpNetwork::parse("127.0.0.0/8"), *net::IpNetwork::parse("::1/128")};
};

// A client that gets its code without a consent page (`trusted_clients:` item), like HA's own frontend
// and the companion apps. Every other client is named on a page the person must allow.
struct TrustedClient {
  std::string client_id; // exact, as the client sends it
  std::string name;      // for the audit log; the client_id when not given
  // Exact: only a sign-in returning to one of these skips the page. HA accepts any redirect_uri on the
  // client_id's host (contract §1.8), and on a host many clients share (Alexa's, Google's) that would
  // hand a silent code to anyone's skill or project there. Empty (not written): trusted for none.
  std::vector<std::string> redirect_uris;
};

// The SCIM 2.0 server at /scim/v2 (`scim:` block): on when the block is there.
struct Scim {
  std::string token; // the bearer token the provisioning client sends; never logged
  // Requests of one client address: a bucket of `burst` refilled at `requests_per_minute`.
  std::uint32_t requests_per_minute = 1200;
  std::uint32_t burst = 200;
  // Which SCIM User a sign-in is: the User's `match_attribute` (userName or externalId) equals the
  // sign-in's `match_claim`, ignoring case.
  std::string match_attribute = "userName";
  std::string match_claim = "preferred_username";
  // The role of a person whose SCIM User is known comes from the displayNames of the SCIM Groups the
  // User is in (matched against users.roles), not from the sign-in's groups claim; a change of those
  // Groups changes the HA user's group at once, and losing every one of them cuts the person off
  // (when users.deny_without_role).
  bool roles_from_groups = false;
  // What a SCIM cut-off does to the HA user once its sessions are ended: deactivate it (a lift activates
  // it again) or delete it (HA then also removes its companion apps' registrations, cloudhooks included;
  // the person gets a new HA user if they are let back in). The owner is never deleted.
  enum class OnDeactivate { deactivate, delete_user } on_deactivate = OnDeactivate::deactivate;
  // The one sign-in source whose people SCIM's Users are: a provider's id, or kHeaderIdentitySource. A
  // sign-in through any other source is never matched to a User: another IdP's user could otherwise
  // name a SCIM User's userName and take that User's role, HA user or cut-off. Set from the only source
  // when there is one; required when there are several ("" when nobody signs in).
  std::string provider;
  static constexpr std::string_view kHeaderIdentitySource = "header_identity";
  // Whether sign-ins through `provider_id` (a provider's id; header_identity's are labelled "header:<name>")
  // are SCIM's people.
  bool provisions(std::string_view provider_id) const {
    if (provider.empty()) return false;
    return provider == kHeaderIdentitySource ? provider_id.starts_with("header:") : provider_id == provider;
  }
};

struct Config {
  std::filesystem::path source_file;
  ListenAddress listen;
  std::optional<TlsListener> tls;
  std::string external_url;                  // what browsers see, no trailing slash
  std::vector<net::IpNetwork> trusted_proxies; // peers whose X-Forwarded-For Gatehouse believes
  std::filesystem::path data_dir;
  HomeAssistant home_assistant;
  Limits limits;
  Timeouts timeouts;
  Logging logging;
  unsigned workers = 0; // I/O threads; 0 = one per CPU core
  std::vector<Provider> providers; // empty = SSO off; when set, home_assistant.token is set too
  Users users;
  Shield shield;
  LocalLogin local_login = LocalLogin::allowed; // disabled by default when providers are configured
  std::vector<net::IpNetwork> local_login_networks;
  std::vector<TrustedDevice> trusted_devices;
  std::optional<HeaderIdentity> header_identity; // absent: no identity is taken from headers
  std::vector<TrustedClient> trusted_clients;
  ClientDiscovery client_discovery;
  Metrics metrics;
  // Browsers signing in choose first: here, or with another device (a phone signing in a wall tablet
  // or a TV, or this browser while the app's web view waits); /sso/device takes the code either way.
  bool sign_in_choice = false;
  std::optional<Scim> scim; // absent: no SCIM server
};

// One problem in the file: "home_assistant.url (line 7): expected an http:// or https:// URL, got 'x'".
struct ConfigIssue {
  std::string key;  // dotted path, e.g. "limits.max_body_bytes"; list items by 0-based index: "providers[0].issuer"
  int line = 0;     // 1-based; 0 when the problem is not tied to a line (e.g. file unreadable)
  std::string message;
  std::string to_string() const;
};

class ConfigError : public std::runtime_error {
public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const { return issues_; }

private:
  std::vector<ConfigIssue> issues_;
};

// Non-fatal findings (e.g. a secret file readable by others) are returned for the caller to log.
struct LoadResult {
  Config config;
  std::vector<std::string> warnings;
  std::string text; // the file as it was read
};

// Reads and validates the file. Secrets come from `*_file` keys, or from environment variables named in
// the README (GATEHOUSE_HA_TOKEN, GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET); never from the command line.
// Throws ConfigError.
LoadResult load_file(const std::filesystem::path& path);
// Same, from text (tests). `origin` names the source in messages.
LoadResult load_text(const std::string& yaml, const std::filesystem::path& origin = "<text>");

} // namespace gatehouse::config
