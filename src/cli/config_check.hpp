// cli/config_check: owns checking a configuration file the way `check-config` does (the file's own
// problems, then every CA bundle it names, loaded as at start) and what SIGHUP does with the file: it is
// checked the same way; a file with problems leaves the running configuration as it is, and each problem
// is logged as check-config prints it. Otherwise each changed key that applies at once (config/current:
// logging, users, shield, local_login, trusted devices and clients, sign_in_choice, metrics,
// trusted_proxies, limits, timeouts, providers, header_identity) replaces the running one for the connections and requests that
// follow, and every other change — a top-level key of the file, or what a secret or CA file (or its
// environment variable) holds — is named in the log as waiting for a restart, keeping its running value. (The TLS listener's certificate files are read again by
// net/server on every SIGHUP, whatever this finds: a renewed certificate must not wait for a typo.)
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/current.hpp"
#include "logging/log.hpp"

namespace gatehouse::cli {

struct CheckedFile {
  std::optional<config::LoadResult> loaded; // set when the file has no problems
  std::vector<config::ConfigIssue> issues;
  std::vector<std::string> warnings;
};
CheckedFile check_file(const std::filesystem::path& path);

class ConfigReload {
public:
  // `running`: the configuration Gatehouse started with, as read from `path`; `current` is replaced by
  // each reload that applies something.
  ConfigReload(std::filesystem::path path, const config::LoadResult& running, logging::Level running_level,
               config::Current& current);
  // Reads the file again and logs the outcome; called on SIGHUP.
  void reload();
  // Runs after each reload that applied something, with the configuration now running: for what keeps
  // state tuned by it (budgets, counters). Empty: nothing.
  void on_applied(std::function<void(const config::Config&)> hook) { on_applied_ = std::move(hook); }

private:
  std::filesystem::path path_;
  std::map<std::string, std::string> running_values_; // what each top-level key and secret runs with
  logging::Level level_;
  const config::Started started_;
  config::Current& current_;
  std::function<void(const config::Config&)> on_applied_;
};

} // namespace gatehouse::cli
