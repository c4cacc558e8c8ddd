// scim/schema: the attribute table of RFC 7643 §4 (User, enterprise User, Group) and reading client JSON
// against it.
#include "scim/text.hpp"
#include "scim/schema.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

constexpr auto RO = Mutability::read_only;
constexpr auto WO = Mutability::write_only;
constexpr auto IMM = Mutability::immutable;

// The sub-attributes most multi-valued attributes share (RFC 7643 §2.4).
constexpr Attribute kValueTypePrimary[] = {
    {.name = "value"}, {.name = "display"}, {.name = "type"}, {.name = "primary", .type = Type::boolean}};
constexpr Attribute kPhotoSubs[] = {{.name = "value", .type = Type::reference, .case_exact = true},
                                    {.name = "display"},
                                    {.name = "type"},
                                    {.name = "primary", .type = Type::boolean}};
constexpr Attribute kCertificateSubs[] = {{.name = "value", .type = Type::binary, .case_exact = true},
                                          {.name = "display"},
                                          {.name = "type"},
                                          {.name = "primary", .type = Type::boolean}};
constexpr Attribute kNameSubs[] = {{.name = "formatted"},       {.name = "familyName"},
                                   {.name = "givenName"},       {.name = "middleName"},
                                   {.name = "honorificPrefix"}, {.name = "honorificSuffix"}};
constexpr Attribute kAddressSubs[] = {{.name = "formatted"},  {.name = "streetAddress"}, {.name = "locality"},
                                      {.name = "region"},     {.name = "postalCode"},    {.name = "country"},
                                      {.name = "type"},       {.name = "primary", .type = Type::boolean}};
constexpr Attribute kUserGroupSubs[] = {
    {.name = "value", .mutability = RO},
    {.name = "$ref", .type = Type::reference, .case_exact = true, .mutability = RO},
    {.name = "display", .mutability = RO},
    {.name = "type", .mutability = RO}};
constexpr Attribute kMetaSubs[] = {
    {.name = "resourceType", .case_exact = true, .mutability = RO},
    {.name = "created", .type = Type::date_time, .mutability = RO},
    {.name = "lastModified", .type = Type::date_time, .mutability = RO},
    {.name = "location", .type = Type::reference, .case_exact = true, .mutability = RO},
    {.name = "version", .case_exact = true, .mutability = RO}};

constexpr Attribute kId = {.name = "id", .case_exact = true, .mutability = RO, .returned = Returned::always,
                           .uniqueness = Uniqueness::server, .description = "Unique identifier, issued by Gatehouse."};
constexpr Attribute kExternalId = {.name = "externalId", .case_exact = true,
                                   .description = "The identifier the provisioning client uses."};
constexpr Attribute kMeta = {.name = "meta", .type = Type::complex, .mutability = RO, .sub_attributes = kMetaSubs};

constexpr Attribute kUserAttributes[] = {
    kId,
    kExternalId,
    {.name = "userName", .required = true, .uniqueness = Uniqueness::server,
     .description = "Unique identifier for the User, typically used to sign in."},
    {.name = "name", .type = Type::complex, .sub_attributes = kNameSubs},
    {.name = "displayName"},
    {.name = "nickName"},
    {.name = "profileUrl", .type = Type::reference, .case_exact = true},
    {.name = "title"},
    {.name = "userType"},
    {.name = "preferredLanguage"},
    {.name = "locale"},
    {.name = "timezone"},
    {.name = "active", .type = Type::boolean, .description = "Whether the person may use Home Assistant."},
    {.name = "password", .case_exact = true, .mutability = WO, .returned = Returned::never,
     .description = "Never stored: people sign in at their identity provider."},
    {.name = "emails", .type = Type::complex, .multi_valued = true, .sub_attributes = kValueTypePrimary},
    {.name = "phoneNumbers", .type = Type::complex, .multi_valued = true, .sub_attributes = kValueTypePrimary},
    {.name = "ims", .type = Type::complex, .multi_valued = true, .sub_attributes = kValueTypePrimary},
    {.name = "photos", .type = Type::complex, .multi_valued = true, .sub_attributes = kPhotoSubs},
    {.name = "addresses", .type = Type::complex, .multi_valued = true, .sub_attributes = kAddressSubs},
    {.name = "groups", .type = Type::complex, .multi_valued = true, .mutability = RO, .sub_attributes = kUserGroupSubs,
     .description = "The Groups the User is a member of (read-only: change a Group's members)."},
    {.name = "entitlements", .type = Type::complex, .multi_valued = true, .sub_attributes = kValueTypePrimary},
    {.name = "roles", .type = Type::complex, .multi_valued = true, .sub_attributes = kValueTypePrimary},
    {.name = "x509Certificates", .type = Type::complex, .multi_valued = true, .sub_attributes = kCertificateSubs},
    kMeta,
};

constexpr Attribute kManagerSubs[] = {{.name = "value", .case_exact = true},
                                      {.name = "$ref", .type = Type::reference, .case_exact = true},
                                      {.name = "displayName", .mutability = RO}};
constexpr Attribute kEnterpriseAttributes[] = {
    {.name = "employeeNumber"}, {.name = "costCenter"}, {.name = "organization"}, {.name = "division"},
    {.name = "department"},     {.name = "manager", .type = Type::complex, .sub_attributes = kManagerSubs}};

constexpr Attribute kMemberSubs[] = {
    {.name = "value", .case_exact = true, .mutability = IMM},
    {.name = "$ref", .type = Type::reference, .case_exact = true, .mutability = IMM},
    {.name = "display", .mutability = RO},
    {.name = "type", .mutability = IMM}};
constexpr Attribute kGroupAttributes[] = {
    kId,
    kExternalId,
    {.name = "displayName", .required = true, .uniqueness = Uniqueness::server,
     .description = "The Group's name; Gatehouse maps it to a Home Assistant role."},
    {.name = "members", .type = Type::complex, .multi_valued = true, .sub_attributes = kMemberSubs},
    kMeta,
};

constexpr Schema kUser{kUserSchema, "User", "User Account", kUserAttributes};
constexpr Schema kEnterpriseUser{kEnterpriseUserSchema, "EnterpriseUser", "Enterprise User", kEnterpriseAttributes};
constexpr Schema kGroup{kGroupSchema, "Group", "Group", kGroupAttributes};

const ResourceType kUserType{Kind::user, "User", "/Users", kUser, &kEnterpriseUser};
const ResourceType kGroupType{Kind::group, "Group", "/Groups", kGroup, nullptr};
constexpr std::array<const Schema*, 3> kSchemas{&kUser, &kEnterpriseUser, &kGroup};

const Attribute* find_in(std::span<const Attribute> attributes, std::string_view name) {
  for (const auto& attribute : attributes)
    if (iequals(attribute.name, name)) return &attribute;
  return nullptr;
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::string: return "string";
    case Type::boolean: return "boolean";
    case Type::decimal: return "decimal";
    case Type::integer: return "integer";
    case Type::date_time: return "dateTime";
    case Type::reference: return "reference";
    case Type::complex: return "complex";
    case Type::binary: return "binary";
  }
  return "string";
}

std::string_view mutability_name(Mutability mutability) {
  switch (mutability) {
    case Mutability::read_only: return "readOnly";
    case Mutability::read_write: return "readWrite";
    case Mutability::immutable: return "immutable";
    case Mutability::write_only: return "writeOnly";
  }
  return "readWrite";
}

std::string_view returned_name(Returned returned) {
  switch (returned) {
    case Returned::always: return "always";
    case Returned::never: return "never";
    case Returned::by_default: return "default";
    case Returned::request: return "request";
  }
  return "default";
}

json::array attributes_json(std::span<const Attribute> attributes) {
  json::array out;
  for (const auto& attribute : attributes) {
    json::object entry{{"name", attribute.name},
                       {"type", type_name(attribute.type)},
                       {"multiValued", attribute.multi_valued},
                       {"description", attribute.description},
                       {"required", attribute.required},
                       {"caseExact", attribute.case_exact},
                       {"mutability", mutability_name(attribute.mutability)},
                       {"returned", returned_name(attribute.returned)},
                       {"uniqueness", attribute.uniqueness == Uniqueness::server ? "server" : "none"}};
    if (attribute.type == Type::reference) entry["referenceTypes"] = json::array{"external"};
    if (!attribute.sub_attributes.empty()) entry["subAttributes"] = attributes_json(attribute.sub_attributes);
    out.push_back(std::move(entry));
  }
  return out;
}

std::variant<json::value, Invalid> read_single(const Attribute& definition, const json::value& value,
                                               const std::string& where) {
  auto wrong_type = [&] {
    return Invalid{"invalidValue", where + " must be " +
                                       (definition.type == Type::complex ? std::string("an object")
                                                                         : "a " + std::string(type_name(definition.type)))};
  };
  switch (definition.type) {
    case Type::string:
    case Type::reference:
    case Type::date_time:
    case Type::binary:
      if (!value.is_string()) return wrong_type();
      return value;
    case Type::boolean:
      if (value.is_bool()) return value;
      // Entra ID sends "True" and "False".
      if (value.is_string() && iequals(value.get_string(), "true")) return json::value(true);
      if (value.is_string() && iequals(value.get_string(), "false")) return json::value(false);
      return wrong_type();
    case Type::integer:
      if (!value.is_int64() && !value.is_uint64()) return wrong_type();
      return value;
    case Type::decimal:
      if (!value.is_number()) return wrong_type();
      return value;
    case Type::complex: {
      if (!value.is_object()) return wrong_type();
      json::object out;
      for (const auto& sub : definition.sub_attributes) {
        const json::value* given = nullptr;
        for (const auto& member : value.get_object()) {
          if (!iequals(member.key(), sub.name)) continue;
          if (given) return Invalid{"invalidSyntax", where + "." + std::string(sub.name) + " is given twice"};
          given = &member.value();
        }
        if (!given || given->is_null() || sub.mutability == RO) continue;
        auto read = read_single(sub, *given, where + "." + std::string(sub.name));
        if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
        out[sub.name] = std::move(std::get<json::value>(read));
      }
      return json::value(std::move(out));
    }
  }
  return wrong_type();
}

// Attributes of `attributes` read from `input` (names compared case-insensitively), in the table's order.
std::variant<json::object, Invalid> read_attributes(std::span<const Attribute> attributes, const json::object& input,
                                                    std::string_view prefix, bool skip_schema_keys) {
  std::map<const Attribute*, const json::value*> given;
  for (const auto& member : input) {
    if (skip_schema_keys && (iequals(member.key(), "schemas") || member.key().starts_with("urn:"))) continue;
    const Attribute* definition = find_in(attributes, member.key());
    if (!definition) continue; // unknown attributes are dropped (RFC 7644 §3.3 lets a server ignore them)
    if (!given.emplace(definition, &member.value()).second)
      return Invalid{"invalidSyntax", std::string(prefix) + std::string(definition->name) + " is given twice"};
  }
  json::object out;
  for (const auto& definition : attributes) {
    const auto found = given.find(&definition);
    if (found == given.end() || found->second->is_null()) continue;
    if (definition.mutability == RO || definition.mutability == WO) continue;
    auto read = read_value(definition, *found->second, std::string(prefix) + std::string(definition.name));
    if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
    out[definition.name] = std::move(std::get<json::value>(read));
  }
  return out;
}

} // namespace

const ResourceType& resource_type(Kind kind) { return kind == Kind::user ? kUserType : kGroupType; }

std::span<const Schema* const> all_schemas() { return kSchemas; }

const Attribute* find_definition(const ResourceType& type, const AttributePath& path) {
  const Schema* schema = &type.schema;
  if (!path.schema.empty() && !iequals(path.schema, type.schema.id)) {
    if (!type.extension || !iequals(path.schema, type.extension->id)) return nullptr;
    schema = type.extension;
  }
  const Attribute* attribute = find_in(schema->attributes, path.name);
  if (!attribute || path.sub.empty()) return attribute;
  return find_in(attribute->sub_attributes, path.sub);
}

CaseExact case_exact_for(const ResourceType& type) {
  return [&type](const AttributePath& path) {
    const Attribute* definition = find_definition(type, path);
    return definition && definition->case_exact;
  };
}

std::variant<json::value, Invalid> read_value(const Attribute& definition, const json::value& value,
                                              std::string_view where) {
  const std::string place(where);
  if (!definition.multi_valued) return read_single(definition, value, place);
  if (!value.is_array()) return Invalid{"invalidValue", place + " must be an array"};
  json::array out;
  int primaries = 0;
  for (const auto& element : value.get_array()) {
    if (element.is_null()) continue;
    auto read = read_single(definition, element, place + "[]");
    if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
    auto& taken = std::get<json::value>(read);
    if (taken.is_object()) {
      const auto* primary = taken.get_object().if_contains("primary");
      if (primary && primary->is_bool() && primary->get_bool()) ++primaries;
    }
    out.push_back(std::move(taken));
  }
  if (primaries > 1) return Invalid{"invalidValue", place + " has more than one primary value"};
  return json::value(std::move(out));
}

std::variant<json::object, Invalid> read_resource(const ResourceType& type, const json::object& input) {
  const auto* schemas = input.if_contains("schemas");
  if (!schemas || !schemas->is_array())
    return Invalid{"invalidSyntax", "the resource has no \"schemas\" array naming " + std::string(type.schema.id)};
  bool core = false;
  for (const auto& uri : schemas->get_array()) {
    if (!uri.is_string()) return Invalid{"invalidSyntax", "\"schemas\" must hold schema URIs (strings)"};
    if (iequals(uri.get_string(), type.schema.id)) {
      core = true;
    } else if (!type.extension || !iequals(uri.get_string(), type.extension->id)) {
      return Invalid{"invalidValue", "unknown schema " + std::string(uri.get_string()) + " for a " +
                                         std::string(type.name)};
    }
  }
  if (!core) return Invalid{"invalidValue", "\"schemas\" must name " + std::string(type.schema.id)};

  auto read = read_attributes(type.schema.attributes, input, "", true);
  if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
  json::object attributes = std::move(std::get<json::object>(read));
  json::object extension;
  if (type.extension) {
    for (const auto& member : input) {
      if (!iequals(member.key(), type.extension->id) || member.value().is_null()) continue;
      if (!member.value().is_object()) return Invalid{"invalidValue", std::string(type.extension->id) + " must be an object"};
      auto extension_read = read_attributes(type.extension->attributes, member.value().get_object(),
                                            std::string(type.extension->id) + ":", false);
      if (auto* invalid = std::get_if<Invalid>(&extension_read)) return std::move(*invalid);
      extension = std::move(std::get<json::object>(extension_read));
    }
  }
  for (const auto& definition : type.schema.attributes) {
    if (!definition.required) continue;
    const auto* value = attributes.if_contains(definition.name);
    if (!value || (value->is_string() && value->get_string().empty()))
      return Invalid{"invalidValue", std::string(definition.name) + " is required"};
  }

  json::array schema_list{type.schema.id};
  if (!extension.empty()) schema_list.push_back(json::string(type.extension->id));
  json::object out;
  out["schemas"] = std::move(schema_list);
  for (auto& member : attributes) out[member.key()] = std::move(member.value());
  if (!extension.empty()) out[type.extension->id] = std::move(extension);
  return out;
}

json::object schema_json(const Schema& schema, std::string_view base_url) {
  return json::object{
      {"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:Schema"}},
      {"id", schema.id},
      {"name", schema.name},
      {"description", schema.description},
      {"attributes", attributes_json(schema.attributes)},
      {"meta", json::object{{"resourceType", "Schema"},
                            {"location", std::string(base_url) + "/Schemas/" + std::string(schema.id)}}}};
}

json::object resource_type_json(const ResourceType& type, std::string_view base_url) {
  json::object out{{"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}},
                   {"id", type.name},
                   {"name", type.name},
                   {"endpoint", type.endpoint},
                   {"description", type.schema.description},
                   {"schema", type.schema.id}};
  if (type.extension)
    out["schemaExtensions"] = json::array{json::object{{"schema", type.extension->id}, {"required", false}}};
  out["meta"] = json::object{{"resourceType", "ResourceType"},
                             {"location", std::string(base_url) + "/ResourceTypes/" + std::string(type.name)}};
  return out;
}

} // namespace gatehouse::scim
