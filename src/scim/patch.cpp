// scim/patch: each operation edits a working copy; the copy is validated as a whole at the end.
#include "scim/text.hpp"
#include "scim/patch.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxOperations = 1000;

enum class Op { add, replace, remove };

std::optional<Op> op_named(std::string_view name) {
  if (iequals(name, "add")) return Op::add;
  if (iequals(name, "replace")) return Op::replace;
  if (iequals(name, "remove")) return Op::remove;
  return std::nullopt;
}

std::string_view member_value(const json::value& element) {
  if (!element.is_object()) return {};
  const auto* value = element.get_object().if_contains("value");
  return value && value->is_string() ? std::string_view(value->get_string()) : std::string_view();
}

bool is_primary(const json::value& element) {
  if (!element.is_object()) return false;
  const auto* primary = element.get_object().if_contains("primary");
  return primary && primary->is_bool() && primary->get_bool();
}

// A value that is set to "primary" makes the others lose it (RFC 7643 §2.4: at most one primary).
void append_elements(json::array& existing, const json::array& added, bool members) {
  for (const auto& element : added) {
    const bool present = std::any_of(existing.begin(), existing.end(), [&](const json::value& old) {
      return members ? member_value(old) == member_value(element) : old == element;
    });
    if (present) continue;
    if (is_primary(element))
      for (auto& old : existing)
        if (is_primary(old)) old.get_object()["primary"] = false;
    existing.push_back(element);
  }
}

void merge_into(json::object& target, const json::object& given) {
  for (const auto& member : given) target[member.key()] = member.value();
}

Invalid needs_value(std::string_view where) { return Invalid{"invalidSyntax", "the operation on " + std::string(where) + " has no value"}; }

class Patcher {
public:
  Patcher(const ResourceType& type, json::object resource) : type_(type), resource_(std::move(resource)) {}

  std::optional<Invalid> apply(Op op, std::string_view path, const json::value* value) {
    if (path.empty()) return apply_without_path(op, value);
    return apply_path(op, path, value, false);
  }

  json::object& resource() { return resource_; }

private:
  // Keys of a path-less add/replace are paths themselves; read-only and unknown ones are ignored, as in a
  // PUT (authentik sends the whole resource, id and meta included).
  std::optional<Invalid> apply_without_path(Op op, const json::value* value) {
    if (op == Op::remove) return Invalid{"noTarget", "remove needs a path"};
    if (!value) return needs_value("the resource");
    if (!value->is_object()) return Invalid{"invalidValue", "an operation without a path needs an object value"};
    for (const auto& member : value->get_object()) {
      if (iequals(member.key(), "schemas")) continue;
      if (type_.extension && iequals(member.key(), type_.extension->id)) {
        if (!member.value().is_object()) return Invalid{"invalidValue", std::string(type_.extension->id) + " must be an object"};
        for (const auto& inner : member.value().get_object()) {
          const std::string path = std::string(type_.extension->id) + ":" + std::string(inner.key());
          if (auto invalid = apply_path(op, path, &inner.value(), true)) return invalid;
        }
        continue;
      }
      if (auto invalid = apply_path(op, member.key(), &member.value(), true)) return invalid;
    }
    return std::nullopt;
  }

  // The object an attribute of `schema` lives in: the resource, or its extension object.
  json::object* container_for(const std::string& schema, bool create) {
    if (schema.empty() || iequals(schema, type_.schema.id)) return &resource_;
    const std::string key(type_.extension->id);
    auto* existing = resource_.if_contains(key);
    if (existing && existing->is_object()) return &existing->get_object();
    if (!create) return nullptr;
    return &resource_[key].emplace_object();
  }

  std::optional<Invalid> apply_path(Op op, std::string_view text, const json::value* value, bool lenient) {
    auto parsed = parse_patch_path(text);
    if (auto* error = std::get_if<SyntaxError>(&parsed))
      return lenient ? std::nullopt : std::optional<Invalid>(Invalid{"invalidPath", "path \"" + std::string(text) + "\": " + error->message});
    const PatchPath& path = std::get<PatchPath>(parsed);
    const AttributePath top{path.attribute.schema, path.attribute.name, ""};
    const Attribute* definition = find_definition(type_, top);
    if (!definition || definition->mutability == Mutability::read_only) {
      if (lenient) return std::nullopt;
      if (!definition) return Invalid{"invalidPath", "no attribute " + path.attribute.text() + " in a " + std::string(type_.name)};
      return Invalid{"mutability", std::string(definition->name) + " is read-only"};
    }
    const std::string sub = path.filter ? path.sub : path.attribute.sub;
    const Attribute* sub_definition = nullptr;
    if (!sub.empty()) {
      sub_definition = find_definition(type_, AttributePath{path.attribute.schema, path.attribute.name, sub});
      if (!sub_definition) return Invalid{"invalidPath", "no sub-attribute " + sub + " of " + std::string(definition->name)};
      if (sub_definition->mutability == Mutability::read_only) {
        if (lenient) return std::nullopt;
        return Invalid{"mutability", std::string(definition->name) + "." + std::string(sub_definition->name) + " is read-only"};
      }
    }
    if (definition->mutability == Mutability::write_only) return std::nullopt; // never stored (password)
    if (op != Op::remove && !value) return needs_value(text);
    if (op != Op::remove && value->is_null()) op = Op::remove; // null is "unassigned" (RFC 7643 §2.5)

    json::object* container = container_for(path.attribute.schema, op != Op::remove);
    if (!container) return std::nullopt;
    const std::string key(definition->name);
    if (path.filter) return apply_filtered(op, path, *definition, sub_definition, *container, key, value);
    if (sub_definition) return apply_to_sub(op, *definition, *sub_definition, *container, key, value);
    return apply_whole(op, *definition, *container, key, value);
  }

  std::optional<Invalid> apply_whole(Op op, const Attribute& definition, json::object& container, const std::string& key,
                                     const json::value* value) {
    const bool members = type_.kind == Kind::group && key == "members";
    if (op == Op::remove) {
      auto* existing = container.if_contains(key);
      // Entra ID and others remove listed members with a value instead of a filter.
      if (value && !value->is_null() && definition.multi_valued && existing && existing->is_array()) {
        auto read = read_value(definition, value->is_array() ? *value : json::value(json::array{*value}), key);
        if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
        auto& listed = std::get<json::value>(read).get_array();
        auto& elements = existing->get_array();
        elements.erase(std::remove_if(elements.begin(), elements.end(),
                                      [&](const json::value& element) {
                                        return std::any_of(listed.begin(), listed.end(), [&](const json::value& gone) {
                                          return members ? member_value(gone) == member_value(element) : gone == element;
                                        });
                                      }),
                       elements.end());
        if (elements.empty()) container.erase(key);
        return std::nullopt;
      }
      container.erase(key);
      return std::nullopt;
    }
    if (definition.multi_valued) {
      const json::value given = value->is_array() ? *value : json::value(json::array{*value});
      auto read = read_value(definition, given, key);
      if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
      auto& elements = std::get<json::value>(read).get_array();
      auto* existing = container.if_contains(key);
      if (op == Op::replace || !existing || !existing->is_array()) {
        json::array fresh;
        append_elements(fresh, elements, members);
        container[key] = std::move(fresh);
      } else {
        append_elements(existing->get_array(), elements, members);
      }
      return std::nullopt;
    }
    auto read = read_value(definition, *value, key);
    if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
    auto& taken = std::get<json::value>(read);
    auto* existing = container.if_contains(key);
    // A complex attribute's sub-attributes are replaced one by one; the others stay (RFC 7644 §3.5.2.3).
    if (definition.type == Type::complex && existing && existing->is_object())
      merge_into(existing->get_object(), taken.get_object());
    else
      container[key] = std::move(taken);
    return std::nullopt;
  }

  std::optional<Invalid> apply_to_sub(Op op, const Attribute& definition, const Attribute& sub, json::object& container,
                                      const std::string& key, const json::value* value) {
    if (definition.multi_valued)
      return Invalid{"invalidPath", std::string(definition.name) + "." + std::string(sub.name) +
                                        " names every value; select one with a filter: " + std::string(definition.name) +
                                        "[type eq \"work\"]." + std::string(sub.name)};
    auto* existing = container.if_contains(key);
    if (op == Op::remove) {
      if (!existing || !existing->is_object()) return std::nullopt;
      existing->get_object().erase(sub.name);
      if (existing->get_object().empty()) container.erase(key);
      return std::nullopt;
    }
    auto read = read_value(sub, *value, key + "." + std::string(sub.name));
    if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
    if (!existing || !existing->is_object()) existing = &(container[key] = json::object());
    existing->get_object()[sub.name] = std::move(std::get<json::value>(read));
    return std::nullopt;
  }

  std::optional<Invalid> apply_filtered(Op op, const PatchPath& path, const Attribute& definition, const Attribute* sub,
                                        json::object& container, const std::string& key, const json::value* value) {
    if (!definition.multi_valued || definition.type != Type::complex)
      return Invalid{"invalidPath", "a value filter selects values of a multi-valued attribute; " +
                                        std::string(definition.name) + " is not one"};
    auto* existing = container.if_contains(key);
    json::array empty;
    json::array& elements = existing && existing->is_array() ? existing->get_array() : empty;
    const CaseExact case_exact = case_exact_for(type_);
    std::vector<std::size_t> matched;
    for (std::size_t i = 0; i < elements.size(); ++i)
      if (elements[i].is_object() && element_matches(path, elements[i].get_object(), case_exact)) matched.push_back(i);

    if (op == Op::remove) {
      for (auto i = matched.rbegin(); i != matched.rend(); ++i) {
        if (sub) elements[*i].get_object().erase(sub->name);
        else elements.erase(elements.begin() + static_cast<std::ptrdiff_t>(*i));
      }
      if (existing && elements.empty()) container.erase(key);
      return std::nullopt;
    }
    // The new content of each matched value: one sub-attribute, or sub-attributes merged in.
    json::value content;
    if (sub) {
      auto read = read_value(*sub, *value, key + "." + std::string(sub->name));
      if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
      content = std::move(std::get<json::value>(read));
    } else {
      auto read = read_value(definition, json::array{*value}, key);
      if (auto* invalid = std::get_if<Invalid>(&read)) return std::move(*invalid);
      content = std::move(std::get<json::value>(read).get_array().at(0));
    }
    if (matched.empty()) {
      // emails[type eq "work"].value on a user without a work email: Entra ID expects it created.
      const auto* comparison = std::get_if<Comparison>(&path.filter->node);
      const Attribute* selector =
          comparison && comparison->op == CompareOp::eq && comparison->attribute.sub.empty()
              ? find_definition(type_, AttributePath{path.attribute.schema, path.attribute.name, comparison->attribute.name})
              : nullptr;
      if (!sub || !selector)
        return Invalid{"noTarget", "no value of " + std::string(definition.name) + " matches the filter"};
      json::object created{{selector->name, comparison->value}, {sub->name, std::move(content)}};
      if (!existing || !existing->is_array()) existing = &(container[key] = json::array());
      existing->get_array().push_back(std::move(created));
      return std::nullopt;
    }
    for (const auto i : matched) {
      auto& element = elements[i].get_object();
      if (sub) element[sub->name] = content;
      else merge_into(element, content.get_object());
    }
    return std::nullopt;
  }

  const ResourceType& type_;
  json::object resource_;
};

} // namespace

std::variant<json::object, Invalid> apply_patch(const ResourceType& type, const json::object& resource,
                                                const json::value& request) {
  if (!request.is_object()) return Invalid{"invalidSyntax", "a PATCH body is a JSON object"};
  const auto& body = request.get_object();
  const auto* schemas = body.if_contains("schemas");
  const bool patch_op = schemas && schemas->is_array() &&
                        std::any_of(schemas->get_array().begin(), schemas->get_array().end(), [](const json::value& uri) {
                          return uri.is_string() && iequals(uri.get_string(), kPatchOpSchema);
                        });
  if (!patch_op) return Invalid{"invalidSyntax", "\"schemas\" must name " + std::string(kPatchOpSchema)};
  const json::value* operations = nullptr;
  for (const auto& member : body)
    if (iequals(member.key(), "Operations")) operations = &member.value();
  if (!operations || !operations->is_array() || operations->get_array().empty())
    return Invalid{"invalidSyntax", "\"Operations\" must be a non-empty array"};
  if (operations->get_array().size() > kMaxOperations)
    return Invalid{"invalidValue", "at most " + std::to_string(kMaxOperations) + " operations in one PATCH"};

  Patcher patcher(type, resource);
  for (const auto& operation : operations->get_array()) {
    if (!operation.is_object()) return Invalid{"invalidSyntax", "each operation is a JSON object"};
    const json::value* op_value = nullptr;
    const json::value* path = nullptr;
    const json::value* value = nullptr;
    for (const auto& member : operation.get_object()) {
      if (iequals(member.key(), "op")) op_value = &member.value();
      else if (iequals(member.key(), "path")) path = &member.value();
      else if (iequals(member.key(), "value")) value = &member.value();
    }
    const auto op = op_value && op_value->is_string() ? op_named(op_value->get_string()) : std::nullopt;
    if (!op) return Invalid{"invalidSyntax", "each operation's \"op\" is add, replace or remove"};
    if (path && !path->is_string() && !path->is_null()) return Invalid{"invalidPath", "\"path\" must be a string"};
    const std::string_view path_text = path && path->is_string() ? std::string_view(path->get_string()) : std::string_view();
    if (auto invalid = patcher.apply(*op, path_text, value)) return std::move(*invalid);
  }
  return read_resource(type, patcher.resource());
}

} // namespace gatehouse::scim
