// web/page: HTML escaping and the page template.
#include "web/page.hpp"

#include <cctype>

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::web {

namespace http = boost::beast::http;

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string render_html(const Page& page) {
  std::string body;
  body += "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  if (!page.continue_to.empty())
    body += "<meta http-equiv=\"refresh\" content=\"0; url=" + html_escape(page.continue_to) + "\">";
  else if (page.refresh_seconds > 0)
    body += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(page.refresh_seconds) + "\">";
  body += "<title>";
  body += html_escape(page.title);
  body += "</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;"
          "padding:0 1rem;color:#222}h1{font-size:1.4rem}p{line-height:1.5}small{color:#666}"
          ".choice{display:block;margin:.6rem 0;padding:.8rem 1rem;border:1px solid #ccc;border-radius:.4rem;"
          "text-decoration:none;color:#03a9f4}button.choice{font:inherit;width:100%;text-align:left;background:none;"
          "cursor:pointer}.code{font:700 2rem ui-monospace,monospace;letter-spacing:.15em;text-align:center}"
          ".qr{text-align:center}"
          "</style></head><body><h1>";
  body += html_escape(page.title);
  body += "</h1>";
  for (const auto& paragraph : page.paragraphs) body += "<p>" + html_escape(paragraph) + "</p>";
  if (!page.code.empty()) body += "<p class=\"code\">" + html_escape(page.code) + "</p>";
  if (page.qr) body += "<p class=\"qr\">" + qr_svg(*page.qr, 200) + "</p>";
  for (const auto& link : page.links)
    body += "<a class=\"choice\" href=\"" + html_escape(link.href) + "\">" + html_escape(link.label) + "</a>";
  for (const auto& form : page.forms) {
    body += "<form method=\"post\" action=\"" + html_escape(form.action) + "\">";
    for (const auto& [name, value] : form.fields)
      body += "<input type=\"hidden\" name=\"" + html_escape(name) + "\" value=\"" + html_escape(value) + "\">";
    if (!form.input.empty())
      body += "<p><label>" + html_escape(form.input_label) + " <input type=\"text\" name=\"" + html_escape(form.input) +
              "\" value=\"" + html_escape(form.input_value) +
              "\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" required></label></p>";
    body += "<button class=\"choice\" type=\"submit\">" + html_escape(form.button) + "</button></form>";
  }
  if (!page.footer.empty()) body += "<p><small>" + html_escape(page.footer) + "</small></p>";
  body += "</body></html>";
  return body;
}

Response page_response(http::status status, const Page& page, unsigned http_version) {
  Response res{status, http_version};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Frame-Options", "DENY");
  const std::string form_target = page.form_target.empty() ? std::string() : csp_source_of(page.form_target);
  res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" +
                                         (form_target.empty() ? std::string() : " " + form_target) +
                                         "; frame-ancestors 'none'");
  res.body() = render_html(page);
  res.prepare_payload();
  return res;
}

std::string csp_source_of(std::string_view url) {
  const auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  const std::string_view scheme = url.substr(0, colon);
  for (const char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return {};
  if (scheme != "http" && scheme != "https") return std::string(scheme) + ":";
  if (url.substr(colon, 3) != "://") return {};
  const std::string_view rest = url.substr(colon + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return {};
  // Host names, IPv4, [IPv6] and a port: nothing that could end the directive or start another.
  for (const char c : authority)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view(".-:[]").find(c) == std::string_view::npos) return {};
  return std::string(scheme) + "://" + std::string(authority);
}

Response json_response(http::status status, const boost::json::value& body, unsigned http_version,
                       std::string_view content_type) {
  Response response{status, http_version};
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  response.body() = boost::json::serialize(body);
  response.prepare_payload();
  return response;
}

Response redirect(const std::string& location, unsigned http_version) {
  Response res{http::status::found, http_version};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store");
  res.prepare_payload();
  return res;
}

} // namespace gatehouse::web
