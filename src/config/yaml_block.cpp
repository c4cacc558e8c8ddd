// config/yaml_block: owns walking one YAML mapping against its allowed keys, and the "did you mean"
// suggestions for keys that are misspelled or sit in the wrong block.
#include "config/yaml_block.hpp"

#include <algorithm>
#include <cctype>

#include "config/values.hpp"

namespace gatehouse::config {
namespace {

// Users write keys as they remember them: "Max-Body-Bytes" and "max_body_bytes" mean the same thing.
std::string normalized_key(std::string_view key) {
  std::string result;
  result.reserve(key.size());
  for (const char c : key) {
    result += (c == '-' || c == ' ') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return result;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.
// Three rolling rows (the swap looks two rows back).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> before_previous(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        current[j] = std::min(current[j], before_previous[j - 2] + 1);
      }
    }
    std::swap(before_previous, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string_view leaf_of(std::string_view dotted_path) {
  const auto dot = dotted_path.rfind('.');
  return dot == std::string_view::npos ? dotted_path : dotted_path.substr(dot + 1);
}

std::string_view parent_of(std::string_view dotted_path) {
  const auto dot = dotted_path.rfind('.');
  return dot == std::string_view::npos ? std::string_view{} : dotted_path.substr(0, dot);
}

std::string joined(std::span<const std::string_view> words) {
  std::string result;
  for (const auto word : words) {
    if (!result.empty()) result += ", ";
    result += word;
  }
  return result;
}

} // namespace

int line_of(const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

std::string describe_found(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return quoted_value(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a block of keys";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "nothing";
}

std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  const std::string wanted = normalized_key(word);
  if (wanted.empty()) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto candidate : candidates) {
    const std::string known = normalized_key(candidate);
    // A truncated or extended key ("max_body" for "max_body_bytes", "warning" for "warn") is a near miss too.
    const bool prefix_related = std::min(wanted.size(), known.size()) >= 4 &&
                                (known.starts_with(wanted) || wanted.starts_with(known));
    const std::size_t allowed = std::max<std::size_t>(1, std::min<std::size_t>(3, known.size() / 3));
    // The distance is at least the difference in length: a long stray key costs no quadratic comparison.
    const std::size_t length_gap = wanted.size() > known.size() ? wanted.size() - known.size() : known.size() - wanted.size();
    if (length_gap > allowed && !prefix_related) continue;
    std::size_t distance = edit_distance(wanted, known);
    if (distance > allowed && !prefix_related) continue;
    if (prefix_related) distance = std::min(distance, allowed);
    if (!best || distance < best_distance) {
      best = std::string(candidate);
      best_distance = distance;
    }
  }
  return best;
}

YamlBlock::YamlBlock(const YAML::Node& node, std::string path, int line, std::vector<std::string_view> allowed_keys,
                     std::span<const std::string_view> every_key_path, std::vector<ConfigIssue>& issues)
    : path_(std::move(path)), line_(line), allowed_keys_(std::move(allowed_keys)), issues_(issues) {
  if (!node.IsMap()) return;
  // yaml-cpp's iterators hand out temporaries: hold each pair by value, never a reference into `it->`.
  for (const auto& pair : node) {
    const YAML::Node key_node = pair.first;
    const int key_line = line_of(key_node);
    if (!key_node.IsScalar()) {
      issues_.push_back({path_.empty() ? "(top level)" : path_, key_line,
                         "keys must be plain names, got " + describe_found(key_node) + " as a key"});
      continue;
    }
    const std::string& key = key_node.Scalar();
    if (const auto* earlier = find(key)) {
      issues_.push_back({earlier->path, key_line,
                         "is set twice (first on line " + std::to_string(earlier->line) + "); keep only one"});
      continue;
    }
    if (std::find(allowed_keys_.begin(), allowed_keys_.end(), key) == allowed_keys_.end()) {
      report_unknown_key(key, key_line, every_key_path);
      continue;
    }
    entries_.push_back({path_of(key), pair.second, key_line});
  }
}

const BlockEntry* YamlBlock::find(std::string_view key) const {
  const std::string wanted = path_of(key);
  for (const auto& entry : entries_) {
    if (entry.path == wanted) return &entry;
  }
  return nullptr;
}

std::string YamlBlock::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void YamlBlock::report_unknown_key(const std::string& key, int line, std::span<const std::string_view> every_key_path) {
  std::string message = "unknown key";
  if (const auto sibling = closest_match(key, allowed_keys_)) {
    message += "; did you mean " + quoted_value(*sibling) + "?";
  } else {
    // Same or close name elsewhere in the schema: the key is probably in the wrong block.
    std::vector<std::string_view> elsewhere;
    for (const auto candidate : every_key_path) {
      if (parent_of(candidate) != path_) elsewhere.push_back(candidate);
    }
    std::vector<std::string_view> leaves;
    for (const auto candidate : elsewhere) leaves.push_back(leaf_of(candidate));
    const auto leaf = closest_match(key, leaves);
    const auto home = leaf ? std::find_if(elsewhere.begin(), elsewhere.end(),
                                          [&](std::string_view candidate) { return leaf_of(candidate) == *leaf; })
                           : elsewhere.end();
    if (home != elsewhere.end()) {
      const auto parent = parent_of(*home);
      message += "; did you mean " + std::string(*home) + "? It belongs " +
                 (parent.empty() ? std::string("at the top level") : "under \"" + std::string(parent) + ":\"");
    } else {
      message += "; the keys allowed here are " + joined(allowed_keys_);
    }
  }
  issues_.push_back({path_of(key), line, std::move(message)});
}

} // namespace gatehouse::config
