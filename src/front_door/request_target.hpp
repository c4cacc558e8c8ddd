// front_door/request_target: owns the one reading of a request's target that every later decision uses.
// A target that two programs could read differently — encoded '/', '\' or '.', an encoded letter, digit,
// '-', '_' or '~' (HA on aiohttp 3.10.6 and later routes on the decoded path, older HA on the raw one),
// NUL or control characters, dot segments, bad or overlong UTF-8, a malformed escape, an absolute-form
// URL — is refused, never "cleaned up" and forwarded: the proxy and HA must never disagree on which path
// was asked for (the root of Authelia's CVE-2021-32637 and of HA's 2023 supervisor path advisory).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::front_door {

enum class TargetProblem {
  empty,
  not_origin_form,        // not "/...": absolute-form URLs, "*", authority form
  bad_escape,             // '%' not followed by two hex digits
  encoded_delimiter,      // %2F, %5C, %2E in the path: a second way to write '/', '\' or '.'
  encoded_unreserved,     // %74 for 't' and the like in the path: a second way to write a route's name
  backslash,
  control_character,      // NUL, other C0 controls, DEL — raw or encoded
  dot_segment,            // "/./", "/../", trailing "/." or "/.."
  bad_utf8,               // invalid or overlong UTF-8 in the decoded path
};

std::string_view describe(TargetProblem problem);

struct Target {
  std::string path;  // as sent (still percent-encoded where it was), always starting with '/'
  std::string query; // without '?', as sent
};

struct TargetCheck {
  std::optional<Target> target;
  TargetProblem problem = TargetProblem::empty;
  explicit operator bool() const { return target.has_value(); }
};

TargetCheck check_target(std::string_view raw_target);

} // namespace gatehouse::front_door
