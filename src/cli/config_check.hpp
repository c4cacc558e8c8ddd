// cli/config_check: owns checking a configuration file the way `check-config` does (the file's own
// problems, then every CA bundle it names, loaded as at start) and what SIGHUP does with the file: it is
// checked the same way; a file with problems changes nothing and each problem is logged as check-config
// prints it; logging.level applies at once (the TLS listener's certificate files are read again by
// net/server); every other changed top-level key is named in the log as waiting for a restart.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "logging/log.hpp"

namespace gatehouse::cli {

struct CheckedFile {
  std::optional<config::LoadResult> loaded; // set when the file has no problems
  std::vector<config::ConfigIssue> issues;
};
CheckedFile check_file(const std::filesystem::path& path);

class ConfigReload {
public:
  // `running_text`: the file as it was when the running configuration was read from it.
  ConfigReload(std::filesystem::path path, std::string running_text, logging::Level running_level);
  // Reads the file again and logs the outcome; called on SIGHUP.
  void reload();

private:
  std::filesystem::path path_;
  std::string running_text_;
  logging::Level level_;
};

// The file's text, or "" when it cannot be read (its problems are then said by check_file).
std::string read_text(const std::filesystem::path& path);

} // namespace gatehouse::cli
