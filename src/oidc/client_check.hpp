// oidc/client_check: owns the decision whether a sign-in request's client_id and redirect_uri are a
// pair HA itself would accept (ha-auth-contract §1.8, HA's IndieAuth rules, including the iOS, Android
// and Wear OS app cases), made before anyone is sent to the IdP, so Gatehouse never redirects to an
// unchecked URI. HA's fetch of the client_id page for <link rel="redirect_uri"> is
// oidc/client_discovery's.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::oidc {

// HA's verify_client_id (§1.8).
bool client_id_acceptable(std::string_view client_id);

enum class RedirectCheck { accepted, bad_client_id, bad_redirect_uri, needs_discovery };
// HA's verify_redirect_uri up to the discovery fetch (same origin, or one of the app pairs);
// needs_discovery: only the client's page can say (oidc/client_discovery).
RedirectCheck check_redirect(std::string_view client_id, std::string_view redirect_uri);

// redirect_uri with the parameters added to its query (after an existing query, before a fragment),
// as HA's frontend does when it completes a login (§1.3 step 6).
std::string with_query_parameters(std::string_view redirect_uri,
                                  const std::vector<std::pair<std::string, std::string>>& parameters);

} // namespace gatehouse::oidc
