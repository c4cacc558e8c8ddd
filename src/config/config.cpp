// config: owns turning the YAML file into one validated Config. The whole file is read before anything is
// reported, so every problem reaches the user at once, each with its key, line and what was expected.
// Secrets are read here (files, then environment) and never appear in an issue or a warning.
#include "config/config.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "config/secret_file.hpp"
#include "config/values.hpp"
#include "config/yaml_block.hpp"
#include "os/file_descriptor.hpp"

namespace gatehouse::config {
namespace {

constexpr const char* kHaTokenEnvironmentVariable = "GATEHOUSE_HA_TOKEN";
constexpr std::uint64_t kMaxWorkers = 64;
constexpr std::size_t kMaxProviderIdLength = 32;

// Every key the file may hold; unknown keys are errors, and these names feed the "did you mean" hints.
constexpr std::array<std::string_view, 22> kTopLevelKeys{
    "listen",   "external_url", "trusted_proxies", "data_dir",  "workers", "tls",         "home_assistant",
    "limits",   "timeouts",     "logging",         "providers", "users",   "shield",      "local_login",
    "local_login_networks", "trusted_devices", "trusted_clients", "scim", "header_identity", "client_discovery",
    "sign_in_choice", "metrics"};
constexpr std::array<std::string_view, 3> kClientDiscoveryKeys{"enabled", "networks", "ca_file"};
constexpr std::array<std::string_view, 2> kMetricsKeys{"enabled", "networks"};
constexpr std::array<std::string_view, 2> kTlsKeys{"cert_file", "key_file"};
constexpr std::array<std::string_view, 3> kHomeAssistantKeys{"url", "ca_file", "token_file"};
constexpr std::array<std::string_view, 13> kLimitsKeys{
    "max_header_bytes",       "max_body_bytes",         "max_connections",         "max_connections_per_address",
    "max_websocket_message_bytes", "max_pending_logins", "max_pending_logins_per_address",
    "max_pending_logins_per_network", "token_checks_per_minute", "token_check_burst", "max_concurrent_token_checks",
    "audited_refusals_per_address"};
constexpr std::array<std::string_view, 5> kTimeoutsKeys{"header_read", "idle_keepalive", "upstream_connect",
                                                         "upstream_response", "shutdown_grace"};
constexpr std::array<std::string_view, 2> kLoggingKeys{"level", "audit_keep_days"};
constexpr std::array<std::string_view, 5> kLogLevels{"trace", "debug", "info", "warn", "error"};
// Keys of one item of the `providers:` list.
constexpr std::array<std::string_view, 12> kProviderKeys{
    "id", "name", "issuer", "client_id", "client_secret_file", "client_auth", "scopes", "ca_file", "algorithms",
    "userinfo", "logout", "revalidate"};
constexpr std::array<std::string_view, 8> kUsersKeys{
    "username_claim",    "name_claim",   "groups_claim",  "roles",
    "deny_without_role", "default_role", "link_existing", "link_claim"};
constexpr std::array<std::string_view, 3> kRolesKeys{"admin", "user", "read_only"};
constexpr std::array<std::string_view, 4> kShieldKeys{"mode", "public_paths", "local_files", "websocket_passthrough"};
constexpr std::array<std::string_view, 2> kShieldModes{"enforce", "report"};
constexpr std::array<std::string_view, 3> kLocalLoginModes{"disabled", "allowed", "networks"};
// Keys of one item of the `trusted_devices:` list.
constexpr std::array<std::string_view, 4> kTrustedDeviceKeys{"name", "networks", "user", "role"};
// Keys of one item of the `trusted_clients:` list.
constexpr std::array<std::string_view, 3> kTrustedClientKeys{"client_id", "redirect_uris", "name"};
constexpr std::array<std::string_view, 8> kScimKeys{"token_file",  "requests_per_minute", "burst",
                                                    "match_attribute", "match_claim", "roles_from_groups",
                                                    "on_deactivate", "provider"};
constexpr std::array<std::string_view, 5> kHeaderIdentityKeys{"proxies", "username_header", "groups_header",
                                                              "name_header", "assertion"};
constexpr std::array<std::string_view, 6> kAssertionKeys{"header", "issuer", "audience", "jwks_uri", "ca_file",
                                                         "algorithms"};
// Headers whose meaning is fixed elsewhere: naming one as an identity header would take it from HA or the
// shield.
constexpr std::array<std::string_view, 10> kReservedHeaders{
    "authorization", "cookie", "host", "connection", "upgrade", "content-length", "transfer-encoding",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"};
constexpr std::array<std::string_view, 2> kScimOnDeactivate{"deactivate", "delete"};
constexpr std::array<std::string_view, 2> kScimMatchAttributes{"userName", "externalId"};
// A bearer token shorter than this is guessable by anyone who can reach /scim/v2.
constexpr std::size_t kMinScimTokenLength = 32;
constexpr std::array<std::string_view, 2> kClientAuthMethods{"client_secret_basic", "client_secret_post"};
constexpr std::array<std::string_view, 2> kProviderLogouts{"local", "idp"};
constexpr std::array<std::string_view, 2> kDefaultRoles{"read_only", "user"};
constexpr std::array<std::string_view, 3> kLinkExistingModes{"off", "claim", "username"};
// Asymmetric JWS algorithms an ID token may be signed with; also the default allowlist. "none" and the
// HMAC ones (HS256, ...) are never accepted: an HMAC key is the client secret, which is not the IdP's alone.
constexpr std::array<std::string_view, 10> kIdTokenAlgorithms{"RS256", "RS384", "RS512", "PS256", "PS384",
                                                               "PS512", "ES256", "ES384", "ES512", "EdDSA"};

struct BlockKeys {
  std::string_view path; // "" for the top level
  std::span<const std::string_view> keys;
};
// "providers" stands for every item of that list (providers[0], providers[1], ...).
constexpr std::array<BlockKeys, 17> kSchema{{{"", kTopLevelKeys},
                                            {"tls", kTlsKeys},
                                            {"home_assistant", kHomeAssistantKeys},
                                            {"limits", kLimitsKeys},
                                            {"timeouts", kTimeoutsKeys},
                                            {"logging", kLoggingKeys},
                                            {"providers", kProviderKeys},
                                            {"users", kUsersKeys},
                                            {"users.roles", kRolesKeys},
                                            {"shield", kShieldKeys},
                                            {"trusted_devices", kTrustedDeviceKeys},
                                            {"trusted_clients", kTrustedClientKeys},
                                            {"scim", kScimKeys},
                                            {"header_identity", kHeaderIdentityKeys},
                                            {"header_identity.assertion", kAssertionKeys},
                                            {"client_discovery", kClientDiscoveryKeys},
                                            {"metrics", kMetricsKeys}}};

// "limits.max_body_bytes", ...: lets a key written in the wrong block be pointed to its home.
std::span<const std::string_view> every_key_path() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> result;
    for (const auto& block : kSchema) {
      for (const auto key : block.keys) {
        result.push_back(block.path.empty() ? std::string(key) : std::string(block.path) + "." + std::string(key));
      }
    }
    return result;
  }();
  static const std::vector<std::string_view> views(paths.begin(), paths.end());
  return views;
}

// What each kind of value looks like, for "expected ..., got a list" when the YAML type is wrong.
constexpr std::string_view kExpectSize = "a size like 1048576, \"16MiB\" or \"1GiB\"";
constexpr std::string_view kExpectDuration = "a duration like \"500ms\", \"10s\", \"5m\" or \"1h\"";
constexpr std::string_view kExpectUrl = "an http:// or https:// URL like \"https://ha.example.com\"";
constexpr std::string_view kExpectListen = "host:port like \"0.0.0.0:8123\" or \"[::]:8123\"";
constexpr std::string_view kExpectPath = "a file or folder path";
constexpr std::string_view kExpectBool = "true or false";
constexpr std::string_view kExpectIssuer = "an https:// URL like \"https://idp.example.com/realms/main\"";
constexpr std::string_view kExpectProviderId =
    "an id of 1 to 32 characters: lowercase letters, digits, \"_\" and \"-\", starting with a letter or digit";

std::vector<std::string_view> keys(std::span<const std::string_view> names) { return {names.begin(), names.end()}; }

std::string trimmed(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kWhitespace);
  return std::string(text.substr(first, last - first + 1));
}

std::string joined_names(std::span<const std::string_view> names) {
  std::string text;
  for (const auto name : names) text += (text.empty() ? "" : ", ") + std::string(name);
  return text;
}

bool is_provider_id(std::string_view id) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  return !id.empty() && id.size() <= kMaxProviderIdLength && id.front() != '_' && id.front() != '-' &&
         std::all_of(id.begin(), id.end(), allowed);
}

// GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET: the id uppercased, '-' as '_' (environment names allow no '-').
std::string provider_secret_variable(std::string_view id) {
  std::string name = "GATEHOUSE_PROVIDER_";
  for (const char c : id) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name + "_CLIENT_SECRET";
}

// Client secrets are often 32 random characters, below looks_like_inline_secret's cut-off for tokens; a
// bare name (no '/') of 16 or more characters with a digit in it is therefore not echoed either.
bool may_be_pasted_client_secret(std::string_view text) {
  if (looks_like_inline_secret(text)) return true;
  return text.find('/') == std::string_view::npos && text.size() >= 16 &&
         std::any_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// The secret travels form-encoded in a request body or an Authorization header; a line break or another
// control character inside means the file holds something else (or two lines).
bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// The token ends up in an Authorization header: whitespace or control characters inside would break it.
bool is_single_token(std::string_view token) {
  return std::none_of(token.begin(), token.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

// Whether a non-secret file (a certificate) can be opened, and its mode; checked at start so a wrong path
// is a config error rather than a failed TLS handshake later.
struct FileCheck {
  std::string error;
  unsigned permissions = 0;
};

FileCheck check_readable_file(const std::filesystem::path& path) {
  FileCheck check;
  const os::FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!file.is_open()) {
    check.error = std::strerror(errno);
    return check;
  }
  struct stat status {};
  if (::fstat(file.get(), &status) != 0) {
    check.error = std::strerror(errno);
  } else if (S_ISDIR(status.st_mode)) {
    check.error = "it is a directory, not a file";
  } else if (!S_ISREG(status.st_mode)) {
    check.error = "it is not a regular file";
  } else {
    check.permissions = status.st_mode & 0777u;
  }
  return check;
}

// "listen: 0.0.0.0:" - a key, then a value that itself ends in ':'.
bool colon_value_ends_with_colon(const std::string& line, std::size_t last) {
  if (last == std::string::npos || line[last] != ':') return false;
  const auto separator = line.find(": ");
  return separator != std::string::npos && separator + 1 < last;
}

// YAML syntax errors are terse; name the most common cause where it is recognisable.
std::string syntax_hint(const std::string& yaml, int line) {
  std::istringstream lines(yaml);
  std::string text;
  for (int current = 1; std::getline(lines, text); ++current) {
    if (current != line) continue;
    const auto colon = text.find(": [");
    if (colon != std::string::npos && text.find("]:", colon) != std::string::npos) {
      return "; a value starting with \"[\" must be quoted, e.g. listen: \"[::]:8123\"";
    }
    if (text.find('\t') != std::string::npos) return "; indent with spaces, not tabs";
    const auto last = text.find_last_not_of(" \r");
    if (colon_value_ends_with_colon(text, last)) return "; a value ending in \":\" must be quoted";
    return {};
  }
  return {};
}

class ConfigReader {
public:
  ConfigReader(std::filesystem::path origin, std::filesystem::path base_dir)
      : origin_(std::move(origin)), base_dir_(std::move(base_dir)) {}

  LoadResult read(const std::string& yaml) {
    LoadResult result;
    result.config.source_file = origin_;

    YAML::Node root;
    try {
      root = YAML::Load(yaml);
    } catch (const YAML::Exception& error) {
      const int line = error.mark.line >= 0 ? error.mark.line + 1 : 0;
      fail({origin_.string(), line, "YAML syntax error: " + error.msg + syntax_hint(yaml, line)});
    }
    if (root.IsNull()) {
      fail({origin_.string(), 0,
            "the file is empty; it needs at least external_url, data_dir and home_assistant.url"});
    }
    if (!root.IsMap()) {
      fail({origin_.string(), line_of(root),
            "expected keys like \"external_url: https://ha.example.com\" at the top level, got " +
                describe_found(root)});
    }

    const YamlBlock top(root, "", 0, keys(kTopLevelKeys), every_key_path(), issues_);
    Config& config = result.config;
    read_listen(top, config);
    read_external_url(top, config);
    read_trusted_proxies(top, config);
    read_data_dir(top, config);
    read_workers(top, config);
    read_tls(top, config);
    read_home_assistant(top, config);
    read_limits(top, config);
    read_timeouts(top, config);
    read_logging(top, config);
    read_providers(top, config);
    read_users(top, config);
    read_shield(top, config);
    read_header_identity(top, config);
    read_local_login(top, config);
    read_trusted_devices(top, config);
    read_trusted_clients(top, config);
    read_client_discovery(top, config);
    read_metrics(top, config);
    if (const BlockEntry* entry = top.find("sign_in_choice"))
      if (const auto choice = boolean(*entry)) config.sign_in_choice = *choice;
    read_scim(top, config);
    scim_source(top, config);
    header_identity_with_scim(top, config);
    require_token_for_providers(top, config);

    if (!issues_.empty()) throw ConfigError(std::move(issues_));
    result.warnings = std::move(warnings_);
    return result;
  }

private:
  int scim_provider_line_ = 0; // where scim.provider was written, for its issue
  [[noreturn]] void fail(ConfigIssue issue) { throw ConfigError({std::move(issue)}); }

  void issue(std::string key, int line, std::string message) {
    issues_.push_back({std::move(key), line, std::move(message)});
  }

  void missing(const YamlBlock& block, std::string_view key, std::string_view advice) {
    issue(block.path_of(key), block.line(), "required key is missing; " + std::string(advice));
  }

  // The text of a scalar value, or an issue naming what was expected instead of a list, block or nothing.
  std::optional<std::string> scalar(const BlockEntry& entry, std::string_view expected) {
    if (entry.value.IsScalar()) return entry.value.Scalar();
    issue(entry.path, entry.line, "expected " + std::string(expected) + ", got " + describe_found(entry.value));
    return std::nullopt;
  }

  // A nested block, or nullopt (with an issue) when the key holds something else. Null counts as an empty
  // block so a block whose keys are all commented out keeps its defaults.
  std::optional<YamlBlock> block(const YamlBlock& parent, std::string_view key,
                                 std::span<const std::string_view> allowed) {
    const BlockEntry* entry = parent.find(key);
    if (!entry) return std::nullopt;
    if (!entry->value.IsMap() && !entry->value.IsNull()) {
      std::string names;
      for (const auto name : allowed) names += (names.empty() ? "" : ", ") + std::string(name);
      issue(entry->path, entry->line,
            "expected a block of keys (" + names + ") indented below it, got " + describe_found(entry->value));
      return std::nullopt;
    }
    return YamlBlock(entry->value, entry->path, entry->line, keys(allowed), every_key_path(), issues_);
  }

  template <typename T>
  std::optional<T> take(const BlockEntry& entry, const Parsed<T>& parsed) {
    if (!parsed.value) issue(entry.path, entry.line, parsed.problem);
    return parsed.value;
  }

  std::optional<std::filesystem::path> path_value(const BlockEntry& entry) {
    const auto text = scalar(entry, kExpectPath);
    if (!text) return std::nullopt;
    // open() reads a C string: a NUL inside would silently name a different file.
    if (text->empty() || text->find('\0') != std::string::npos) {
      issue(entry.path, entry.line, "expected " + std::string(kExpectPath) + ", got " + quoted_value(*text));
      return std::nullopt;
    }
    std::filesystem::path path(*text);
    if (path.is_relative()) path = base_dir_ / path;
    return path.lexically_normal();
  }

  // How a path is shown in messages: as written, plus where it resolved to when that differs.
  static std::string shown_path(const std::string& written, const std::filesystem::path& resolved) {
    return written == resolved.string() ? quoted_value(written)
                                        : quoted_value(written) + " (resolved to " + resolved.string() + ")";
  }

  // A secret file's path that cannot be read is shown only when its directory exists (a typo in the file
  // name): otherwise it may be the secret itself, pasted in place of a path (base64 holds '/'), and these
  // messages reach the log on a reload.
  static bool may_show_secret_path(const std::filesystem::path& resolved) {
    std::error_code ignored;
    return std::filesystem::is_directory(resolved.parent_path(), ignored);
  }

  void read_listen(const YamlBlock& top, Config& config) {
    config.listen.host = "0.0.0.0";
    config.listen.port = 8123;
    const BlockEntry* entry = top.find("listen");
    if (!entry) return;
    if (entry->value.IsSequence()) {
      // `listen: [::]:8123` without quotes does not even parse; `listen: [::]` parses as a list.
      issue(entry->path, entry->line,
            "expected " + std::string(kExpectListen) + ", got a list; quote IPv6 addresses, e.g. listen: \"[::]:8123\"");
      return;
    }
    if (const auto text = scalar(*entry, kExpectListen)) {
      if (auto listen = take(*entry, parse_listen_address(*text))) config.listen = std::move(*listen);
    }
  }

  void read_external_url(const YamlBlock& top, Config& config) {
    const BlockEntry* entry = top.find("external_url");
    if (!entry) {
      missing(top, "external_url",
              "add the URL browsers use to reach Gatehouse, e.g. \"external_url: https://ha.example.com\"");
      return;
    }
    if (const auto text = scalar(*entry, kExpectUrl)) {
      if (auto origin = take(*entry, parse_http_origin(*text))) config.external_url = origin->url;
    }
  }

  void read_trusted_proxies(const YamlBlock& top, Config& config) {
    if (const BlockEntry* entry = top.find("trusted_proxies")) config.trusted_proxies = network_list(*entry);
  }

  // A list of IP addresses or CIDR networks; each bad item is an issue of its own.
  std::vector<net::IpNetwork> network_list(const BlockEntry& entry) {
    std::vector<net::IpNetwork> networks;
    if (entry.value.IsNull()) return networks;
    if (!entry.value.IsSequence()) {
      issue(entry.path, entry.line,
            "expected a list of IP addresses or networks like [10.0.0.0/8, 127.0.0.1], got " +
                describe_found(entry.value));
      return networks;
    }
    for (const auto& item : entry.value) {
      const int line = line_of(item) != 0 ? line_of(item) : entry.line;
      if (!item.IsScalar()) {
        issue(entry.path, line, "expected an IP address or network like 10.0.0.0/8 in the list, got " + describe_found(item));
        continue;
      }
      const auto parsed = parse_ip_network(item.Scalar());
      if (parsed.value) networks.push_back(*parsed.value);
      else issue(entry.path, line, parsed.problem);
    }
    return networks;
  }

  void read_data_dir(const YamlBlock& top, Config& config) {
    const BlockEntry* entry = top.find("data_dir");
    if (!entry) {
      missing(top, "data_dir",
              "add the folder for Gatehouse's database, e.g. \"data_dir: /var/lib/gatehouse\"");
      return;
    }
    if (auto path = path_value(*entry)) config.data_dir = std::move(*path);
  }

  void read_workers(const YamlBlock& top, Config& config) {
    const BlockEntry* entry = top.find("workers");
    if (!entry) return;
    const std::string expected = "\"auto\" or a whole number from 1 to " + std::to_string(kMaxWorkers);
    const auto text = scalar(*entry, expected);
    if (!text) return;
    if (*text == "auto") {
      config.workers = 0;
      return;
    }
    const auto count = parse_count(*text, 1, kMaxWorkers);
    if (!count.value) {
      issue(entry->path, entry->line, "expected " + expected + ", got " + quoted_value(*text));
      return;
    }
    config.workers = static_cast<unsigned>(*count.value);
  }

  void read_tls(const YamlBlock& top, Config& config) {
    const auto tls = block(top, "tls", kTlsKeys);
    if (!tls) return;

    TlsListener listener;
    bool complete = true;
    const auto read_file_key = [&](std::string_view key, std::string_view what, bool is_private_key)
        -> std::optional<std::filesystem::path> {
      const BlockEntry* file_entry = tls->find(key);
      if (!file_entry) {
        issue(tls->path_of(key), tls->line(),
              "required when tls is set; add the path of the " + std::string(what) +
                  " (or remove the tls block to serve plain HTTP)");
        return std::nullopt;
      }
      const auto path = path_value(*file_entry);
      if (!path) return std::nullopt;
      const auto check = check_readable_file(*path);
      if (!check.error.empty()) {
        issue(file_entry->path, file_entry->line,
              "cannot read " + shown_path(file_entry->value.Scalar(), *path) + ": " + check.error);
        return std::nullopt;
      }
      // Only world access is flagged: a key shared with a group (Debian's ssl-cert, 0640) is deliberate.
      if (is_private_key && (check.permissions & 007) != 0) {
        warnings_.push_back(file_entry->path + ": " + path->string() + " is readable by all users; chmod 600 it");
      }
      return path;
    };
    if (auto cert = read_file_key("cert_file", "PEM certificate (chain)", false)) {
      listener.cert_file = std::move(*cert);
    } else {
      complete = false;
    }
    if (auto key = read_file_key("key_file", "PEM private key", true)) {
      listener.key_file = std::move(*key);
    } else {
      complete = false;
    }
    if (complete) config.tls = std::move(listener);
  }

  void read_home_assistant(const YamlBlock& top, Config& config) {
    if (!top.find("home_assistant")) {
      missing(top, "home_assistant",
              "add a \"home_assistant:\" block with \"url: http://127.0.0.1:8124\" indented below it");
      return;
    }
    const auto home_assistant = block(top, "home_assistant", kHomeAssistantKeys);
    if (!home_assistant) return;

    if (const BlockEntry* url_entry = home_assistant->find("url")) {
      if (const auto text = scalar(*url_entry, kExpectUrl)) {
        if (auto origin = take(*url_entry, parse_http_origin(*text))) {
          config.home_assistant.url = origin->url;
          config.home_assistant.host = origin->host;
          config.home_assistant.port = origin->port;
          config.home_assistant.tls = origin->tls;
        }
      }
    } else {
      missing(*home_assistant, "url", "add Home Assistant's own address, e.g. \"url: http://127.0.0.1:8124\"");
    }
    if (const BlockEntry* entry = home_assistant->find("ca_file")) {
      if (!config.home_assistant.url.empty() && !config.home_assistant.tls) {
        issue(entry->path, entry->line,
              "a CA is only used for HTTPS, and url is " + config.home_assistant.url +
                  ": write url as https://... if HA serves TLS, or remove ca_file");
      } else {
        config.home_assistant.ca_file = readable_file(*entry);
      }
    }

    read_home_assistant_token(*home_assistant, config);
  }

  void read_home_assistant_token(const YamlBlock& home_assistant, Config& config) {
    const char* environment_value = std::getenv(kHaTokenEnvironmentVariable);
    const bool environment_set = environment_value != nullptr && !trimmed(environment_value).empty();
    if (environment_value != nullptr && !environment_set) {
      warnings_.push_back(std::string(kHaTokenEnvironmentVariable) + " is set but empty; ignoring it");
    }

    const BlockEntry* entry = home_assistant.find("token_file");
    if (!entry) {
      if (!environment_set) return;
      const std::string token = trimmed(environment_value);
      if (!is_single_token(token)) {
        issue(kHaTokenEnvironmentVariable, 0,
              "the token contains spaces or control characters; expected one long-lived access token");
        return;
      }
      config.home_assistant.token = token;
      return;
    }

    std::string shown;
    const auto token = token_in_file(*entry, "Put the token in a file and name that file here, or set " +
                                                 std::string(kHaTokenEnvironmentVariable), shown);
    if (!token) return;
    if (!is_single_token(*token)) {
      issue(entry->path, entry->line,
            "the token in " + shown + " contains spaces or control characters; expected one long-lived access token");
      return;
    }
    if (environment_set) {
      warnings_.push_back(entry->path + " and " + kHaTokenEnvironmentVariable + " are both set; using the file");
    }
    config.home_assistant.token = *token;
  }

  // The token in the file `entry` names (`shown`: that file, as messages name it), or nullopt once the
  // problem is reported. `pasted_advice` ends the message when the value looks like the token itself.
  std::optional<std::string> token_in_file(const BlockEntry& entry, const std::string& pasted_advice, std::string& shown) {
    const auto path = path_value(entry);
    if (!path) return std::nullopt;
    const std::string& written = entry.value.Scalar();
    const auto read = read_secret_file(*path);
    if (!read.value) {
      if (looks_like_inline_secret(written))
        issue(entry.path, entry.line,
              "expected the path of a file holding the token; the value looks like a token itself (not shown). " +
                  pasted_advice);
      else if (!may_show_secret_path(*path))
        issue(entry.path, entry.line,
              "cannot read the file named here (not shown: its directory does not exist, and it may be the token "
              "itself): " + read.error + ". " + pasted_advice);
      else
        issue(entry.path, entry.line, "cannot read " + shown_path(written, *path) + ": " + read.error);
      return std::nullopt;
    }
    if (const auto warning = secret_permission_warning(entry.path, *path, read)) warnings_.push_back(*warning);
    shown = shown_path(written, *path);
    return read.value;
  }

  void read_size(const YamlBlock& limits, std::string_view key, std::uint64_t minimum, auto& field) {
    const BlockEntry* entry = limits.find(key);
    if (!entry) return;
    const auto text = scalar(*entry, kExpectSize);
    if (!text) return;
    if (const auto bytes = take(*entry, parse_byte_size(*text, minimum))) {
      using Field = std::remove_reference_t<decltype(field)>;
      if (*bytes > std::numeric_limits<Field>::max()) {
        issue(entry->path, entry->line, "expected a smaller size, got " + quoted_value(*text) + ", which is too large");
        return;
      }
      field = static_cast<Field>(*bytes);
    }
  }

  void read_limits(const YamlBlock& top, Config& config) {
    const auto limits = block(top, "limits", kLimitsKeys);
    if (!limits) return;
    read_size(*limits, "max_header_bytes", 1024, config.limits.max_header_bytes);
    if (config.limits.max_header_bytes > kMaxHeaderBytesCeiling)
      issue(limits->find("max_header_bytes")->path, limits->find("max_header_bytes")->line,
            "expected at most 64KiB: Gatehouse's HTTP reader holds at most 65,533 bytes in one header, and Home "
            "Assistant itself reads at most 24,570 bytes per header line");
    read_size(*limits, "max_body_bytes", 1, config.limits.max_body_bytes);
    read_size(*limits, "max_websocket_message_bytes", 1, config.limits.max_websocket_message_bytes);
    read_count(*limits, "max_connections", 1, config.limits.max_connections);
    read_count(*limits, "max_connections_per_address", 1, config.limits.max_connections_per_address);
    read_count(*limits, "max_pending_logins", 1, config.limits.max_pending_logins);
    read_count(*limits, "max_pending_logins_per_address", 1, config.limits.max_pending_logins_per_address);
    read_count(*limits, "max_pending_logins_per_network", 1, config.limits.max_pending_logins_per_network);
    read_count(*limits, "token_checks_per_minute", 1, config.limits.token_checks_per_minute);
    read_count(*limits, "token_check_burst", 1, config.limits.token_check_burst);
    read_count(*limits, "max_concurrent_token_checks", 1, config.limits.max_concurrent_token_checks);
    read_count(*limits, "audited_refusals_per_address", 0, config.limits.audited_refusals_per_address);
  }

  // A whole number of at least `minimum`, up to what `field` holds.
  void read_count(const YamlBlock& limits, std::string_view key, std::uint64_t minimum, auto& field) {
    const BlockEntry* entry = limits.find(key);
    if (!entry) return;
    using Field = std::remove_reference_t<decltype(field)>;
    const std::uint64_t maximum = std::numeric_limits<Field>::max();
    const std::string expected = maximum == std::numeric_limits<std::uint64_t>::max()
                                     ? "a whole number of at least " + std::to_string(minimum)
                                     : "a whole number from " + std::to_string(minimum) + " to " + std::to_string(maximum);
    if (const auto text = scalar(*entry, expected)) {
      if (const auto count = take(*entry, parse_count(*text, minimum, maximum))) field = static_cast<Field>(*count);
    }
  }

  void read_duration(const YamlBlock& timeouts, std::string_view key, std::chrono::milliseconds& field) {
    const BlockEntry* entry = timeouts.find(key);
    if (!entry) return;
    if (const auto text = scalar(*entry, kExpectDuration)) {
      if (const auto duration = take(*entry, parse_duration(*text))) field = *duration;
    }
  }

  void read_timeouts(const YamlBlock& top, Config& config) {
    const auto timeouts = block(top, "timeouts", kTimeoutsKeys);
    if (!timeouts) return;
    read_duration(*timeouts, "header_read", config.timeouts.header_read);
    read_duration(*timeouts, "idle_keepalive", config.timeouts.idle_keepalive);
    read_duration(*timeouts, "upstream_connect", config.timeouts.upstream_connect);
    read_duration(*timeouts, "upstream_response", config.timeouts.upstream_response);
    read_duration(*timeouts, "shutdown_grace", config.timeouts.shutdown_grace);
  }

  void read_logging(const YamlBlock& top, Config& config) {
    const auto logging = block(top, "logging", kLoggingKeys);
    if (!logging) return;
    read_count(*logging, "audit_keep_days", 1, config.logging.audit_keep_days);
    const BlockEntry* entry = logging->find("level");
    if (!entry) return;
    const std::string expected = "one of trace, debug, info, warn, error";
    const auto text = scalar(*entry, expected);
    if (!text) return;
    if (std::find(kLogLevels.begin(), kLogLevels.end(), *text) != kLogLevels.end()) {
      config.logging.level = *text;
      return;
    }
    std::string message = "expected " + expected + ", got " + quoted_value(*text);
    if (const auto close = closest_match(*text, kLogLevels)) message += "; did you mean " + quoted_value(*close) + "?";
    issue(entry->path, entry->line, std::move(message));
  }

  // ------------------------------------------------------------------------------------------ shared helpers

  // A scalar that is not empty or blank (claim names, client ids, labels).
  std::optional<std::string> non_empty_string(const BlockEntry& entry, std::string_view expected) {
    auto text = scalar(entry, expected);
    if (!text) return std::nullopt;
    if (trimmed(*text).empty()) {
      issue(entry.path, entry.line, "expected " + std::string(expected) + ", got " + quoted_value(*text));
      return std::nullopt;
    }
    return text;
  }

  std::optional<bool> boolean(const BlockEntry& entry) {
    const auto text = scalar(entry, kExpectBool);
    if (!text) return std::nullopt;
    return take(entry, parse_bool(*text));
  }

  // One of `choices`, or an issue listing them (with a "did you mean" when one is close).
  std::optional<std::string> choice(const BlockEntry& entry, std::span<const std::string_view> choices,
                                    std::string_view hint = {}) {
    const std::string expected = "one of " + joined_names(choices);
    const auto text = scalar(entry, expected);
    if (!text) return std::nullopt;
    if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return text;
    std::string message = "expected " + expected + ", got " + quoted_value(*text);
    if (const auto close = closest_match(*text, choices)) {
      message += "; did you mean " + quoted_value(*close) + "?";
    } else if (!hint.empty()) {
      message += "; " + std::string(hint);
    }
    issue(entry.path, entry.line, std::move(message));
    return std::nullopt;
  }

  struct ListItem {
    std::string text;
    int line = 0;
  };

  // A YAML list of non-empty strings, with each item's line; nothing (`key:`) is an empty list. Issues for
  // a value that is not a list and for each item that is not a non-empty string; nullopt after any of them.
  std::optional<std::vector<ListItem>> string_list(const BlockEntry& entry, std::string_view example) {
    std::vector<ListItem> items;
    if (entry.value.IsNull()) return items;
    if (!entry.value.IsSequence()) {
      issue(entry.path, entry.line,
            "expected a list like " + std::string(example) + ", got " + describe_found(entry.value));
      return std::nullopt;
    }
    bool valid = true;
    for (const auto& item : entry.value) {
      const int line = line_of(item) != 0 ? line_of(item) : entry.line;
      if (!item.IsScalar() || trimmed(item.Scalar()).empty()) {
        issue(entry.path, line, "expected a non-empty name in the list, got " + describe_found(item));
        valid = false;
        continue;
      }
      items.push_back({item.Scalar(), line});
    }
    if (!valid) return std::nullopt;
    return items;
  }

  // ------------------------------------------------------------------------------------------ providers

  // Provider id -> the path and line of the provider that has it.
  using SeenIds = std::map<std::string, std::pair<std::string, int>, std::less<>>;
  // GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET -> the id of the provider that took its secret from it.
  using SecretVariables = std::map<std::string, std::string, std::less<>>;

  void read_providers(const YamlBlock& top, Config& config) {
    const BlockEntry* entry = top.find("providers");
    if (!entry || entry->value.IsNull()) return;
    if (!entry->value.IsSequence()) {
      issue(entry->path, entry->line,
            "expected a list of providers, each starting with \"- id: ...\" and its keys (" +
                joined_names(kProviderKeys) + ") indented below, got " + describe_found(entry->value));
      return;
    }
    SeenIds ids;
    SecretVariables secret_variables;
    std::size_t index = 0;
    for (const auto& item : entry->value) {
      // Items are named by their 0-based position in the list: providers[0], providers[1], ...
      const std::string path = entry->path + "[" + std::to_string(index++) + "]";
      const int line = line_of(item) != 0 ? line_of(item) : entry->line;
      if (!item.IsMap()) {
        issue(path, line,
              "expected a provider: a block of keys (" + joined_names(kProviderKeys) + "), got " +
                  describe_found(item));
        continue;
      }
      const YamlBlock provider_block(item, path, line, keys(kProviderKeys), every_key_path(), issues_);
      config.providers.push_back(read_provider(provider_block, ids, secret_variables));
    }
  }

  Provider read_provider(const YamlBlock& block, SeenIds& ids, SecretVariables& secret_variables) {
    Provider provider;
    bool id_valid = false; // well-formed, so the secret's environment variable has a name (even if a duplicate)
    if (const BlockEntry* entry = block.find("id")) {
      if (const auto text = scalar(*entry, kExpectProviderId)) {
        if (!is_provider_id(*text)) {
          issue(entry->path, entry->line,
                "expected " + std::string(kExpectProviderId) + ", got " + quoted_value(*text));
        } else {
          provider.id = *text;
          id_valid = true;
          if (const auto earlier = ids.find(*text); earlier != ids.end()) {
            issue(entry->path, entry->line,
                  quoted_value(*text) + " is already the id of " + earlier->second.first + " (line " +
                      std::to_string(earlier->second.second) + "); each provider needs its own id");
          } else {
            ids.emplace(*text, std::make_pair(block.path(), entry->line));
          }
        }
      }
    } else {
      missing(block, "id", "add a short name for this provider, e.g. \"id: main\"");
    }

    if (const BlockEntry* entry = block.find("name")) {
      if (auto name = non_empty_string(*entry, "a label for the sign-in page, like \"Example IdP\"")) {
        provider.name = std::move(*name);
      }
    }
    if (provider.name.empty()) provider.name = provider.id;

    if (const BlockEntry* entry = block.find("issuer")) {
      if (const auto text = scalar(*entry, kExpectIssuer)) {
        if (auto issuer = take(*entry, parse_issuer_url(*text))) provider.issuer = std::move(*issuer);
      }
    } else {
      missing(block, "issuer", "add the IdP's issuer URL, e.g. \"issuer: https://idp.example.com/realms/main\"");
    }

    if (const BlockEntry* entry = block.find("client_id")) {
      if (auto client_id = non_empty_string(*entry, "the client id registered at the IdP, like \"gatehouse\"")) {
        provider.client_id = std::move(*client_id);
      }
    } else {
      missing(block, "client_id",
              "add the client id registered for Gatehouse at the IdP, e.g. \"client_id: gatehouse\"");
    }

    read_client_secret(block, id_valid ? std::optional<std::string>(provider.id) : std::nullopt, secret_variables,
                       provider);

    if (const BlockEntry* entry = block.find("client_auth")) {
      if (const auto method = choice(*entry, kClientAuthMethods)) {
        provider.client_auth =
            *method == "client_secret_post" ? ClientAuth::client_secret_post : ClientAuth::client_secret_basic;
      }
    }

    if (const BlockEntry* entry = block.find("scopes")) read_scopes(*entry, provider);

    if (const BlockEntry* entry = block.find("ca_file")) provider.ca_file = readable_file(*entry);
    provider.algorithms.assign(kIdTokenAlgorithms.begin(), kIdTokenAlgorithms.end());
    if (const BlockEntry* entry = block.find("algorithms")) read_algorithms(*entry, provider.algorithms);

    if (const BlockEntry* entry = block.find("userinfo")) {
      if (const auto userinfo = boolean(*entry)) provider.userinfo = *userinfo;
    }
    if (const BlockEntry* entry = block.find("logout")) {
      if (const auto logout = choice(*entry, kProviderLogouts))
        provider.logout = *logout == "idp" ? ProviderLogout::idp : ProviderLogout::local;
    }
    if (const BlockEntry* entry = block.find("revalidate")) {
      if (const auto text = scalar(*entry, kExpectDuration)) {
        if (const auto every = take(*entry, parse_duration(*text))) {
          if (*every < std::chrono::seconds(1))
            issue(entry->path, entry->line, "must be at least 1s (each re-validation asks the IdP), got " +
                                                quoted_value(*text));
          else
            provider.revalidate = *every;
        }
      }
    }
    return provider;
  }

  // From client_secret_file, else GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET (`id` is nullopt when the id itself
  // is missing or invalid, so the variable's name is not known). The secret never reaches a message.
  void read_client_secret(const YamlBlock& block, const std::optional<std::string>& id,
                          SecretVariables& secret_variables, Provider& provider) {
    const std::string variable =
        id ? provider_secret_variable(*id)
           : "GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET (<ID> being the provider's id uppercased, \"-\" as \"_\")";
    const char* environment_value = id ? std::getenv(variable.c_str()) : nullptr;
    const bool environment_set = environment_value != nullptr && !trimmed(environment_value).empty();

    const BlockEntry* entry = block.find("client_secret_file");
    if (!entry) {
      if (environment_value == nullptr) {
        missing(block, "client_secret_file",
                "add the path of a file holding the client secret, or set the environment variable " + variable);
        return;
      }
      if (!environment_set) {
        issue(variable, 0, "is set but empty; expected the client secret of " + block.path() + " (or set " +
                               block.path_of("client_secret_file") + ")");
        return;
      }
      const std::string secret = trimmed(environment_value);
      if (has_control_characters(secret)) {
        issue(variable, 0, "the client secret contains a line break or control characters; expected one secret");
        return;
      }
      // "a-b" and "a_b" are different ids with the same variable: they would silently share one secret.
      // (The same id twice is reported as a duplicate id already.)
      if (const auto other = secret_variables.find(variable); other != secret_variables.end()) {
        if (other->second != *id) {
          issue(block.path_of("id"), block.find("id")->line,
                "takes its client secret from " + variable + ", as provider " + quoted_value(other->second) +
                    " does; give one of them client_secret_file, or ids that differ in more than \"-\" and \"_\"");
        }
        return;
      }
      secret_variables.emplace(variable, *id);
      provider.client_secret = secret;
      return;
    }

    const auto path = path_value(*entry);
    if (!path) return;
    const std::string& written = entry->value.Scalar();
    const auto read = read_secret_file(*path);
    if (!read.value) {
      if (may_be_pasted_client_secret(written) || !may_show_secret_path(*path)) {
        issue(entry->path, entry->line,
              "cannot read the file named here (not shown, in case it is the client secret itself): " + read.error +
                  "; expected the path of a file holding the client secret, or set " + variable);
      } else {
        issue(entry->path, entry->line, "cannot read " + shown_path(written, *path) + ": " + read.error);
      }
      return;
    }
    if (has_control_characters(*read.value)) {
      issue(entry->path, entry->line,
            "the client secret in " + shown_path(written, *path) +
                " contains a line break or control characters; expected a file holding just the secret");
      return;
    }
    if (const auto warning = secret_permission_warning(entry->path, *path, read)) warnings_.push_back(*warning);
    if (environment_set) warnings_.push_back(entry->path + " and " + variable + " are both set; using the file");
    provider.client_secret = *read.value;
  }

  void read_scopes(const BlockEntry& entry, Provider& provider) {
    const auto items = string_list(entry, "[openid, profile, email, groups]");
    if (!items) return;
    if (items->empty()) {
      issue(entry.path, entry.line,
            "expected a list of scopes containing openid, like [openid, profile, email, groups]; got an empty list");
      return;
    }
    std::vector<std::string> scopes;
    bool valid = true;
    for (const auto& item : *items) {
      // Scopes go space-separated into the authorization request: one with a space would become two.
      if (std::any_of(item.text.begin(), item.text.end(),
                      [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '"' || c == '\\'; })) {
        issue(entry.path, item.line,
              "expected one scope per list item, without spaces, quotes or backslashes, got " +
                  quoted_value(item.text));
        valid = false;
        continue;
      }
      if (std::find(scopes.begin(), scopes.end(), item.text) == scopes.end()) scopes.push_back(item.text);
    }
    if (!valid) return;
    if (std::find(scopes.begin(), scopes.end(), "openid") == scopes.end()) {
      issue(entry.path, entry.line,
            "the scopes must include openid (without it the IdP returns no ID token), e.g. [openid, profile, email, "
            "groups]");
      return;
    }
    provider.scopes = std::move(scopes);
  }

  std::optional<std::filesystem::path> readable_file(const BlockEntry& entry) {
    const auto path = path_value(entry);
    if (!path) return std::nullopt;
    const auto check = check_readable_file(*path);
    if (check.error.empty()) return path;
    issue(entry.path, entry.line, "cannot read " + shown_path(entry.value.Scalar(), *path) + ": " + check.error);
    return std::nullopt;
  }

  void read_algorithms(const BlockEntry& entry, std::vector<std::string>& accepted) {
    const std::string allowed = joined_names(kIdTokenAlgorithms);
    const auto items = string_list(entry, "[RS256, ES256]");
    if (!items) return;
    if (items->empty()) {
      issue(entry.path, entry.line,
            "expected a list of one or more of " + allowed +
                "; got an empty list (leave the key out to accept all ten)");
      return;
    }
    std::vector<std::string> algorithms;
    bool valid = true;
    for (const auto& item : *items) {
      const std::string& name = item.text;
      if (std::find(kIdTokenAlgorithms.begin(), kIdTokenAlgorithms.end(), name) != kIdTokenAlgorithms.end()) {
        if (std::find(algorithms.begin(), algorithms.end(), name) == algorithms.end()) algorithms.push_back(name);
        continue;
      }
      valid = false;
      std::string upper = name;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (upper == "NONE") {
        issue(entry.path, item.line,
              quoted_value(name) + " is never accepted for ID tokens: an unsigned token proves nothing; use one of " +
                  allowed);
      } else if (upper.starts_with("HS")) {
        issue(entry.path, item.line,
              quoted_value(name) + " is never accepted for ID tokens: symmetric (HMAC) algorithms are keyed with the "
                                   "client secret, which is not the IdP's alone; use one of " + allowed);
      } else {
        std::string message = "expected one of " + allowed + ", got " + quoted_value(name);
        if (const auto close = closest_match(name, kIdTokenAlgorithms)) {
          message += "; did you mean " + quoted_value(*close) + "?";
        }
        issue(entry.path, item.line, std::move(message));
      }
    }
    if (valid) accepted = std::move(algorithms);
  }

  // ------------------------------------------------------------------------------------------ users

  void read_users(const YamlBlock& top, Config& config) {
    const auto users = block(top, "users", kUsersKeys);
    if (!users) return;
    Users& result = config.users;

    const auto read_claim = [&](std::string_view key, std::string& field) {
      const BlockEntry* entry = users->find(key);
      if (!entry) return;
      if (auto claim = non_empty_string(*entry, "the name of a claim, like \"" + field + "\"")) {
        field = std::move(*claim);
      }
    };
    read_claim("username_claim", result.username_claim);
    read_claim("name_claim", result.name_claim);
    read_claim("groups_claim", result.groups_claim);

    if (const auto roles = block(*users, "roles", kRolesKeys)) {
      const auto read_groups = [&](std::string_view key, std::vector<std::string>& field) {
        const BlockEntry* entry = roles->find(key);
        if (!entry) return;
        if (const auto items = string_list(*entry, "[ha-admins, family]")) {
          for (const auto& item : *items) field.push_back(item.text);
        }
      };
      read_groups("admin", result.admin_groups);
      read_groups("user", result.user_groups);
      read_groups("read_only", result.read_only_groups);
    }

    if (const BlockEntry* entry = users->find("deny_without_role")) {
      if (const auto deny = boolean(*entry)) result.deny_without_role = *deny;
    }

    if (const BlockEntry* entry = users->find("default_role")) {
      // admin is given only through users.roles.admin: an unknown user never becomes an administrator.
      if (const auto role = choice(*entry, kDefaultRoles, "admin is only given to members of users.roles.admin")) {
        result.default_role = *role == "user" ? Role::user : Role::read_only;
      }
    }

    if (const BlockEntry* entry = users->find("link_existing")) {
      // YAML 1.1 reads a bare `off` (and false, no) as a boolean false; all mean "off" here.
      const auto as_bool = entry->value.IsScalar() ? parse_bool(entry->value.Scalar()).value : std::nullopt;
      if (as_bool && !*as_bool) {
        result.link_existing = LinkExisting::off;
      } else if (const auto mode = choice(*entry, kLinkExistingModes)) {
        result.link_existing = *mode == "claim"      ? LinkExisting::claim
                               : *mode == "username" ? LinkExisting::username
                                                     : LinkExisting::off;
      }
    }
    read_claim("link_claim", result.link_claim);
  }

  // ------------------------------------------------------------------------------------------ shield

  // A public path pattern: "/exact/path" or "/prefix/*". Only plain path characters: a pattern that
  // needs escapes, dots or a '*' elsewhere would match differently from how HA routes.
  static bool is_public_path_pattern(std::string_view pattern) {
    if (pattern.size() < 2 || pattern.front() != '/') return false;
    if (pattern.ends_with("/*")) pattern.remove_suffix(1);
    if (pattern == "/") return false; // "/*" would make everything public
    for (const char c : pattern) {
      const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '.';
      if (!plain) return false;
    }
    return pattern.find("//") == std::string_view::npos && pattern.find("/.") == std::string_view::npos;
  }

  void read_shield(const YamlBlock& top, Config& config) {
    const auto shield = block(top, "shield", kShieldKeys);
    if (!shield) return;
    if (const BlockEntry* entry = shield->find("mode")) {
      if (const auto mode = choice(*entry, kShieldModes)) {
        config.shield.mode = *mode == "report" ? ShieldMode::report : ShieldMode::enforce;
      }
    }
    auto read_paths = [&](std::string_view key, std::string_view example, std::vector<std::string>& into) {
      const BlockEntry* entry = shield->find(key);
      if (!entry) return;
      const auto items = string_list(*entry, "[\"" + std::string(example) + "\"]");
      if (!items) return;
      for (const auto& item : *items) {
        if (is_public_path_pattern(item.text)) {
          into.push_back(item.text);
        } else {
          issue(entry->path, item.line,
                "expected a path like \"" + std::string(example) + "\" (a prefix ending in \"/*\") or an exact "
                "path, of letters, digits, '/', '_', '-' and '.', got " + quoted_value(item.text));
        }
      }
    };
    read_paths("public_paths", "/hacsfiles/*", config.shield.public_paths);
    read_paths("websocket_passthrough", "/api/hassio_ingress/*", config.shield.websocket_passthrough);
    for (const auto& path : config.shield.websocket_passthrough) {
      if (path == "/api/websocket" || path == "/api/*" || path == "/api/websocket/*")
        issue("shield.websocket_passthrough", shield->find("websocket_passthrough")->line,
              "HA's websocket API (/api/websocket) is always authenticated by Gatehouse and cannot be passed "
              "through; list add-on ingress paths such as \"/api/hassio_ingress/*\"");
    }
    if (const BlockEntry* entry = shield->find("local_files")) {
      if (const auto open = boolean(*entry)) config.shield.local_files = *open;
    }
  }

  // ------------------------------------------------------------------------------------------ local login

  void read_local_login(const YamlBlock& top, Config& config) {
    // HA's own password login stays open unless single sign-on gives people another way in.
    config.local_login = config.providers.empty() && !config.header_identity ? LocalLogin::allowed : LocalLogin::disabled;
    if (const BlockEntry* entry = top.find("local_login")) {
      // YAML 1.1 reads a bare `off`/`no` as false: that means disabled.
      const auto as_bool = entry->value.IsScalar() ? parse_bool(entry->value.Scalar()).value : std::nullopt;
      if (as_bool) {
        config.local_login = *as_bool ? LocalLogin::allowed : LocalLogin::disabled;
      } else if (const auto mode = choice(*entry, kLocalLoginModes)) {
        config.local_login = *mode == "allowed"    ? LocalLogin::allowed
                             : *mode == "networks" ? LocalLogin::networks
                                                   : LocalLogin::disabled;
      }
    }
    const BlockEntry* networks = top.find("local_login_networks");
    if (networks) config.local_login_networks = network_list(*networks);
    if (config.local_login == LocalLogin::networks && config.local_login_networks.empty()) {
      const BlockEntry* mode = top.find("local_login");
      const bool reported = std::any_of(issues_.begin(), issues_.end(),
                                        [](const ConfigIssue& existing) { return existing.key == "local_login_networks"; });
      if (!reported)
        issue("local_login_networks", networks ? networks->line : mode->line,
              "required with \"local_login: networks\": list the networks whose clients may use HA's own password "
              "login, e.g. [192.168.1.0/24]");
    }
  }

  // ------------------------------------------------------------------------------------------ trusted devices

  // What Gatehouse's usernames look like (users::clean_username): HA accepts them on every version.
  static bool is_ha_username(std::string_view name) {
    if (name.empty() || name.size() > 32) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
  }

  // Each item of the list of blocks under `key` (trusted_clients, trusted_devices), read by `read_item`;
  // a list that is not one, and items that are not blocks of `item_keys`, are reported here.
  template <class ReadItem>
  void read_block_list(const YamlBlock& top, std::string_view key, std::span<const std::string_view> item_keys,
                       std::string_view item_word, std::string_view list_example, ReadItem read_item) {
    const BlockEntry* entry = top.find(key);
    if (!entry || entry->value.IsNull()) return;
    if (!entry->value.IsSequence()) {
      issue(entry->path, entry->line,
            "expected a list of " + std::string(item_word) + "s, each like \"" + std::string(list_example) + "\", got " +
                describe_found(entry->value));
      return;
    }
    std::size_t index = 0;
    for (const auto& item : entry->value) {
      const std::string path = entry->path + "[" + std::to_string(index++) + "]";
      const int line = line_of(item) != 0 ? line_of(item) : entry->line;
      if (!item.IsMap()) {
        issue(path, line, "expected a " + std::string(item_word) + ": a block of keys (" + joined_names(item_keys) +
                              "), got " + describe_found(item));
        continue;
      }
      const YamlBlock block(item, path, line, keys(item_keys), every_key_path(), issues_);
      read_item(block);
    }
  }

  void read_trusted_clients(const YamlBlock& top, Config& config) {
    read_block_list(top, "trusted_clients", kTrustedClientKeys, "client",
                    "- { client_id: \\\"https://dashboard.example.com/\\\", redirect_uris: [\\\"https://dashboard.example.com/auth\\\"], name: Wall dashboard }",
                    [&](const YamlBlock& block) {
      TrustedClient client;
      if (const BlockEntry* id = block.find("client_id")) {
        if (auto text = non_empty_string(*id, "the client's client_id, like \"https://dashboard.example.com/\"")) {
          if (!text->starts_with("https://") && !text->starts_with("http://"))
            issue(id->path, id->line,
                  "expected the exact client_id the client sends, an http:// or https:// URL, got " + quoted_value(*text));
          else client.client_id = *text;
        }
      } else {
        missing(block, "client_id", "add the exact client_id the client sends, e.g. \"client_id: https://dashboard.example.com/\"");
      }
      if (const BlockEntry* uris = block.find("redirect_uris")) {
        if (auto items = string_list(*uris, "[\"https://dashboard.example.com/auth\"]")) {
          for (const auto& item : *items) {
            if (item.text.empty() || item.text.find("://") == std::string::npos)
              issue(uris->path, item.line, "expected the exact redirect_uri the client sends (an absolute URL), got " +
                                               quoted_value(item.text));
            else client.redirect_uris.push_back(item.text);
          }
          if (items->empty()) issue(uris->path, uris->line, "list at least one redirect_uri");
        }
      } else {
        // Written before redirect_uris existed: still loads (a start must not fail on an upgrade), but the
        // client is trusted for no address, so it gets the consent page until they are listed.
        warnings_.push_back(block.path_of("redirect_uris") +
                            " is missing: this client now gets the consent page. List the exact addresses its "
                            "sign-ins return to, e.g. \"redirect_uris: [https://dashboard.example.com/auth]\": HA "
                            "accepts any address on the client's host, and on a host many clients share (Alexa's, "
                            "Google's) anyone's client would get a code without the page");
      }
      if (const BlockEntry* name = block.find("name")) {
        if (auto text = non_empty_string(*name, "a name shown in the audit log, like \"Wall dashboard\"")) client.name = *text;
      }
      if (client.name.empty()) client.name = client.client_id;
      config.trusted_clients.push_back(std::move(client));
    });
  }

  void read_trusted_devices(const YamlBlock& top, Config& config) {
    read_block_list(top, "trusted_devices", kTrustedDeviceKeys, "device",
                    "- { name: kitchen-panel, networks: [192.168.1.50/32], user: kiosk-kitchen }", [&](const YamlBlock& block) {
      TrustedDevice device;
      if (const BlockEntry* name = block.find("name")) {
        if (auto text = non_empty_string(*name, "a name for the device, like \"kitchen-panel\"")) device.name = *text;
      } else {
        missing(block, "name", "add a name for the device, e.g. \"name: kitchen-panel\"");
      }
      if (const BlockEntry* networks = block.find("networks")) {
        device.networks = network_list(*networks);
        if (device.networks.empty() && networks->value.IsSequence())
          issue(networks->path, networks->line, "list at least one address or network, e.g. [192.168.1.50/32]");
      } else {
        missing(block, "networks", "add the device's address, e.g. \"networks: [192.168.1.50/32]\"");
      }
      if (const BlockEntry* user = block.find("user")) {
        if (auto text = non_empty_string(*user, "an HA username, like \"kiosk-kitchen\"")) {
          if (!is_ha_username(*text))
            issue(user->path, user->line,
                  "expected an HA username of lowercase letters, digits, '.', '_' and '-', got " + quoted_value(*text));
          else device.user = *text;
        }
      } else {
        missing(block, "user", "add the HA username the device signs in as, e.g. \"user: kiosk-kitchen\"");
      }
      if (const BlockEntry* role = block.find("role")) {
        // A device is signed in by its address alone: it never becomes an administrator.
        if (const auto text = choice(*role, kDefaultRoles, "a device is never made an administrator"))
          device.role = *text == "user" ? Role::user : Role::read_only;
      }
      config.trusted_devices.push_back(std::move(device));
    });
    if (!config.trusted_devices.empty())
      require_ha_token(config, top.find("trusted_devices")->line,
                       "required when trusted_devices are configured, since Gatehouse creates the devices' HA users");
  }

  // `why` Gatehouse needs the HA admin token; reported once, and not when the token is already reported.
  void require_ha_token(const Config& config, int line, std::string_view why) {
    if (!config.home_assistant.token.empty() ||
        std::any_of(issues_.begin(), issues_.end(), [](const ConfigIssue& existing) {
          return existing.key == "home_assistant.token_file" || existing.key == kHaTokenEnvironmentVariable;
        }))
      return;
    issue("home_assistant.token_file", line,
          std::string(why) + "; add the path of a file holding a long-lived access token of an HA administrator, or set " +
              std::string(kHaTokenEnvironmentVariable));
  }

  void read_scim(const YamlBlock& top, Config& config) {
    const auto scim = block(top, "scim", kScimKeys);
    if (!scim) return;
    Scim settings;
    read_count(*scim, "requests_per_minute", 1, settings.requests_per_minute);
    read_count(*scim, "burst", 1, settings.burst);
    if (const BlockEntry* attribute = scim->find("match_attribute"))
      if (const auto text = choice(*attribute, kScimMatchAttributes)) settings.match_attribute = *text;
    if (const BlockEntry* claim = scim->find("match_claim"))
      if (const auto text = scalar(*claim, "a claim name such as preferred_username, email or sub")) {
        if (text->empty()) issue(claim->path, claim->line, "expected a claim name such as preferred_username, email or sub");
        else settings.match_claim = *text;
      }
    if (const BlockEntry* source = scim->find("provider"))
      if (const auto named = non_empty_string(*source, "a provider's id, or header_identity")) {
        settings.provider = *named;
        scim_provider_line_ = source->line;
      }
    if (const BlockEntry* action = scim->find("on_deactivate"))
      if (const auto text = choice(*action, kScimOnDeactivate))
        settings.on_deactivate = *text == "delete" ? Scim::OnDeactivate::delete_user : Scim::OnDeactivate::deactivate;
    if (const BlockEntry* roles = scim->find("roles_from_groups"))
      if (const auto from_groups = boolean(*roles)) {
        settings.roles_from_groups = *from_groups;
        const auto& named = config.users;
        if (*from_groups && named.admin_groups.empty() && named.user_groups.empty() && named.read_only_groups.empty())
          issue(roles->path, roles->line,
                "roles from SCIM Groups need users.roles: name the SCIM Groups (their displayName) whose members get "
                "each role, for example users: { roles: { user: [ha-users] } }");
      }
    const BlockEntry* entry = scim->find("token_file");
    if (!entry) {
      missing(*scim, "token_file",
              "add the path of a file holding the bearer token your identity provider sends to /scim/v2 "
              "(make one with: openssl rand -hex 32 > scim-token; chmod 600 scim-token)");
      return;
    }
    std::string shown;
    const auto token = token_in_file(*entry, "Put the token in a file and name that file here", shown);
    if (!token) return;
    if (!is_single_token(*token) || token->size() < kMinScimTokenLength) {
      issue(entry->path, entry->line,
            "the token in " + shown + " must be one word of at least " + std::to_string(kMinScimTokenLength) +
                " characters (make one with: openssl rand -hex 32)");
      return;
    }
    settings.token = *token;
    config.scim = std::move(settings);
  }

  // A header name as HTTP defines it (RFC 9110 §5.1), not one whose meaning is fixed elsewhere.
  std::optional<std::string> header_name(const BlockEntry& entry) {
    auto text = non_empty_string(entry, "a header name, like X-authentik-username");
    if (!text) return std::nullopt;
    static constexpr std::string_view kTchar = "!#$%&'*+-.^_`|~";
    for (const char c : *text)
      if (!std::isalnum(static_cast<unsigned char>(c)) && kTchar.find(c) == std::string_view::npos) {
        issue(entry.path, entry.line, "expected a header name (letters, digits and -), got " + quoted_value(*text));
        return std::nullopt;
      }
    std::string lower = *text;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lower) != kReservedHeaders.end()) {
      issue(entry.path, entry.line, quoted_value(*text) + " already means something else to Gatehouse and HA; name the "
                                    "header your proxy sets for the person, like X-authentik-username or Remote-User");
      return std::nullopt;
    }
    return text;
  }

  void read_header_identity(const YamlBlock& top, Config& config) {
    const auto identity = block(top, "header_identity", kHeaderIdentityKeys);
    if (!identity) return;
    HeaderIdentity settings;
    if (const BlockEntry* proxies = identity->find("proxies")) {
      settings.proxies = network_list(*proxies);
      if (settings.proxies.empty() && proxies->value.IsSequence())
        issue(proxies->path, proxies->line, "list the addresses of the proxies that set the headers, e.g. [10.0.0.5/32]");
      for (const auto& network : settings.proxies)
        if (network.prefix_length() == 0)
          issue(proxies->path, proxies->line,
                "a network of every address would let anyone name themselves; list only the proxies' addresses");
    } else {
      missing(*identity, "proxies",
              "add the addresses of the proxies that set the identity headers, e.g. \"proxies: [10.0.0.5/32]\": a header "
              "from anywhere else is never believed");
    }
    if (const auto assertion = block(*identity, "assertion", kAssertionKeys)) {
      settings.assertion = read_assertion(*assertion);
      // One source of the person: headers beside a signed token would be believed without its signature.
      for (const auto key : {"username_header", "groups_header", "name_header"})
        if (const BlockEntry* entry = identity->find(key))
          issue(entry->path, entry->line,
                "with an assertion the person, their name and groups come from its signed claims (users.username_claim, "
                "users.name_claim, users.groups_claim); remove " + std::string(key));
    } else if (const BlockEntry* username = identity->find("username_header")) {
      if (auto name = header_name(*username)) settings.username_header = *name;
    } else {
      missing(*identity, "username_header",
              "add the header that names the person, e.g. \"username_header: X-authentik-username\", or an \"assertion:\" "
              "block for a proxy that signs it (Cloudflare Access, Pomerium)");
    }
    for (auto [key, target] : {std::pair{"groups_header", &settings.groups_header}, std::pair{"name_header", &settings.name_header}})
      if (const BlockEntry* entry = identity->find(key); entry && !settings.assertion)
        if (auto name = header_name(*entry)) {
          for (const std::string* other : {&settings.username_header, &settings.groups_header})
            if (other != target && boost::beast::iequals(*other, *name))
              issue(entry->path, entry->line, "the same header cannot carry two things; name another header");
          *target = *name;
        }
    require_ha_token(config, top.find("header_identity")->line,
                     "required with header_identity, since Gatehouse creates and updates the HA users it signs in");
    config.header_identity = std::move(settings);
  }

  void read_client_discovery(const YamlBlock& top, Config& config) {
    const auto discovery = block(top, "client_discovery", kClientDiscoveryKeys);
    if (!discovery) return;
    if (const BlockEntry* entry = discovery->find("enabled"))
      if (const auto enabled = boolean(*entry)) config.client_discovery.enabled = *enabled;
    if (const BlockEntry* entry = discovery->find("networks")) {
      config.client_discovery.networks = network_list(*entry);
      for (const auto& network : config.client_discovery.networks)
        if (network.prefix_length() == 0)
          issue(entry->path, entry->line,
                "a network of every address would let anyone make Gatehouse fetch from your own network; list "
                "only where the apps' pages are, e.g. [192.168.1.20/32]");
    }
    if (const BlockEntry* entry = discovery->find("ca_file")) config.client_discovery.ca_file = readable_file(*entry);
  }

  void read_metrics(const YamlBlock& top, Config& config) {
    const auto metrics = block(top, "metrics", kMetricsKeys);
    if (!metrics) return;
    if (const BlockEntry* entry = metrics->find("enabled"))
      if (const auto enabled = boolean(*entry)) config.metrics.enabled = *enabled;
    if (const BlockEntry* entry = metrics->find("networks")) config.metrics.networks = network_list(*entry);
  }

  SignedAssertion read_assertion(const YamlBlock& block) {
    SignedAssertion assertion;
    if (const BlockEntry* entry = block.find("header")) {
      if (auto name = header_name(*entry)) assertion.header = *name;
    } else {
      missing(block, "header", "add the header the proxy signs, e.g. \"header: Cf-Access-Jwt-Assertion\"");
    }
    // Compared exactly, and not always a URL: Pomerium's is the route's host name by default.
    if (const BlockEntry* entry = block.find("issuer")) {
      if (auto issuer = non_empty_string(*entry, "the exact iss of the proxy's tokens, like https://your-team.cloudflareaccess.com"))
        assertion.issuer = std::move(*issuer);
    } else {
      missing(block, "issuer", "add the exact iss of the proxy's tokens, e.g. \"issuer: https://your-team.cloudflareaccess.com\"");
    }
    if (const BlockEntry* entry = block.find("jwks_uri")) {
      if (const auto text = scalar(*entry, kExpectIssuer))
        if (auto url = take(*entry, parse_issuer_url(*text))) assertion.jwks_uri = std::move(*url);
    } else {
      missing(block, "jwks_uri",
              "add where the proxy publishes its keys, e.g. \"jwks_uri: https://your-team.cloudflareaccess.com/cdn-cgi/access/certs\"");
    }
    if (const BlockEntry* entry = block.find("audience")) {
      if (auto audience = non_empty_string(*entry, "the audience the proxy signs for, like Cloudflare Access's AUD tag"))
        assertion.audience = std::move(*audience);
    } else {
      missing(block, "audience",
              "add the audience the proxy puts in aud (Cloudflare Access: the application's AUD tag): a token "
              "signed for another application must not pass");
    }
    if (const BlockEntry* entry = block.find("ca_file")) assertion.ca_file = readable_file(*entry);
    assertion.algorithms.assign(kIdTokenAlgorithms.begin(), kIdTokenAlgorithms.end());
    if (const BlockEntry* entry = block.find("algorithms")) read_algorithms(*entry, assertion.algorithms);
    return assertion;
  }

  // SCIM names a person by scim.match_claim; a header sign-in has only the username to match it with.
  void header_identity_with_scim(const YamlBlock& top, const Config& config) {
    if (!config.header_identity || !config.scim || config.scim->provider != Scim::kHeaderIdentitySource) return;
    if (config.header_identity->assertion) {
      // The proxy's token decides which claims exist: the claim SCIM matches on is said, not assumed.
      const YAML::Node& scim = top.find("scim")->value;
      if (scim.IsMap() && !scim["match_claim"])
        issue("scim.match_claim", top.find("scim")->line,
              "with header_identity.assertion, say which claim of the proxy's token names the SCIM User, e.g. "
              "\"match_claim: email\" (Cloudflare Access) — a token without it is refused, so SCIM can always cut "
              "its person off");
      return;
    }
    if (config.scim->match_claim == config.users.username_claim) return;
    issue("scim.match_claim", top.find("scim")->line,
          "with header_identity a person is known only by the username header, so SCIM must match on it: set "
          "scim.match_claim to " + config.users.username_claim + " (users.username_claim)");
  }

  // SCIM's Users are the people of one sign-in source (config::Scim::provider): named, or the only one.
  void scim_source(const YamlBlock& top, Config& config) {
    if (!config.scim) return;
    std::vector<std::string> sources;
    for (const auto& provider : config.providers) sources.push_back(provider.id);
    if (config.header_identity) sources.emplace_back(Scim::kHeaderIdentitySource);
    std::string listed;
    for (const auto& source : sources) listed += (listed.empty() ? "" : ", ") + source;
    auto& named = config.scim->provider;
    if (named.empty()) {
      if (sources.size() == 1) named = sources.front();
      else if (sources.size() > 1)
        issue("scim.provider", top.find("scim")->line,
              "SCIM's Users are the people of one sign-in source; with several (" + listed +
                  ") name the one your provisioning client describes, e.g. \"provider: " + sources.front() +
                  "\": a user of another could otherwise take a SCIM User's role by using its userName");
      return;
    }
    const auto count = std::count(sources.begin(), sources.end(), named);
    if (count == 1) return;
    issue("scim.provider", scim_provider_line_,
          count == 0 ? quoted_value(named) + " is no sign-in source here; expected one of: " +
                           (listed.empty() ? std::string("(none configured)") : listed)
                     : "a provider's id is header_identity, which also names header_identity's sign-ins: give that "
                       "provider another id");
    named.clear();
  }

  // Signing users in means creating and updating HA users, which takes the admin token.
  void require_token_for_providers(const YamlBlock& top, const Config& config) {
    const BlockEntry* providers = top.find("providers");
    if (!providers || !providers->value.IsSequence() || providers->value.size() == 0) return;
    if (!config.home_assistant.token.empty()) return;
    const BlockEntry* home_assistant = top.find("home_assistant");
    // Missing, or not a block: already reported, with what to write instead.
    if (!home_assistant || !(home_assistant->value.IsMap() || home_assistant->value.IsNull())) return;
    const std::string key = "home_assistant.token_file";
    // A token file or GATEHOUSE_HA_TOKEN that is set but unusable has its own issue already.
    const bool reported = std::any_of(issues_.begin(), issues_.end(), [&](const ConfigIssue& existing) {
      return existing.key == key || existing.key == kHaTokenEnvironmentVariable;
    });
    if (reported) return;
    issue(key, home_assistant->line,
          "required when providers are configured, since Gatehouse creates and updates the HA users who sign in "
          "through them; add the path of a file holding a long-lived access token of an HA administrator, or set " +
              std::string(kHaTokenEnvironmentVariable));
  }

  std::filesystem::path origin_;
  std::filesystem::path base_dir_;
  std::vector<ConfigIssue> issues_;
  std::vector<std::string> warnings_;
};

std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string text;
  for (const auto& issue : issues) {
    if (!text.empty()) text += '\n';
    text += issue.to_string();
  }
  return text;
}

// File order reads best; problems without a line (missing top-level keys) come after those with one.
std::vector<ConfigIssue> in_file_order(std::vector<ConfigIssue> issues) {
  std::stable_sort(issues.begin(), issues.end(), [](const ConfigIssue& a, const ConfigIssue& b) {
    const auto rank = [](int line) { return line == 0 ? std::numeric_limits<int>::max() : line; };
    return rank(a.line) < rank(b.line);
  });
  return issues;
}

} // namespace

std::string ConfigIssue::to_string() const {
  if (line == 0) return key + ": " + message;
  return key + " (line " + std::to_string(line) + "): " + message;
}

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(in_file_order(issues))), issues_(in_file_order(std::move(issues))) {}

LoadResult load_file(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw ConfigError({{path.string(), 0, "cannot read the configuration file: it is a directory, not a file"}});
  }
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int reason = errno;
    throw ConfigError({{path.string(), 0,
                        "cannot read the configuration file: " +
                            std::string(reason != 0 ? std::strerror(reason) : "it could not be opened")}});
  }
  std::ostringstream content;
  content << file.rdbuf();
  if (file.bad()) {
    throw ConfigError({{path.string(), 0, "cannot read the configuration file: read error"}});
  }
  const auto base_dir = std::filesystem::absolute(path, error).parent_path();
  auto result = ConfigReader(path, base_dir.empty() ? std::filesystem::current_path() : base_dir).read(content.str());
  result.text = content.str();
  return result;
}

LoadResult load_text(const std::string& yaml, const std::filesystem::path& origin) {
  return ConfigReader(origin, std::filesystem::current_path()).read(yaml);
}

} // namespace gatehouse::config
