// cli: parses the command line and runs the chosen command.
#include "cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "config/config.hpp"
#include "logging/log.hpp"
#include "net/server.hpp"
#include "store/store.hpp"

namespace gatehouse::cli {
namespace {

// Prints every configuration problem on its own line; returns the exit code for a bad config.
int report_config_error(const config::ConfigError& error, const std::string& path) {
  std::cerr << "gatehouse: " << path << " has " << error.issues().size()
            << (error.issues().size() == 1 ? " problem" : " problems") << ":\n";
  for (const auto& issue : error.issues()) std::cerr << issue.to_string() << "\n";
  return 1;
}

int check_config(const std::string& path) {
  try {
    auto loaded = config::load_file(path);
    for (const auto& warning : loaded.warnings) std::cerr << "warning: " << warning << "\n";
    std::cout << "configuration OK\n";
    return 0;
  } catch (const config::ConfigError& error) {
    return report_config_error(error, path);
  }
}

int serve(const std::string& path) {
  config::LoadResult loaded;
  try {
    loaded = config::load_file(path);
  } catch (const config::ConfigError& error) {
    return report_config_error(error, path);
  }
  const auto& config = loaded.config;
  logging::Level level = logging::Level::info;
  logging::parse_level(config.logging.level, level);
  logging::init(level);
  for (const auto& warning : loaded.warnings) logging::warn("configuration warning", {{"detail", warning}});
  try {
    auto store = store::Store::open(config.data_dir);
    logging::info("store ready", {{"path", store->database_path().string()}, {"schema_version", store->schema_version()}});
    net::Server server(config);
    return server.run();
  } catch (const std::exception& error) {
    logging::error("cannot start", {{"error", error.what()}});
    std::cerr << "gatehouse: cannot start: " << error.what() << "\n";
    return 1;
  }
}

} // namespace

int run(int argc, char** argv) {
  CLI::App app{"Gatehouse: single sign-on gateway for Home Assistant"};
  app.set_version_flag("--version", std::string("gatehouse ") + GATEHOUSE_VERSION);
  app.require_subcommand(1);

  std::string config_path;
  auto* serve_command = app.add_subcommand("serve", "Run the gateway in front of Home Assistant");
  serve_command->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  auto* check_command = app.add_subcommand("check-config", "Validate a configuration file and exit");
  check_command->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (serve_command->parsed()) return serve(config_path);
  if (check_command->parsed()) return check_config(config_path);
  return 2;
}

} // namespace gatehouse::cli
