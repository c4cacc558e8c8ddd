// web/refusal: the fixed texts of Gatehouse's refusals and their JSON and HTML forms.
#include "web/refusal.hpp"

#include "web/page.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

namespace gatehouse::web {
namespace http = boost::beast::http;

namespace {

struct RefusalText {
  std::string_view title;   // headline, also the JSON message
  std::string_view advice;  // one sentence telling a person what to do
};

RefusalText text_of(RefusalKind kind) {
  switch (kind) {
  case RefusalKind::bad_request:
    return {"Bad request", "The request was malformed, so Gatehouse did not pass it on."};
  case RefusalKind::unauthorized:
    return {"Sign-in required",
            "This address needs a valid Home Assistant sign-in. Open Home Assistant's start page to sign in, "
            "then try again."};
  case RefusalKind::local_login_closed:
    return {"Local login is switched off",
            "This Home Assistant signs people in through single sign-on only. Open Home Assistant's start page to "
            "sign in. Administrators locked out can open local login for one browser with \"gatehouse breakglass\" "
            "on the Gatehouse server."};
  case RefusalKind::metrics_not_allowed:
    return {"Metrics are only for the addresses in metrics.networks",
            "Gatehouse answers /metrics only to the addresses in metrics.networks (this machine by default), and "
            "not through a proxy missing from trusted_proxies. Add your Prometheus server's address there."};
  case RefusalKind::request_timeout:
    return {"Request timed out", "The request did not arrive in time. Try again."};
  case RefusalKind::body_too_large:
    return {"Request body too large",
            "The request body is larger than Gatehouse accepts (limits.max_body_bytes)."};
  case RefusalKind::header_too_large:
    return {"Request header too large",
            "The request headers are larger than Gatehouse accepts (limits.max_header_bytes)."};
  case RefusalKind::upstream_unavailable:
    return {"Home Assistant is unavailable",
            "Gatehouse could not reach Home Assistant. It may be starting or restarting; this page "
            "will work again as soon as Home Assistant is back. Try again in a minute."};
  case RefusalKind::too_many_connections:
    return {"Too many connections", "Gatehouse is at its connection limit. Try again shortly."};
  case RefusalKind::too_many_token_checks:
    return {"Too many sign-in checks",
            "Gatehouse checks each new Home Assistant sign-in with Home Assistant, and this address has sent more "
            "new ones than it checks in a minute. Try again in a minute."};
  case RefusalKind::upstream_timeout:
    return {"Home Assistant did not answer in time",
            "Home Assistant accepted the request but did not answer in time. Try again."};
  }
  return {"Error", ""};
}

} // namespace

http::status status_of(RefusalKind kind) {
  switch (kind) {
  case RefusalKind::bad_request: return http::status::bad_request;
  case RefusalKind::unauthorized: return http::status::unauthorized;
  case RefusalKind::local_login_closed: return http::status::forbidden;
  case RefusalKind::metrics_not_allowed: return http::status::forbidden;
  case RefusalKind::request_timeout: return http::status::request_timeout;
  case RefusalKind::body_too_large: return http::status::payload_too_large;
  case RefusalKind::header_too_large: return http::status::request_header_fields_too_large;
  case RefusalKind::upstream_unavailable: return http::status::bad_gateway;
  case RefusalKind::too_many_connections: return http::status::service_unavailable;
  case RefusalKind::too_many_token_checks: return http::status::too_many_requests;
  case RefusalKind::upstream_timeout: return http::status::gateway_timeout;
  }
  return http::status::internal_server_error;
}

std::string_view code_of(RefusalKind kind) {
  switch (kind) {
  case RefusalKind::bad_request: return "bad_request";
  case RefusalKind::unauthorized: return "unauthorized";
  case RefusalKind::local_login_closed: return "local_login_disabled";
  case RefusalKind::metrics_not_allowed: return "metrics_not_allowed";
  case RefusalKind::request_timeout: return "request_timeout";
  case RefusalKind::body_too_large: return "body_too_large";
  case RefusalKind::header_too_large: return "header_too_large";
  case RefusalKind::upstream_unavailable: return "upstream_unavailable";
  case RefusalKind::too_many_connections: return "too_many_connections";
  case RefusalKind::too_many_token_checks: return "too_many_token_checks";
  case RefusalKind::upstream_timeout: return "upstream_timeout";
  }
  return "error";
}

bool wants_html(std::string_view accept) {
  // Browsers navigating send "text/html,..." first; fetch/XHR and API clients do not ask for HTML.
  return accept.find("text/html") != std::string_view::npos;
}

Response render(RefusalKind kind, bool html, unsigned http_version, bool keep_alive) {
  auto text = text_of(kind);
  Response res{status_of(kind), http_version};
  if (html) {
    res.set(http::field::content_type, "text/html; charset=utf-8");
    std::vector<PageLink> links;
    if (kind == RefusalKind::unauthorized || kind == RefusalKind::local_login_closed)
      links.push_back({"/", "Open Home Assistant"});
    Page page{std::string(text.title), {std::string(text.advice)}, std::move(links),
              "Gatehouse · " + std::to_string(static_cast<unsigned>(status_of(kind))) + " " + std::string(code_of(kind))};
    res.body() = render_html(page);
  } else {
    res.set(http::field::content_type, "application/json");
    boost::json::object o{{"message", text.title}, {"code", code_of(kind)}};
    res.body() = boost::json::serialize(o);
  }
  res.set(http::field::cache_control, "no-store");
  if (kind == RefusalKind::too_many_token_checks) res.set(http::field::retry_after, "60");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

} // namespace gatehouse::web
