// config/yaml_block: owns walking one YAML mapping ("block") of the config file against the keys it allows.
// It reports, into the shared issue list, keys set twice and unknown keys (with a "did you mean" when a
// known key is close, or when the key belongs in another block), so the loader only deals with known keys.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"

namespace gatehouse::config {

// 1-based line of a node as yaml-cpp marks it; 0 when the node has no place in the text.
int line_of(const YAML::Node& node);

// What a value is, for "got ..." in messages: "\"lots\"" for scalars, "a list", "a block of keys", "nothing".
std::string describe_found(const YAML::Node& node);

// The candidate closest to a mistyped word (edit distance, case and -/_ ignored, or a prefix of it).
std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates);

struct BlockEntry {
  std::string path;  // dotted: "limits.max_body_bytes"
  YAML::Node value;
  int line = 0;      // line of the key, where a user looks for it
};

class YamlBlock {
public:
  // `node` is a mapping, or null for an empty block. `path` is "" at the top level. `every_key_path` lists
  // every dotted key of the schema ("limits.max_body_bytes", ...) so a key at the wrong level finds its home.
  YamlBlock(const YAML::Node& node, std::string path, int line, std::vector<std::string_view> allowed_keys,
            std::span<const std::string_view> every_key_path, std::vector<ConfigIssue>& issues);

  const BlockEntry* find(std::string_view key) const;
  std::string path_of(std::string_view key) const;
  const std::string& path() const { return path_; }
  int line() const { return line_; }

private:
  void report_unknown_key(const std::string& key, int line, std::span<const std::string_view> every_key_path);

  std::string path_;
  int line_;
  std::vector<std::string_view> allowed_keys_;
  std::vector<BlockEntry> entries_; // in file order
  std::vector<ConfigIssue>& issues_;
};

} // namespace gatehouse::config
