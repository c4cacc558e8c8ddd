// Fuzz target: front_door::check_target, the one reading of a request target every later decision uses.
// Input: the raw target bytes. Besides "no crash", checks what an accepted target promises: it is the
// input split at '?', its path is origin-form without '\', controls, encoded delimiters, bad escapes or
// dot segments, its query without controls or bad escapes, and reading it again gives the same answer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "front_door/request_target.hpp"

using gatehouse::front_door::check_target;

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "request_target invariant broken: %s\n", what);
  std::abort();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_accepted_path(std::string_view path) {
  if (path.empty() || path.front() != '/') fail("accepted path does not start with '/'");
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c == '\\' || c == '#' || c == '?' || c < 0x20 || c == 0x7f) fail("accepted path holds a forbidden byte");
    if (c != '%') continue;
    if (i + 2 >= path.size()) fail("accepted path ends in a cut escape");
    const int high = hex_value(path[i + 1]);
    const int low = hex_value(path[i + 2]);
    if (high < 0 || low < 0) fail("accepted path has a malformed escape");
    const int value = high * 16 + low;
    if (value == '/' || value == '\\' || value == '.' || value < 0x20 || value == 0x7f)
      fail("accepted path has an encoded delimiter or control");
    i += 2;
  }
  for (std::size_t start = 1; start <= path.size();) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") fail("accepted path has a dot segment");
    start = end + 1;
  }
}

void check_accepted_query(std::string_view query) {
  for (std::size_t i = 0; i < query.size(); ++i) {
    const auto c = static_cast<unsigned char>(query[i]);
    if (c == '#' || c < 0x20 || c == 0x7f) fail("accepted query holds a forbidden byte");
    if (c != '%') continue;
    if (i + 2 >= query.size()) fail("accepted query ends in a cut escape");
    const int high = hex_value(query[i + 1]);
    const int low = hex_value(query[i + 2]);
    if (high < 0 || low < 0) fail("accepted query has a malformed escape");
    const int value = high * 16 + low;
    if (value < 0x20 || value == 0x7f) fail("accepted query has an encoded control");
    i += 2;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const auto check = check_target(raw);
  (void)gatehouse::front_door::describe(check.problem);
  if (!check) return 0;

  const auto& target = *check.target;
  const bool has_query = raw.find('?') != std::string_view::npos;
  if (target.path + (has_query ? "?" + target.query : std::string()) != raw) fail("accepted target is not path?query");
  check_accepted_path(target.path);
  check_accepted_query(target.query);

  const auto again = check_target(raw);
  if (!again || again.target->path != target.path || again.target->query != target.query) fail("a second reading differs");
  return 0;
}
