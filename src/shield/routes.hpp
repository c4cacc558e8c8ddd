// shield/routes: owns which class a request belongs to, decided on the one strict reading of its target
// (shield/request_target) and a few head facts. Default deny: a request that matches nothing below is
// `protected_path` and needs a token Gatehouse has validated. The public list is short and explicit
// (contract §8.8): HA's frontend shell and static files, manifest, service workers, webhooks, the auth
// endpoints HA serves to anyone, signed (`authSig`) GETs, and onboarding while HA is not onboarded.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "front_door/request_facts.hpp"

namespace gatehouse::shield {

enum class RouteClass {
  public_path,       // on the public list: forwarded as is
  auth_endpoint,     // /auth/token, /auth/revoke: HA checks what they carry
  local_login,       // HA's own login (its page /auth/authorize, /auth/providers, /auth/login_flow*)
  signed_path,       // a GET carrying an unexpired authSig: HA checks the signature (§9.5)
  onboarding,        // /api/onboarding/*: public only while HA reports onboarding unfinished
  navigation,        // a browser opening an app page: answered with HA's shell ("/")
  cors_preflight,    // OPTIONS with Access-Control-Request-Method: HA's CORS layer answers it
  websocket,         // /api/websocket upgrade: Gatehouse does the auth step itself
  websocket_passthrough, // a websocket upgrade on a path the admin listed (add-on ingress): relayed as is
  bad_upgrade,       // any other upgrade request: 400, never a tunnel
  protected_path,    // everything else: a validated HA token is required
};

std::string_view name_of(RouteClass route);

class PublicPaths {
public:
  // The built-in list, plus `extra` patterns ("/exact" or "/prefix/*"), plus /local/* if `local_files`.
  PublicPaths(const std::vector<std::string>& extra, bool local_files);
  // Only `patterns` (any method), without the built-in list: the admin's websocket pass-through paths.
  static PublicPaths only(const std::vector<std::string>& patterns);
  bool matches(std::string_view path, boost::beast::http::verb method) const;

private:
  PublicPaths() = default;
  void add(std::string_view pattern, bool any_method);
  struct Pattern {
    std::string text; // exact path, or prefix ending in '/'
    bool prefix = false;
    bool any_method = false; // otherwise GET and HEAD only
  };
  std::vector<Pattern> patterns_;
};

// A request's class, and what the class rests on that the shield still checks.
struct Route {
  RouteClass route_class = RouteClass::protected_path;
  // signed_path: the HA session (refresh token id, the authSig's iss) whose link this is. HA honours the
  // link while that session exists, whether or not its person is still active (contract §9.5).
  std::string signing_session;
};

Route classify(const front_door::RequestFacts& facts, const PublicPaths& public_paths,
               const PublicPaths& websocket_passthrough);

// Whether HA itself signs `path` (contract §9.5) and refuses it when the signature is forged: only
// such paths may reach HA on the strength of an authSig that Gatehouse cannot check.
bool is_signed_path(std::string_view path);

// The session that signed the link, when `query` carries exactly one authSig whose value is a JWT with an
// iss (a non-empty string) and an exp (a time in jose::numeric_date's range) that has not passed (read
// without its key, which only HA has; HA verifies the signature). nullopt otherwise.
std::optional<std::string> auth_signature_session(std::string_view query, std::int64_t now_unix_seconds);

} // namespace gatehouse::shield
