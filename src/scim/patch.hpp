// scim/patch: owns applying a SCIM PATCH request (RFC 7644 §3.5.2) to a stored resource. Strict with the
// RFC and lenient exactly where real clients need it: `op` in any case (Entra ID: "Replace"), booleans as
// "True"/"False" strings, `add`/`replace` without a path whose keys are themselves paths ("name.givenName",
// an extension attribute's full URN), `remove` of listed members (`"path":"members","value":[{"value":id}]`),
// and `add`/`replace` on `emails[type eq "work"].value` creating that element when none matches. The
// result is read again through scim/schema, so a PATCH can never store what a PUT could not.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <variant>

#include "scim/schema.hpp"

namespace gatehouse::scim {

// The resource after every operation, in its stored form, or why the request is refused (nothing applied).
std::variant<boost::json::object, Invalid> apply_patch(const ResourceType& type, const boost::json::object& resource,
                                                       const boost::json::value& request);

} // namespace gatehouse::scim
