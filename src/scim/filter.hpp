// scim/filter: owns reading SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2), and deciding
// whether a resource (its JSON form, RFC 7643) matches a filter. Promises: attribute names and operators
// are read case-insensitively; strings compare case-insensitively unless the attribute is case-exact;
// every input is bounded (length, depth, terms) and a bad one is an error value naming what is wrong and
// where, for a 400 with scimType invalidFilter or invalidPath. Lenient exactly where real IdPs need it:
// a value path may end in a sub-attribute (Entra: emails[type eq "work"].value eq "x").
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gatehouse::scim {

// An attribute reference: [schema URI ":"] name ["." sub]. Name and sub are kept lowercase.
struct AttributePath {
  std::string schema; // lowercase URI, empty for the resource's core schema
  std::string name;
  std::string sub;
  std::string text() const; // as written back in messages: [schema:]name[.sub]
};

enum class CompareOp { eq, ne, co, sw, ew, gt, ge, lt, le, pr };

struct FilterNode;
using FilterPtr = std::shared_ptr<const FilterNode>;

struct Comparison {
  AttributePath attribute;
  CompareOp op = CompareOp::eq;
  boost::json::value value; // null for pr
};
struct Logical {
  bool is_and = true;
  FilterPtr left, right;
};
struct Negation {
  FilterPtr inner;
};
// attribute[filter] — matches when an element of the multi-valued attribute matches `filter`; with
// `then`, the matching elements' sub-attribute must also satisfy it (emails[type eq "work"].value eq "x").
struct ValuePath {
  AttributePath attribute;
  FilterPtr filter;
  std::optional<Comparison> then;
};

struct FilterNode {
  std::variant<Comparison, Logical, Negation, ValuePath> node;
};

struct SyntaxError {
  std::string message; // says what was expected and at which character
};

// Whether string values of an attribute compare case-exactly (RFC 7643 "caseExact").
using CaseExact = std::function<bool(const AttributePath&)>;

class Filter {
public:
  static constexpr std::size_t kMaxLength = 4096;
  static constexpr int kMaxDepth = 16;
  static constexpr std::size_t kMaxTerms = 64;

  static std::variant<Filter, SyntaxError> parse(std::string_view text);
  // `case_exact` absent: every string compares case-insensitively.
  bool matches(const boost::json::object& resource, const CaseExact& case_exact = {}) const;
  const FilterNode& root() const { return *root_; }

private:
  explicit Filter(FilterPtr root) : root_(std::move(root)) {}
  FilterPtr root_;
};

// A PATCH operation's target: attrPath, or valuePath [subAttr] (members[value eq "2819c223"],
// emails[type eq "work"].value).
struct PatchPath {
  AttributePath attribute;
  FilterPtr filter; // the value filter, if any
  std::string sub;  // the sub-attribute after a value filter, lowercase
};
std::variant<PatchPath, SyntaxError> parse_patch_path(std::string_view text);
// Whether one element of the path's multi-valued attribute matches its value filter (true without one).
bool element_matches(const PatchPath& path, const boost::json::object& element, const CaseExact& case_exact = {});

// The attribute a path names in `resource`: core attributes at the top level, extension attributes in
// the object named by their schema URI. Names compare case-insensitively. Null when absent.
const boost::json::value* find_attribute(const boost::json::object& resource, const AttributePath& path);

} // namespace gatehouse::scim
