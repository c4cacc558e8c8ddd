// cli/config_check: check-config's checks, and the configuration's reload on SIGHUP.
#include "cli/config_check.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "net/client_tls.hpp"

namespace gatehouse::cli {
namespace {

// The CA bundles the configuration names, loaded as Gatehouse loads them at start (reading the
// configuration only checks that each file can be read).
std::vector<config::ConfigIssue> unloadable_ca_files(const config::Config& config) {
  std::vector<std::pair<std::string, std::optional<std::filesystem::path>>> named{
      {"home_assistant.ca_file", config.home_assistant.ca_file},
      {"client_discovery.ca_file", config.client_discovery.ca_file}};
  for (std::size_t i = 0; i < config.providers.size(); ++i)
    named.push_back({"providers[" + std::to_string(i) + "].ca_file", config.providers[i].ca_file});
  if (config.header_identity && config.header_identity->assertion)
    named.push_back({"header_identity.assertion.ca_file", config.header_identity->assertion->ca_file});
  std::vector<config::ConfigIssue> issues;
  for (const auto& [key, file] : named) {
    if (!file) continue;
    try {
      net::client_tls_context(file);
    } catch (const std::exception& error) {
      issues.push_back({key, 0, std::string(error.what()) + "; name a PEM file of CA certificates"});
    }
  }
  return issues;
}

// Each top-level key's value as YAML text ("" for a file that does not parse: then everything differs).
std::map<std::string, std::string> top_level_values(const std::string& text) {
  std::map<std::string, std::string> values;
  try {
    const YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return values;
    for (const auto& entry : root) {
      YAML::Emitter out;
      out << entry.second;
      values[entry.first.as<std::string>()] = out.c_str();
    }
  } catch (const YAML::Exception&) {
  }
  return values;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

} // namespace

std::string read_text(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return file ? text.str() : std::string();
}

CheckedFile check_file(const std::filesystem::path& path) {
  CheckedFile checked;
  try {
    checked.loaded = config::load_file(path);
  } catch (const config::ConfigError& error) {
    checked.issues = error.issues();
    return checked;
  }
  checked.issues = unloadable_ca_files(checked.loaded->config);
  if (!checked.issues.empty()) checked.loaded.reset();
  return checked;
}

ConfigReload::ConfigReload(std::filesystem::path path, std::string running_text, logging::Level running_level)
    : path_(std::move(path)), running_text_(std::move(running_text)), level_(running_level) {}

void ConfigReload::reload() {
  const std::string text = read_text(path_);
  const auto checked = check_file(path_);
  if (!checked.loaded) {
    for (const auto& issue : checked.issues)
      logging::error("configuration problem", {{"file", path_.string()}, {"problem", issue.to_string()}});
    logging::error("configuration reload refused: the running configuration stays",
                   {{"file", path_.string()}, {"problems", checked.issues.size()}});
    return;
  }
  for (const auto& warning : checked.loaded->warnings) logging::warn("configuration warning", {{"detail", warning}});

  std::vector<std::string> applied;
  logging::Level level = logging::Level::info;
  logging::parse_level(checked.loaded->config.logging.level, level);
  if (level != level_) {
    logging::init(level);
    level_ = level;
    applied.push_back("logging.level");
  }
  // Every other key compared with the file the running configuration came from. `logging` holds only
  // the level; `tls` is read again by the listener when only its files' contents changed.
  const auto before = top_level_values(running_text_);
  const auto after = top_level_values(text);
  std::set<std::string> keys;
  for (const auto& [key, value] : before) keys.insert(key);
  for (const auto& [key, value] : after) keys.insert(key);
  std::vector<std::string> waiting;
  for (const auto& key : keys) {
    if (key == "logging") continue;
    const auto old_value = before.find(key);
    const auto new_value = after.find(key);
    const bool same = old_value != before.end() && new_value != after.end() && old_value->second == new_value->second;
    if (!same) waiting.push_back(key);
  }
  if (!waiting.empty())
    logging::warn("configuration changed: restart Gatehouse to apply these keys; until then they keep their running values",
                  {{"file", path_.string()}, {"keys", joined(waiting)}});
  logging::info("configuration reloaded",
                {{"file", path_.string()}, {"applied", applied.empty() ? std::string("nothing") : joined(applied)},
                 {"waiting_for_restart", waiting.size()}});
}

} // namespace gatehouse::cli
