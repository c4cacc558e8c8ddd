// scim/schema: owns what Gatehouse knows about SCIM resources (RFC 7643): the User schema with the
// enterprise extension, the Group schema, each attribute's type, plurality, case-exactness, mutability
// and when it is returned. Everything that reads or writes a resource asks here: reading a client's JSON
// into the stored form (names as the schema spells them, types checked, read-only attributes ignored,
// unknown ones dropped, `password` never kept), filters (case-exactness), projections (`returned`), and
// the `/Schemas` and `/ResourceTypes` answers, which are rendered from the same table.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "scim/filter.hpp"

namespace gatehouse::scim {

inline constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr std::string_view kEnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
inline constexpr std::string_view kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr std::string_view kListResponseSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
inline constexpr std::string_view kPatchOpSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr std::string_view kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";

enum class Type { string, boolean, decimal, integer, date_time, reference, complex, binary };
enum class Mutability { read_only, read_write, immutable, write_only };
enum class Returned { always, never, by_default, request };
enum class Uniqueness { none, server };

struct Attribute {
  std::string_view name;
  Type type = Type::string;
  bool multi_valued = false;
  bool required = false;
  bool case_exact = false;
  Mutability mutability = Mutability::read_write;
  Returned returned = Returned::by_default;
  Uniqueness uniqueness = Uniqueness::none;
  std::span<const Attribute> sub_attributes = {};
  std::string_view description = {};
};

struct Schema {
  std::string_view id;
  std::string_view name;
  std::string_view description;
  std::span<const Attribute> attributes;
};

enum class Kind { user, group };

struct ResourceType {
  Kind kind;
  std::string_view name;     // "User": also meta.resourceType
  std::string_view endpoint; // "/Users"
  const Schema& schema;
  const Schema* extension;   // the enterprise extension for Users; null for Groups
};

const ResourceType& resource_type(Kind kind);
std::span<const Schema* const> all_schemas();

// The definition an attribute path names in a resource type (sub-attribute included when the path has
// one), or null when the schema has no such attribute.
const Attribute* find_definition(const ResourceType& type, const AttributePath& path);
// Case-exactness as filters and sorting need it (unknown attributes compare case-insensitively).
CaseExact case_exact_for(const ResourceType& type);

// A client's resource that cannot be taken, as SCIM says it (RFC 7644 §3.12).
struct Invalid {
  std::string scim_type; // invalidSyntax, invalidValue, mutability
  std::string detail;
};

// Reads a client's resource (POST, PUT, a PATCH's result) into the stored form: attribute names as the
// schema spells them, types checked (booleans given as "True"/"False" strings are read as booleans, as
// Entra ID sends them), `schemas` checked, read-only attributes and `password` dropped, unknown attributes
// dropped, required attributes present, at most one `primary` per multi-valued attribute.
std::variant<boost::json::object, Invalid> read_resource(const ResourceType& type, const boost::json::object& input);

// Reads one attribute's value the same way (a PATCH value for `definition`), or says what is wrong.
std::variant<boost::json::value, Invalid> read_value(const Attribute& definition, const boost::json::value& value,
                                                     std::string_view where);

// The JSON of /Schemas entries and /ResourceTypes entries, from the table above.
boost::json::object schema_json(const Schema& schema, std::string_view base_url);
boost::json::object resource_type_json(const ResourceType& type, std::string_view base_url);

} // namespace gatehouse::scim
