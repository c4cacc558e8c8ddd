// Fuzz target: scim::Filter::parse and parse_patch_path, which read what a SCIM client sends in
// `filter=` and in PATCH `path`, and Filter::matches on a fixed resource.
// Besides "no crash": a refused filter says where (its message names a character), and a filter that
// reads evaluates on a resource with every kind of attribute without throwing.
#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "scim/filter.hpp"

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "scim filter invariant broken: %s\n", what);
  std::abort();
}

const boost::json::object& resource() {
  static const boost::json::object bob = boost::json::parse(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "2819c223", "externalId": "Bob-7",
    "userName": "bob@example.com", "name": {"givenName": "Bob"}, "active": true, "loginCount": 12,
    "emails": [{"value": "bob@work.example", "type": "work", "primary": true}, {"value": "b@h.example"}],
    "members": [], "nothing": null,
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "26118915"}}})").as_object();
  return bob;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = gatehouse::scim::Filter::parse(text);
  if (auto* error = std::get_if<gatehouse::scim::SyntaxError>(&parsed)) {
    if (error->message.empty()) fail("a refusal without a message");
  } else {
    const auto& filter = std::get<gatehouse::scim::Filter>(parsed);
    filter.matches(resource());
    filter.matches(resource(), [](const gatehouse::scim::AttributePath& path) { return path.name == "id"; });
  }
  auto path = gatehouse::scim::parse_patch_path(text);
  if (auto* error = std::get_if<gatehouse::scim::SyntaxError>(&path); error && error->message.empty())
    fail("a path refusal without a message");
  return 0;
}
