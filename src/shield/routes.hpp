// shield/routes: owns which class a request belongs to, decided on the one strict reading of its target
// (shield/request_target) and a few head facts. Default deny: a request that matches nothing below is
// `protected_path` and needs a token Gatehouse has validated. The public list is short and explicit
// (contract §8.8): HA's frontend shell and static files, manifest, service workers, webhooks, the auth
// endpoints HA serves to anyone, signed (`authSig`) GETs, and onboarding while HA is not onboarded.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

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
  protected_path,    // everything else: a validated HA token is required
};

std::string_view name_of(RouteClass route);

struct RequestFacts {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string_view path;  // origin-form path as sent (checked by check_target)
  std::string_view query; // without '?'
  bool has_authorization = false;
  bool wants_html = false;        // Accept names text/html
  bool websocket_upgrade = false;
  bool cors_preflight = false;    // OPTIONS with Access-Control-Request-Method
  std::int64_t now_unix_seconds = 0;
};

class PublicPaths {
public:
  // The built-in list, plus `extra` patterns ("/exact" or "/prefix/*"), plus /local/* if `local_files`.
  PublicPaths(const std::vector<std::string>& extra, bool local_files);
  bool matches(std::string_view path, boost::beast::http::verb method) const;

private:
  struct Pattern {
    std::string text; // exact path, or prefix ending in '/'
    bool prefix = false;
    bool any_method = false; // otherwise GET and HEAD only
  };
  std::vector<Pattern> patterns_;
};

RouteClass classify(const RequestFacts& facts, const PublicPaths& public_paths);

// True when `query` carries exactly one authSig whose value is a JWT with an exp (a time in
// jose::numeric_date's range) that has not passed (read without its key, which only HA has; HA verifies
// the signature).
bool has_live_auth_signature(std::string_view query, std::int64_t now_unix_seconds);

} // namespace gatehouse::shield
