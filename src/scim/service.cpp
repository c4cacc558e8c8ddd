// scim/service: one SCIM request in, one answer out.
#include "scim/text.hpp"
#include "scim/service.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>

#include "logging/log.hpp"
#include "metrics/metrics.hpp"
#include "scim/filter.hpp"
#include "scim/patch.hpp"
#include "web/form.hpp"
#include "web/page.hpp"
#include "web/query.hpp"

namespace gatehouse::scim {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

metrics::Counter scim_operations("gatehouse_scim_operations_total",
                                 "SCIM requests answered, by resource (Users, Groups, other), method and HTTP status",
                                 {"resource", "method", "status"});

constexpr std::size_t kMaxParameterBytes = Filter::kMaxLength;
constexpr std::size_t kMaxAttributeNames = 64;

std::string sha256(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return std::string(digest.begin(), digest.end());
}

web::Response json_response(http::status status, const json::value& body, unsigned version) {
  return web::json_response(status, body, version, "application/scim+json");
}

// RFC 7644 §3.12.
web::Response error(unsigned status, std::string_view scim_type, const std::string& detail, unsigned version) {
  json::object body{{"schemas", json::array{kErrorSchema}}, {"status", std::to_string(status)}};
  if (!scim_type.empty()) body["scimType"] = scim_type;
  body["detail"] = detail;
  return json_response(static_cast<http::status>(status), body, version);
}

web::Response error(const Refusal& refusal, unsigned version) {
  return error(refusal.status, refusal.scim_type, refusal.detail, version);
}

std::string etag_of(const Resource& resource) { return "W/\"" + std::to_string(resource.version) + "\""; }

// An If-Match or If-None-Match value: "*", or one entity tag W/"n" or "n". Anything else names no version
// Gatehouse ever gave out (version -1 matches nothing).
struct Precondition {
  bool present = false;
  bool any = false;
  std::int64_t version = -1;
};

Precondition precondition(std::string_view header) {
  Precondition out;
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return out;
  out.present = true;
  if (header == "*") {
    out.any = true;
    return out;
  }
  if (header.starts_with("W/")) header.remove_prefix(2);
  if (header.size() < 3 || header.front() != '"' || header.back() != '"') return out;
  header = header.substr(1, header.size() - 2);
  std::int64_t version = 0;
  const auto [end, problem] = std::from_chars(header.data(), header.data() + header.size(), version);
  if (problem == std::errc() && end == header.data() + header.size() && version > 0) out.version = version;
  return out;
}

// The version a write must apply to, from If-Match (nullopt: any).
std::optional<std::int64_t> expected_version(std::string_view if_match) {
  const auto wanted = precondition(if_match);
  if (!wanted.present || wanted.any) return std::nullopt;
  return wanted.version;
}

std::variant<json::value, std::string> parse_body(std::string_view content_type, std::string_view body) {
  const std::string media = web::media_type(content_type);
  if (!media.empty() && media != "application/scim+json" && media != "application/json")
    return std::string("the body must be application/scim+json, not " + media);
  boost::system::error_code problem;
  json::value value = json::parse(body, problem);
  if (problem) return std::string("the body is not JSON: " + problem.message());
  return value;
}

// ---------------------------------------------------------------------------------------------- list queries

struct ListQuery {
  std::optional<Filter> filter;
  std::optional<AttributePath> sort_by;
  bool descending = false;
  std::int64_t start_index = 1;
  std::int64_t count = static_cast<std::int64_t>(Service::kMaxResults);
  std::vector<AttributePath> attributes;
  std::vector<AttributePath> excluded;
};

// "userName,name.givenName,urn:...:User:department" (a query) or an array of such names (a .search body).
std::variant<std::vector<AttributePath>, std::string> attribute_list(const json::value& given, std::string_view parameter) {
  std::vector<std::string> names;
  if (given.is_string()) {
    std::string_view text = given.get_string();
    while (!text.empty()) {
      const auto comma = text.find(',');
      std::string_view name = text.substr(0, comma);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (!name.empty()) names.emplace_back(name);
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
  } else if (given.is_array()) {
    for (const auto& name : given.get_array()) {
      if (!name.is_string()) return std::string(parameter) + " must list attribute names";
      names.emplace_back(name.get_string());
    }
  } else {
    return std::string(parameter) + " must list attribute names";
  }
  if (names.size() > kMaxAttributeNames)
    return std::string(parameter) + " names at most " + std::to_string(kMaxAttributeNames) + " attributes";
  std::vector<AttributePath> paths;
  for (const auto& name : names) {
    auto parsed = parse_patch_path(name);
    const auto* path = std::get_if<PatchPath>(&parsed);
    if (!path || path->filter) return std::string(parameter) + ": \"" + name + "\" is not an attribute name";
    paths.push_back(path->attribute);
  }
  return paths;
}

std::optional<std::int64_t> whole_number(const json::value& given) {
  if (given.is_int64()) return given.get_int64();
  if (given.is_uint64()) return static_cast<std::int64_t>(std::min<std::uint64_t>(given.get_uint64(), INT64_MAX));
  if (!given.is_string()) return std::nullopt;
  const std::string_view text = given.get_string();
  std::int64_t number = 0;
  const auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (problem != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return number;
}

// From a GET's query or a .search body, both as one JSON object; errors as (scimType, detail).
std::variant<ListQuery, Refusal> read_list_query(const json::object& given) {
  ListQuery query;
  auto field = [&](std::string_view name) -> const json::value* {
    for (const auto& member : given)
      if (iequals(member.key(), name)) return &member.value();
    return nullptr;
  };
  if (const auto* filter = field("filter")) {
    if (!filter->is_string()) return Refusal{400, "invalidFilter", "filter must be a string"};
    auto parsed = Filter::parse(filter->get_string());
    if (auto* problem = std::get_if<SyntaxError>(&parsed)) return Refusal{400, "invalidFilter", problem->message};
    query.filter = std::move(std::get<Filter>(parsed));
  }
  if (const auto* sort_by = field("sortBy")) {
    auto paths = attribute_list(*sort_by, "sortBy");
    if (auto* problem = std::get_if<std::string>(&paths)) return Refusal{400, "invalidValue", *problem};
    auto& list = std::get<std::vector<AttributePath>>(paths);
    if (list.size() != 1) return Refusal{400, "invalidValue", "sortBy names one attribute"};
    query.sort_by = list.front();
  }
  if (const auto* order = field("sortOrder")) {
    if (!order->is_string() || (!iequals(order->get_string(), "ascending") && !iequals(order->get_string(), "descending")))
      return Refusal{400, "invalidValue", "sortOrder is ascending or descending"};
    query.descending = iequals(order->get_string(), "descending");
  }
  // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0.
  if (const auto* start = field("startIndex")) {
    const auto number = whole_number(*start);
    if (!number) return Refusal{400, "invalidValue", "startIndex must be a whole number"};
    query.start_index = std::max<std::int64_t>(1, *number);
  }
  if (const auto* count = field("count")) {
    const auto number = whole_number(*count);
    if (!number) return Refusal{400, "invalidValue", "count must be a whole number"};
    query.count = std::clamp<std::int64_t>(*number, 0, static_cast<std::int64_t>(Service::kMaxResults));
  }
  for (auto [name, into] : {std::pair{"attributes", &query.attributes}, std::pair{"excludedAttributes", &query.excluded}}) {
    const auto* value = field(name);
    if (!value) continue;
    auto paths = attribute_list(*value, name);
    if (auto* problem = std::get_if<std::string>(&paths)) return Refusal{400, "invalidValue", *problem};
    *into = std::move(std::get<std::vector<AttributePath>>(paths));
  }
  return query;
}

// ----------------------------------------------------------------------------------- projection and sorting

// The object an attribute path lives in, in a rendered resource: the resource, or its extension object.
const json::object* scope_of(const json::object& resource, const ResourceType& type, const AttributePath& path) {
  if (path.schema.empty() || iequals(path.schema, type.schema.id)) return &resource;
  if (!type.extension || !iequals(path.schema, type.extension->id)) return nullptr;
  const auto* extension = resource.if_contains(type.extension->id);
  return extension && extension->is_object() ? &extension->get_object() : nullptr;
}

// RFC 7644 §3.9: `attributes` returns those (and what is always returned), `excludedAttributes` all but those.
json::object project(const json::object& full, const ResourceType& type, const ListQuery& query) {
  if (query.attributes.empty() && query.excluded.empty()) return full;
  json::object out;
  if (!query.attributes.empty()) {
    out["schemas"] = full.at("schemas");
    out["id"] = full.at("id");
    for (const auto& path : query.attributes) {
      const Attribute* definition = find_definition(type, AttributePath{path.schema, path.name, ""});
      const json::object* scope = definition ? scope_of(full, type, path) : nullptr;
      const json::value* value = scope ? scope->if_contains(definition->name) : nullptr;
      if (!value) continue;
      json::object* holder = &out;
      if (scope != &full) { // an extension attribute goes into the extension's object
        auto& extension = out[type.extension->id];
        if (!extension.is_object()) extension.emplace_object();
        holder = &extension.get_object();
      }
      json::object& target = *holder;
      const Attribute* sub = path.sub.empty() ? nullptr : find_definition(type, path);
      if (!sub) {
        target[definition->name] = *value;
      } else if (value->is_object()) {
        if (const auto* part = value->get_object().if_contains(sub->name)) {
          auto& holder = target[definition->name];
          if (!holder.is_object()) holder.emplace_object();
          holder.get_object()[sub->name] = *part;
        }
      } else if (value->is_array()) {
        json::array parts;
        for (const auto& element : value->get_array())
          if (element.is_object())
            if (const auto* part = element.get_object().if_contains(sub->name))
              parts.push_back(json::object{{sub->name, *part}});
        target[definition->name] = std::move(parts);
      }
    }
    return out;
  }
  out = full;
  for (const auto& path : query.excluded) {
    const Attribute* definition = find_definition(type, AttributePath{path.schema, path.name, ""});
    if (!definition || definition->returned == Returned::always) continue;
    json::object* scope = const_cast<json::object*>(scope_of(out, type, path));
    if (!scope) continue;
    if (path.sub.empty()) {
      scope->erase(definition->name);
    } else if (auto* value = scope->if_contains(definition->name); value && value->is_object()) {
      if (const Attribute* sub = find_definition(type, path)) value->get_object().erase(sub->name);
    }
  }
  return out;
}

// The value a resource sorts by: for a multi-valued attribute its primary (or first) value (RFC 7644 §3.4.2.3).
const json::value* sort_key(const json::object& resource, const ResourceType& type, const AttributePath& path) {
  const Attribute* definition = find_definition(type, AttributePath{path.schema, path.name, ""});
  const json::object* scope = definition ? scope_of(resource, type, path) : nullptr;
  const json::value* value = scope ? scope->if_contains(definition->name) : nullptr;
  if (!value) return nullptr;
  if (value->is_array()) {
    const auto& elements = value->get_array();
    if (elements.empty()) return nullptr;
    const auto primary = std::find_if(elements.begin(), elements.end(), [](const json::value& element) {
      const auto* flag = element.is_object() ? element.get_object().if_contains("primary") : nullptr;
      return flag && flag->is_bool() && flag->get_bool();
    });
    value = primary != elements.end() ? &*primary : &elements.front();
    if (path.sub.empty() && value->is_object()) return value->get_object().if_contains("value");
  }
  if (!path.sub.empty()) {
    const Attribute* sub = find_definition(type, path);
    return sub && value->is_object() ? value->get_object().if_contains(sub->name) : nullptr;
  }
  return value;
}

int compare_keys(const json::value* a, const json::value* b, bool case_exact) {
  if (!a || !b) return a ? -1 : (b ? 1 : 0); // missing values sort last
  if (a->is_string() && b->is_string()) {
    const std::string x = case_exact ? std::string(a->get_string()) : lowercase(a->get_string());
    const std::string y = case_exact ? std::string(b->get_string()) : lowercase(b->get_string());
    return x.compare(y) < 0 ? -1 : (x == y ? 0 : 1);
  }
  if (a->is_number() && b->is_number()) {
    const double x = a->to_number<double>(), y = b->to_number<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a->is_bool() && b->is_bool()) return static_cast<int>(a->get_bool()) - static_cast<int>(b->get_bool());
  return 0;
}

std::optional<Kind> kind_at(std::string_view segment) {
  if (segment == "Users") return Kind::user;
  if (segment == "Groups") return Kind::group;
  return std::nullopt;
}

web::Response not_allowed(std::string_view allow, unsigned version) {
  auto response = error(405, "", "this SCIM endpoint takes " + std::string(allow), version);
  response.set(http::field::allow, allow);
  return response;
}

} // namespace

Service::Service(const config::Scim& settings, std::string_view external_url, Resources& resources, People* people)
    : settings_(settings),
      base_url_(std::string(external_url) + std::string(kPathPrefix)),
      resources_(resources),
      people_(people),
      budget_(shield::CheckBudget::Limits{.per_minute = settings.requests_per_minute,
                                          .burst = settings.burst,
                                          .concurrent = 64}),
      token_digest_(sha256(settings.token)) {}

web::Response Service::counted(const Call& call, web::Response response) const {
  const auto resource = call.path.starts_with("/Users") ? "Users" : call.path.starts_with("/Groups") ? "Groups" : "other";
  const auto method = call.method;
  const std::string_view operation = method == http::verb::get      ? "GET"
                                     : method == http::verb::post   ? "POST"
                                     : method == http::verb::put    ? "PUT"
                                     : method == http::verb::patch  ? "PATCH"
                                     : method == http::verb::delete_ ? "DELETE"
                                                                     : "other";
  scim_operations.add({resource, operation, std::to_string(response.result_int())});
  return response;
}

web::Response Service::answer(const Call& call) {
  if (auto refused = refusal(call)) return std::move(*refused);
  return answer_admitted(call);
}

std::optional<web::Response> Service::refusal(const Call& call) {
  const auto ticket = budget_.spend(net::client_key(call.client_address), shield::CheckBudget::Clock::now());
  if (!ticket) {
    auto response = error(429, "", "too many SCIM requests from this address; slow down (scim.requests_per_minute)",
                          call.version);
    response.set(http::field::retry_after, std::to_string(std::max<std::uint32_t>(1, 60 / settings_.requests_per_minute)));
    return counted(call, std::move(response));
  }
  // Digests of equal length, compared in constant time: neither the token nor its length leaks.
  constexpr std::string_view kScheme = "bearer ";
  const bool has_bearer = call.authorization.size() > kScheme.size() && iequals(call.authorization.substr(0, kScheme.size()), kScheme);
  const std::string presented = has_bearer ? sha256(call.authorization.substr(kScheme.size())) : std::string();
  if (!has_bearer || CRYPTO_memcmp(presented.data(), token_digest_.data(), token_digest_.size()) != 0) {
    logging::warn("scim request refused: no or wrong bearer token", {{"client", call.client_address}});
    auto response = error(401, "",
                          has_bearer ? "the bearer token is not the one in Gatehouse's scim.token_file"
                                     : "send the bearer token of Gatehouse's scim.token_file (Authorization: Bearer …)",
                          call.version);
    response.set(http::field::www_authenticate, "Bearer realm=\"Gatehouse SCIM\"");
    return counted(call, std::move(response));
  }
  return std::nullopt;
}

web::Response Service::answer_admitted(const Call& call) {
  try {
    return counted(call, route(call));
  } catch (const store::StoreError& failure) {
    logging::error("scim write failed in the store", {{"reason", std::string_view(failure.what())}});
    // A write not saved is not applied; a cut-off it asked for is asked again by the same request, so the
    // IdP's retry completes it.
    return counted(call, error(503, "", "Gatehouse could not save this change in its store; send the same request again.", call.version));
  } catch (const std::exception& failure) {
    logging::error("scim request failed", {{"reason", std::string_view(failure.what())}});
    return counted(call, error(500, "", "Gatehouse could not answer this request (its log says why); read the resource again before retrying.", call.version));
  }
}

web::Response Service::route(const Call& call) {
  using http::verb;
  std::string_view path = call.path;
  if (path.starts_with("/")) path.remove_prefix(1);
  const auto slash = path.find('/');
  const std::string_view first = path.substr(0, slash);
  const std::string_view rest = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  const unsigned version = call.version;

  if (first == "ServiceProviderConfig" && rest.empty()) {
    if (call.method != verb::get) return not_allowed("GET", version);
    const json::object config{
        {"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"}},
        {"patch", json::object{{"supported", true}}},
        {"bulk", json::object{{"supported", false}, {"maxOperations", 0}, {"maxPayloadSize", 0}}},
        {"filter", json::object{{"supported", true}, {"maxResults", kMaxResults}}},
        {"changePassword", json::object{{"supported", false}}},
        {"sort", json::object{{"supported", true}}},
        {"etag", json::object{{"supported", true}}},
        {"authenticationSchemes",
         json::array{json::object{{"type", "oauthbearertoken"},
                                  {"name", "OAuth Bearer Token"},
                                  {"description", "The bearer token in Gatehouse's scim.token_file"},
                                  {"primary", true}}}},
        {"meta", json::object{{"resourceType", "ServiceProviderConfig"},
                              {"location", base_url_ + "/ServiceProviderConfig"}}}};
    return json_response(http::status::ok, config, version);
  }
  if (first == "ResourceTypes" || first == "Schemas") {
    if (call.method != verb::get) return not_allowed("GET", version);
    json::array entries;
    if (first == "ResourceTypes") {
      for (const auto kind : {Kind::user, Kind::group})
        if (rest.empty() || rest == resource_type(kind).name) entries.push_back(resource_type_json(resource_type(kind), base_url_));
    } else {
      for (const Schema* schema : all_schemas())
        if (rest.empty() || rest == schema->id) entries.push_back(schema_json(*schema, base_url_));
    }
    if (!rest.empty()) {
      if (entries.empty()) return error(404, "", std::string(first) + "/" + std::string(rest) + " not found", version);
      return json_response(http::status::ok, entries.front(), version);
    }
    const json::object listing{{"schemas", json::array{kListResponseSchema}},
                               {"totalResults", entries.size()},
                               {"itemsPerPage", entries.size()},
                               {"startIndex", 1},
                               {"Resources", std::move(entries)}};
    return json_response(http::status::ok, listing, version);
  }
  if (first == "Bulk") return error(501, "", "Gatehouse does not take bulk requests (ServiceProviderConfig bulk)", version);
  if (first == "Me") return error(501, "", "/Me has no meaning here: the caller is a provisioning client, not a person", version);

  const auto kind = kind_at(first);
  if (!kind) return error(404, "", "no SCIM endpoint " + std::string(kPathPrefix) + "/" + std::string(first), version);
  if (rest.empty()) {
    if (call.method == verb::post) return create(*kind, call);
    if (call.method != verb::get) return not_allowed("GET, POST", version);
    const web::Query query = web::parse_query(call.query, kMaxParameterBytes);
    if (!query.valid) return error(400, "invalidValue", "the query is malformed or a parameter is too long", version);
    json::object given;
    for (const auto& [name, value] : query.items)
      if (!given.contains(name)) given[name] = value;
    return list(*kind, given, version);
  }
  if (rest == ".search") {
    if (call.method != verb::post) return not_allowed("POST", version);
    auto body = parse_body(call.content_type, call.body);
    if (auto* problem = std::get_if<std::string>(&body)) return error(400, "invalidSyntax", *problem, version);
    auto& request = std::get<json::value>(body);
    if (!request.is_object()) return error(400, "invalidSyntax", "a search request is a JSON object", version);
    return list(*kind, request.get_object(), version);
  }
  if (rest.find('/') != std::string_view::npos)
    return error(404, "", "no SCIM endpoint " + std::string(kPathPrefix) + std::string(call.path), version);
  const std::string id(rest);
  switch (call.method) {
    case verb::get: return read_one(*kind, id, call);
    case verb::put: return replace(*kind, id, call);
    case verb::patch: return patch(*kind, id, call);
    case verb::delete_: return remove(*kind, id, call);
    default: return not_allowed("GET, PUT, PATCH, DELETE", version);
  }
}

json::object Service::render(const Resource& resource) const {
  const ResourceType& type = resource_type(resource.kind);
  json::object out;
  out["schemas"] = resource.body.at("schemas");
  out["id"] = resource.id;
  for (const auto& member : resource.body) {
    if (member.key() == "schemas") continue;
    if (member.key() == "members" && member.value().is_array()) {
      // Each member with its $ref and current name, as the resource it names has them now.
      json::array members;
      for (const auto& entry : member.value().get_array()) {
        json::object shown = entry.get_object();
        const std::string id(shown.at("value").get_string());
        const bool is_user = resources_.kind_of(id) == Kind::user;
        shown["$ref"] = base_url_ + (is_user ? "/Users/" : "/Groups/") + id;
        shown["display"] = resources_.display_of(id);
        if (!shown.contains("type")) shown["type"] = is_user ? "User" : "Group";
        members.push_back(std::move(shown));
      }
      out["members"] = std::move(members);
      continue;
    }
    out[member.key()] = member.value();
  }
  if (resource.kind == Kind::user) {
    const auto memberships = resources_.groups_of(resource.id);
    if (!memberships.empty()) {
      json::array groups;
      for (const auto& membership : memberships)
        groups.push_back(json::object{{"value", membership.group_id},
                                      {"$ref", base_url_ + "/Groups/" + membership.group_id},
                                      {"display", membership.display_name},
                                      {"type", "direct"}});
      out["groups"] = std::move(groups);
    }
  }
  out["meta"] = json::object{{"resourceType", type.name},
                             {"created", store::iso_time(resource.created_ms)},
                             {"lastModified", store::iso_time(resource.modified_ms)},
                             {"location", base_url_ + std::string(type.endpoint) + "/" + resource.id},
                             {"version", etag_of(resource)}};
  return out;
}

web::Response Service::resource_response(unsigned status, const Resource& resource, const Call& call) const {
  json::object shown = render(resource);
  if (!call.query.empty() && call.method == http::verb::get) {
    const web::Query query = web::parse_query(call.query, kMaxParameterBytes);
    json::object given;
    for (const auto& [name, value] : query.items)
      if ((name == "attributes" || name == "excludedAttributes") && !given.contains(name)) given[name] = value;
    auto read = read_list_query(given);
    if (auto* refusal = std::get_if<Refusal>(&read)) return error(*refusal, call.version);
    shown = project(shown, resource_type(resource.kind), std::get<ListQuery>(read));
  }
  auto response = json_response(static_cast<http::status>(status), shown, call.version);
  response.set(http::field::etag, etag_of(resource));
  response.set(http::field::location, base_url_ + std::string(resource_type(resource.kind).endpoint) + "/" + resource.id);
  return response;
}

web::Response Service::list(Kind kind, const json::object& given, unsigned version) {
  auto read = read_list_query(given);
  if (auto* refusal = std::get_if<Refusal>(&read)) return error(*refusal, version);
  const ListQuery& query = std::get<ListQuery>(read);
  const ResourceType& type = resource_type(kind);
  const CaseExact case_exact = case_exact_for(type);

  std::vector<Resource> all;
  resources_.each(kind, [&](const Resource& resource) { all.push_back(resource); });
  std::vector<json::object> matched;
  for (const auto& resource : all) {
    json::object shown = render(resource);
    if (!query.filter || query.filter->matches(shown, case_exact)) matched.push_back(std::move(shown));
  }
  if (query.sort_by) {
    const Attribute* definition = find_definition(type, *query.sort_by);
    const bool exact = definition && definition->case_exact;
    std::stable_sort(matched.begin(), matched.end(), [&](const json::object& a, const json::object& b) {
      const int order = compare_keys(sort_key(a, type, *query.sort_by), sort_key(b, type, *query.sort_by), exact);
      return query.descending ? order > 0 : order < 0;
    });
  }
  json::array page;
  const auto total = static_cast<std::int64_t>(matched.size());
  for (std::int64_t i = query.start_index - 1; i < total && static_cast<std::int64_t>(page.size()) < query.count; ++i)
    page.push_back(project(matched[static_cast<std::size_t>(i)], type, query));
  const json::object listing{{"schemas", json::array{kListResponseSchema}},
                             {"totalResults", total},
                             {"itemsPerPage", page.size()},
                             {"startIndex", query.start_index},
                             {"Resources", std::move(page)}};
  return json_response(http::status::ok, listing, version);
}

web::Response Service::read_one(Kind kind, const std::string& id, const Call& call) {
  const auto resource = resources_.get(kind, id);
  if (!resource) return error(404, "", std::string(resource_type(kind).name) + " " + id + " not found", call.version);
  const auto unchanged = precondition(call.if_none_match);
  if (unchanged.present && (unchanged.any || unchanged.version == resource->version)) {
    web::Response response{http::status::not_modified, call.version};
    response.set(http::field::etag, etag_of(*resource));
    response.set(http::field::cache_control, "no-store");
    return response;
  }
  return resource_response(200, *resource, call);
}

namespace {

// The resource a POST or PUT body holds, in its stored form, or the error to answer.
std::variant<json::object, web::Response> resource_in_body(Kind kind, const Call& call) {
  auto body = parse_body(call.content_type, call.body);
  if (auto* problem = std::get_if<std::string>(&body)) return error(400, "invalidSyntax", *problem, call.version);
  auto& given = std::get<json::value>(body);
  if (!given.is_object()) return error(400, "invalidSyntax", "a resource is a JSON object", call.version);
  auto read = read_resource(resource_type(kind), given.get_object());
  if (auto* invalid = std::get_if<Invalid>(&read)) return error(400, invalid->scim_type, invalid->detail, call.version);
  return std::move(std::get<json::object>(read));
}

} // namespace

void Service::tell_people(const Resource& written) {
  if (!people_) return;
  if (written.kind == Kind::user) people_->changed(written);
  else people_->groups_changed();
}

web::Response Service::create(Kind kind, const Call& call) {
  auto read = resource_in_body(kind, call);
  if (auto* refused = std::get_if<web::Response>(&read)) return std::move(*refused);
  auto created = resources_.create(kind, std::move(std::get<json::object>(read)));
  if (auto* refusal = std::get_if<Refusal>(&created)) return error(*refusal, call.version);
  const auto& resource = std::get<Resource>(created);
  try {
    tell_people(resource);
  } catch (const store::StoreError&) {
    // Not created after all, so the IdP's retry creates it (and tells the people) instead of a 409.
    resources_.remove(kind, resource.id, std::nullopt);
    throw;
  }
  logging::info("scim resource created", {{"type", resource_type(kind).name}, {"id", resource.id}});
  resources_.audit_write("create", kind, resource.id, resource.body, call.client_address);
  return resource_response(201, resource, call);
}

web::Response Service::replace(Kind kind, const std::string& id, const Call& call) {
  auto read = resource_in_body(kind, call);
  if (auto* refused = std::get_if<web::Response>(&read)) return std::move(*refused);
  auto replaced = resources_.replace(kind, id, std::move(std::get<json::object>(read)), expected_version(call.if_match));
  if (auto* refusal = std::get_if<Refusal>(&replaced)) return error(*refusal, call.version);
  logging::info("scim resource replaced", {{"type", resource_type(kind).name}, {"id", id}});
  tell_people(std::get<Resource>(replaced));
  resources_.audit_write("replace", kind, id, std::get<Resource>(replaced).body, call.client_address);
  return resource_response(200, std::get<Resource>(replaced), call);
}

web::Response Service::patch(Kind kind, const std::string& id, const Call& call) {
  auto body = parse_body(call.content_type, call.body);
  if (auto* problem = std::get_if<std::string>(&body)) return error(400, "invalidSyntax", *problem, call.version);
  const json::value& request = std::get<json::value>(body);
  const ResourceType& type = resource_type(kind);
  auto patched = resources_.update(kind, id, expected_version(call.if_match),
                                   [&](const Resource& current) -> std::variant<json::object, Refusal> {
                                     auto result = apply_patch(type, current.body, request);
                                     if (auto* invalid = std::get_if<Invalid>(&result))
                                       return Refusal{400, invalid->scim_type, invalid->detail};
                                     return std::move(std::get<json::object>(result));
                                   });
  if (auto* refusal = std::get_if<Refusal>(&patched)) return error(*refusal, call.version);
  logging::info("scim resource patched", {{"type", type.name}, {"id", id}});
  // Also when the PATCH changed nothing: an IdP retrying after a 503 gets the cut-off it asked for.
  tell_people(std::get<Resource>(patched));
  resources_.audit_write("patch", kind, id, std::get<Resource>(patched).body, call.client_address);
  return resource_response(200, std::get<Resource>(patched), call);
}

web::Response Service::remove(Kind kind, const std::string& id, const Call& call) {
  const auto existing = resources_.get(kind, id);
  // The person is cut off before the User is gone: if that fails (503), the IdP's retry finds the User.
  if (people_ && kind == Kind::user) {
    const auto wanted = precondition(call.if_match);
    if (existing && (!wanted.present || wanted.any || wanted.version == existing->version)) people_->removed(*existing);
  }
  auto refusal = resources_.remove(kind, id, expected_version(call.if_match));
  // Also for a Group already gone: the retry of a DELETE whose roles could not be saved (503) saves them.
  if (people_ && kind == Kind::group && (!refusal || refusal->status == 404)) people_->groups_changed();
  if (refusal) return error(*refusal, call.version);
  logging::info("scim resource deleted", {{"type", resource_type(kind).name}, {"id", id}});
  resources_.audit_write("delete", kind, id, existing ? existing->body : json::object{}, call.client_address);
  web::Response response{http::status::no_content, call.version};
  response.set(http::field::cache_control, "no-store");
  return response;
}

} // namespace gatehouse::scim
