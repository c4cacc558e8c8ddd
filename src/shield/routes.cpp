// shield/routes: the route classes and the public list.
#include "shield/routes.hpp"

#include <array>

#include "jose/jws.hpp"

namespace gatehouse::shield {
namespace http = boost::beast::http;

std::string_view name_of(RouteClass route) {
  switch (route) {
    case RouteClass::public_path: return "public";
    case RouteClass::auth_endpoint: return "auth";
    case RouteClass::local_login: return "local_login";
    case RouteClass::signed_path: return "signed";
    case RouteClass::onboarding: return "onboarding";
    case RouteClass::navigation: return "navigation";
    case RouteClass::cors_preflight: return "cors_preflight";
    case RouteClass::websocket: return "websocket";
    case RouteClass::websocket_passthrough: return "websocket_passthrough";
    case RouteClass::bad_upgrade: return "bad_upgrade";
    case RouteClass::protected_path: return "protected";
  }
  return "protected";
}

namespace {

struct BuiltIn {
  std::string_view pattern;
  bool any_method;
};

// Contract §8.1, §8.2, §8.5. GET/HEAD only unless marked.
constexpr std::array<BuiltIn, 14> kBuiltInPublicPaths{{
    {"/frontend_latest/*", false},
    {"/frontend_es5/*", false},
    {"/static/*", false},
    {"/manifest.json", false},
    {"/service_worker.js", false},
    {"/sw-modern.js", false},
    {"/sw-modern.js.map", false},
    {"/sw-legacy.js", false},
    {"/sw-legacy.js.map", false},
    {"/robots.txt", false},
    {"/onboarding.html", false},
    {"/.well-known/oauth-authorization-server", false},
    {"/api/onboarding", false}, // the list of steps and whether each is done
    {"/api/webhook/*", true},   // webhook ids are the secret; HA answers 200 for unknown ones
}};

bool is_get_or_head(http::verb method) { return method == http::verb::get || method == http::verb::head; }

// A path a browser may open as an app page: plain segments only, not under HA's API or auth trees.
bool is_app_page(std::string_view path) {
  if (path == "/") return true;
  constexpr std::size_t kMaxSegments = 8;
  std::size_t segments = 0;
  std::string_view first;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment.empty()) {
      if (end != path.size()) return false; // only a trailing '/' may be empty
      break;
    }
    for (const char c : segment) {
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (!plain) return false;
    }
    if (++segments > kMaxSegments) return false;
    if (segments == 1) first = segment;
    start = end + 1;
  }
  return first != "api" && first != "auth" && first != "local" && first != "static" && first != "sso" &&
         first != "scim" && !first.starts_with("frontend_");
}

std::string_view query_value(std::string_view query, std::string_view name, int& count) {
  std::string_view found;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      ++count;
      found = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return found;
}

} // namespace

void PublicPaths::add(std::string_view pattern, bool any_method) {
  Pattern p;
  p.any_method = any_method;
  if (pattern.ends_with("/*")) {
    p.prefix = true;
    pattern.remove_suffix(1);
  }
  p.text = std::string(pattern);
  patterns_.push_back(std::move(p));
}

PublicPaths::PublicPaths(const std::vector<std::string>& extra, bool local_files) {
  for (const auto& built_in : kBuiltInPublicPaths) add(built_in.pattern, built_in.any_method);
  if (local_files) add("/local/*", false);
  for (const auto& pattern : extra) add(pattern, false);
}

PublicPaths PublicPaths::only(const std::vector<std::string>& patterns) {
  PublicPaths paths;
  for (const auto& pattern : patterns) paths.add(pattern, true);
  return paths;
}

bool PublicPaths::matches(std::string_view path, http::verb method) const {
  for (const auto& pattern : patterns_) {
    if (!pattern.any_method && !is_get_or_head(method)) continue;
    if (pattern.prefix ? path.starts_with(pattern.text) && path.size() > pattern.text.size() : path == pattern.text)
      return true;
  }
  return false;
}

namespace {

// The paths HA signs (contract §9.5: async_sign_path in core's media_player/browse_media.py, and the
// frontend's auth/sign_path calls), each served by a view that refuses a request whose signature is
// forged (requires_auth, or its own check). A GET with an authSig on any other path is treated as if it
// had none: there, HA would ignore the bad signature and serve the view to anyone.
struct SignedPath {
  std::string_view pattern; // exact, or a prefix ending in '/'
  bool prefix;
};
constexpr std::array<SignedPath, 7> kSignedPaths{{
    {"/media/", true},                   // media_source LocalMediaView (requires_auth)
    {"/api/camera_proxy/", true},        // CameraView: 401/403 without an authenticated request or entity token
    {"/api/camera_proxy_stream/", true}, // the same view, streamed
    {"/api/backup/download/", true},     // DownloadBackupView (requires_auth, admin)
    {"/api/diagnostics/", true},         // DownloadDiagnosticsView (requires_auth)
    {"/api/error_log", false},           // APIErrorLog (requires_auth, admin)
    {"/api/analytics/devices", false},   // AnalyticsDevicesView (requires_auth, admin)
}};

// Supervisor logs the frontend downloads through a signed link: HassIOView refuses them without an
// authenticated admin. Its public paths (app/*, add-on logos and icons) are never signed paths.
bool is_supervisor_log_path(std::string_view path) {
  constexpr std::string_view kHassio = "/api/hassio/";
  if (!path.starts_with(kHassio)) return false;
  const auto rest = path.substr(kHassio.size());
  if (rest.starts_with("app/")) return false; // the frontend's own files, which HassIOView serves to anyone
  return rest.ends_with("/logs") || rest.find("/logs/") != std::string_view::npos;
}

} // namespace

bool is_signed_path(std::string_view path) {
  for (const auto& signed_path : kSignedPaths) {
    if (signed_path.prefix ? path.starts_with(signed_path.pattern) && path.size() > signed_path.pattern.size()
                           : path == signed_path.pattern)
      return true;
  }
  return is_supervisor_log_path(path);
}

std::optional<std::string> auth_signature_session(std::string_view query, std::int64_t now) {
  int count = 0;
  const auto value = query_value(query, "authSig", count);
  if (count != 1 || value.empty() || value.size() > 4096) return std::nullopt;
  const auto parts = jose::split_compact(value);
  const auto claims = parts ? jose::parse_object(parts->payload) : std::nullopt;
  if (!claims) return std::nullopt;
  const auto exp = jose::numeric_date(*claims, "exp");
  if (!exp || *exp < now) return std::nullopt; // HA allows no leeway here (§9.5)
  const auto* iss = claims->if_contains("iss");
  if (!iss || !iss->is_string() || iss->as_string().empty()) return std::nullopt; // HA finds no session either
  return std::string(iss->as_string());
}

namespace {

RouteClass class_of(const front_door::RequestFacts& facts, const PublicPaths& public_paths,
                    const PublicPaths& websocket_passthrough, std::string& signing_session) {
  const auto& path = facts.target.path;
  using front_door::Upgrade;
  // An upgrade is decided here and nowhere else: HA's websocket API, or a path the admin listed.
  if (facts.upgrade == Upgrade::websocket && path == "/api/websocket") return RouteClass::websocket;
  if (facts.upgrade == Upgrade::websocket && websocket_passthrough.matches(path, facts.method))
    return RouteClass::websocket_passthrough;
  if (facts.upgrade != Upgrade::none) return RouteClass::bad_upgrade;
  const bool has_authorization = !facts.authorization.empty();
  if ((path == "/auth/token" || path == "/auth/revoke") && facts.method == http::verb::post) return RouteClass::auth_endpoint;
  if (path == "/auth/providers" || path == "/auth/login_flow" || path.starts_with("/auth/login_flow/") ||
      (path == "/auth/authorize" && (facts.method == http::verb::get || facts.method == http::verb::head)))
    return RouteClass::local_login;
  if (public_paths.matches(path, facts.method)) return RouteClass::public_path;
  if (path.starts_with("/api/onboarding/")) return RouteClass::onboarding;
  if (facts.cors_preflight && !has_authorization) return RouteClass::cors_preflight;
  if (facts.method == http::verb::get && !has_authorization && is_signed_path(path)) {
    if (auto session = auth_signature_session(facts.target.query, facts.now_unix_seconds)) {
      signing_session = std::move(*session);
      return RouteClass::signed_path;
    }
  }
  if (is_get_or_head(facts.method) && facts.wants_html && !has_authorization && is_app_page(path))
    return RouteClass::navigation;
  return RouteClass::protected_path;
}

} // namespace

Route classify(const front_door::RequestFacts& facts, const PublicPaths& public_paths,
               const PublicPaths& websocket_passthrough) {
  Route route;
  route.route_class = class_of(facts, public_paths, websocket_passthrough, route.signing_session);
  return route;
}

} // namespace gatehouse::shield
