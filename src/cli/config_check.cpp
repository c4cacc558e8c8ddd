// cli/config_check: check-config's checks, and the configuration's reload on SIGHUP.
#include "cli/config_check.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "net/client_tls.hpp"

namespace gatehouse::cli {
namespace {

// The CA bundles the configuration names, by key: a provider's by its place in the list (as check-config
// names keys), or by its id (`providers_by_id`: what a reload compares, so removing one provider does not
// make the next one's bundle look changed).
std::vector<std::pair<std::string, std::filesystem::path>> ca_files(const config::Config& config,
                                                                    bool providers_by_id = false) {
  std::vector<std::pair<std::string, std::filesystem::path>> named;
  const auto add = [&](std::string key, const std::optional<std::filesystem::path>& file) {
    if (file) named.emplace_back(std::move(key), *file);
  };
  add("home_assistant.ca_file", config.home_assistant.ca_file);
  add("client_discovery.ca_file", config.client_discovery.ca_file);
  for (std::size_t i = 0; i < config.providers.size(); ++i)
    add("providers[" + (providers_by_id ? config.providers[i].id : std::to_string(i)) + "].ca_file",
        config.providers[i].ca_file);
  if (config.header_identity && config.header_identity->assertion)
    add("header_identity.assertion.ca_file", config.header_identity->assertion->ca_file);
  return named;
}

// Each CA bundle loaded as Gatehouse loads it at start (reading the configuration only checks that each
// file can be read).
std::vector<config::ConfigIssue> unloadable_ca_files(const config::Config& config) {
  std::vector<config::ConfigIssue> issues;
  for (const auto& [key, file] : ca_files(config)) {
    try {
      net::client_tls_context(file);
    } catch (const std::exception& error) {
      issues.push_back({key, 0, std::string(error.what()) + "; name a PEM file of CA certificates"});
    }
  }
  return issues;
}

std::string sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

// What can change under a reload, each as text to compare: every top-level key's value as YAML (aliases
// resolved, comments and layout not), and a digest of each secret and CA bundle (their files' contents,
// or environment variables, are not in the YAML). Secrets are kept only as digests.
std::map<std::string, std::string> comparable_values(const config::LoadResult& loaded) {
  std::map<std::string, std::string> values;
  try {
    const YAML::Node root = YAML::Load(loaded.text);
    if (root.IsMap()) {
      for (const auto& entry : root) {
        YAML::Emitter out;
        out << entry.second;
        values[entry.first.as<std::string>()] = out.c_str();
      }
    }
  } catch (const YAML::Exception&) {
  }
  const auto& config = loaded.config;
  if (!config.home_assistant.token.empty()) values["home_assistant.token_file (contents)"] = sha256(config.home_assistant.token);
  for (std::size_t i = 0; i < config.providers.size(); ++i)
    values["providers[" + config.providers[i].id + "].client_secret_file (contents)"] = sha256(config.providers[i].client_secret);
  if (config.scim) values["scim.token_file (contents)"] = sha256(config.scim->token);
  for (const auto& [key, file] : ca_files(config, true)) values[key + " (contents)"] = sha256(file_bytes(file));
  return values;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

} // namespace

CheckedFile check_file(const std::filesystem::path& path) {
  CheckedFile checked;
  try {
    checked.loaded = config::load_file(path);
  } catch (const config::ConfigError& error) {
    checked.issues = error.issues();
    return checked;
  }
  checked.warnings = checked.loaded->warnings;
  checked.issues = unloadable_ca_files(checked.loaded->config);
  if (!checked.issues.empty()) checked.loaded.reset();
  return checked;
}

ConfigReload::ConfigReload(std::filesystem::path path, const config::LoadResult& running, logging::Level running_level,
                           config::Current& current)
    : path_(std::move(path)), running_values_(comparable_values(running)), level_(running_level),
      started_(config::started_with(running.config)), current_(current) {}

void ConfigReload::reload() {
  const auto checked = check_file(path_);
  for (const auto& warning : checked.warnings) logging::warn("configuration warning", {{"detail", warning}});
  if (!checked.loaded) {
    for (const auto& issue : checked.issues)
      logging::error("configuration problem", {{"file", path_.string()}, {"problem", issue.to_string()}});
    logging::error("configuration reload refused: the running configuration stays",
                   {{"file", path_.string()}, {"problems", checked.issues.size()}});
    return;
  }

  // Every key and secret compared with what Gatehouse runs with.
  const auto now = comparable_values(*checked.loaded);
  std::set<std::string> keys;
  for (const auto& [key, value] : running_values_) keys.insert(key);
  for (const auto& [key, value] : now) keys.insert(key);
  std::vector<std::string> changed;
  for (const auto& key : keys) {
    const auto before = running_values_.find(key);
    const auto after = now.find(key);
    // A secret or bundle that comes or goes with its key is that key's change (named by the key).
    const bool contents = key.ends_with(" (contents)");
    if (contents && (before == running_values_.end() || after == now.end())) continue;
    if (before == running_values_.end() || after == now.end() || before->second != after->second) changed.push_back(key);
  }
  auto merged = config::merge_live(*current_.get(), checked.loaded->config, changed, started_);
  logging::Level level = level_;
  logging::parse_level(merged.config.logging.level, level);
  if (!merged.applied.empty()) {
    current_.replace(std::move(merged.config));
    if (on_applied_) on_applied_(*current_.get());
  }
  // What runs now: each applied key, with the secrets and bundles under it (they came or went with it).
  const auto under = [](const std::string& key, const std::string& applied) {
    return key == applied || (key.ends_with(" (contents)") &&
                              (key.starts_with(applied + "[") || key.starts_with(applied + ".")));
  };
  for (const auto& applied : merged.applied) {
    for (const auto& key : keys) {
      if (!under(key, applied)) continue;
      const auto after = now.find(key);
      if (after == now.end()) running_values_.erase(key);
      else running_values_[key] = after->second;
    }
  }
  // The outcome is said at the more verbose of the two levels: neither may hide it.
  const bool level_changed = level != level_;
  if (level_changed) logging::init(std::min(level, level_));
  if (!merged.waiting.empty())
    logging::warn("configuration changed: restart Gatehouse to apply these keys; until then they keep their running values",
                  {{"file", path_.string()}, {"keys", joined(merged.waiting)}});
  logging::info("configuration reloaded", {{"file", path_.string()},
                                          {"applied", merged.applied.empty() ? "nothing" : joined(merged.applied)},
                                          {"waiting_for_restart", merged.waiting.size()}});
  if (level_changed) {
    logging::init(level);
    level_ = level;
  }
}

} // namespace gatehouse::cli
