// front_door/request_target: the strict reading of a request target.
#include "front_door/request_target.hpp"

#include <algorithm>
#include <cctype>

namespace gatehouse::front_door {

namespace {

TargetCheck refused(TargetProblem problem) { return TargetCheck{std::nullopt, problem}; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// RFC 3986 §2.3: a URI means the same with these percent-encoded or not, so no client needs to encode
// them, and a path that does can name a route one way to Gatehouse and another to HA.
bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '~';
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t point = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) length = 2, point = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) length = 3, point = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) length = 4, point = c & 0x07;
    else return false;
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      point = (point << 6) | (next & 0x3f);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (point < smallest[length] || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

// Percent escapes must be well formed; control characters are refused raw or encoded.
std::optional<TargetProblem> check_query(std::string_view query) {
  for (std::size_t i = 0; i < query.size(); ++i) {
    const auto c = static_cast<unsigned char>(query[i]);
    if (is_control(c)) return TargetProblem::control_character;
    if (c != '%') continue;
    if (i + 2 >= query.size()) return TargetProblem::bad_escape;
    const int high = hex_value(query[i + 1]);
    const int low = hex_value(query[i + 2]);
    if (high < 0 || low < 0) return TargetProblem::bad_escape;
    if (is_control(static_cast<unsigned char>(high * 16 + low))) return TargetProblem::control_character;
    i += 2;
  }
  return std::nullopt;
}

} // namespace

std::string_view describe(TargetProblem problem) {
  switch (problem) {
  case TargetProblem::empty: return "empty request target";
  case TargetProblem::not_origin_form: return "request target is not a path";
  case TargetProblem::bad_escape: return "malformed percent escape";
  case TargetProblem::encoded_delimiter: return "encoded '/', '\\' or '.' in the path";
  case TargetProblem::encoded_unreserved: return "percent-encoded letter, digit, '-', '_' or '~' in the path (send it as it is)";
  case TargetProblem::backslash: return "backslash in the path";
  case TargetProblem::control_character: return "control character in the target";
  case TargetProblem::dot_segment: return "dot segment in the path";
  case TargetProblem::bad_utf8: return "invalid UTF-8 in the path";
  }
  return "bad request target";
}

TargetCheck check_target(std::string_view raw) {
  if (raw.empty()) return refused(TargetProblem::empty);
  // Origin form only: an absolute URL (even for this host) or '*' is not how HA's clients ask.
  if (raw.front() != '/') return refused(TargetProblem::not_origin_form);
  const std::string_view target = raw;
  if (target.find('#') != std::string_view::npos) return refused(TargetProblem::not_origin_form);
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  const auto query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c == '\\') return refused(TargetProblem::backslash);
    if (is_control(c)) return refused(TargetProblem::control_character);
    if (c != '%') {
      decoded += static_cast<char>(c);
      continue;
    }
    if (i + 2 >= path.size()) return refused(TargetProblem::bad_escape);
    const int high = hex_value(path[i + 1]);
    const int low = hex_value(path[i + 2]);
    if (high < 0 || low < 0) return refused(TargetProblem::bad_escape);
    const auto value = static_cast<unsigned char>(high * 16 + low);
    if (value == '/' || value == '\\' || value == '.') return refused(TargetProblem::encoded_delimiter);
    if (is_unreserved(value)) return refused(TargetProblem::encoded_unreserved);
    if (is_control(value)) return refused(TargetProblem::control_character);
    decoded += static_cast<char>(value);
    i += 2;
  }
  if (!valid_utf8(decoded)) return refused(TargetProblem::bad_utf8);
  for (std::size_t start = 1; start <= path.size();) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return refused(TargetProblem::dot_segment);
    start = end + 1;
  }
  if (auto problem = check_query(query)) return refused(*problem);
  return TargetCheck{Target{std::string(path), std::string(query)}, TargetProblem::empty};
}

} // namespace gatehouse::front_door
