// cli: parses the command line and runs the chosen command.
#include "cli/cli.hpp"
#include "cli/config_check.hpp"
#include "cli/doctor.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "config/config.hpp"
#include "config/current.hpp"
#include "logging/log.hpp"
#include "hass/admin_connection.hpp"
#include "net/server.hpp"
#include "people/people_page.hpp"
#include "oidc/provider.hpp"
#include "scim/people.hpp"
#include "scim/resources.hpp"
#include "scim/service.hpp"
#include "sessions/app_webhooks.hpp"
#include "sessions/cut_off.hpp"
#include "shield/break_glass.hpp"
#include "shield/shield.hpp"
#include "sso/sign_in.hpp"
#include "front_door/front_door.hpp"
#include "users/directory.hpp"
#include "users/master_key.hpp"
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

// The configuration, or nullopt after printing every problem in it (the command then exits 1).
std::optional<config::LoadResult> load_or_report(const std::string& path) {
  try {
    return config::load_file(path);
  } catch (const config::ConfigError& error) {
    report_config_error(error, path);
    return std::nullopt;
  }
}

int check_config(const std::string& path) {
  const auto checked = check_file(path);
  for (const auto& warning : checked.warnings) std::cerr << "warning: " << warning << "\n";
  if (!checked.loaded) return report_config_error(config::ConfigError(checked.issues), path);
  std::cout << "configuration OK\n";
  return 0;
}

// Each provider's discovery once, on its own thread, while Gatehouse starts serving: a discovery document
// that names another issuer than providers[].issuer is a configuration mistake the operator should read
// in the log at start, not learn from the first person who cannot sign in. An IdP that is down delays
// nothing; sign-ins discover again on their own.
class DiscoveryAtStart {
public:
  explicit DiscoveryAtStart(const std::vector<config::Provider>& providers) {
    for (const auto& provider : providers)
      boost::asio::co_spawn(io_, check(std::make_shared<oidc::Provider>(provider)), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~DiscoveryAtStart() {
    io_.stop();
    thread_.join();
  }
  DiscoveryAtStart(const DiscoveryAtStart&) = delete;
  DiscoveryAtStart& operator=(const DiscoveryAtStart&) = delete;

private:
  static boost::asio::awaitable<void> check(std::shared_ptr<oidc::Provider> provider) {
    const auto discovered = co_await provider->metadata();
    const std::string& id = provider->config().id;
    if (discovered)
      logging::info("identity provider discovered", {{"provider", id}, {"issuer", discovered.value->issuer}});
    else if (discovered.failure.kind == oidc::OidcFailure::Kind::misconfigured)
      logging::warn("identity provider misconfigured: nobody can sign in through it until providers[].issuer or "
                    "the IdP's issuer is corrected",
                    {{"provider", id}, {"detail", discovered.failure.reason}});
    else
      logging::warn("identity provider not reachable at start; sign-ins will try again",
                    {{"provider", id}, {"detail", discovered.failure.reason}});
  }

  boost::asio::io_context io_{1};
  std::thread thread_;
};

int serve(const std::string& path) {
  auto loaded = load_or_report(path);
  if (!loaded) return 1;
  const auto& config = loaded->config;
  logging::Level level = logging::Level::info;
  logging::parse_level(config.logging.level, level);
  logging::init(level);
  for (const auto& warning : loaded->warnings) logging::warn("configuration warning", {{"detail", warning}});
  // What each request and background step reads (config/current); a reload replaces it. `config` stays
  // the configuration at start, for what only a restart changes.
  config::Current current(config);
  ConfigReload reload(path, *loaded, level, current);
  try {
    auto store = store::Store::open(config.data_dir);
    logging::info("store ready", {{"path", store->database_path().string()}, {"schema_version", store->schema_version()}});
    sessions::CutOffs cut_offs(*store);
    std::optional<scim::Resources> scim_resources;
    std::optional<scim::People> scim_people;
    std::optional<scim::Service> scim_service;
    if (config.scim) {
      scim_resources.emplace(*store);
      if (!config.providers.empty() || config.header_identity)
        scim_people.emplace(*store, *config.scim, current, *scim_resources);
      scim_service.emplace(*config.scim, config.external_url, *scim_resources, scim_people ? &*scim_people : nullptr);
    }
    scim::Service* scim_api = scim_service ? &*scim_service : nullptr;
    if (!config::sign_in_on(config)) {
      shield::Shield shield(current, *store, cut_offs);
      front_door::FrontDoor door(current, *store, shield, nullptr, cut_offs, scim_api);
      net::Server server(config, current, door);
      server.on_reload([&reload] { reload.reload(); });
      reload.on_applied([&shield](const config::Config& running) { shield.retune(running); });
      const int code = server.run();
      reload.on_applied({});
      return code;
    }
    // Single sign-on (or trusted devices): the admin connection to HA must work before anyone is signed in.
    const auto master_key = users::MasterKey::load_or_create(config.data_dir);
    hass::AdminConnection admin(config.home_assistant);
    admin.start();
    const auto status = admin.wait_first_outcome(std::chrono::seconds(10));
    if (status == hass::AdminStatus::token_rejected || status == hass::AdminStatus::not_admin) {
      std::cerr << "gatehouse: cannot start: " << admin.status_message() << "\n";
      return 1;
    }
    if (status != hass::AdminStatus::ready)
      logging::warn("Home Assistant is not reachable yet; sign-ins wait for it", {{"detail", admin.status_message()}});
    users::Directory directory(*store, admin, current, master_key,
                               scim_people ? config.scim->match_claim : std::string());
    sso::SignIn sign_in(config, current, *store, directory, cut_offs, scim_people ? &*scim_people : nullptr);
    shield::Shield shield(current, *store, cut_offs);
    if (const auto version = admin.ha_version(); !version.empty()) shield.note_ha_version(version);
    sign_in.learn_tokens_into(shield.tokens());
    sessions::AppWebhooks app_webhooks(*store, cut_offs);
    sign_in.learn_webhooks_into(app_webhooks);
    const DiscoveryAtStart discovery(config.providers);
    people::PeoplePage people_page(config, *store, admin, shield.tokens());
    front_door::FrontDoor door(current, *store, shield, &sign_in, cut_offs, scim_api, &app_webhooks, &people_page);
    net::Server server(config, current, door);
    server.on_reload([&reload] { reload.reload(); });
    reload.on_applied([&shield, &sign_in](const config::Config& running) {
      shield.retune(running);
      sign_in.retune(running);
    });
    const int code = server.run();
    reload.on_applied({});
    admin.stop();
    return code;
  } catch (const std::exception& error) {
    logging::error("cannot start", {{"error", error.what()}});
    std::cerr << "gatehouse: cannot start: " << error.what() << "\n";
    return 1;
  }
}

// "2026-11-22T10:00:00Z", "2026-11-22" (UTC), or a duration back from now: "30m", "2h", "7d".
std::optional<std::int64_t> parse_since(const std::string& text) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front())) &&
      std::string("smhd").find(text.back()) != std::string::npos && text.find('-') == std::string::npos) {
    std::size_t used = 0;
    long long amount = 0;
    try {
      amount = std::stoll(text, &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (used != text.size() - 1 || amount < 0) return std::nullopt;
    const long long unit = text.back() == 's' ? 1 : text.back() == 'm' ? 60 : text.back() == 'h' ? 3600 : 86400;
    return store::now_unix_ms() - amount * unit * 1000;
  }
  std::tm parts{};
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &parts);
  if (!end) end = ::strptime(text.c_str(), "%Y-%m-%d", &parts);
  if (!end || !(*end == '\0' || (*end == 'Z' && end[1] == '\0'))) return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&parts)) * 1000;
}

int audit(const std::string& path, const std::string& since, const std::string& user, bool as_json) {
  auto loaded = load_or_report(path);
  if (!loaded) return 1;
  std::optional<std::int64_t> since_ms;
  if (!since.empty()) {
    since_ms = parse_since(since);
    if (!since_ms) {
      std::cerr << "gatehouse: --since expects a time like 2026-11-22T10:00:00Z or 2026-11-22, or a duration "
                   "like 30m, 2h or 7d; got '"
                << since << "'\n";
      return 2;
    }
  }
  try {
    auto store = store::Store::open(loaded->config.data_dir);
    const auto entries = store->audit(since_ms, user.empty() ? std::nullopt : std::optional<std::string>(user), 100000);
    for (const auto& entry : entries) {
      if (as_json) {
        boost::system::error_code ec;
        auto detail = boost::json::parse(entry.detail, ec);
        boost::json::object line{{"at", gatehouse::store::iso_time(entry.at_unix_ms)}, {"event", entry.event},
                                 {"user", entry.subject},         {"client", entry.client_address},
                                 {"detail", ec ? boost::json::value(entry.detail) : detail}};
        std::cout << boost::json::serialize(line) << "\n";
      } else {
        std::cout << gatehouse::store::iso_time(entry.at_unix_ms) << "  " << entry.event << "  " << (entry.subject.empty() ? "-" : entry.subject)
                  << "  " << (entry.client_address.empty() ? "-" : entry.client_address) << "  " << entry.detail << "\n";
      }
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "gatehouse: cannot read the audit log: " << error.what() << "\n";
    return 1;
  }
}

int breakglass(const std::string& path, std::optional<int> minutes, std::optional<int> seconds, bool close) {
  auto loaded = load_or_report(path);
  if (!loaded) return 1;
  const auto& config = loaded->config;
  try {
    auto store = store::Store::open(config.data_dir);
    if (close) {
      const int closed = shield::close_break_glass(*store);
      std::cout << (closed == 0 ? "No break-glass link was open.\n"
                                : "Closed " + std::to_string(closed) + " break-glass link(s): local login is shut again.\n");
      return 0;
    }
    const auto lifetime = seconds ? std::chrono::seconds(*seconds) : std::chrono::minutes(minutes.value_or(15));
    const auto grant = shield::open_break_glass(*store, config.external_url, lifetime);
    std::cout << "Open this URL in the browser that needs Home Assistant's own login (it works once, for one "
                 "browser):\n\n  " << grant.url << "\n\nIt expires at " << gatehouse::store::iso_time(grant.expires_at_ms)
              << ". Close it early with: gatehouse breakglass -c " << path << " --close\n";
    if (config.local_login == config::LocalLogin::allowed)
      std::cout << "Note: local_login is \"allowed\" in " << path << ", so local login is open to everyone anyway.\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "gatehouse: cannot open break-glass: " << error.what() << "\n";
    return 1;
  }
}

int cut_off(const std::string& path, const std::string& who, bool lift) {
  auto loaded = load_or_report(path);
  if (!loaded) return 1;
  try {
    auto store = store::Store::open(loaded->config.data_dir);
    const auto person = sessions::find_person(*store, who);
    if (!person) {
      std::cerr << "gatehouse: nobody who signed in through Gatehouse has the HA username or user id \"" << who
                << "\" (gatehouse audit -c " << path << " lists who signed in)\n";
      return 1;
    }
    if (lift) {
      if (sessions::request_lift(*store, *person, "console").outcome != sessions::LiftAsked::asked) {
        std::cout << (sessions::still_cut_off(*store, person->ha_user_id) ? person->username + " has a lift on its way.\n"
                                                                          : person->username + " is not cut off.\n");
        return 0;
      }
      // The serving process applies it (their HA user active again first): a bounded wait for it.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      bool lifted = false;
      while (!(lifted = !sessions::still_cut_off(*store, person->ha_user_id)) && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (lifted)
        std::cout << "Lifted the cut-off of " << person->username << ": their HA user is active again and they can "
                     "sign in again. The sessions it ended stay ended.\n";
      else
        std::cout << "The lift of " << person->username << " is asked for; Gatehouse has not applied it yet (is it "
                     "running? is HA reachable?). Until then they stay cut off.\n";
      return 0;
    }
    const auto held_before = sessions::cut_off_holders(*store, person->ha_user_id);
    const auto asked = sessions::request_cut_off(*store, *person, "console", "");
    if (asked != sessions::CutOffAsked::cut_off) {
      std::string others;
      for (const auto& holder : held_before)
        if (holder != "console") others += (others.empty() ? "" : ", ") + holder;
      if (asked == sessions::CutOffAsked::joined)
        std::cout << person->username << " was already cut off (by " << others
                  << "); the console's cut-off holds them now too, so only the console can lift it: ";
      else
        std::cout << person->username << " is already cut off. Lift it with: ";
      std::cout << "gatehouse cut-off -c " << path << " --lift " << person->username << "\n";
      return 0;
    }
    std::cout << "Cutting off " << person->username << " (HA user " << person->ha_user_id << ")...\n";
    // The serving process applies it within a second (sessions::CutOffTiming::poll); a bounded wait says whether it did.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    std::optional<sessions::AppliedCutOff> applied;
    while (!(applied = sessions::applied_cut_off(*store, person->ha_user_id)) && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!applied) {
      std::cout << "Gatehouse has not applied it yet (is it running with data_dir " << loaded->config.data_dir.string()
                << "?). It applies it as soon as it runs.\n";
      return 0;
    }
    std::cout << "Done in " << (applied->applied_at_ms - applied->requested_at_ms) << " ms: "
              << applied->websockets_closed << " websocket(s) closed; their access tokens are refused at the door, "
              << "their next refresh gets invalid_grant, and signing in is refused until: gatehouse cut-off -c " << path
              << " --lift " << person->username << "\n";
    // HA's own sessions take HA's login flow and websocket: a longer, still bounded wait.
    const auto ha_give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (applied && applied->ha_sessions_ended_at_ms == 0 && std::chrono::steady_clock::now() < ha_give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      applied = sessions::applied_cut_off(*store, person->ha_user_id);
    }
    using HaUser = sessions::HaUserAfterCutOff;
    const auto then = [&](HaUser user) {
      switch (user) {
        case HaUser::deactivated: return "Their HA user is deactivated, so HA refuses every token of theirs.";
        case HaUser::inactive_already: return "Their HA user was inactive in HA already (an admin's doing; a lift leaves it so).";
        case HaUser::gone: return "Their HA user no longer exists in HA.";
        case HaUser::kept_active: break;
      }
      return "HA keeps their user active (the owner cannot be deactivated); Gatehouse refuses them in front of HA.";
    };
    if (applied && applied->ha_sessions_ended_at_ms != 0 && applied->ha_user == HaUser::gone)
      std::cout << "HA has no user " << person->username << " any more (deleted in HA): nothing there to end. "
                << "Gatehouse refuses them in front of HA, and their next sign-in gets no new HA user until a lift.\n";
    else if (applied && applied->ha_sessions_ended_at_ms != 0 && !applied->ha_sessions_left.empty())
      std::cout << "HA's own sessions of " << person->username << " could not be ended one by one ("
                << applied->ha_sessions_left << "). " << then(applied->ha_user)
                << " A lift keeps the sessions Gatehouse knows ended.\n";
    else if (applied && applied->ha_sessions_ended_at_ms != 0)
      std::cout << "HA's own sessions of " << person->username << " ended in "
                << (applied->ha_sessions_ended_at_ms - applied->requested_at_ms) << " ms: HA closed its websockets of "
                << "them, and their refresh tokens are gone. " << then(applied->ha_user) << "\n";
    else
      std::cout << "HA's own sessions of " << person->username << " are not ended yet; Gatehouse keeps trying "
                << "(gatehouse audit -c " << path << " --user " << person->username << " says why).\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "gatehouse: cannot cut off " << who << ": " << error.what() << "\n";
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

  std::string since;
  std::string user;
  bool as_json = false;
  auto* audit_command = app.add_subcommand("audit", "Print the audit log (logins, refusals, users created...)");
  audit_command->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  audit_command->add_option("--since", since, "Only entries since a time (2026-11-22T10:00:00Z) or for a duration (2h, 7d)");
  audit_command->add_option("--user", user, "Only entries about this HA username");
  audit_command->add_flag("--json", as_json, "One JSON object per line");

  std::optional<int> minutes;
  std::optional<int> seconds;
  bool close = false;
  auto* breakglass_command = app.add_subcommand(
      "breakglass", "Print a one-time URL that opens Home Assistant's own login for one browser");
  breakglass_command->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  auto* minutes_option = breakglass_command->add_option("--minutes", minutes, "How long it stays open (default 15)")
                             ->check(CLI::Range(1, 1440));
  breakglass_command->add_option("--seconds", seconds, "How long it stays open, in seconds (for drills and tests)")
      ->check(CLI::Range(5, 86400))
      ->excludes(minutes_option);
  breakglass_command->add_flag("--close", close, "Close every open break-glass link now");

  auto* doctor_command = app.add_subcommand(
      "doctor", "Check a live setup end to end (Home Assistant, its proxy settings, the admin token, each IdP, "
                "certificates) and say what to fix");
  doctor_command->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();

  std::string who;
  bool lift = false;
  auto* cut_off_command = app.add_subcommand(
      "cut-off", "Cut a person off at once: close their websockets, refuse their tokens and their sign-ins");
  cut_off_command->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  cut_off_command->add_option("user", who, "Their HA username (or HA user id)")->required();
  cut_off_command->add_flag("--lift", lift, "Let them sign in again (the sessions the cut-off ended stay ended)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (serve_command->parsed()) return serve(config_path);
  if (check_command->parsed()) return check_config(config_path);
  if (audit_command->parsed()) return audit(config_path, since, user, as_json);
  if (breakglass_command->parsed()) return breakglass(config_path, minutes, seconds, close);
  if (cut_off_command->parsed()) return cut_off(config_path, who, lift);
  if (doctor_command->parsed()) {
    const auto loaded = load_or_report(config_path);
    return loaded ? doctor(loaded->config, std::cout) : 1;
  }
  return 2;
}

} // namespace gatehouse::cli
