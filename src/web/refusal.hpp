// web/refusal: owns how Gatehouse says "no" or "cannot". Every refusal is a value with a kind; it is
// turned into HTTP once, here: JSON {"message","code"} for API clients, a readable HTML page for
// browsers (a request whose Accept prefers text/html). Pages never echo request data back.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

namespace gatehouse::web {

enum class RefusalKind {
  bad_request,          // 400: malformed HTTP or forwarded headers we will not guess about
  unauthorized,         // 401: the shield needs a valid Home Assistant token for this address
  local_login_closed,   // 403: HA's own password login is switched off (local_login)
  metrics_not_allowed,  // 403: /metrics for an address outside metrics.networks, or through an unknown proxy
  request_timeout,      // 408: the request head did not arrive in time
  body_too_large,       // 413
  header_too_large,     // 431
  too_many_token_checks, // 429: this client sent more unknown tokens than Gatehouse checks with HA for it
  upstream_unavailable, // 502: HA could not be reached
  too_many_connections, // 503
  upstream_timeout,     // 504: HA took the request but did not answer in time
};

struct Refusal {
  RefusalKind kind;
};

boost::beast::http::status status_of(RefusalKind kind);
std::string_view code_of(RefusalKind kind);

// True when the client is a browser navigation that should get a page rather than JSON.
bool wants_html(std::string_view accept_header);

using Response = boost::beast::http::response<boost::beast::http::string_body>;
// `keep_alive` false adds Connection: close. HTTP version 11 unless the request was 1.0.
Response render(RefusalKind kind, bool html, unsigned http_version = 11, bool keep_alive = false);

} // namespace gatehouse::web
