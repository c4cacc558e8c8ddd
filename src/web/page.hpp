// web/page: owns the one look of every HTML page Gatehouse shows (refusals, sign-in errors, the
// provider chooser), and the other answers its endpoints build (redirects, JSON). Everything put on a
// page is HTML-escaped here, once; nothing here is ever cached.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "web/qr.hpp"

namespace gatehouse::web {

struct PageLink {
  std::string href; // a URL Gatehouse built; escaped as an attribute
  std::string label;
};

// A button that POSTs hidden fields to one of Gatehouse's own addresses (consent answers).
struct PageForm {
  std::string action; // a path Gatehouse built
  std::vector<std::pair<std::string, std::string>> fields;
  std::string button;
  std::string input;       // the name of a text field the person fills in before the button; "" for none
  std::string input_label; // its label
  std::string input_value; // what it holds already (a code a QR code brought)
};

struct Page {
  std::string title;
  std::vector<std::string> paragraphs;
  std::vector<PageLink> links;
  std::string footer; // small print, e.g. "Gatehouse · 502 upstream_unavailable · ref 3f9c…"
  std::vector<PageForm> forms; // after the links
  std::string code;            // shown large after the paragraphs: a code the person compares on two screens
  unsigned refresh_seconds = 0; // > 0: the browser loads the page again after that long (a page that waits)
  // Where the page's forms may lead after their POST, besides Gatehouse itself: the URL a consent answer
  // redirects to (its origin, or its scheme for an app's own, goes into the CSP's form-action, which
  // browsers also apply to that redirect). "" for none.
  std::string form_target;
  std::string continue_to; // set: the browser goes on to this URL at once (a meta refresh, which a CSP's
                           // form-action does not govern), with a link for the browser that does not
  std::optional<QrCode> qr; // drawn under the code, for a phone's camera to open what it holds
};

// The CSP source that allows `url` as a form's destination: "https://host[:port]", or "scheme:" for an
// app's own scheme; "" when it cannot be said safely (then the form may only lead back to Gatehouse).
std::string csp_source_of(std::string_view url);

std::string html_escape(std::string_view text);
std::string render_html(const Page& page);

using Response = boost::beast::http::response<boost::beast::http::string_body>;
Response page_response(boost::beast::http::status status, const Page& page, unsigned http_version = 11);
// A 302 to a URL Gatehouse built, never cached.
Response redirect(const std::string& location, unsigned http_version = 11);
// `body` serialized as JSON (an API's answer), never cached.
Response json_response(boost::beast::http::status status, const boost::json::value& body, unsigned http_version = 11,
                       std::string_view content_type = "application/json");

} // namespace gatehouse::web
