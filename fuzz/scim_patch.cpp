// Fuzz target: scim::apply_patch and scim::read_resource, which read what an authenticated SCIM client
// sends as a PATCH body (for a User and a Group) and as a POST/PUT body.
// Besides "no crash": a refused request says why (scimType and detail set); a PATCH that is taken
// yields a resource read_resource takes again unchanged (a PATCH never stores what a PUT could not).
#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "scim/patch.hpp"

namespace {
namespace json = boost::json;
namespace scim = gatehouse::scim;

void fail(const char* what) {
  std::fprintf(stderr, "scim patch invariant broken: %s\n", what);
  std::abort();
}

const json::object& stored(scim::Kind kind) {
  static const json::object user = json::parse(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "Bob-7", "userName": "bob@example.com", "name": {"givenName": "Bob"}, "active": true,
    "emails": [{"value": "bob@work.example", "type": "work", "primary": true}, {"value": "b@h.example", "type": "home"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops", "manager": {"value": "26118915"}}})").as_object();
  static const json::object group = json::parse(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ha-users",
    "members": [{"value": "2819c223"}, {"value": "902c246b", "type": "User"}]})").as_object();
  return kind == scim::Kind::user ? user : group;
}

void check_refusal(const scim::Invalid& invalid) {
  if (invalid.scim_type.empty() || invalid.detail.empty()) fail("a refusal without scimType or detail");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code problem;
  const json::value request = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), problem);
  if (problem) return 0;
  for (const auto kind : {scim::Kind::user, scim::Kind::group}) {
    const auto& type = scim::resource_type(kind);
    auto patched = scim::apply_patch(type, stored(kind), request);
    if (auto* invalid = std::get_if<scim::Invalid>(&patched)) {
      check_refusal(*invalid);
    } else {
      const auto& result = std::get<json::object>(patched);
      auto again = scim::read_resource(type, result);
      if (!std::holds_alternative<json::object>(again) || std::get<json::object>(again) != result)
        fail("a PATCH result that read_resource does not take unchanged");
    }
    if (request.is_object()) {
      auto read = scim::read_resource(type, request.get_object());
      if (auto* invalid = std::get_if<scim::Invalid>(&read)) check_refusal(*invalid);
    }
  }
  return 0;
}
