// sso/header_sign_in: a person named by the forward-auth proxy in front of Gatehouse (config
// header_identity; front_door/request_facts took the headers out of the request and says whether they
// came from one of the configured proxies), in plain headers or in a token the proxy signs
// (oidc/signed_assertion), signs in at /auth/authorize like an IdP's person: the same HA user rules
// (roles from the groups header or claim, linking, SCIM), consent for clients that need it, audit.
#include <boost/json/serialize.hpp>

#include "logging/log.hpp"
#include "scim/people.hpp"
#include "sso/sign_in.hpp"

namespace gatehouse::sso {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kMaxGroupsBytes = 8 * 1024;
constexpr std::size_t kMaxGroups = 100;
// Identities from headers are keyed under an issuer no IdP can have.
constexpr std::string_view kHeaderIssuer = "gatehouse:header-identity";

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool printable(std::string_view text) {
  for (const unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

// authentik separates groups with '|', Authelia and most others with ','.
json::array groups_of(std::string_view header) {
  json::array groups;
  while (!header.empty()) {
    const auto end = header.find_first_of("|,");
    const auto group = trim(header.substr(0, end));
    if (!group.empty()) groups.emplace_back(group);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return groups;
}

} // namespace

asio::awaitable<web::Response> SignIn::sign_in_from_headers(std::shared_ptr<const config::Config> config_now,
                                                            front_door::IdentityHeaders identity, ClientRequest client) {
  const config::Config& config = *config_now;
  const auto& settings = *config.header_identity;
  // Not a provider id (those have no ':'): the audit cannot confuse the two.
  const std::string provider_label =
      "header:" + (settings.assertion ? settings.assertion->header : settings.username_header);
  auto refuse = [&](http::status status, std::string reason, std::string title, std::vector<std::string> paragraphs,
                    std::string why = "") {
    Refusal refusal{status, std::move(reason), std::move(title), std::move(paragraphs), {{"source", "header_identity"}}};
    if (!why.empty()) refusal.detail["why"] = why;
    return refuse_sign_in(std::move(refusal), "", client.address, "header sign-in refused");
  };
  // Who the proxy names, keyed as (issuer, subject): a signed assertion's own, or the username header's.
  json::object claims;
  std::string issuer;
  std::string subject;
  if (settings.assertion) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    oidc::CheckedAssertion checked;
    if (identity.repeated || identity.assertion.empty())
      checked.reason = identity.repeated ? "assertion: sent twice" : "assertion: missing";
    else {
      // Held for the check: a reload may replace the checker meanwhile.
      const auto checker = assertions_for(*settings.assertion);
      if (checker) {
        checked = co_await checker->check(std::move(identity.assertion), now);
      } else {
        checked.keys_unavailable = true;
        checked.reason = "assertion: its checker could not be set up (header_identity.assertion.ca_file)";
      }
    }
    if (!checked.claims && checked.keys_unavailable)
      co_return refuse(http::status::bad_gateway, "assertion_keys_unavailable", "Gatehouse cannot check your sign-in",
                       {"The proxy in front of Home Assistant signed your sign-in, but Gatehouse could not fetch the "
                        "keys to check that signature. Try again in a minute; if it lasts, give your administrator the "
                        "reference below."},
                       checked.reason);
    if (!checked.claims)
      co_return refuse(http::status::forbidden, "bad_assertion", "Your sign-in proxy's token was not accepted",
                       {"The proxy in front of Home Assistant sent a signed token that is missing, sent twice, expired, "
                        "or not signed for this Home Assistant. Reload the page to sign in again; if it lasts, give "
                        "your administrator the reference below."},
                       checked.reason);
    claims = std::move(*checked.claims);
    // SCIM knows people by scim.match_claim: a token without it could never be cut off by SCIM.
    if (scim_people_for(config, provider_label) && !claims.if_contains(config.scim->match_claim))
      co_return refuse(http::status::forbidden, "scim_unmatched", "Your account cannot be matched",
                       {"The proxy in front of Home Assistant signed you in, but its token does not carry what "
                        "Gatehouse's SCIM provisioning knows people by. Ask your administrator, and give them the "
                        "reference below."},
                       "assertion: no " + config.scim->match_claim + " claim for SCIM");
    issuer = settings.assertion->issuer;
    subject = claims.at("sub").as_string();
  } else {
    const std::string_view username = trim(identity.username);
    const json::array groups = groups_of(identity.groups);
    if (identity.repeated || username.empty() || username.size() > kMaxNameBytes || !printable(username) ||
        identity.name.size() > kMaxNameBytes || !printable(identity.name) || identity.groups.size() > kMaxGroupsBytes ||
        !printable(identity.groups) || groups.size() > kMaxGroups)
      co_return refuse(http::status::bad_request, "bad_identity_headers",
                       "Your sign-in proxy sent an identity Gatehouse cannot use",
                       {"The proxy in front of Home Assistant named you in headers that are missing, sent twice or too "
                        "long. Ask your administrator, and give them the reference below."});
    claims = {{config.users.username_claim, username},
              {config.users.name_claim, identity.name.empty() ? username : trim(identity.name)}};
    if (!settings.groups_header.empty()) claims[config.users.groups_claim] = groups;
    // Keyed without case: "Alice" and "alice" from the proxy are one person (and one HA user).
    issuer = kHeaderIssuer;
    subject = username;
    for (auto& c : subject) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (const auto* people = scim_people_for(config, provider_label)) {
    const auto scim_refusal = people->refusal_for({issuer, subject, claims});
    if (scim_refusal == scim::People::Refusal::inactive)
      co_return refuse(http::status::forbidden, "cut_off", "Your access to Home Assistant was removed",
                       {std::string(kScimInactiveText)});
    if (scim_refusal == scim::People::Refusal::unverified_email)
      co_return refuse(http::status::forbidden, "email_unverified", "Your email address is not verified",
                       {std::string(kUnverifiedEmailText)});
  }
  auto provisioning = provisioning_for(config_now, claims, provider_label, issuer, subject);
  std::string provider = provider_label;
  auto prepared = co_await directory_.prepare(std::move(issuer), std::move(subject), std::move(provider),
                                              std::move(claims), client.address, std::move(provisioning));
  if (!prepared.user) {
    using Kind = users::DirectoryRefusal::Kind;
    if (prepared.refusal.kind == Kind::no_role)
      co_return refuse(http::status::forbidden, "no_role", "You do not have access to Home Assistant",
                       {"Your sign-in proxy named you, but none of your groups gives access to Home Assistant.",
                        "Ask your administrator to add you to one of those groups, and give them the reference below."});
    if (prepared.refusal.kind == Kind::cut_off)
      co_return refuse(http::status::forbidden, "cut_off", "Your access to Home Assistant was removed",
                       {std::string(kCutOffText)});
    if (prepared.refusal.kind == Kind::conflict)
      co_return refuse(http::status::forbidden, "link_conflict", "Your account cannot be matched",
                       {"The Home Assistant user meant for your account already belongs to someone else. Ask your "
                        "administrator, and give them the reference below."});
    co_return refuse(http::status::bad_gateway, "ha_unavailable", "Home Assistant is unavailable",
                     {"Gatehouse could not prepare your Home Assistant user. Try again in a minute."});
  }
  const auto& user = *prepared.user;
  json::object detail{{"provider", provider_label}};
  const auto trust = trust_of(client.client_id, client.redirect_uri, config.external_url, config.trusted_clients,
                              client.started_on_another_site);
  if (trust.asks_person()) co_return ask_consent(user, std::move(client), trust, std::move(detail));
  auto handoff = co_await hand_code_to_client(user, client, std::move(detail));
  if (!handoff.redirect) {
    handoff.refusal.detail["source"] = "header_identity";
    co_return refuse_sign_in(std::move(handoff.refusal), user.username, client.address, "header sign-in refused");
  }
  co_return std::move(*handoff.redirect);
}

} // namespace gatehouse::sso
