// web/form: urlencoded and multipart/form-data bodies, read as aiohttp reads them.
#include "web/form.hpp"

#include <algorithm>
#include <cctype>

namespace gatehouse::web {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding as Python's parse_qsl: '+' is a space, a '%' that does
// not start a valid escape stays as it is.
std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// The value of parameter `name` in a header value's parameters ("; name=value" or quoted).
std::optional<std::string> parameter(std::string_view header_value, std::string_view name) {
  std::size_t at = header_value.find(';');
  while (at != std::string_view::npos) {
    auto rest = header_value.substr(at + 1);
    const auto next = rest.find(';');
    auto item = trim(rest.substr(0, next));
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && lowercase(trim(item.substr(0, eq))) == name) {
      auto value = trim(item.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
    at = next == std::string_view::npos ? std::string_view::npos : at + 1 + next;
  }
  return std::nullopt;
}

bool read_urlencoded(std::string_view body, std::vector<std::pair<std::string, std::string>>& fields) {
  while (!body.empty() && (body.back() == ' ' || body.back() == '\r' || body.back() == '\n' || body.back() == '\t'))
    body.remove_suffix(1); // aiohttp strips trailing whitespace first
  while (!body.empty()) {
    const auto amp = body.find('&');
    const auto pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    if (fields.size() >= Form::kMaxFields) return false;
    const auto eq = pair.find('=');
    fields.emplace_back(form_decode(pair.substr(0, eq)),
                        eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1)));
  }
  return true;
}

// multipart/form-data (RFC 7578): text parts with a Content-Disposition name.
bool read_multipart(std::string_view content_type, std::string_view body,
                    std::vector<std::pair<std::string, std::string>>& fields) {
  const auto boundary = parameter(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) return false; // RFC 2046 §5.1.1
  const std::string delimiter = "--" + *boundary;
  const std::string separator = "\r\n" + delimiter;
  if (!body.starts_with(delimiter)) return false;
  std::size_t position = delimiter.size();
  for (;;) {
    if (body.substr(position, 2) == "--") return true; // the close delimiter
    if (body.substr(position, 2) != "\r\n") return false;
    position += 2;
    const auto head_end = body.find("\r\n\r\n", position);
    if (head_end == std::string_view::npos) return false;
    const auto head = body.substr(position, head_end - position);
    const auto content_start = head_end + 4;
    const auto next = body.find(separator, content_start);
    if (next == std::string_view::npos) return false;
    std::optional<std::string> name;
    std::string_view rest = head;
    while (!rest.empty()) {
      const auto line_end = rest.find("\r\n");
      const auto line = rest.substr(0, line_end);
      rest = line_end == std::string_view::npos ? std::string_view{} : rest.substr(line_end + 2);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) return false;
      if (lowercase(trim(line.substr(0, colon))) == "content-disposition") name = parameter(line.substr(colon + 1), "name");
    }
    if (!name) return false;
    if (fields.size() >= Form::kMaxFields) return false;
    fields.emplace_back(std::move(*name), std::string(body.substr(content_start, next - content_start)));
    position = next + separator.size();
  }
}

} // namespace

std::string media_type(std::string_view content_type) {
  return lowercase(trim(content_type.substr(0, content_type.find(';'))));
}

std::optional<Form> Form::read(std::string_view content_type, std::string_view body) {
  Form form;
  const auto type = media_type(content_type);
  bool readable = true;
  if (type == "application/x-www-form-urlencoded") readable = read_urlencoded(body, form.fields_);
  else if (type == "multipart/form-data") readable = read_multipart(content_type, body, form.fields_);
  if (!readable) return std::nullopt;
  return form;
}

std::optional<std::string_view> Form::get(std::string_view name) const {
  for (const auto& [key, value] : fields_)
    if (key == name) return std::string_view(value);
  return std::nullopt;
}

} // namespace gatehouse::web
