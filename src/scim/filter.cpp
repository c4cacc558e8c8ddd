// scim/filter: a recursive-descent reader of RFC 7644 §3.4.2.2 ("and" binds tighter than "or"; "not"
// takes a parenthesised filter) and an evaluator over resources' JSON.
#include "scim/filter.hpp"

#include "scim/text.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cctype>

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; "$ref" is the one exception (RFC 7643 §2.1).
bool valid_name(std::string_view name) {
  if (iequals(name, "$ref")) return true;
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

struct Operator {
  std::string_view word;
  CompareOp op;
};
constexpr Operator kOperators[] = {{"eq", CompareOp::eq}, {"ne", CompareOp::ne}, {"co", CompareOp::co},
                                   {"sw", CompareOp::sw}, {"ew", CompareOp::ew}, {"gt", CompareOp::gt},
                                   {"ge", CompareOp::ge}, {"lt", CompareOp::lt}, {"le", CompareOp::le},
                                   {"pr", CompareOp::pr}};

class Reader {
public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::variant<FilterPtr, SyntaxError> whole_filter() {
    auto filter = or_expression(0);
    if (error_) return *error_;
    skip_spaces();
    if (!at_end()) return fail_value("unexpected '" + std::string(1, peek()) + "'");
    return filter;
  }

  std::variant<PatchPath, SyntaxError> whole_patch_path() {
    PatchPath path;
    auto attribute = attribute_path();
    if (error_) return *error_;
    path.attribute = std::move(*attribute);
    if (!at_end() && peek() == '[') {
      if (!path.attribute.sub.empty()) return fail_value("a value filter follows an attribute, not a sub-attribute");
      ++position_;
      ++in_value_filter_;
      path.filter = or_expression(1);
      --in_value_filter_;
      if (error_) return *error_;
      skip_spaces();
      if (at_end() || peek() != ']') return fail_value("expected ']'");
      ++position_;
      if (!at_end() && peek() == '.') {
        ++position_;
        const auto name = name_token();
        if (!valid_name(name)) return fail_value("expected a sub-attribute name after '.'");
        path.sub = lowercase(name);
      }
    }
    if (!at_end()) return fail_value("unexpected '" + std::string(1, peek()) + "'");
    return path;
  }

private:
  // or_expression := and_expression ("or" and_expression)*, and_expression := unary ("and" unary)*
  FilterPtr or_expression(int depth) { return chain(depth, false); }
  FilterPtr chain(int depth, bool is_and) {
    auto operand = [&] { return is_and ? unary(depth) : chain(depth, true); };
    auto left = operand();
    while (!error_ && keyword_follows(is_and ? "and" : "or")) {
      auto right = operand();
      if (error_) return nullptr;
      left = make(Logical{is_and, std::move(left), std::move(right)});
    }
    return left;
  }

  // unary := "not" "(" filter ")" | "(" filter ")" | attribute term
  FilterPtr unary(int depth) {
    if (depth >= Filter::kMaxDepth) return fail("filter nested deeper than " + std::to_string(Filter::kMaxDepth));
    skip_spaces();
    if (at_end()) return fail("expected an attribute, '(' or 'not'");
    if (word_is("not")) {
      position_ += 3;
      skip_spaces();
      if (at_end() || peek() != '(') return fail("expected '(' after 'not'");
      auto inner = parenthesised(depth + 1);
      if (error_) return nullptr;
      return make(Negation{std::move(inner)});
    }
    if (peek() == '(') return parenthesised(depth + 1);
    return attribute_term(depth);
  }

  FilterPtr parenthesised(int depth) {
    ++position_; // '('
    auto inner = or_expression(depth);
    if (error_) return nullptr;
    skip_spaces();
    if (at_end() || peek() != ')') return fail("expected ')'");
    ++position_;
    return inner;
  }

  // attribute term := path "pr" | path op value | path "[" filter "]" ["." sub op value]
  FilterPtr attribute_term(int depth) {
    auto attribute = attribute_path();
    if (error_) return nullptr;
    if (!at_end() && peek() == '[') {
      if (in_value_filter_ > 0) return fail("a value filter cannot hold another value filter");
      if (!attribute->sub.empty()) return fail("a value filter follows an attribute, not a sub-attribute");
      ++position_;
      ++in_value_filter_;
      auto inner = or_expression(depth + 1);
      --in_value_filter_;
      if (error_) return nullptr;
      skip_spaces();
      if (at_end() || peek() != ']') return fail("expected ']'");
      ++position_;
      ValuePath value_path{std::move(*attribute), std::move(inner), std::nullopt};
      if (!at_end() && peek() == '.') {
        ++position_;
        const auto name = name_token();
        if (!valid_name(name)) return fail("expected a sub-attribute name after '.'");
        AttributePath sub_path{value_path.attribute.schema, value_path.attribute.name, lowercase(name)};
        auto comparison = comparison_for(std::move(sub_path));
        if (error_) return nullptr;
        value_path.then = std::move(*comparison);
      }
      return make(std::move(value_path));
    }
    auto comparison = comparison_for(std::move(*attribute));
    if (error_) return nullptr;
    return make(std::move(*comparison));
  }

  std::optional<Comparison> comparison_for(AttributePath attribute) {
    if (++terms_ > Filter::kMaxTerms) return fail_none("more than " + std::to_string(Filter::kMaxTerms) + " comparisons");
    if (!skip_spaces()) return fail_none("expected a space and an operator after " + attribute.text());
    const auto word = name_token();
    const auto* found = std::find_if(std::begin(kOperators), std::end(kOperators),
                                     [&](const Operator& o) { return iequals(o.word, word); });
    if (word.empty() || found == std::end(kOperators))
      return fail_none("expected an operator (eq ne co sw ew gt ge lt le pr) after " + attribute.text());
    Comparison comparison{std::move(attribute), found->op, nullptr};
    if (found->op == CompareOp::pr) return comparison;
    if (!skip_spaces()) return fail_none("expected a space and a value after '" + std::string(word) + "'");
    auto value = compare_value();
    if (error_) return std::nullopt;
    const bool ordering = found->op == CompareOp::gt || found->op == CompareOp::ge || found->op == CompareOp::lt ||
                          found->op == CompareOp::le;
    const bool substring = found->op == CompareOp::co || found->op == CompareOp::sw || found->op == CompareOp::ew;
    if (substring && !value->is_string())
      return fail_none("'" + std::string(word) + "' compares strings; the value is not one");
    if (ordering && !value->is_string() && !value->is_number())
      return fail_none("'" + std::string(word) + "' compares strings, numbers and dates; true, false and null have no order");
    comparison.value = std::move(*value);
    return comparison;
  }

  // compValue = false / null / true / number / string (JSON forms; ABNF literals are case-insensitive).
  std::optional<json::value> compare_value() {
    if (at_end()) return fail_none("expected a value");
    const std::size_t start = position_;
    if (peek() == '"') {
      ++position_;
      while (!at_end() && peek() != '"') position_ += peek() == '\\' ? 2 : 1;
      if (at_end()) return fail_none("a string value has no closing '\"'");
      ++position_;
    } else {
      while (!at_end() && !std::isspace(static_cast<unsigned char>(peek())) && peek() != ')' && peek() != ']') ++position_;
    }
    const std::string_view token = text_.substr(start, position_ - start);
    if (iequals(token, "true")) return json::value(true);
    if (iequals(token, "false")) return json::value(false);
    if (iequals(token, "null")) return json::value(nullptr);
    boost::system::error_code ec;
    auto value = json::parse(token, ec);
    if (ec || !(value.is_string() || value.is_number())) {
      position_ = start;
      return fail_none("expected a value: a \"string\", a number, true, false or null");
    }
    return value;
  }

  // attrPath = [URI ":"] ATTRNAME ["." ATTRNAME]; the URI holds dots itself (…:enterprise:2.0:User:manager).
  std::optional<AttributePath> attribute_path() {
    skip_spaces();
    const std::size_t start = position_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || std::string_view("-_.:$").find(peek()) != std::string_view::npos))
      ++position_;
    const std::string_view token = text_.substr(start, position_ - start);
    AttributePath path;
    std::string_view rest = token;
    if (const auto colon = token.rfind(':'); colon != std::string_view::npos) {
      path.schema = lowercase(token.substr(0, colon));
      rest = token.substr(colon + 1);
    }
    std::string_view name = rest, sub;
    if (const auto dot = rest.find('.'); dot != std::string_view::npos) {
      name = rest.substr(0, dot);
      sub = rest.substr(dot + 1);
      if (!valid_name(sub)) {
        position_ = start;
        return fail_none("'" + std::string(token) + "' is not an attribute path");
      }
    }
    if (!valid_name(name) || (!path.schema.empty() && path.schema.rfind("urn:", 0) != 0)) {
      position_ = start;
      return fail_none(token.empty() ? "expected an attribute name" : "'" + std::string(token) + "' is not an attribute path");
    }
    path.name = lowercase(name);
    path.sub = lowercase(sub);
    return path;
  }

  std::string_view name_token() {
    const std::size_t start = position_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '-' || peek() == '_' || peek() == '$'))
      ++position_;
    return text_.substr(start, position_ - start);
  }

  // True when `word` comes next as a whole word (after at least one space); consumes it.
  bool keyword_follows(std::string_view word) {
    const std::size_t start = position_;
    if (!skip_spaces() || !word_is(word)) {
      position_ = start;
      return false;
    }
    position_ += word.size();
    return true;
  }
  bool word_is(std::string_view word) const {
    if (text_.size() - position_ < word.size() || !iequals(text_.substr(position_, word.size()), word)) return false;
    const std::size_t after = position_ + word.size();
    return after == text_.size() || std::isspace(static_cast<unsigned char>(text_[after])) || text_[after] == '(';
  }

  bool skip_spaces() {
    const std::size_t start = position_;
    while (!at_end() && std::isspace(static_cast<unsigned char>(peek()))) ++position_;
    return position_ > start;
  }
  bool at_end() const { return position_ >= text_.size(); }
  char peek() const { return text_[position_]; }

  template <class T>
  FilterPtr make(T node) {
    return std::make_shared<const FilterNode>(FilterNode{std::move(node)});
  }
  FilterPtr fail(std::string message) {
    if (!error_) error_ = SyntaxError{message + " (at character " + std::to_string(position_ + 1) + ")"};
    return nullptr;
  }
  std::nullopt_t fail_none(std::string message) {
    fail(std::move(message));
    return std::nullopt;
  }
  SyntaxError fail_value(std::string message) {
    fail(std::move(message));
    return *error_;
  }

  std::string_view text_;
  std::size_t position_ = 0;
  std::size_t terms_ = 0;
  int in_value_filter_ = 0;
  std::optional<SyntaxError> error_;
};

// ---- evaluation ------------------------------------------------------------------------------------

const json::value* find_member(const json::object& object, std::string_view lowercase_name) {
  for (const auto& member : object)
    if (iequals(member.key(), lowercase_name)) return &member.value();
  return nullptr;
}

bool present(const json::value* value) {
  if (!value || value->is_null()) return false;
  if (value->is_string()) return !value->get_string().empty();
  if (value->is_array()) return !value->get_array().empty();
  if (value->is_object()) return !value->get_object().empty();
  return true;
}

// The values a comparison looks at: the attribute's value, each element of a multi-valued one, or the
// named sub-attribute of each.
std::vector<const json::value*> candidates(const json::value* attribute, std::string_view sub) {
  std::vector<const json::value*> out;
  if (!attribute || attribute->is_null()) return out;
  auto add = [&](const json::value& v) {
    if (sub.empty()) {
      if (!v.is_object() && !v.is_array()) out.push_back(&v);
    } else if (v.is_object()) {
      if (const auto* inner = find_member(v.get_object(), sub); inner && !inner->is_null()) out.push_back(inner);
    }
  };
  if (attribute->is_array()) {
    for (const auto& element : attribute->get_array()) add(element);
  } else {
    add(*attribute);
  }
  return out;
}

int compare_strings(std::string_view a, std::string_view b, bool exact) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char x = exact ? a[i] : lower(a[i]);
    const char y = exact ? b[i] : lower(b[i]);
    if (x != y) return static_cast<unsigned char>(x) < static_cast<unsigned char>(y) ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

bool string_holds(std::string_view haystack, std::string_view needle, CompareOp op, bool exact) {
  if (needle.size() > haystack.size()) return false;
  auto same = [&](std::size_t at) { return compare_strings(haystack.substr(at, needle.size()), needle, exact) == 0; };
  if (op == CompareOp::sw) return same(0);
  if (op == CompareOp::ew) return same(haystack.size() - needle.size());
  for (std::size_t at = 0; at + needle.size() <= haystack.size(); ++at)
    if (same(at)) return true;
  return false;
}

double number(const json::value& v) { return v.to_number<double>(); }

bool ordered(int order, CompareOp op) {
  switch (op) {
    case CompareOp::eq: return order == 0;
    case CompareOp::gt: return order > 0;
    case CompareOp::ge: return order >= 0;
    case CompareOp::lt: return order < 0;
    case CompareOp::le: return order <= 0;
    default: return false;
  }
}

// One value against the comparison (never ne or pr: those are decided over all the candidates).
bool compare_one(const json::value& actual, CompareOp op, const json::value& expected, bool exact) {
  if (expected.is_string() && actual.is_string()) {
    const std::string_view a = actual.get_string(), e = expected.get_string();
    if (op == CompareOp::co || op == CompareOp::sw || op == CompareOp::ew) return string_holds(a, e, op, exact);
    return ordered(compare_strings(a, e, exact), op);
  }
  if (expected.is_number() && actual.is_number()) {
    const double a = number(actual), e = number(expected);
    return ordered(a < e ? -1 : (a > e ? 1 : 0), op);
  }
  if (expected.is_bool() && actual.is_bool()) return op == CompareOp::eq && actual.get_bool() == expected.get_bool();
  return false;
}

bool evaluate(const FilterNode& node, const json::object& scope, const AttributePath* within, const CaseExact& case_exact);

// `within`: the multi-valued attribute whose element `scope` is (inside a value filter), so names are
// its sub-attributes.
bool evaluate_comparison(const Comparison& comparison, const json::object& scope, const AttributePath* within,
                         const CaseExact& case_exact) {
  const json::value* attribute;
  std::string_view sub = comparison.attribute.sub;
  AttributePath full = comparison.attribute;
  if (within) {
    attribute = find_member(scope, comparison.attribute.name);
    full = AttributePath{within->schema, within->name, comparison.attribute.name};
  } else {
    attribute = find_attribute(scope, comparison.attribute);
  }
  const bool exact = case_exact ? case_exact(full) : false;
  const auto values = candidates(attribute, sub);
  switch (comparison.op) {
    case CompareOp::pr:
      return std::any_of(values.begin(), values.end(), [](const json::value* v) { return present(v); });
    case CompareOp::eq:
      if (comparison.value.is_null()) return values.empty();
      break;
    case CompareOp::ne:
      if (comparison.value.is_null()) return !values.empty();
      return std::none_of(values.begin(), values.end(), [&](const json::value* v) {
        return compare_one(*v, CompareOp::eq, comparison.value, exact);
      });
    default:
      break;
  }
  return std::any_of(values.begin(), values.end(),
                     [&](const json::value* v) { return compare_one(*v, comparison.op, comparison.value, exact); });
}

bool evaluate_value_path(const ValuePath& path, const json::object& scope, const CaseExact& case_exact) {
  const json::value* attribute = find_attribute(scope, path.attribute);
  if (!attribute || attribute->is_null()) return false;
  auto element_matches = [&](const json::value& element) {
    if (!element.is_object()) return false;
    const auto& object = element.get_object();
    if (!evaluate(*path.filter, object, &path.attribute, case_exact)) return false;
    if (!path.then) return true;
    Comparison relative = *path.then;
    relative.attribute = AttributePath{"", path.then->attribute.sub, ""};
    return evaluate_comparison(relative, object, &path.attribute, case_exact);
  };
  if (attribute->is_array()) {
    const auto& elements = attribute->get_array();
    return std::any_of(elements.begin(), elements.end(), element_matches);
  }
  return element_matches(*attribute);
}

bool evaluate(const FilterNode& node, const json::object& scope, const AttributePath* within, const CaseExact& case_exact) {
  return std::visit(
      [&](const auto& n) -> bool {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, Comparison>) {
          return evaluate_comparison(n, scope, within, case_exact);
        } else if constexpr (std::is_same_v<T, Logical>) {
          const bool left = evaluate(*n.left, scope, within, case_exact);
          if (n.is_and ? !left : left) return left;
          return evaluate(*n.right, scope, within, case_exact);
        } else if constexpr (std::is_same_v<T, Negation>) {
          return !evaluate(*n.inner, scope, within, case_exact);
        } else {
          return evaluate_value_path(n, scope, case_exact);
        }
      },
      node.node);
}

} // namespace

std::string AttributePath::text() const {
  std::string out;
  if (!schema.empty()) out += schema + ":";
  out += name;
  if (!sub.empty()) out += "." + sub;
  return out;
}

std::variant<Filter, SyntaxError> Filter::parse(std::string_view text) {
  if (text.size() > kMaxLength) return SyntaxError{"the filter is longer than " + std::to_string(kMaxLength) + " characters"};
  Reader reader(text);
  auto parsed = reader.whole_filter();
  if (auto* error = std::get_if<SyntaxError>(&parsed)) return *error;
  return Filter(std::get<FilterPtr>(std::move(parsed)));
}

bool Filter::matches(const json::object& resource, const CaseExact& case_exact) const {
  return evaluate(*root_, resource, nullptr, case_exact);
}

std::variant<PatchPath, SyntaxError> parse_patch_path(std::string_view text) {
  if (text.size() > Filter::kMaxLength) return SyntaxError{"the path is longer than " + std::to_string(Filter::kMaxLength) + " characters"};
  Reader reader(text);
  return reader.whole_patch_path();
}

bool element_matches(const PatchPath& path, const json::object& element, const CaseExact& case_exact) {
  return !path.filter || evaluate(*path.filter, element, &path.attribute, case_exact);
}

const json::value* find_attribute(const json::object& resource, const AttributePath& path) {
  if (path.schema.empty()) return find_member(resource, path.name);
  // A core schema URI names the resource's own attributes; any other names an extension object.
  const bool core = path.schema.rfind("urn:ietf:params:scim:schemas:core:", 0) == 0;
  if (core) return find_member(resource, path.name);
  const auto* extension = find_member(resource, path.schema);
  if (!extension || !extension->is_object()) return nullptr;
  return find_member(extension->get_object(), path.name);
}

} // namespace gatehouse::scim
