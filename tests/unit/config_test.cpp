// Tests for config: loading and validating the YAML file (every key, its defaults and its bad values), the
// wording users see (key, line, what was expected, what was found), secret files and the environment
// fallback, plus the value parsers (config/values) and secret-file reader (config/secret_file) behind them.
#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <random>

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <sstream>
#include <thread>

#include "config/current.hpp"
#include "config/secret_file.hpp"
#include "config/values.hpp"
#include "config/yaml_block.hpp"

namespace gatehouse::config {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

::testing::AssertionResult text_contains(const char* text_expression, const char* part_expression,
                                         const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expression << " does not contain " << part_expression
                                       << "\n  text: " << text << "\n  part: " << part;
}

::testing::AssertionResult text_lacks(const char* text_expression, const char* part_expression,
                                      const std::string& text, const std::string& part) {
  if (text.find(part) == std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expression << " contains " << part_expression
                                       << "\n  text: " << text;
}

#define EXPECT_CONTAINS(text, part) EXPECT_PRED_FORMAT2(text_contains, text, part)
#define EXPECT_NOT_CONTAINS(text, part) EXPECT_PRED_FORMAT2(text_lacks, text, part)

constexpr const char* kTokenVariable = "GATEHOUSE_HA_TOKEN";
constexpr const char* kToken = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLWZvci10ZXN0cw.s3cr3t-signature";

// The three required keys; tests append to it, so appended lines start at line 5.
const std::string kMinimal =
    "external_url: https://ha.example.com\n"
    "data_dir: /var/lib/gatehouse\n"
    "home_assistant:\n"
    "  url: http://127.0.0.1:8124\n";

class ConfigTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::random_device random;
    directory_ = fs::temp_directory_path() / ("gatehouse-test-" + std::to_string(random()));
    fs::create_directories(directory_);
    if (const char* saved = std::getenv(kTokenVariable)) saved_token_ = saved;
    ::unsetenv(kTokenVariable);
  }

  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
    if (saved_token_) {
      ::setenv(kTokenVariable, saved_token_->c_str(), 1);
    } else {
      ::unsetenv(kTokenVariable);
    }
    for (auto it = saved_environment_.rbegin(); it != saved_environment_.rend(); ++it) {
      if (it->second) {
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        ::unsetenv(it->first.c_str());
      }
    }
  }

  // Sets (or with nullopt, unsets) a variable for this test only; TearDown puts the old value back.
  void set_environment(const std::string& name, const std::optional<std::string>& value) {
    const char* before = std::getenv(name.c_str());
    saved_environment_.emplace_back(name, before ? std::optional<std::string>(before) : std::nullopt);
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }

  fs::path write_file(const std::string& name, const std::string& content, fs::perms permissions = fs::perms::owner_read |
                                                                                                     fs::perms::owner_write) {
    const fs::path path = directory_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
    fs::permissions(path, permissions);
    return path;
  }

  // Loads text expected to be wrong and returns its issues (failing the test when it loads).
  static std::vector<ConfigIssue> issues_of(const std::string& yaml) {
    try {
      load_text(yaml);
    } catch (const ConfigError& error) {
      return error.issues();
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
    return {};
  }

  static ConfigIssue single_issue(const std::string& yaml) {
    const auto issues = issues_of(yaml);
    EXPECT_EQ(issues.size(), 1u) << joined(issues);
    return issues.empty() ? ConfigIssue{} : issues.front();
  }

  static std::string joined(const std::vector<ConfigIssue>& issues) {
    std::string text;
    for (const auto& issue : issues) text += issue.to_string() + "\n";
    return text;
  }

  // One bad value appended to the minimal file: its single issue.
  static ConfigIssue issue_for(const std::string& extra) { return single_issue(kMinimal + extra); }

  static Config config_for(const std::string& extra) { return load_text(kMinimal + extra).config; }

  fs::path directory_;
  std::optional<std::string> saved_token_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_environment_;
};

// ---------------------------------------------------------------------------------------------- whole file

TEST_F(ConfigTest, LoadsAFullValidFile) {
  const auto cert = write_file("tls/cert.pem", "-----BEGIN CERTIFICATE-----\n");
  const auto key = write_file("tls/key.pem", "-----BEGIN PRIVATE KEY-----\n");
  const auto token = write_file("ha-token", std::string("\n  ") + kToken + "\n\n");
  const auto ha_ca = write_file("ha-ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const auto config_path = write_file("gatehouse.yaml",
                                      "listen: 127.0.0.1:9000\n"
                                      "external_url: https://HA.Example.com/\n"
                                      "trusted_proxies: [10.0.0.0/8, 127.0.0.1, 'fd00::/8']\n"
                                      "data_dir: /var/lib/gatehouse\n"
                                      "workers: 4\n"
                                      "tls:\n"
                                      "  cert_file: " + cert.string() + "\n"
                                      "  key_file: " + key.string() + "\n"
                                      "home_assistant:\n"
                                      "  url: https://homeassistant.local:8443\n"
                                      "  ca_file: " + ha_ca.string() + "\n"
                                      "  token_file: " + token.string() + "\n"
                                      "limits:\n"
                                      "  max_header_bytes: 32KiB\n"
                                      "  max_body_bytes: 16MiB\n"
                                      "  max_connections: 100\n"
                                      "  max_websocket_message_bytes: 1048576\n"
                                      "timeouts:\n"
                                      "  header_read: 500ms\n"
                                      "  idle_keepalive: 2m\n"
                                      "  upstream_connect: 3\n"
                                      "  upstream_response: 1h\n"
                                      "  shutdown_grace: 15s\n"
                                      "logging:\n"
                                      "  level: debug\n");

  const auto result = load_file(config_path);
  const Config& config = result.config;
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(config.source_file, config_path);
  EXPECT_EQ(config.listen.host, "127.0.0.1");
  EXPECT_EQ(config.listen.port, 9000);
  EXPECT_EQ(config.external_url, "https://ha.example.com");
  ASSERT_EQ(config.trusted_proxies.size(), 3u);
  EXPECT_EQ(config.trusted_proxies[0].to_string(), "10.0.0.0/8");
  EXPECT_EQ(config.trusted_proxies[1].to_string(), "127.0.0.1/32");
  EXPECT_EQ(config.trusted_proxies[2].to_string(), "fd00::/8");
  EXPECT_EQ(config.data_dir, fs::path("/var/lib/gatehouse"));
  EXPECT_EQ(config.workers, 4u);
  ASSERT_TRUE(config.tls.has_value());
  EXPECT_EQ(config.tls->cert_file, cert);
  EXPECT_EQ(config.tls->key_file, key);
  EXPECT_EQ(config.home_assistant.url, "https://homeassistant.local:8443");
  EXPECT_EQ(config.home_assistant.host, "homeassistant.local");
  EXPECT_EQ(config.home_assistant.port, 8443);
  EXPECT_TRUE(config.home_assistant.tls);
  EXPECT_EQ(config.home_assistant.ca_file, ha_ca);
  EXPECT_EQ(config.home_assistant.token, kToken);
  EXPECT_EQ(config.limits.max_header_bytes, 32u * 1024);
  EXPECT_EQ(config.limits.max_body_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(config.limits.max_connections, 100u);
  EXPECT_EQ(config.limits.max_websocket_message_bytes, 1048576u);
  EXPECT_EQ(config.timeouts.header_read, milliseconds(500));
  EXPECT_EQ(config.timeouts.idle_keepalive, milliseconds(120'000));
  EXPECT_EQ(config.timeouts.upstream_connect, milliseconds(3'000));
  EXPECT_EQ(config.timeouts.upstream_response, milliseconds(3'600'000));
  EXPECT_EQ(config.timeouts.shutdown_grace, milliseconds(15'000));
  EXPECT_EQ(config.logging.level, "debug");
}

TEST_F(ConfigTest, HomeAssistantCaFileOnlyWithHttps) {
  const auto ca = write_file("ha-ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const auto plain = issue_for("  ca_file: " + ca.string() + "\n");
  EXPECT_EQ(plain.key, "home_assistant.ca_file");
  EXPECT_EQ(plain.line, 5);
  EXPECT_EQ(plain.message, "a CA is only used for HTTPS, and url is http://127.0.0.1:8124: write url as https://... if "
                           "HA serves TLS, or remove ca_file");
  const auto missing = single_issue("external_url: https://ha.example.com\ndata_dir: /tmp\nhome_assistant:\n"
                                    "  url: https://ha.local\n  ca_file: /nonexistent/ha-ca.pem\n");
  EXPECT_EQ(missing.key, "home_assistant.ca_file");
  EXPECT_CONTAINS(missing.message, "cannot read");
  EXPECT_FALSE(config_for("").home_assistant.ca_file.has_value());
}

TEST_F(ConfigTest, FillsDefaultsForOptionalKeys) {
  const auto result = load_text(kMinimal);
  const Config& config = result.config;
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(config.source_file, fs::path("<text>"));
  EXPECT_EQ(config.listen.host, "0.0.0.0");
  EXPECT_EQ(config.listen.port, 8123);
  EXPECT_TRUE(config.trusted_proxies.empty());
  EXPECT_EQ(config.workers, 0u);
  EXPECT_FALSE(config.tls.has_value());
  EXPECT_EQ(config.home_assistant.url, "http://127.0.0.1:8124");
  EXPECT_EQ(config.home_assistant.host, "127.0.0.1");
  EXPECT_EQ(config.home_assistant.port, 8124);
  EXPECT_FALSE(config.home_assistant.tls);
  EXPECT_TRUE(config.home_assistant.token.empty());
  const Limits default_limits;
  EXPECT_EQ(config.limits.max_header_bytes, default_limits.max_header_bytes);
  EXPECT_EQ(config.limits.max_body_bytes, default_limits.max_body_bytes);
  EXPECT_EQ(config.limits.max_connections, default_limits.max_connections);
  EXPECT_EQ(config.limits.max_websocket_message_bytes, default_limits.max_websocket_message_bytes);
  const Timeouts default_timeouts;
  EXPECT_EQ(config.timeouts.header_read, default_timeouts.header_read);
  EXPECT_EQ(config.timeouts.idle_keepalive, default_timeouts.idle_keepalive);
  EXPECT_EQ(config.timeouts.upstream_connect, default_timeouts.upstream_connect);
  EXPECT_EQ(config.timeouts.upstream_response, default_timeouts.upstream_response);
  EXPECT_EQ(config.timeouts.shutdown_grace, default_timeouts.shutdown_grace);
  EXPECT_EQ(config.logging.level, "info");
}

TEST_F(ConfigTest, AuditKeepDaysHasADefaultAndIsAWholeNumberOfDays) {
  EXPECT_EQ(config_for("").logging.audit_keep_days, 400u);
  EXPECT_EQ(config_for("logging:\n  audit_keep_days: 30\n").logging.audit_keep_days, 30u);
  EXPECT_EQ(config_for("logging:\n  audit_keep_days: 30\n").logging.level, "info");
  for (const std::string bad : {"0", "-1", "1.5", "forever", "99999999999"}) {
    const auto issue = issue_for("logging:\n  audit_keep_days: " + bad + "\n");
    EXPECT_EQ(issue.key, "logging.audit_keep_days") << bad;
    EXPECT_CONTAINS(issue.message, "a whole number from 1 to") << bad;
  }
}

TEST_F(ConfigTest, EmptyBlocksAndListsKeepDefaults) {
  const auto config = config_for("trusted_proxies:\nlimits:\ntimeouts: {}\nlogging:\n");
  EXPECT_TRUE(config.trusted_proxies.empty());
  EXPECT_EQ(config.limits.max_connections, Limits{}.max_connections);
  EXPECT_EQ(config.logging.level, "info");
}

TEST_F(ConfigTest, EmptyFileIsAnIssue) {
  for (const std::string text : {"", "\n\n", "# only a comment\n", "~\n"}) {
    const auto issue = single_issue(text);
    EXPECT_EQ(issue.key, "<text>");
    EXPECT_EQ(issue.line, 0);
    EXPECT_CONTAINS(issue.message, "empty") << text;
  }
}

TEST_F(ConfigTest, TopLevelMustBeAMapping) {
  const auto list = single_issue("- external_url\n- data_dir\n");
  EXPECT_EQ(list.line, 1);
  EXPECT_CONTAINS(list.message, "got a list");
  const auto scalar = single_issue("just some words\n");
  EXPECT_CONTAINS(scalar.message, "got \"just some words\"");
}

TEST_F(ConfigTest, YamlSyntaxErrorIsOneIssueWithItsLine) {
  const auto issue = single_issue(kMinimal + "limits:\n  max_body_bytes: [1, 2\nlogging:\n  level: info\n");
  EXPECT_EQ(issue.key, "<text>");
  EXPECT_GE(issue.line, 6);
  EXPECT_CONTAINS(issue.message, "YAML syntax error");

  const auto trailing_colon = single_issue("listen: 0.0.0.0:\n" + kMinimal);
  EXPECT_EQ(trailing_colon.line, 1);
  EXPECT_CONTAINS(trailing_colon.message, "ending in \":\" must be quoted");

  const auto tab = single_issue("external_url: https://x\n\tdata_dir: /x\n");
  EXPECT_EQ(tab.line, 2);
  EXPECT_CONTAINS(tab.message, "tabs");
}

TEST_F(ConfigTest, UnquotedIpv6ListenGetsAHint) {
  const auto issue = single_issue("listen: [::]:8123\n" + kMinimal);
  EXPECT_EQ(issue.line, 1);
  EXPECT_CONTAINS(issue.message, "must be quoted");
  // `listen: [::]` parses, as a list.
  const auto list = issue_for("listen: [::]\n");
  EXPECT_EQ(list.key, "listen");
  EXPECT_CONTAINS(list.message, "got a list; quote IPv6 addresses");
}

TEST_F(ConfigTest, MissingRequiredKeysAreNamed) {
  const auto issues = issues_of("logging:\n  level: info\n");
  ASSERT_EQ(issues.size(), 3u) << joined(issues);
  std::vector<std::string> keys;
  for (const auto& issue : issues) {
    keys.push_back(issue.key);
    EXPECT_EQ(issue.line, 0);
    EXPECT_CONTAINS(issue.message, "missing");
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"external_url", "data_dir", "home_assistant"}));
}

TEST_F(ConfigTest, MissingNestedKeyPointsAtItsBlock) {
  const auto issue = single_issue("external_url: https://ha.example.com\ndata_dir: /tmp\n\nhome_assistant: {}\n");
  EXPECT_EQ(issue.key, "home_assistant.url");
  EXPECT_EQ(issue.line, 4);
  EXPECT_EQ(issue.to_string(),
            "home_assistant.url (line 4): required key is missing; add Home Assistant's own address, e.g. "
            "\"url: http://127.0.0.1:8124\"");
}

TEST_F(ConfigTest, NullHomeAssistantBlockStillNeedsUrl) {
  const auto issue = single_issue("external_url: https://ha.example.com\ndata_dir: /tmp\nhome_assistant:\n");
  EXPECT_EQ(issue.key, "home_assistant.url");
  EXPECT_EQ(issue.line, 3);
}

TEST_F(ConfigTest, UnknownKeyIsAnErrorWithSuggestion) {
  const auto typo = issue_for("extrnal_url: https://x.example\n");
  EXPECT_EQ(typo.key, "extrnal_url");
  EXPECT_EQ(typo.line, 5);
  EXPECT_EQ(typo.message, "unknown key; did you mean \"external_url\"?");

  const auto nested = issue_for("limits:\n  max_body_byte: 1MiB\n");
  EXPECT_EQ(nested.key, "limits.max_body_byte");
  EXPECT_EQ(nested.line, 6);
  EXPECT_CONTAINS(nested.message, "did you mean \"max_body_bytes\"?");

  const auto dashed = issue_for("timeouts:\n  Header-Read: 5s\n");
  EXPECT_CONTAINS(dashed.message, "did you mean \"header_read\"?");

  const auto swapped = issue_for("workres: 2\n"); // two neighbours swapped count as one edit
  EXPECT_CONTAINS(swapped.message, "did you mean \"workers\"?");

  // A stray key far longer than any known one (YAML's longest plain key) gets no suggestion.
  const auto stray = issue_for(std::string(1000, 'w') + ": 1\n");
  EXPECT_EQ(stray.message.find("did you mean"), std::string::npos) << stray.message;
  EXPECT_CONTAINS(stray.message, "unknown key");
}

TEST_F(ConfigTest, UnknownKeyInTheWrongBlockSaysWhereItBelongs) {
  const auto issue = issue_for("max_body_bytes: 1MiB\n");
  EXPECT_EQ(issue.key, "max_body_bytes");
  EXPECT_CONTAINS(issue.message, "did you mean limits.max_body_bytes? It belongs under \"limits:\"");

  const auto level = issue_for("level: debug\n");
  EXPECT_CONTAINS(level.message, "logging.level");

  const auto top = issue_for("limits:\n  workers: 4\n");
  EXPECT_EQ(top.key, "limits.workers");
  EXPECT_CONTAINS(top.message, "did you mean workers? It belongs at the top level");
}

TEST_F(ConfigTest, UnknownKeyWithoutCloseMatchListsAllowedKeys) {
  const auto issue = issue_for("logging:\n  zzzzzz: 1\n");
  EXPECT_EQ(issue.key, "logging.zzzzzz");
  EXPECT_EQ(issue.message, "unknown key; the keys allowed here are level, audit_keep_days");
}

TEST_F(ConfigTest, KeySetTwiceIsAnError) {
  const auto issue = issue_for("workers: 2\nworkers: 3\n");
  EXPECT_EQ(issue.key, "workers");
  EXPECT_EQ(issue.line, 6);
  EXPECT_CONTAINS(issue.message, "set twice (first on line 5)");
}

TEST_F(ConfigTest, SeveralErrorsAreReportedTogetherInFileOrder) {
  const std::string yaml = "listen: nowhere\n"                  // 1
                           "data_dir: /var/lib/gatehouse\n"     // 2
                           "home_assistant:\n"                  // 3
                           "  url: ftp://127.0.0.1\n"           // 4
                           "limits:\n"                          // 5
                           "  max_body_bytes: lots\n"           // 6
                           "timeouts:\n"                        // 7
                           "  header_read: soon\n"              // 8
                           "colour: blue\n";                    // 9
  try {
    load_text(yaml);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    const auto& issues = error.issues();
    ASSERT_EQ(issues.size(), 6u) << error.what();
    EXPECT_EQ(issues[0].key, "listen");
    EXPECT_EQ(issues[1].key, "home_assistant.url");
    EXPECT_EQ(issues[2].key, "limits.max_body_bytes");
    EXPECT_EQ(issues[3].key, "timeouts.header_read");
    EXPECT_EQ(issues[4].key, "colour");
    EXPECT_EQ(issues[5].key, "external_url");
    EXPECT_EQ(issues[2].to_string(),
              "limits.max_body_bytes (line 6): expected a size like 1048576, \"16MiB\" or \"1GiB\", got \"lots\"; "
              "the units are B, KiB, MiB and GiB");
    std::string expected_what;
    for (const auto& issue : issues) expected_what += (expected_what.empty() ? "" : "\n") + issue.to_string();
    EXPECT_EQ(std::string(error.what()), expected_what);
  }
}

TEST_F(ConfigTest, IssueToStringOmitsLineZero) {
  EXPECT_EQ((ConfigIssue{"external_url", 0, "required key is missing"}).to_string(),
            "external_url: required key is missing");
  EXPECT_EQ((ConfigIssue{"workers", 7, "expected"}).to_string(), "workers (line 7): expected");
}

TEST_F(ConfigTest, WrongYamlTypesNameTheKey) {
  const auto url_map = single_issue("external_url:\n  a: b\ndata_dir: /x\nhome_assistant:\n  url: http://h\n");
  EXPECT_EQ(url_map.key, "external_url");
  EXPECT_EQ(url_map.line, 1);
  EXPECT_CONTAINS(url_map.message, "expected an http:// or https:// URL");
  EXPECT_CONTAINS(url_map.message, "got a block of keys");

  const auto limits_list = issue_for("limits: [1, 2]\n");
  EXPECT_EQ(limits_list.key, "limits");
  EXPECT_CONTAINS(limits_list.message, "expected a block of keys (max_header_bytes");

  const auto level_list = issue_for("logging:\n  level: [info]\n");
  EXPECT_EQ(level_list.key, "logging.level");
  EXPECT_CONTAINS(level_list.message, "got a list");

  const auto null_value = issue_for("workers:\n");
  EXPECT_EQ(null_value.key, "workers");
  EXPECT_CONTAINS(null_value.message, "got nothing");

  const auto home_scalar = single_issue("external_url: https://x\ndata_dir: /x\nhome_assistant: http://h\n");
  EXPECT_EQ(home_scalar.key, "home_assistant");
  EXPECT_CONTAINS(home_scalar.message, "expected a block of keys (url, ca_file, token_file)");
}

// ---------------------------------------------------------------------------------------------- listen

TEST_F(ConfigTest, ListenAcceptsIpv4AndBracketedIpv6) {
  EXPECT_EQ(config_for("listen: 127.0.0.1:0\n").listen.port, 0);
  const auto any6 = config_for("listen: \"[::]:8123\"\n").listen;
  EXPECT_EQ(any6.host, "::");
  EXPECT_EQ(any6.port, 8123);
  const auto loop6 = config_for("listen: '[::1]:65535'\n").listen;
  EXPECT_EQ(loop6.host, "::1");
  EXPECT_EQ(loop6.port, 65535);
}

TEST_F(ConfigTest, ListenRejectsBadValues) {
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"8123", "add the address to listen on, e.g. \"0.0.0.0:8123\""},
      {"localhost:8123", "host names are not allowed"},
      {"\":::8123\"", "in brackets"},
      {"\"[::]8123\"", "add \":\" and the port"},
      {"\"[::1\"", "\"]\" after the IPv6 address is missing"},
      {"\"[127.0.0.1]:80\"", "IPv6 address"},
      {"0.0.0.0:65536", "from 0 to 65535"},
      {"0.0.0.0:-1", "from 0 to 65535"},
      {"'0.0.0.0:'", "from 0 to 65535"},
      {"0.0.0.0:80a", "from 0 to 65535"},
      {"\" 0.0.0.0:80\"", "IP address"},
      {"\"\"", "got \"\""},
  };
  for (const auto& c : cases) {
    const auto issue = issue_for("listen: " + c.value + "\n");
    EXPECT_EQ(issue.key, "listen") << c.value;
    EXPECT_EQ(issue.line, 5) << c.value;
    EXPECT_CONTAINS(issue.message, "expected host:port like \"0.0.0.0:8123\" or \"[::]:8123\", got ") << c.value;
    EXPECT_CONTAINS(issue.message, c.hint) << c.value;
  }
}

// ---------------------------------------------------------------------------------------------- URLs

TEST_F(ConfigTest, ExternalUrlIsStoredCanonicalWithoutTrailingSlash) {
  EXPECT_EQ(load_text("external_url: https://ha.example.com/\ndata_dir: /x\nhome_assistant: {url: 'http://h'}\n")
                .config.external_url,
            "https://ha.example.com");
  EXPECT_EQ(load_text("external_url: HTTPS://Ha.Example.COM:443\ndata_dir: /x\nhome_assistant: {url: 'http://h'}\n")
                .config.external_url,
            "https://ha.example.com");
  EXPECT_EQ(load_text("external_url: http://10.0.0.5:8123\ndata_dir: /x\nhome_assistant: {url: 'http://h'}\n")
                .config.external_url,
            "http://10.0.0.5:8123");
  EXPECT_EQ(load_text("external_url: 'http://[2001:db8::1]:8080/'\ndata_dir: /x\nhome_assistant: {url: 'http://h'}\n")
                .config.external_url,
            "http://[2001:db8::1]:8080");
}

TEST_F(ConfigTest, ExternalUrlRejectsAnythingButSchemeHostPort) {
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"ha.example.com", "add the scheme"},
      {"ftp://ha.example.com", "scheme must be http or https"},
      {"https://ha.example.com/ha", "remove the path \"/ha\""},
      {"https://ha.example.com/?x=1", "remove the query"},
      {"https://ha.example.com/#top", "remove the fragment"},
      {"'https://ha.example.com:'", "port after the host"},
      {"https://ha.example.com:0", "port after the host"},
      {"https://ha.example.com:70000", "port after the host"},
      {"https://", "host is missing"},
      {"https://ha_example!.com", "letters, digits"},
      {"\"https://exa mple.com\"", "not a valid URL"},
  };
  for (const auto& c : cases) {
    const auto issue = single_issue("external_url: " + c.value + "\ndata_dir: /x\nhome_assistant:\n  url: http://h\n");
    EXPECT_EQ(issue.key, "external_url") << c.value;
    EXPECT_EQ(issue.line, 1) << c.value;
    EXPECT_CONTAINS(issue.message, "expected an http:// or https:// URL like \"https://ha.example.com\"");
    EXPECT_CONTAINS(issue.message, c.hint) << c.value << " -> " << issue.message;
  }
}

TEST_F(ConfigTest, UrlPasswordsNeverAppearInMessages) {
  const auto issue =
      single_issue("external_url: https://admin:hunter2@ha.example.com\ndata_dir: /x\nhome_assistant: {url: 'http://h'}\n");
  EXPECT_CONTAINS(issue.message, "user name and password");
  EXPECT_NOT_CONTAINS(issue.message, "hunter2");
  EXPECT_NOT_CONTAINS(issue.message, "admin");

  const auto malformed = issue_for("home_assistant:\n  url: http://u:hunter2@x@y/z\n");
  EXPECT_NOT_CONTAINS(malformed.to_string(), "hunter2");
}

TEST_F(ConfigTest, HomeAssistantUrlFillsHostPortAndTls) {
  const auto plain = load_text("external_url: https://x\ndata_dir: /x\nhome_assistant:\n  url: http://homeassistant\n")
                         .config.home_assistant;
  EXPECT_EQ(plain.host, "homeassistant");
  EXPECT_EQ(plain.port, 80);
  EXPECT_FALSE(plain.tls);

  const auto secure = load_text("external_url: https://x\ndata_dir: /x\nhome_assistant:\n  url: https://ha.lan/\n")
                          .config.home_assistant;
  EXPECT_EQ(secure.url, "https://ha.lan");
  EXPECT_EQ(secure.port, 443);
  EXPECT_TRUE(secure.tls);

  const auto v6 = load_text("external_url: https://x\ndata_dir: /x\nhome_assistant:\n  url: 'http://[::1]:8124'\n")
                      .config.home_assistant;
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8124);
  EXPECT_EQ(v6.url, "http://[::1]:8124");
}

TEST_F(ConfigTest, HomeAssistantUrlRejectsPathQueryUserinfo) {
  for (const std::string url : {"http://127.0.0.1:8124/api", "http://127.0.0.1:8124?x", "http://u@127.0.0.1",
                                "ws://127.0.0.1:8124", "127.0.0.1:8124"}) {
    const auto issue =
        single_issue("external_url: https://x\ndata_dir: /x\nhome_assistant:\n  url: \"" + url + "\"\n");
    EXPECT_EQ(issue.key, "home_assistant.url") << url;
    EXPECT_EQ(issue.line, 4) << url;
  }
}

// ---------------------------------------------------------------------------------------------- trusted_proxies

TEST_F(ConfigTest, TrustedProxiesAcceptsBlockListOfAddressesAndNetworks) {
  const auto config = config_for("trusted_proxies:\n  - 10.0.0.0/8\n  - ::1\n  - 192.168.1.50\n");
  ASSERT_EQ(config.trusted_proxies.size(), 3u);
  EXPECT_TRUE(config.trusted_proxies[0].contains(boost::asio::ip::make_address("10.2.3.4")));
  EXPECT_EQ(config.trusted_proxies[1].to_string(), "::1/128");
}

TEST_F(ConfigTest, TrustedProxiesRejectsBadItemsOnTheirLine) {
  const auto issues = issues_of(kMinimal + "trusted_proxies:\n  - 10.0.0.1/8\n  - proxy.lan\n  - 10.0.0.0/40\n  - [a]\n");
  ASSERT_EQ(issues.size(), 4u) << joined(issues);
  EXPECT_EQ(issues[0].key, "trusted_proxies");
  EXPECT_EQ(issues[0].line, 6);
  EXPECT_CONTAINS(issues[0].message, "got \"10.0.0.1/8\"");
  EXPECT_CONTAINS(issues[0].message, "did you mean 10.0.0.0/8?");
  EXPECT_EQ(issues[1].line, 7);
  EXPECT_CONTAINS(issues[1].message, "host names are not allowed");
  EXPECT_EQ(issues[2].line, 8);
  EXPECT_CONTAINS(issues[2].message, "from 0 to 32");
  EXPECT_EQ(issues[3].line, 9);
  EXPECT_CONTAINS(issues[3].message, "got a list");
}

TEST_F(ConfigTest, TrustedProxiesMustBeAList) {
  const auto issue = issue_for("trusted_proxies: 10.0.0.0/8\n");
  EXPECT_EQ(issue.key, "trusted_proxies");
  EXPECT_CONTAINS(issue.message, "expected a list");
  EXPECT_CONTAINS(issue.message, "got \"10.0.0.0/8\"");
}

// ---------------------------------------------------------------------------------------------- paths

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigFolder) {
  write_file("conf/secrets/ha-token", kToken);
  const auto config_path = write_file("conf/gatehouse.yaml",
                                      "external_url: https://x\n"
                                      "data_dir: state\n"
                                      "home_assistant:\n"
                                      "  url: http://h\n"
                                      "  token_file: secrets/../secrets/ha-token\n");
  const auto config = load_file(config_path).config;
  EXPECT_EQ(config.data_dir, (directory_ / "conf" / "state").lexically_normal());
  EXPECT_EQ(config.home_assistant.token, kToken);
}

TEST_F(ConfigTest, LoadTextResolvesRelativePathsAgainstCurrentDirectory) {
  const auto config = load_text("external_url: https://x\ndata_dir: ./state\nhome_assistant: {url: 'http://h'}\n").config;
  EXPECT_EQ(config.data_dir, (fs::current_path() / "state").lexically_normal());
}

TEST_F(ConfigTest, DataDirMustBeAPath) {
  const auto empty = single_issue("external_url: https://x\ndata_dir: ''\nhome_assistant: {url: 'http://h'}\n");
  EXPECT_EQ(empty.key, "data_dir");
  EXPECT_EQ(empty.line, 2);
  EXPECT_CONTAINS(empty.message, "got \"\"");
  const auto list = single_issue("external_url: https://x\ndata_dir: [a]\nhome_assistant: {url: 'http://h'}\n");
  EXPECT_CONTAINS(list.message, "expected a file or folder path, got a list");
}

TEST_F(ConfigTest, LoadFileReportsAnUnreadableConfigFile) {
  const auto missing = directory_ / "nope.yaml";
  try {
    load_file(missing);
    FAIL();
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.issues().size(), 1u);
    EXPECT_EQ(error.issues()[0].key, missing.string());
    EXPECT_EQ(error.issues()[0].line, 0);
    EXPECT_CONTAINS(error.issues()[0].message, "No such file or directory");
  }
  try {
    load_file(directory_);
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_CONTAINS(error.what(), "directory");
  }
}

// ---------------------------------------------------------------------------------------------- workers

TEST_F(ConfigTest, WorkersIsAutoOrOneToSixtyFour) {
  EXPECT_EQ(config_for("workers: auto\n").workers, 0u);
  EXPECT_EQ(config_for("workers: 1\n").workers, 1u);
  EXPECT_EQ(config_for("workers: 64\n").workers, 64u);
  for (const std::string bad : {"0", "65", "-1", "1.5", "many", "'4 '", "99999999999999999999999"}) {
    const auto issue = issue_for("workers: " + bad + "\n");
    EXPECT_EQ(issue.key, "workers") << bad;
    EXPECT_CONTAINS(issue.message, "expected \"auto\" or a whole number from 1 to 64, got ") << bad;
  }
}

// ---------------------------------------------------------------------------------------------- tls

TEST_F(ConfigTest, TlsNeedsBothReadableFiles) {
  const auto cert = write_file("cert.pem", "cert");
  const auto missing_key = issue_for("tls:\n  cert_file: " + cert.string() + "\n");
  EXPECT_EQ(missing_key.key, "tls.key_file");
  EXPECT_EQ(missing_key.line, 5);
  EXPECT_CONTAINS(missing_key.message, "required when tls is set");

  const auto issues = issues_of(kMinimal + "tls:\n  cert_file: " + cert.string() + "\n  key_file: " +
                                (directory_ / "absent.pem").string() + "\n");
  ASSERT_EQ(issues.size(), 1u) << joined(issues);
  EXPECT_EQ(issues[0].key, "tls.key_file");
  EXPECT_EQ(issues[0].line, 7);
  EXPECT_CONTAINS(issues[0].message, (directory_ / "absent.pem").string());
  EXPECT_CONTAINS(issues[0].message, "No such file or directory");

  const auto directory = issue_for("tls:\n  cert_file: " + directory_.string() + "\n  key_file: " + cert.string() + "\n");
  EXPECT_EQ(directory.key, "tls.cert_file");
  EXPECT_CONTAINS(directory.message, "directory");

  const auto empty_block = issues_of(kMinimal + "tls:\n");
  EXPECT_EQ(empty_block.size(), 2u) << joined(empty_block);
}

TEST_F(ConfigTest, TlsWorldReadableKeyWarns) {
  const auto cert = write_file("cert.pem", "cert", fs::perms::owner_read | fs::perms::others_read);
  const auto group_key = write_file("group-key.pem", "key", fs::perms::owner_read | fs::perms::group_read);
  const auto world_key = write_file("world-key.pem", "key", fs::perms::owner_read | fs::perms::others_read);
  const auto quiet = load_text(kMinimal + "tls:\n  cert_file: " + cert.string() + "\n  key_file: " + group_key.string() + "\n");
  EXPECT_TRUE(quiet.warnings.empty());
  const auto loud = load_text(kMinimal + "tls:\n  cert_file: " + cert.string() + "\n  key_file: " + world_key.string() + "\n");
  ASSERT_EQ(loud.warnings.size(), 1u);
  EXPECT_CONTAINS(loud.warnings[0], "tls.key_file: " + world_key.string() + " is readable by all users");
}

// ---------------------------------------------------------------------------------------------- sizes

TEST_F(ConfigTest, SizesAcceptBytesAndBinaryUnits) {
  EXPECT_EQ(config_for("limits:\n  max_body_bytes: 1\n").limits.max_body_bytes, 1u);
  EXPECT_EQ(config_for("limits:\n  max_body_bytes: 1B\n").limits.max_body_bytes, 1u);
  EXPECT_EQ(config_for("limits:\n  max_body_bytes: 2KiB\n").limits.max_body_bytes, 2048u);
  EXPECT_EQ(config_for("limits:\n  max_body_bytes: 16 MiB\n").limits.max_body_bytes, 16u << 20);
  EXPECT_EQ(config_for("limits:\n  max_body_bytes: 8GiB\n").limits.max_body_bytes, 8ull << 30);
  EXPECT_EQ(config_for("limits:\n  max_header_bytes: 1KiB\n").limits.max_header_bytes, 1024u);
  EXPECT_EQ(config_for("limits:\n  max_header_bytes: 1024\n").limits.max_header_bytes, 1024u);
  EXPECT_EQ(config_for("limits:\n  max_websocket_message_bytes: 16MiB\n").limits.max_websocket_message_bytes,
            16u << 20);
}

TEST_F(ConfigTest, TrustedClientsAndWebsocketPassthrough) {
  const auto config = config_for(
      "trusted_clients:\n  - { client_id: \"https://dash.example.test/\", redirect_uris: [\"https://dash.example.test/auth\"], name: Wall }\n"
      "  - { client_id: \"http://x.test/\", redirect_uris: [\"http://x.test/a\", \"x-app://done\"] }\n"
      "shield:\n  websocket_passthrough: [\"/api/hassio_ingress/*\"]\n");
  ASSERT_EQ(config.trusted_clients.size(), 2u);
  EXPECT_EQ(config.trusted_clients[0].client_id, "https://dash.example.test/");
  EXPECT_EQ(config.trusted_clients[0].name, "Wall");
  EXPECT_EQ(config.trusted_clients[1].name, "http://x.test/");
  EXPECT_EQ(config.trusted_clients[1].redirect_uris, (std::vector<std::string>{"http://x.test/a", "x-app://done"}));
  // A client is trusted for the addresses its sign-ins return to, not for its whole host (contract §1.8).
  // Written before redirect_uris existed: it loads (an upgrade must not stop Gatehouse), with a warning,
  // and the client is trusted for no address.
  const auto no_uris = load_text(kMinimal + "trusted_clients:\n  - { client_id: \"https://pitangui.amazon.com/\" }\n");
  ASSERT_EQ(no_uris.config.trusted_clients.size(), 1u);
  EXPECT_TRUE(no_uris.config.trusted_clients[0].redirect_uris.empty());
  ASSERT_EQ(no_uris.warnings.size(), 1u);
  EXPECT_CONTAINS(no_uris.warnings[0], "trusted_clients[0].redirect_uris is missing: this client now gets the consent page");
  EXPECT_CONTAINS(no_uris.warnings[0], "Alexa");
  EXPECT_EQ(issue_for("trusted_clients:\n  - { client_id: \"https://x.test/\", redirect_uris: [] }\n").key,
            "trusted_clients[0].redirect_uris");
  EXPECT_EQ(issue_for("trusted_clients:\n  - { client_id: \"https://x.test/\", redirect_uris: [done] }\n").key,
            "trusted_clients[0].redirect_uris");
  EXPECT_EQ(config.shield.websocket_passthrough, std::vector<std::string>{"/api/hassio_ingress/*"});

  const auto not_url = issue_for("trusted_clients:\n  - { client_id: homeassistant://x, redirect_uris: [\"x://y\"] }\n");
  EXPECT_EQ(not_url.key, "trusted_clients[0].client_id");
  EXPECT_CONTAINS(not_url.message, "http:// or https:// URL");
  const auto no_id = issue_for("trusted_clients:\n  - { name: x, redirect_uris: [\"x://y\"] }\n");
  EXPECT_CONTAINS(no_id.message, "client_id");
  const auto not_list = issue_for("trusted_clients: https://x/\n");
  EXPECT_CONTAINS(not_list.message, "expected a list of clients");
  const auto own_socket = issue_for("shield:\n  websocket_passthrough: [\"/api/websocket\"]\n");
  EXPECT_EQ(own_socket.key, "shield.websocket_passthrough");
  EXPECT_CONTAINS(own_socket.message, "always authenticated by Gatehouse");
  const auto bad_path = issue_for("shield:\n  websocket_passthrough: [\"/api/%2e/*\"]\n");
  EXPECT_EQ(bad_path.key, "shield.websocket_passthrough");
}

TEST_F(ConfigTest, HeadLimitAboveWhatTheParserHoldsIsRefused) {
  // Beast 1.81 throws instead of failing the read on a header value over 65,533 bytes (issue #13.2).
  EXPECT_EQ(config_for("limits:\n  max_header_bytes: 64KiB\n").limits.max_header_bytes, 64u * 1024);
  const auto too_big = issue_for("limits:\n  max_header_bytes: 65537\n");
  EXPECT_EQ(too_big.key, "limits.max_header_bytes");
  EXPECT_CONTAINS(too_big.message, "at most 64KiB");
}

TEST_F(ConfigTest, SizesRejectZeroNegativeFractionalOverflowAndOtherUnits) {
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"0", "at least 1 byte, got \"0\""},
      {"0KiB", "at least 1 byte"},
      {"-1", "cannot be negative"},
      {"1.5MiB", "use a whole number, e.g. \"1536KiB\""},
      {"16MB", "the units are B, KiB, MiB and GiB"},
      {"16mib", "the units are B, KiB, MiB and GiB"},
      {"16 KB", "the units are B, KiB, MiB and GiB"},
      {"lots", "got \"lots\"; the units are"},
      {"99999999999999999999", "too large"},
      {"17179869184GiB", "too large"},
      {"+5", "without a sign"},
      {"[1]", "got a list"},
  };
  for (const auto& c : cases) {
    const auto issue = issue_for("limits:\n  max_body_bytes: " + c.value + "\n");
    EXPECT_EQ(issue.key, "limits.max_body_bytes") << c.value;
    EXPECT_EQ(issue.line, 6) << c.value;
    EXPECT_CONTAINS(issue.message, c.hint) << c.value << " -> " << issue.message;
  }
  const auto small_header = issue_for("limits:\n  max_header_bytes: 1023\n");
  EXPECT_EQ(small_header.message, "expected a size of at least 1KiB (1024 bytes), got \"1023\"");
}

TEST_F(ConfigTest, MaxConnectionsIsAPositiveWholeNumber) {
  EXPECT_EQ(config_for("limits:\n  max_connections: 1\n").limits.max_connections, 1u);
  for (const std::string bad : {"0", "-5", "2.5", "many", "1KiB"}) {
    const auto issue = issue_for("limits:\n  max_connections: " + bad + "\n");
    EXPECT_EQ(issue.key, "limits.max_connections") << bad;
    EXPECT_CONTAINS(issue.message, "expected a whole number of at least 1, got ") << bad;
  }
}

TEST_F(ConfigTest, ConnectionLimitsHaveDefaultsAndAreWholeNumbers) {
  const auto defaults = config_for("").limits;
  EXPECT_EQ(defaults.max_connections, 0u) << "derived from the open-files limit at start";
  EXPECT_EQ(defaults.max_connections_per_address, 256u);
  EXPECT_EQ(config_for("limits:\n  max_connections_per_address: 8\n").limits.max_connections_per_address, 8u);
  for (const std::string bad : {"0", "-1", "1.5", "lots", "[1]"}) {
    const auto issue = issue_for("limits:\n  max_connections_per_address: " + bad + "\n");
    EXPECT_EQ(issue.key, "limits.max_connections_per_address") << bad;
    EXPECT_EQ(issue.line, 6) << bad;
    EXPECT_CONTAINS(issue.message, "expected a whole number of at least 1") << bad;
  }
}

TEST_F(ConfigTest, TokenCheckBudgetHasDefaultsAndIsWholeNumbers) {
  const auto defaults = config_for("").limits;
  EXPECT_EQ(defaults.token_checks_per_minute, 60u);
  EXPECT_EQ(defaults.token_check_burst, 30u);
  EXPECT_EQ(defaults.max_concurrent_token_checks, 32u);
  const auto set = config_for("limits:\n  token_checks_per_minute: 10\n  token_check_burst: 2\n"
                              "  max_concurrent_token_checks: 3\n").limits;
  EXPECT_EQ(set.token_checks_per_minute, 10u);
  EXPECT_EQ(set.token_check_burst, 2u);
  EXPECT_EQ(set.max_concurrent_token_checks, 3u);
  for (const std::string key : {"token_checks_per_minute", "token_check_burst", "max_concurrent_token_checks"}) {
    for (const std::string bad : {"0", "-1", "1.5", "lots", "[1]"}) {
      const auto issue = issue_for("limits:\n  " + key + ": " + bad + "\n");
      EXPECT_EQ(issue.key, "limits." + key) << bad;
      EXPECT_EQ(issue.line, 6) << key << " " << bad;
      EXPECT_CONTAINS(issue.message, "expected a whole number from 1 to 4294967295") << key << " " << bad;
    }
  }
  EXPECT_CONTAINS(issue_for("limits:\n  token_check_burst: 4294967296\n").message, "from 1 to 4294967295");
}

TEST_F(ConfigTest, AuditedRefusalsPerAddressMayBeZero) {
  EXPECT_EQ(config_for("").limits.audited_refusals_per_address, 5u);
  EXPECT_EQ(config_for("limits:\n  audited_refusals_per_address: 0\n").limits.audited_refusals_per_address, 0u);
  const auto negative = issue_for("limits:\n  audited_refusals_per_address: -1\n");
  EXPECT_EQ(negative.key, "limits.audited_refusals_per_address");
  EXPECT_EQ(negative.line, 6);
  EXPECT_CONTAINS(negative.message, "expected a whole number of at least 0");
  EXPECT_CONTAINS(issue_for("limits:\n  audited_refusal_per_address: 5\n").message, "audited_refusals_per_address");
}

TEST_F(ConfigTest, PendingLoginLimitsHaveDefaultsAndAreWholeNumbers) {
  const auto defaults = config_for("").limits;
  EXPECT_EQ(defaults.max_pending_logins, 10'000u);
  EXPECT_EQ(defaults.max_pending_logins_per_address, 50u);
  EXPECT_EQ(defaults.max_pending_logins_per_network, 200u);
  const auto set = config_for("limits:\n  max_pending_logins: 100\n  max_pending_logins_per_address: 4\n"
                              "  max_pending_logins_per_network: 9\n").limits;
  EXPECT_EQ(set.max_pending_logins, 100u);
  EXPECT_EQ(set.max_pending_logins_per_address, 4u);
  EXPECT_EQ(set.max_pending_logins_per_network, 9u);
  for (const std::string key : {"max_pending_logins", "max_pending_logins_per_address", "max_pending_logins_per_network"}) {
    for (const std::string bad : {"0", "-1", "1.5", "lots", "[1]"}) {
      const auto issue = issue_for("limits:\n  " + key + ": " + bad + "\n");
      EXPECT_EQ(issue.key, "limits." + key) << bad;
      EXPECT_EQ(issue.line, 6) << key << " " << bad;
      EXPECT_CONTAINS(issue.message, "expected a whole number of at least 1") << key << " " << bad;
    }
  }
  EXPECT_CONTAINS(issue_for("limits:\n  max_pending_login: 5\n").message, "max_pending_logins");
}

// ---------------------------------------------------------------------------------------------- durations

TEST_F(ConfigTest, DurationsAcceptUnitsAndPlainSeconds) {
  EXPECT_EQ(config_for("timeouts:\n  header_read: 1ms\n").timeouts.header_read, milliseconds(1));
  EXPECT_EQ(config_for("timeouts:\n  header_read: 30\n").timeouts.header_read, milliseconds(30'000));
  EXPECT_EQ(config_for("timeouts:\n  header_read: 10 s\n").timeouts.header_read, milliseconds(10'000));
  EXPECT_EQ(config_for("timeouts:\n  header_read: 5m\n").timeouts.header_read, milliseconds(300'000));
  EXPECT_EQ(config_for("timeouts:\n  header_read: 8760h\n").timeouts.header_read, milliseconds(31'536'000'000));
}

TEST_F(ConfigTest, DurationsRejectZeroNegativeFractionalOverflowAndOtherUnits) {
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"0", "greater than 0"},
      {"0ms", "greater than 0"},
      {"-1s", "cannot be negative"},
      {"1.5s", "\"1500ms\" rather than \"1.5s\""},
      {"10d", "the units are ms, s, m and h"},
      {"1m30s", "the units are ms, s, m and h"},
      {"10S", "the units are ms, s, m and h"},
      {"soon", "got \"soon\""},
      {"8761h", "at most 8760h"},
      {"99999999999999999999h", "at most 8760h"},
      {"{a: 1}", "got a block of keys"},
  };
  for (const auto& c : cases) {
    const auto issue = issue_for("timeouts:\n  upstream_response: " + c.value + "\n");
    EXPECT_EQ(issue.key, "timeouts.upstream_response") << c.value;
    EXPECT_EQ(issue.line, 6) << c.value;
    EXPECT_CONTAINS(issue.message, c.hint) << c.value << " -> " << issue.message;
  }
}

// ---------------------------------------------------------------------------------------------- logging

TEST_F(ConfigTest, LoggingLevelIsOneOfFive) {
  for (const std::string level : {"trace", "debug", "info", "warn", "error"}) {
    EXPECT_EQ(config_for("logging:\n  level: " + level + "\n").logging.level, level);
  }
  const auto warning = issue_for("logging:\n  level: warning\n");
  EXPECT_EQ(warning.key, "logging.level");
  EXPECT_EQ(warning.message,
            "expected one of trace, debug, info, warn, error, got \"warning\"; did you mean \"warn\"?");
  const auto upper = issue_for("logging:\n  level: INFO\n");
  EXPECT_CONTAINS(upper.message, "did you mean \"info\"?");
}

// ---------------------------------------------------------------------------------------------- secrets

TEST_F(ConfigTest, TokenFileIsReadAndTrimmed) {
  const auto token = write_file("token", std::string(" \t") + kToken + "\r\n");
  const auto result = load_text(kMinimal + "  token_file: " + token.string() + "\n");
  EXPECT_EQ(result.config.home_assistant.token, kToken);
  EXPECT_TRUE(result.warnings.empty());
}

TEST_F(ConfigTest, MissingTokenFileNamesKeyLinePathAndReason) {
  const auto path = directory_ / "no-such-token";
  const auto issue = issue_for("  token_file: " + path.string() + "\n");
  EXPECT_EQ(issue.key, "home_assistant.token_file");
  EXPECT_EQ(issue.line, 5);
  EXPECT_EQ(issue.message, "cannot read \"" + path.string() + "\": No such file or directory");
}

TEST_F(ConfigTest, TokenFileThatIsADirectoryIsAnError) {
  // Tests run as root, where chmod 000 does not stop reading; a directory is reliably unreadable as a file.
  const auto issue = issue_for("  token_file: " + directory_.string() + "\n");
  EXPECT_EQ(issue.key, "home_assistant.token_file");
  EXPECT_CONTAINS(issue.message, directory_.string());
  EXPECT_CONTAINS(issue.message, "it is a directory");
}

TEST_F(ConfigTest, EmptyTokenFileIsAnError) {
  const auto empty = write_file("empty-token", "  \n\n");
  const auto issue = issue_for("  token_file: " + empty.string() + "\n");
  EXPECT_EQ(issue.key, "home_assistant.token_file");
  EXPECT_CONTAINS(issue.message, "the file is empty");
}

TEST_F(ConfigTest, TokenWithInnerWhitespaceIsAnErrorWithoutShowingIt) {
  const auto broken = write_file("broken-token", "first-half-of-token\nsecond-half\n");
  const auto issue = issue_for("  token_file: " + broken.string() + "\n");
  EXPECT_CONTAINS(issue.message, "spaces or control characters");
  EXPECT_NOT_CONTAINS(issue.message, "first-half");
}

TEST_F(ConfigTest, TokenFileReadableByOthersWarns) {
  const auto token = write_file("open-token", kToken,
                                fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                    fs::perms::others_read);
  const auto result = load_text(kMinimal + "  token_file: " + token.string() + "\n");
  EXPECT_EQ(result.config.home_assistant.token, kToken);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], "home_assistant.token_file: " + token.string() +
                                    " is readable by other users (mode 0644); chmod 600 it");
}

TEST_F(ConfigTest, TokenComesFromEnvironmentWhenNoFile) {
  ::setenv(kTokenVariable, (std::string("  ") + kToken + "\n").c_str(), 1);
  const auto result = load_text(kMinimal);
  EXPECT_EQ(result.config.home_assistant.token, kToken);
  EXPECT_TRUE(result.warnings.empty());
}

TEST_F(ConfigTest, TokenFileWinsOverEnvironmentWithAWarning) {
  const auto token = write_file("token", kToken);
  ::setenv(kTokenVariable, "environment-token-value", 1);
  const auto result = load_text(kMinimal + "  token_file: " + token.string() + "\n");
  EXPECT_EQ(result.config.home_assistant.token, kToken);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], "home_assistant.token_file and GATEHOUSE_HA_TOKEN are both set; using the file");
}

TEST_F(ConfigTest, EmptyEnvironmentTokenIsIgnoredWithAWarning) {
  ::setenv(kTokenVariable, "   ", 1);
  const auto result = load_text(kMinimal);
  EXPECT_TRUE(result.config.home_assistant.token.empty());
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_CONTAINS(result.warnings[0], "GATEHOUSE_HA_TOKEN is set but empty");
}

TEST_F(ConfigTest, TokenPastedIntoTokenFileIsNotEchoed) {
  const auto issue = issue_for(std::string("  token_file: ") + kToken + "\n");
  EXPECT_EQ(issue.key, "home_assistant.token_file");
  EXPECT_CONTAINS(issue.message, "looks like a token itself (not shown)");
  EXPECT_NOT_CONTAINS(issue.message, "eyJ");
}

TEST_F(ConfigTest, Base64SecretsWithASlashPastedAsPathsAreNotEchoed) {
  // openssl rand -base64 32: '/' in about half of them, so they pass for paths; their directory does not exist.
  constexpr const char* kPasted = "q3Zk/8Hn0vR2mXw+Yt5bLc9pFa1sDe7Gh4Jk6Lm0No=";
  const auto token = issue_for(std::string("  token_file: ") + kPasted + "\n");
  EXPECT_EQ(token.key, "home_assistant.token_file");
  EXPECT_CONTAINS(token.message, "not shown");
  EXPECT_NOT_CONTAINS(token.message, "q3Zk");
  EXPECT_NOT_CONTAINS(token.message, "8Hn0");
  const auto token_file = write_file("token", kToken);
  const auto secret = issue_for("  token_file: " + token_file.string() +
                                "\nproviders:\n  - id: main\n    issuer: https://i.example\n    client_id: c\n"
                                "    client_secret_file: " + kPasted + "\n");
  EXPECT_EQ(secret.key, "providers[0].client_secret_file");
  EXPECT_NOT_CONTAINS(secret.message, "q3Zk");
  EXPECT_NOT_CONTAINS(secret.message, "8Hn0");
  // A real path with a typo in the file name is still shown: its directory exists.
  const auto typo = issue_for("  token_file: " + (directory_ / "ha-tokn").string() + "\n");
  EXPECT_CONTAINS(typo.message, "ha-tokn");
}

TEST_F(ConfigTest, SecretsNeverAppearInMessagesOrWarnings) {
  const auto token = write_file("token", kToken, fs::perms::owner_read | fs::perms::others_read);
  ::setenv(kTokenVariable, "another-secret-from-env", 1);
  try {
    load_text(kMinimal + "  token_file: " + token.string() + "\nworkers: none\n");
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_NOT_CONTAINS(error.what(), kToken);
    EXPECT_NOT_CONTAINS(error.what(), "another-secret");
  }
  const auto result = load_text(kMinimal + "  token_file: " + token.string() + "\n");
  for (const auto& warning : result.warnings) {
    EXPECT_NOT_CONTAINS(warning, kToken);
    EXPECT_NOT_CONTAINS(warning, "another-secret");
  }
}

// ---------------------------------------------------------------------------------------------- providers

constexpr const char* kClientSecret = "Cl13nt-s3cret-f0r-tests-0123456789abcdef";
constexpr const char* kMainSecretVariable = "GATEHOUSE_PROVIDER_MAIN_CLIENT_SECRET";

// kMinimal plus one provider "main" without its secret (the tests give it through the environment). Keys
// appended to it start at line 8, inside the provider item.
const std::string kWithProvider = kMinimal +
                                  "providers:\n"           // 5
                                  "  - id: main\n"         // 6
                                  "    client_id: gatehouse\n"; // 7

class ConfigProvidersTest : public ConfigTest {
protected:
  void SetUp() override {
    ConfigTest::SetUp();
    set_environment(kTokenVariable, kToken);
    set_environment(kMainSecretVariable, kClientSecret);
  }

  // kWithProvider plus keys of that provider (and anything after).
  static Config provider_config(const std::string& extra) { return load_text(kWithProvider + extra).config; }
  static ConfigIssue provider_issue(const std::string& extra) { return single_issue(kWithProvider + extra); }

  // "key@line" of every issue, sorted, to compare the whole set at once.
  static std::vector<std::string> keys_and_lines(const std::vector<ConfigIssue>& issues) {
    std::vector<std::string> result;
    for (const auto& issue : issues) result.push_back(issue.key + "@" + std::to_string(issue.line));
    std::sort(result.begin(), result.end());
    return result;
  }
};

TEST_F(ConfigProvidersTest, LoadsFullProvidersAndUsers) {
  set_environment(kTokenVariable, std::nullopt);
  set_environment(kMainSecretVariable, std::nullopt);
  set_environment("GATEHOUSE_PROVIDER_BACKUP_IDP_CLIENT_SECRET", " second-secret-value \n");
  write_file("conf/ha-token", kToken);
  write_file("conf/idp-secret", std::string(kClientSecret) + "\n");
  const auto ca = write_file("conf/idp-ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const auto config_path = write_file("conf/gatehouse.yaml",
                                      "external_url: https://ha.example.com\n"
                                      "data_dir: /var/lib/gatehouse\n"
                                      "home_assistant:\n"
                                      "  url: http://127.0.0.1:8124\n"
                                      "  token_file: ha-token\n"
                                      "providers:\n"
                                      "  - id: main\n"
                                      "    name: Example IdP\n"
                                      "    issuer: https://idp.example.com/realms/x\n"
                                      "    client_id: gatehouse\n"
                                      "    client_secret_file: idp-secret\n"
                                      "    client_auth: client_secret_post\n"
                                      "    scopes: [openid, profile]\n"
                                      "    ca_file: idp-ca.pem\n"
                                      "    algorithms: [ES256, EdDSA]\n"
                                      "    userinfo: false\n"
                                      "  - id: backup-idp\n"
                                      "    issuer: http://localhost:8080/\n"
                                      "    client_id: gatehouse-2\n"
                                      "    client_auth: client_secret_basic\n"
                                      "    scopes:\n"
                                      "      - openid\n"
                                      "      - groups\n"
                                      "    userinfo: true\n"
                                      "users:\n"
                                      "  username_claim: email\n"
                                      "  name_claim: display_name\n"
                                      "  groups_claim: roles\n"
                                      "  roles:\n"
                                      "    admin: [ha-admins]\n"
                                      "    user: [ha-users, family]\n"
                                      "    read_only:\n"
                                      "      - ha-guests\n"
                                      "  deny_without_role: false\n"
                                      "  default_role: user\n"
                                      "  link_existing: claim\n"
                                      "  link_claim: ha_username\n");

  const auto result = load_file(config_path);
  EXPECT_TRUE(result.warnings.empty()) << result.warnings.front();
  const Config& config = result.config;
  EXPECT_EQ(config.home_assistant.token, kToken);
  ASSERT_EQ(config.providers.size(), 2u);

  const Provider& main = config.providers[0];
  EXPECT_EQ(main.id, "main");
  EXPECT_EQ(main.name, "Example IdP");
  EXPECT_EQ(main.issuer, "https://idp.example.com/realms/x");
  EXPECT_EQ(main.client_id, "gatehouse");
  EXPECT_EQ(main.client_secret, kClientSecret);
  EXPECT_EQ(main.client_auth, ClientAuth::client_secret_post);
  EXPECT_EQ(main.scopes, (std::vector<std::string>{"openid", "profile"}));
  ASSERT_TRUE(main.ca_file.has_value());
  EXPECT_EQ(*main.ca_file, ca);
  EXPECT_EQ(main.algorithms, (std::vector<std::string>{"ES256", "EdDSA"}));
  EXPECT_FALSE(main.userinfo);

  const Provider& backup = config.providers[1];
  EXPECT_EQ(backup.id, "backup-idp");
  EXPECT_EQ(backup.name, "backup-idp");
  EXPECT_EQ(backup.issuer, "http://localhost:8080/"); // exactly as written, trailing slash included
  EXPECT_EQ(backup.client_id, "gatehouse-2");
  EXPECT_EQ(backup.client_secret, "second-secret-value");
  EXPECT_EQ(backup.client_auth, ClientAuth::client_secret_basic);
  EXPECT_EQ(backup.scopes, (std::vector<std::string>{"openid", "groups"}));
  EXPECT_FALSE(backup.ca_file.has_value());
  EXPECT_EQ(backup.algorithms.size(), 10u);
  EXPECT_TRUE(backup.userinfo);

  const Users& users = config.users;
  EXPECT_EQ(users.username_claim, "email");
  EXPECT_EQ(users.name_claim, "display_name");
  EXPECT_EQ(users.groups_claim, "roles");
  EXPECT_EQ(users.admin_groups, (std::vector<std::string>{"ha-admins"}));
  EXPECT_EQ(users.user_groups, (std::vector<std::string>{"ha-users", "family"}));
  EXPECT_EQ(users.read_only_groups, (std::vector<std::string>{"ha-guests"}));
  EXPECT_FALSE(users.deny_without_role);
  EXPECT_EQ(users.default_role, Role::user);
  EXPECT_EQ(users.link_existing, LinkExisting::claim);
  EXPECT_EQ(users.link_claim, "ha_username");
}

TEST_F(ConfigProvidersTest, LogoutIsLocalOrIdp) {
  const auto idp = provider_config("    issuer: https://idp.example.com\n    logout: idp\n");
  ASSERT_EQ(idp.providers.size(), 1u);
  EXPECT_EQ(idp.providers[0].logout, gatehouse::config::ProviderLogout::idp);
  const auto issue = provider_issue("    issuer: https://idp.example.com\n    logout: everywhere\n");
  EXPECT_EQ(issue.key, "providers[0].logout");
  EXPECT_CONTAINS(issue.message, "expected one of local, idp, got \"everywhere\"");
}

// SCIM's Users are the people of one sign-in source: another IdP's user could otherwise use a SCIM
// User's userName and take its role, its HA user or its cut-off.
TEST_F(ConfigProvidersTest, ScimBelongsToTheOnlySignInSourceOrTheOneNamed) {
  set_environment("GATEHOUSE_PROVIDER_SECOND_CLIENT_SECRET", kClientSecret);
  const auto scim_token = write_file("scim-token", std::string(40, 'a'));
  const std::string main = "    issuer: https://idp.example.com\n";
  const std::string second = "  - id: second\n    issuer: https://other.example.com\n    client_id: g\n";
  const std::string scim = "scim:\n  token_file: " + scim_token.string() + "\n";

  const auto only = provider_config(main + scim);
  EXPECT_EQ(only.scim->provider, "main");
  EXPECT_TRUE(only.scim->provisions("main"));
  EXPECT_FALSE(only.scim->provisions("second"));
  EXPECT_FALSE(only.scim->provisions("header:Remote-User"));

  const auto unnamed = provider_issue(main + second + scim);
  EXPECT_EQ(unnamed.key, "scim.provider");
  EXPECT_CONTAINS(unnamed.message, "with several (main, second)");
  EXPECT_EQ(provider_config(main + second + scim + "  provider: second\n").scim->provider, "second");
  const auto unknown = provider_issue(main + second + scim + "  provider: third\n");
  EXPECT_EQ(unknown.key, "scim.provider");
  EXPECT_CONTAINS(unknown.message, "expected one of: main, second");

  // header_identity is a source of its own, named header_identity.
  const std::string header = "header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: Remote-User\n";
  EXPECT_EQ(provider_issue(main + header + scim).key, "scim.provider");
  const auto by_header = provider_config(main + header + scim + "  provider: header_identity\n");
  EXPECT_TRUE(by_header.scim->provisions("header:Remote-User"));
  EXPECT_FALSE(by_header.scim->provisions("main"));
  // header_identity's own rule for SCIM (match on its username header) holds only where it is SCIM's source.
  EXPECT_EQ(provider_issue(main + header + scim + "  provider: header_identity\n  match_claim: email\n").key, "scim.match_claim");
  EXPECT_EQ(provider_config(main + header + scim + "  provider: main\n  match_claim: email\n").scim->provider, "main");
}

TEST_F(ConfigProvidersTest, RevalidateIsOffOrADurationOfAtLeastASecond) {
  EXPECT_FALSE(provider_config("    issuer: https://idp.example.com\n").providers[0].revalidate.has_value());
  const auto every = provider_config("    issuer: https://idp.example.com\n    revalidate: 15m\n");
  EXPECT_EQ(every.providers[0].revalidate, std::chrono::milliseconds(15 * 60 * 1000));
  const auto short_issue = provider_issue("    issuer: https://idp.example.com\n    revalidate: 500ms\n");
  EXPECT_EQ(short_issue.key, "providers[0].revalidate");
  EXPECT_CONTAINS(short_issue.message, "must be at least 1s");
  EXPECT_CONTAINS(provider_issue("    issuer: https://idp.example.com\n    revalidate: often\n").message,
                  "a duration like");
}

TEST_F(ConfigProvidersTest, DefaultsWhenKeysAreAbsent) {
  const auto without = load_text(kMinimal).config;
  EXPECT_TRUE(without.providers.empty());
  EXPECT_TRUE(load_text(kMinimal + "providers: []\nusers: {}\n").config.providers.empty());
  EXPECT_TRUE(load_text(kMinimal + "providers:\nusers:\n").config.providers.empty());

  const auto config = provider_config("    issuer: https://idp.example.com\n");
  ASSERT_EQ(config.providers.size(), 1u);
  const Provider& provider = config.providers[0];
  EXPECT_EQ(provider.name, "main");
  EXPECT_EQ(provider.client_secret, kClientSecret);
  EXPECT_EQ(provider.client_auth, ClientAuth::client_secret_basic);
  EXPECT_EQ(provider.scopes, (std::vector<std::string>{"openid", "profile", "email", "groups"}));
  EXPECT_FALSE(provider.ca_file.has_value());
  EXPECT_EQ(provider.algorithms, (std::vector<std::string>{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                                           "ES256", "ES384", "ES512", "EdDSA"}));
  EXPECT_TRUE(provider.userinfo);
  EXPECT_EQ(provider.logout, gatehouse::config::ProviderLogout::local);

  for (const Users& users : {without.users, config.users, config_for("users:\n  roles:\n").users}) {
    EXPECT_EQ(users.username_claim, "preferred_username");
    EXPECT_EQ(users.name_claim, "name");
    EXPECT_EQ(users.groups_claim, "groups");
    EXPECT_TRUE(users.admin_groups.empty());
    EXPECT_TRUE(users.user_groups.empty());
    EXPECT_TRUE(users.read_only_groups.empty());
    EXPECT_TRUE(users.deny_without_role);
    EXPECT_EQ(users.default_role, Role::read_only);
    EXPECT_EQ(users.link_existing, LinkExisting::off);
    EXPECT_EQ(users.link_claim, "hass_user");
  }
}

TEST_F(ConfigProvidersTest, ManyBadValuesAreReportedTogetherWithKeyPathAndLine) {
  set_environment(kTokenVariable, std::nullopt);
  const std::string yaml = kMinimal +                                 // 1-4
                           "providers:\n"                             // 5
                           "  - id: Main\n"                           // 6
                           "    issuer: http://idp.example.com\n"     // 7
                           "    client_id: ''\n"                      // 8
                           "    client_auth: basic\n"                 // 9
                           "    scopes: [profile, email]\n"           // 10
                           "    algorithms: [RS256, none, HS256]\n"   // 11
                           "    userinfo: maybe\n"                    // 12
                           "    colour: blue\n"                       // 13
                           "  - id: second\n"                         // 14
                           "    issuer: https://idp.example.com?x=1\n" // 15
                           "    client_id: gatehouse\n"               // 16
                           "    ca_file: /nonexistent/ca.pem\n"       // 17
                           "users:\n"                                 // 18
                           "  username_claim: ''\n"                   // 19
                           "  roles:\n"                               // 20
                           "    admins: [x]\n"                        // 21
                           "    user: ha-users\n"                     // 22
                           "  deny_without_role: nope\n"              // 23
                           "  default_role: admin\n"                  // 24
                           "  link_existing: sometimes\n"             // 25
                           "  link_claim: ''\n";                      // 26
  const auto issues = issues_of(yaml);
  EXPECT_EQ(keys_and_lines(issues),
            (std::vector<std::string>{"home_assistant.token_file@3",
                                      "providers[0].algorithms@11",
                                      "providers[0].algorithms@11",
                                      "providers[0].client_auth@9",
                                      "providers[0].client_id@8",
                                      "providers[0].client_secret_file@6",
                                      "providers[0].colour@13",
                                      "providers[0].id@6",
                                      "providers[0].issuer@7",
                                      "providers[0].scopes@10",
                                      "providers[0].userinfo@12",
                                      "providers[1].ca_file@17",
                                      "providers[1].client_secret_file@14",
                                      "providers[1].issuer@15",
                                      "users.default_role@24",
                                      "users.deny_without_role@23",
                                      "users.link_claim@26",
                                      "users.link_existing@25",
                                      "users.roles.admins@21",
                                      "users.roles.user@22",
                                      "users.username_claim@19"}))
      << joined(issues);

  const auto message_of = [&](const std::string& key, std::size_t nth = 0) {
    for (const auto& issue : issues) {
      if (issue.key == key && nth-- == 0) return issue.message;
    }
    return std::string("(no issue for " + key + ")");
  };
  EXPECT_CONTAINS(message_of("providers[0].id"), "lowercase letters, digits");
  EXPECT_CONTAINS(message_of("providers[0].id"), "got \"Main\"");
  EXPECT_CONTAINS(message_of("providers[0].issuer"), "the IdP must be reached over TLS");
  EXPECT_CONTAINS(message_of("providers[0].client_id"), "got \"\"");
  EXPECT_CONTAINS(message_of("providers[0].client_auth"),
                  "expected one of client_secret_basic, client_secret_post, got \"basic\"");
  EXPECT_CONTAINS(message_of("providers[0].scopes"), "must include openid");
  EXPECT_CONTAINS(message_of("providers[0].algorithms", 0), "\"none\" is never accepted for ID tokens");
  EXPECT_CONTAINS(message_of("providers[0].algorithms", 1), "\"HS256\" is never accepted for ID tokens: symmetric");
  EXPECT_CONTAINS(message_of("providers[0].userinfo"), "expected true or false, got \"maybe\"");
  EXPECT_CONTAINS(message_of("providers[0].colour"), "unknown key");
  EXPECT_CONTAINS(message_of("providers[0].client_secret_file"), "GATEHOUSE_PROVIDER_<ID>_CLIENT_SECRET");
  EXPECT_CONTAINS(message_of("providers[1].client_secret_file"), "GATEHOUSE_PROVIDER_SECOND_CLIENT_SECRET");
  EXPECT_CONTAINS(message_of("providers[1].issuer"), "remove the query");
  EXPECT_CONTAINS(message_of("providers[1].ca_file"), "cannot read \"/nonexistent/ca.pem\": No such file or directory");
  EXPECT_CONTAINS(message_of("users.username_claim"), "got \"\"");
  EXPECT_CONTAINS(message_of("users.roles.admins"), "did you mean \"admin\"?");
  EXPECT_CONTAINS(message_of("users.roles.user"), "expected a list like [ha-admins, family], got \"ha-users\"");
  EXPECT_CONTAINS(message_of("users.deny_without_role"), "expected true or false, got \"nope\"");
  EXPECT_CONTAINS(message_of("users.default_role"), "expected one of read_only, user, got \"admin\"");
  EXPECT_CONTAINS(message_of("users.link_existing"), "expected one of off, claim, username, got \"sometimes\"");
  EXPECT_CONTAINS(message_of("users.link_claim"), "got \"\"");
  EXPECT_CONTAINS(message_of("home_assistant.token_file"), "required when providers are configured");
}

TEST_F(ConfigProvidersTest, RequiredProviderKeysAreNamedWithIndex) {
  const auto issues = issues_of(kWithProvider + "    issuer: https://idp.example.com\n"
                                                "  - name: Second\n"       // 9
                                                "  - {}\n");               // 10
  EXPECT_EQ(keys_and_lines(issues),
            (std::vector<std::string>{"providers[1].client_id@9", "providers[1].client_secret_file@9",
                                      "providers[1].id@9", "providers[1].issuer@9", "providers[2].client_id@10",
                                      "providers[2].client_secret_file@10", "providers[2].id@10",
                                      "providers[2].issuer@10"}))
      << joined(issues);
  for (const auto& issue : issues) EXPECT_CONTAINS(issue.message, "required key is missing") << issue.key;
}

TEST_F(ConfigProvidersTest, ProvidersMustBeAListOfBlocks) {
  const auto mapping = issue_for("providers:\n  id: main\n");
  EXPECT_EQ(mapping.key, "providers");
  EXPECT_EQ(mapping.line, 5);
  EXPECT_CONTAINS(mapping.message, "expected a list of providers, each starting with \"- id: ...\"");
  EXPECT_CONTAINS(mapping.message, "got a block of keys");

  const auto item = single_issue(kWithProvider + "    issuer: https://idp.example.com\n  - main\n");
  EXPECT_EQ(item.key, "providers[1]");
  EXPECT_EQ(item.line, 9);
  EXPECT_CONTAINS(item.message, "expected a provider: a block of keys (id, name, issuer");
  EXPECT_CONTAINS(item.message, "got \"main\"");
}

TEST_F(ConfigProvidersTest, UnknownKeyInsideAProviderItemHasItsPath) {
  const auto issues = issues_of(kWithProvider + "    issuer: https://idp.example.com\n"
                                                "  - id: second\n"                         // 9
                                                "    isuer: https://idp.example.com\n"     // 10
                                                "    client_id: x\n"                       // 11
                                                "    client_secret_file: /etc/x\n"         // 12
                                                "    client_secret: " + std::string(kClientSecret) + "\n"); // 13
  ASSERT_EQ(issues.size(), 4u) << joined(issues);
  EXPECT_EQ(issues[0].key, "providers[1].issuer"); // missing: reported on the item's line
  EXPECT_EQ(issues[0].line, 9);
  EXPECT_EQ(issues[1].key, "providers[1].isuer");
  EXPECT_EQ(issues[1].line, 10);
  EXPECT_EQ(issues[1].message, "unknown key; did you mean \"issuer\"?");
  EXPECT_EQ(issues[2].key, "providers[1].client_secret_file");
  EXPECT_EQ(issues[2].line, 12);
  EXPECT_EQ(issues[3].key, "providers[1].client_secret");
  EXPECT_EQ(issues[3].line, 13);
  EXPECT_EQ(issues[3].message, "unknown key; did you mean \"client_secret_file\"?");
  EXPECT_NOT_CONTAINS(joined(issues), kClientSecret);
}

TEST_F(ConfigProvidersTest, ProviderKeysInTheWrongPlaceAreDirected) {
  const auto issuer = issue_for("issuer: https://idp.example.com\n");
  EXPECT_EQ(issuer.key, "issuer");
  EXPECT_CONTAINS(issuer.message, "did you mean providers.issuer? It belongs under \"providers:\"");
  const auto admin = issue_for("users:\n  admin: [ha-admins]\n");
  EXPECT_EQ(admin.key, "users.admin");
  EXPECT_CONTAINS(admin.message, "did you mean users.roles.admin? It belongs under \"users.roles:\"");
  const auto provider = issue_for("provider: []\n");
  EXPECT_CONTAINS(provider.message, "did you mean \"providers\"?");
}

TEST_F(ConfigProvidersTest, DuplicateIdIsAnError) {
  set_environment("GATEHOUSE_PROVIDER_OTHER_CLIENT_SECRET", "other");
  const auto issue = provider_issue("    issuer: https://idp.example.com\n"
                                    "  - id: other\n"                       // 9
                                    "    issuer: https://idp2.example.com\n"
                                    "    client_id: x\n"
                                    "  - id: main\n"                        // 12
                                    "    issuer: https://idp3.example.com\n"
                                    "    client_id: y\n");
  EXPECT_EQ(issue.key, "providers[2].id");
  EXPECT_EQ(issue.line, 12);
  EXPECT_EQ(issue.message, "\"main\" is already the id of providers[0] (line 6); each provider needs its own id");
}

TEST_F(ConfigProvidersTest, IdMustMatchThePattern) {
  for (const std::string& good : std::vector<std::string>{"a", "0idp", "my_idp-2", std::string(32, 'x')}) {
    std::string variable = "GATEHOUSE_PROVIDER_";
    for (const char c : good) variable += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    set_environment(variable + "_CLIENT_SECRET", "s");
    const auto config = load_text(kMinimal + "providers:\n  - id: '" + good +
                                  "'\n    issuer: https://idp.example.com\n    client_id: c\n")
                            .config;
    ASSERT_EQ(config.providers.size(), 1u);
    EXPECT_EQ(config.providers[0].id, good);
  }
  for (const std::string& bad :
       std::vector<std::string>{"Main", "-main", "_main", "main idp", "main.idp", "''", std::string(33, 'x'), "[a]"}) {
    const auto issues = issues_of(kMinimal + "providers:\n  - id: " + bad +
                                  "\n    issuer: https://idp.example.com\n    client_id: c\n"
                                  "    client_secret_file: /dev/null\n");
    ASSERT_FALSE(issues.empty()) << bad;
    EXPECT_EQ(issues[0].key, "providers[0].id") << bad;
    EXPECT_EQ(issues[0].line, 6) << bad;
    EXPECT_CONTAINS(issues[0].message, "expected an id of 1 to 32 characters") << bad;
  }
}

TEST_F(ConfigProvidersTest, HttpIssuerOnlyOnLoopback) {
  for (const std::string issuer : {"http://127.0.0.1:8080/realms/x", "http://127.9.8.7", "'http://[::1]:9000'",
                                   "http://localhost:8080", "http://LocalHost/idp"}) {
    const auto config = provider_config("    issuer: " + issuer + "\n");
    ASSERT_EQ(config.providers.size(), 1u) << issuer;
    EXPECT_TRUE(config.providers[0].issuer.starts_with("http://")) << issuer;
  }
  for (const std::string issuer : {"http://idp.example.com", "http://10.0.0.1:8080/realms/x", "http://128.0.0.1",
                                   "'http://[::2]'", "'http://[::ffff:127.0.0.1]'", "http://localhost.example.com"}) {
    const auto issue = provider_issue("    issuer: " + issuer + "\n");
    EXPECT_EQ(issue.key, "providers[0].issuer") << issuer;
    EXPECT_EQ(issue.line, 8) << issuer;
    EXPECT_CONTAINS(issue.message, "the IdP must be reached over TLS (https://); plain http:// is only allowed for "
                                   "a loopback host")
        << issuer;
  }
  // Boost.URL 1.81 would read this host as 127.0.0.1: refused outright rather than taken for loopback.
  for (const std::string issuer : {"http://127.0.0.1.nip.io", "https://10.0.0.1.example.com/realms/x"}) {
    const auto issue = provider_issue("    issuer: " + issuer + "\n");
    EXPECT_EQ(issue.key, "providers[0].issuer") << issuer;
    EXPECT_CONTAINS(issue.message, "may not start with an IP address") << issuer;
  }
}

TEST_F(ConfigProvidersTest, IssuerIsKeptExactlyAsWritten) {
  EXPECT_EQ(provider_config("    issuer: https://idp.example.com/realms/x/\n").providers[0].issuer,
            "https://idp.example.com/realms/x/");
  EXPECT_EQ(provider_config("    issuer: HTTPS://Idp.Example.com:8443\n").providers[0].issuer,
            "HTTPS://Idp.Example.com:8443");
  EXPECT_EQ(provider_config("    issuer: https://accounts.google.com\n").providers[0].issuer,
            "https://accounts.google.com");
}

TEST_F(ConfigProvidersTest, IssuerRejectsBadUrls) {
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"idp.example.com", "add the scheme, https://"},
      {"ftp://idp.example.com", "the scheme must be https"},
      {"https://idp.example.com/realms/x?foo=bar", "remove the query"},
      {"'https://idp.example.com?'", "remove the query"},
      {"'https://idp.example.com/#top'", "remove the fragment"},
      {"https://user:hunter2@idp.example.com", "remove the user name and password"},
      {"https://", "host"},
      {"'https://idp.example.com:0'", "port after the host"},
      {"https://idp.example.com:99999", "port after the host"},
      {"\"https://idp example.com\"", "not a valid URL"},
      {"https://idp_!.example.com", "letters, digits"},
  };
  for (const auto& c : cases) {
    const auto issue = provider_issue("    issuer: " + c.value + "\n");
    EXPECT_EQ(issue.key, "providers[0].issuer") << c.value;
    EXPECT_EQ(issue.line, 8) << c.value;
    EXPECT_CONTAINS(issue.message, "expected an https:// URL like \"https://idp.example.com/realms/main\"") << c.value;
    EXPECT_CONTAINS(issue.message, c.hint) << c.value << " -> " << issue.message;
    EXPECT_NOT_CONTAINS(issue.message, "hunter2");
  }
  const auto list = provider_issue("    issuer: [https://idp.example.com]\n");
  EXPECT_CONTAINS(list.message, "got a list");
}

TEST_F(ConfigProvidersTest, ClientIdAndNameMustBeNonEmptyStrings) {
  const auto missing_id = single_issue(kMinimal + "providers:\n  - id: main\n    issuer: https://idp.example.com\n");
  EXPECT_EQ(missing_id.key, "providers[0].client_id");
  EXPECT_EQ(missing_id.line, 6);
  EXPECT_CONTAINS(missing_id.message, "required key is missing");
  const auto blank = single_issue(kMinimal + "providers:\n  - id: main\n    issuer: https://idp.example.com\n"
                                             "    client_id: '  '\n");
  EXPECT_EQ(blank.key, "providers[0].client_id");
  EXPECT_EQ(blank.line, 8);
  const auto null_name = provider_issue("    issuer: https://idp.example.com\n    name:\n");
  EXPECT_EQ(null_name.key, "providers[0].name");
  EXPECT_CONTAINS(null_name.message, "got nothing");
}

TEST_F(ConfigProvidersTest, ClientAuthIsOneOfTwo) {
  EXPECT_EQ(provider_config("    issuer: https://i.example\n    client_auth: client_secret_post\n")
                .providers[0]
                .client_auth,
            ClientAuth::client_secret_post);
  const auto typo = provider_issue("    issuer: https://i.example\n    client_auth: client_secret_pst\n");
  EXPECT_EQ(typo.key, "providers[0].client_auth");
  EXPECT_EQ(typo.line, 9);
  EXPECT_CONTAINS(typo.message, "did you mean \"client_secret_post\"?");
  const auto jwt = provider_issue("    issuer: https://i.example\n    client_auth: private_key_jwt\n");
  EXPECT_CONTAINS(jwt.message, "expected one of client_secret_basic, client_secret_post, got \"private_key_jwt\"");
}

TEST_F(ConfigProvidersTest, ScopesMustBeANonEmptyListWithOpenid) {
  EXPECT_EQ(provider_config("    issuer: https://i.example\n    scopes: [openid]\n").providers[0].scopes,
            (std::vector<std::string>{"openid"}));
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"[]", "got an empty list"},
      {"", "got an empty list"},
      {"openid profile", "expected a list like [openid, profile, email, groups], got \"openid profile\""},
      {"[profile, email]", "the scopes must include openid"},
      {"[openid, '']", "expected a non-empty name in the list, got \"\""},
      {"[openid, [a]]", "got a list"},
      {"['openid profile']", "without spaces"},
  };
  for (const auto& c : cases) {
    const auto issue = provider_issue("    issuer: https://i.example\n    scopes: " + c.value + "\n");
    EXPECT_EQ(issue.key, "providers[0].scopes") << c.value;
    EXPECT_EQ(issue.line, 9) << c.value;
    EXPECT_CONTAINS(issue.message, c.hint) << c.value << " -> " << issue.message;
  }
}

TEST_F(ConfigProvidersTest, AlgorithmsAreASubsetOfTheTenAsymmetricOnes) {
  EXPECT_EQ(provider_config("    issuer: https://i.example\n    algorithms: [PS512, RS256, PS512]\n")
                .providers[0]
                .algorithms,
            (std::vector<std::string>{"PS512", "RS256"}));
  struct Case {
    std::string value;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"[none]", "\"none\" is never accepted for ID tokens: an unsigned token proves nothing"},
      {"[RS256, HS256]", "\"HS256\" is never accepted for ID tokens: symmetric (HMAC) algorithms"},
      {"[HS512]", "symmetric"},
      {"[hs384]", "symmetric"},
      {"[rs256]", "expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, got "
                  "\"rs256\"; did you mean \"RS256\"?"},
      {"[ES256K]", "got \"ES256K\""},
      {"[]", "got an empty list (leave the key out to accept all ten)"},
      {"RS256", "expected a list like [RS256, ES256], got \"RS256\""},
  };
  for (const auto& c : cases) {
    const auto issue = provider_issue("    issuer: https://i.example\n    algorithms: " + c.value + "\n");
    EXPECT_EQ(issue.key, "providers[0].algorithms") << c.value;
    EXPECT_EQ(issue.line, 9) << c.value;
    EXPECT_CONTAINS(issue.message, c.hint) << c.value << " -> " << issue.message;
  }
  // Each bad item on its own line.
  const auto issues = issues_of(kWithProvider + "    issuer: https://i.example\n    algorithms:\n"
                                                "      - RS256\n      - none\n      - HS256\n");
  ASSERT_EQ(issues.size(), 2u) << joined(issues);
  EXPECT_EQ(issues[0].line, 11);
  EXPECT_EQ(issues[1].line, 12);
}

TEST_F(ConfigProvidersTest, CaFileMustBeReadable) {
  const auto ca = write_file("ca.pem", "not even PEM; parsed later");
  EXPECT_EQ(provider_config("    issuer: https://i.example\n    ca_file: " + ca.string() + "\n").providers[0].ca_file,
            std::optional<fs::path>(ca));
  const auto absent = provider_issue("    issuer: https://i.example\n    ca_file: " + (directory_ / "no.pem").string() +
                                     "\n");
  EXPECT_EQ(absent.key, "providers[0].ca_file");
  EXPECT_EQ(absent.line, 9);
  EXPECT_CONTAINS(absent.message, "No such file or directory");
  const auto folder = provider_issue("    issuer: https://i.example\n    ca_file: " + directory_.string() + "\n");
  EXPECT_CONTAINS(folder.message, "it is a directory");
}

TEST_F(ConfigProvidersTest, UserinfoIsABoolean) {
  EXPECT_FALSE(provider_config("    issuer: https://i.example\n    userinfo: false\n").providers[0].userinfo);
  EXPECT_FALSE(provider_config("    issuer: https://i.example\n    userinfo: no\n").providers[0].userinfo);
  EXPECT_TRUE(provider_config("    issuer: https://i.example\n    userinfo: True\n").providers[0].userinfo);
  const auto issue = provider_issue("    issuer: https://i.example\n    userinfo: 1\n");
  EXPECT_EQ(issue.key, "providers[0].userinfo");
  EXPECT_EQ(issue.message, "expected true or false, got \"1\"");
}

// ---------------------------------------------------------------------------------------------- client secrets

TEST_F(ConfigProvidersTest, ClientSecretComesFromTheEnvironment) {
  set_environment("GATEHOUSE_PROVIDER_MY_IDP_2_CLIENT_SECRET", std::string("\t") + kClientSecret + "\n");
  const auto config = load_text(kMinimal + "providers:\n  - id: my-idp_2\n    issuer: https://i.example\n"
                                           "    client_id: c\n")
                          .config;
  EXPECT_EQ(config.providers[0].client_secret, kClientSecret);
}

TEST_F(ConfigProvidersTest, ClientSecretFileIsReadAndWinsOverTheEnvironment) {
  const auto secret = write_file("idp-secret", std::string("  ") + kClientSecret + "\n");
  set_environment(kMainSecretVariable, "from-the-environment");
  const auto result = load_text(kWithProvider + "    issuer: https://i.example\n    client_secret_file: " +
                                secret.string() + "\n");
  EXPECT_EQ(result.config.providers[0].client_secret, kClientSecret);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], "providers[0].client_secret_file and GATEHOUSE_PROVIDER_MAIN_CLIENT_SECRET are both "
                                "set; using the file");
}

TEST_F(ConfigProvidersTest, MissingClientSecretNamesBothWays) {
  set_environment(kMainSecretVariable, std::nullopt);
  const auto issue = provider_issue("    issuer: https://i.example\n");
  EXPECT_EQ(issue.key, "providers[0].client_secret_file");
  EXPECT_EQ(issue.line, 6);
  EXPECT_EQ(issue.message, "required key is missing; add the path of a file holding the client secret, or set the "
                           "environment variable GATEHOUSE_PROVIDER_MAIN_CLIENT_SECRET");
}

TEST_F(ConfigProvidersTest, ClientSecretFileProblems) {
  set_environment(kMainSecretVariable, std::nullopt);
  const auto absent = directory_ / "no-secret";
  const auto missing =
      provider_issue("    issuer: https://i.example\n    client_secret_file: " + absent.string() + "\n");
  EXPECT_EQ(missing.key, "providers[0].client_secret_file");
  EXPECT_EQ(missing.line, 9);
  EXPECT_EQ(missing.message, "cannot read \"" + absent.string() + "\": No such file or directory");

  const auto empty = write_file("empty-secret", " \n");
  const auto empty_issue =
      provider_issue("    issuer: https://i.example\n    client_secret_file: " + empty.string() + "\n");
  EXPECT_CONTAINS(empty_issue.message, "the file is empty");

  const auto two_lines = write_file("two-lines", std::string(kClientSecret) + "\nsecond line\n");
  const auto broken =
      provider_issue("    issuer: https://i.example\n    client_secret_file: " + two_lines.string() + "\n");
  EXPECT_CONTAINS(broken.message, "contains a line break or control characters");

  const auto null_path = provider_issue("    issuer: https://i.example\n    client_secret_file:\n");
  EXPECT_CONTAINS(null_path.message, "expected a file or folder path, got nothing");
}

TEST_F(ConfigProvidersTest, EmptyEnvironmentSecretIsAnError) {
  set_environment(kMainSecretVariable, "  ");
  const auto issue = provider_issue("    issuer: https://i.example\n");
  EXPECT_EQ(issue.key, kMainSecretVariable);
  EXPECT_EQ(issue.line, 0);
  EXPECT_CONTAINS(issue.message, "is set but empty");
}

TEST_F(ConfigProvidersTest, ClientSecretFileReadableByOthersWarns) {
  const auto secret = write_file("open-secret", kClientSecret,
                                 fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  set_environment(kMainSecretVariable, std::nullopt);
  const auto result =
      load_text(kWithProvider + "    issuer: https://i.example\n    client_secret_file: " + secret.string() + "\n");
  EXPECT_EQ(result.config.providers[0].client_secret, kClientSecret);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], "providers[0].client_secret_file: " + secret.string() +
                                    " is readable by other users (mode 0604); chmod 600 it");
}

TEST_F(ConfigProvidersTest, IdsSharingAnEnvironmentVariableAreRefused) {
  set_environment("GATEHOUSE_PROVIDER_A_B_CLIENT_SECRET", "shared");
  const auto issue = single_issue(kMinimal + "providers:\n"
                                             "  - id: a-b\n    issuer: https://i.example\n    client_id: c\n"
                                             "  - id: a_b\n    issuer: https://j.example\n    client_id: d\n");
  EXPECT_EQ(issue.key, "providers[1].id");
  EXPECT_EQ(issue.line, 9);
  EXPECT_CONTAINS(issue.message, "GATEHOUSE_PROVIDER_A_B_CLIENT_SECRET, as provider \"a-b\" does");
}

TEST_F(ConfigProvidersTest, ClientSecretNeverAppearsInIssuesOrWarnings) {
  constexpr const char* kPasted = "x7Gk2PqL9mZt4RvB8nWc3HsJ6yDf1QaE"; // a Keycloak-style secret, 32 characters
  constexpr const char* kEnvironmentSecret = "environment-secret-\x01-value";
  const auto open_secret = write_file("open-secret", kClientSecret, fs::perms::owner_read | fs::perms::others_read);
  const auto two_lines = write_file("two-lines", std::string(kClientSecret) + "\nmore-secret-text\n");
  set_environment("GATEHOUSE_PROVIDER_THIRD_CLIENT_SECRET", kEnvironmentSecret);
  set_environment("GATEHOUSE_PROVIDER_FOURTH_CLIENT_SECRET", kClientSecret);
  const std::string providers = "providers:\n"
                                "  - id: main\n    issuer: https://i.example\n    client_id: c\n"
                                "    client_secret_file: " + std::string(kPasted) + "\n"
                                "  - id: second\n    issuer: https://i.example\n    client_id: c\n"
                                "    client_secret_file: " + two_lines.string() + "\n"
                                "  - id: third\n    issuer: https://i.example\n    client_id: c\n"
                                "  - id: fourth\n    issuer: http://i.example\n    client_id: c\n"
                                "    client_secret: " + std::string(kClientSecret) + "\n";
  const auto issues = issues_of(kMinimal + providers);
  ASSERT_EQ(issues.size(), 5u) << joined(issues);
  for (const auto& issue : issues) {
    for (const std::string& secret :
         std::vector<std::string>{kClientSecret, kPasted, "more-secret", "environment-secret"}) {
      EXPECT_NOT_CONTAINS(issue.to_string(), secret);
    }
  }
  EXPECT_CONTAINS(issues[0].message, "not shown, in case it is the client secret itself");

  const auto result = load_text(kMinimal + "providers:\n  - id: fourth\n    issuer: https://i.example\n"
                                           "    client_id: c\n    client_secret_file: " + open_secret.string() + "\n");
  ASSERT_EQ(result.warnings.size(), 2u); // readable by others; file and environment both set
  for (const auto& warning : result.warnings) EXPECT_NOT_CONTAINS(warning, kClientSecret);
}

// ---------------------------------------------------------------------------------------------- token for SSO

TEST_F(ConfigProvidersTest, HomeAssistantTokenIsRequiredWithProviders) {
  set_environment(kTokenVariable, std::nullopt);
  const auto issue = provider_issue("    issuer: https://i.example\n");
  EXPECT_EQ(issue.key, "home_assistant.token_file");
  EXPECT_EQ(issue.line, 3);
  EXPECT_CONTAINS(issue.message, "required when providers are configured");
  EXPECT_CONTAINS(issue.message, "GATEHOUSE_HA_TOKEN");

  // An unreadable token file is reported once, as itself.
  const auto unreadable = single_issue(kMinimal + "  token_file: " + (directory_ / "none").string() + "\n" +
                                       "providers:\n  - id: main\n    client_id: c\n    issuer: https://i.example\n");
  EXPECT_EQ(unreadable.key, "home_assistant.token_file");
  EXPECT_CONTAINS(unreadable.message, "No such file or directory");

  const auto token = write_file("token", kToken);
  EXPECT_EQ(load_text(kMinimal + "  token_file: " + token.string() + "\n" +
                      "providers:\n  - id: main\n    client_id: c\n    issuer: https://i.example\n")
                .config.home_assistant.token,
            kToken);
  EXPECT_NO_THROW(load_text(kMinimal + "providers: []\n"));
}

// ---------------------------------------------------------------------------------------------- users

TEST_F(ConfigTest, LinkExistingAcceptsBareOffAsYamlBooleanFalse) {
  EXPECT_EQ(config_for("users:\n  link_existing: off\n").users.link_existing, LinkExisting::off);
  EXPECT_EQ(config_for("users:\n  link_existing: 'off'\n").users.link_existing, LinkExisting::off);
  EXPECT_EQ(config_for("users:\n  link_existing: false\n").users.link_existing, LinkExisting::off);
  EXPECT_EQ(config_for("users:\n  link_existing: Off\n").users.link_existing, LinkExisting::off);
  EXPECT_EQ(config_for("users:\n  link_existing: claim\n").users.link_existing, LinkExisting::claim);
  EXPECT_EQ(config_for("users:\n  link_existing: username\n").users.link_existing, LinkExisting::username);
  const auto yes = issue_for("users:\n  link_existing: true\n");
  EXPECT_EQ(yes.key, "users.link_existing");
  EXPECT_EQ(yes.line, 6);
  EXPECT_EQ(yes.message, "expected one of off, claim, username, got \"true\"");
  const auto typo = issue_for("users:\n  link_existing: usernam\n");
  EXPECT_CONTAINS(typo.message, "did you mean \"username\"?");
}

TEST_F(ConfigTest, UsersRejectsBadValues) {
  struct Case {
    std::string yaml;
    std::string key;
    std::string hint;
  };
  const std::vector<Case> cases{
      {"users: [a]\n", "users", "expected a block of keys (username_claim"},
      {"users:\n  username_claim:\n", "users.username_claim", "got nothing"},
      {"users:\n  name_claim: [a]\n", "users.name_claim", "got a list"},
      {"users:\n  groups_claim: ''\n", "users.groups_claim", "expected the name of a claim, like \"groups\""},
      {"users:\n  link_claim: ' '\n", "users.link_claim", "got \" \""},
      {"users:\n  roles: [admin]\n", "users.roles", "expected a block of keys (admin, user, read_only)"},
      {"users:\n  roles:\n    owner: [x]\n", "users.roles.owner", "the keys allowed here are admin, user, read_only"},
      {"users:\n  roles:\n    admin: {a: b}\n", "users.roles.admin", "got a block of keys"},
      {"users:\n  roles:\n    admin: [ok, '']\n", "users.roles.admin", "expected a non-empty name in the list"},
      {"users:\n  deny_without_role: 0\n", "users.deny_without_role", "expected true or false, got \"0\""},
      {"users:\n  default_role: admin\n", "users.default_role",
       "got \"admin\"; admin is only given to members of users.roles.admin"},
      {"users:\n  default_role: readonly\n", "users.default_role", "did you mean \"read_only\"?"},
  };
  for (const auto& c : cases) {
    const auto issue = issue_for(c.yaml);
    EXPECT_EQ(issue.key, c.key) << c.yaml;
    EXPECT_GE(issue.line, 5) << c.yaml;
    EXPECT_CONTAINS(issue.message, c.hint) << c.yaml << " -> " << issue.message;
  }
}

TEST_F(ConfigTest, UsersRolesAndFlags) {
  const auto users = config_for("users:\n  roles:\n    admin:\n    user: []\n    read_only: [guests, 'kids']\n"
                                "  deny_without_role: no\n  default_role: read_only\n")
                         .users;
  EXPECT_TRUE(users.admin_groups.empty());
  EXPECT_TRUE(users.user_groups.empty());
  EXPECT_EQ(users.read_only_groups, (std::vector<std::string>{"guests", "kids"}));
  EXPECT_FALSE(users.deny_without_role);
  EXPECT_EQ(users.default_role, Role::read_only);
}

// ---------------------------------------------------------------------------------------------- pieces

TEST_F(ConfigTest, ShieldBlock) {
  const auto defaults = config_for("");
  EXPECT_EQ(defaults.shield.mode, gatehouse::config::ShieldMode::enforce);
  EXPECT_TRUE(defaults.shield.public_paths.empty());
  EXPECT_FALSE(defaults.shield.local_files);

  const auto set = config_for("shield:\n  mode: report\n  public_paths: [\"/hacsfiles/*\", /robots2.txt]\n  local_files: true\n");
  EXPECT_EQ(set.shield.mode, gatehouse::config::ShieldMode::report);
  EXPECT_EQ(set.shield.public_paths, (std::vector<std::string>{"/hacsfiles/*", "/robots2.txt"}));
  EXPECT_TRUE(set.shield.local_files);

  const auto mode = issue_for("shield:\n  mode: enforse\n");
  EXPECT_EQ(mode.key, "shield.mode");
  EXPECT_NE(mode.message.find("did you mean \"enforce\""), std::string::npos) << mode.message;

  for (const std::string pattern : {"api/x", "/api/*/x", "/a/../b", "/a%2fb", "/*", "/a//b"}) {
    const auto issue = issue_for("shield:\n  public_paths: [\"" + pattern + "\"]\n");
    EXPECT_EQ(issue.key, "shield.public_paths") << pattern;
    EXPECT_EQ(issue.line, 6) << pattern;
  }
}

TEST_F(ConfigTest, LocalLoginAndTrustedDevices) {
  using gatehouse::config::LocalLogin;
  EXPECT_EQ(config_for("").local_login, LocalLogin::allowed);
  EXPECT_EQ(config_for("local_login: disabled\n").local_login, LocalLogin::disabled);
  EXPECT_EQ(config_for("local_login: off\n").local_login, LocalLogin::disabled);
  const auto networks = config_for("local_login: networks\nlocal_login_networks: [192.168.1.0/24]\n");
  EXPECT_EQ(networks.local_login, LocalLogin::networks);
  EXPECT_EQ(networks.local_login_networks.size(), 1u);

  const auto no_networks = issue_for("local_login: networks\n");
  EXPECT_EQ(no_networks.key, "local_login_networks");
  EXPECT_EQ(no_networks.line, 5);
  EXPECT_EQ(issue_for("local_login: sometimes\n").key, "local_login");
  EXPECT_EQ(issue_for("local_login: networks\nlocal_login_networks: [not-a-network]\n").key, "local_login_networks");

  // Devices create HA users, which takes the admin token.
  const std::string device = "trusted_devices:\n  - { name: kitchen, networks: [192.168.1.50/32], user: kiosk-kitchen }\n";
  const auto without_token = issue_for(device);
  EXPECT_EQ(without_token.key, "home_assistant.token_file");
  ::setenv(kTokenVariable, "admin-token", 1); // restored by the fixture
  EXPECT_EQ(config_for(device).trusted_devices.at(0).role, gatehouse::config::Role::read_only);
  EXPECT_EQ(issue_for("trusted_devices:\n  - { name: k, networks: [192.168.1.50/32], user: Kiosk }\n").key,
            "trusted_devices[0].user");
  EXPECT_EQ(issue_for("trusted_devices:\n  - { name: k, networks: [192.168.1.50/32], user: k, role: admin }\n").key,
            "trusted_devices[0].role");
  EXPECT_EQ(issue_for("trusted_devices:\n  - { name: k, user: k }\n").key, "trusted_devices[0].networks");
}

TEST(ConfigSecretFile, ReportsPermissionsAndReasons) {
  const auto directory = fs::temp_directory_path() / ("gatehouse-test-" + std::to_string(std::random_device{}()));
  fs::create_directories(directory);
  const auto path = directory / "secret";
  std::ofstream(path) << "  value  \n";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);

  const auto read = read_secret_file(path);
  ASSERT_TRUE(read.value.has_value());
  EXPECT_EQ(*read.value, "value");
  EXPECT_EQ(read.permissions, 0600u);
  EXPECT_FALSE(read.readable_by_others());
  EXPECT_FALSE(secret_permission_warning("scim.token_file", path, read).has_value());

  fs::permissions(path, fs::perms::owner_read | fs::perms::group_write);
  const auto group_writable = read_secret_file(path);
  EXPECT_TRUE(group_writable.readable_by_others());
  EXPECT_EQ(secret_permission_warning("scim.token_file", path, group_writable).value_or(""),
            "scim.token_file: " + path.string() + " is writable by other users (mode 0420); chmod 600 it");
  // root:gatehouse 0640, as the package sets secrets up: the service's group reads it, nobody else.
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const auto group_readable = read_secret_file(path);
  EXPECT_FALSE(group_readable.readable_by_others());
  EXPECT_FALSE(secret_permission_warning("scim.token_file", path, group_readable).has_value());
  fs::permissions(path, fs::perms::owner_read | fs::perms::others_read);
  EXPECT_TRUE(read_secret_file(path).readable_by_others());

  std::ofstream(directory / "big") << std::string(70 * 1024, 'x');
  EXPECT_CONTAINS(read_secret_file(directory / "big").error, "larger than 64 KiB");
  EXPECT_EQ(read_secret_file(directory / "absent").error, "No such file or directory");
  EXPECT_FALSE(read_secret_file(directory / "absent").value.has_value());

  fs::remove_all(directory);
}

TEST(ConfigValues, QuotedValueEscapesAndShortens) {
  EXPECT_EQ(quoted_value("plain"), "\"plain\"");
  EXPECT_EQ(quoted_value("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(quoted_value(std::string_view("\x01", 1)), "\"\\x01\"");
  const auto long_text = quoted_value(std::string(200, 'a'));
  EXPECT_EQ(long_text, "\"" + std::string(80, 'a') + "...\"");
}

TEST(ConfigValues, ParsersReturnValuesOrProblems) {
  EXPECT_EQ(parse_byte_size("4MiB").value, std::optional<std::uint64_t>(4u << 20));
  EXPECT_EQ(parse_byte_size("512", 1024).problem, "expected a size of at least 1KiB (1024 bytes), got \"512\"");
  EXPECT_EQ(parse_byte_size("18446744073709551615").value, std::optional<std::uint64_t>(18446744073709551615ull));
  EXPECT_FALSE(parse_byte_size("18446744073709551616").value);
  EXPECT_EQ(parse_duration("250ms").value, std::optional<milliseconds>(250));
  EXPECT_EQ(parse_count("7", 1, 10).value, std::optional<std::uint64_t>(7));
  EXPECT_EQ(parse_count("11", 1, 10).problem, "expected a whole number from 1 to 10, got \"11\"");
  EXPECT_EQ(parse_ip_network("192.168.1.7/24").problem,
            "expected an IP address or network like 10.0.0.0/8, 192.168.1.50 or fd00::/8, got \"192.168.1.7/24\"; "
            "it has address bits set after the /24 prefix; did you mean 192.168.1.0/24?");
  EXPECT_CONTAINS(parse_ip_network("fd00::1/8").problem, "did you mean fd00::/8?");
  EXPECT_CONTAINS(parse_ip_network("10.0.0.0 /8").problem, "remove the spaces");
}

TEST(ConfigValues, IssuerAndBoolParsers) {
  EXPECT_EQ(parse_issuer_url("https://idp.example.com/realms/x").value.value_or(""),
            "https://idp.example.com/realms/x");
  EXPECT_EQ(parse_issuer_url("http://127.0.0.1:9000").value.value_or(""), "http://127.0.0.1:9000");
  EXPECT_EQ(parse_issuer_url("http://[::1]").value.value_or(""), "http://[::1]");
  EXPECT_CONTAINS(parse_issuer_url("http://192.168.1.5").problem, "must be reached over TLS");
  EXPECT_CONTAINS(parse_issuer_url("https://a:b@idp.example.com").problem, "got \"https://***@idp.example.com\"");
  EXPECT_EQ(parse_bool("true").value, std::optional<bool>(true));
  EXPECT_EQ(parse_bool("OFF").value, std::optional<bool>(false));
  EXPECT_EQ(parse_bool("tRue").problem, "expected true or false, got \"tRue\"");
}

TEST(ConfigValues, ClosestMatchFindsNearMisses) {
  constexpr std::array<std::string_view, 3> keys{"external_url", "trusted_proxies", "data_dir"};
  EXPECT_EQ(closest_match("external_ulr", keys).value_or(""), "external_url");
  EXPECT_EQ(closest_match("trusted_proxy", keys).value_or(""), "trusted_proxies");
  EXPECT_EQ(closest_match("DATA-DIR", keys).value_or(""), "data_dir");
  EXPECT_FALSE(closest_match("colour", keys).has_value());
  EXPECT_FALSE(closest_match("", keys).has_value());
}

TEST_F(ConfigTest, HeaderIdentityNeedsProxiesAUsernameHeaderAndTheAdminToken) {
  const std::string block = "header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: X-authentik-username\n"
                            "  groups_header: X-authentik-groups\n";
  EXPECT_EQ(issue_for(block).key, "home_assistant.token_file") << "it creates HA users";
  ::setenv(kTokenVariable, "admin-token", 1); // restored by the fixture
  const auto settings = config_for(block).header_identity;
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->username_header, "X-authentik-username");
  EXPECT_EQ(settings->groups_header, "X-authentik-groups");
  EXPECT_EQ(settings->name_header, "");
  ASSERT_EQ(settings->proxies.size(), 1u);
  EXPECT_FALSE(config_for("").header_identity) << "absent: no identity from headers";

  const auto no_proxies = issue_for("header_identity:\n  username_header: Remote-User\n");
  EXPECT_EQ(no_proxies.key, "header_identity.proxies");
  EXPECT_CONTAINS(no_proxies.message, "never believed");
  EXPECT_EQ(issue_for("header_identity:\n  proxies: [10.0.0.5/32]\n").key, "header_identity.username_header");
  EXPECT_EQ(issue_for("header_identity:\n  proxies: []\n  username_header: Remote-User\n").key, "header_identity.proxies");
  // oauth2-proxy's X-Forwarded-User is a name like any other; the forwarding headers are not.
  EXPECT_EQ(config_for("header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: X-Forwarded-User\n")
                .header_identity->username_header,
            "X-Forwarded-User");
  for (const std::string reserved : {"Authorization", "cookie", "X-Forwarded-For", "x-forwarded-host", "Host"}) {
    const auto taken = issue_for("header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: " + reserved + "\n");
    EXPECT_EQ(taken.key, "header_identity.username_header") << reserved;
    EXPECT_CONTAINS(taken.message, "already means something else");
  }
  EXPECT_EQ(issue_for("header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: \"X User\"\n").key,
            "header_identity.username_header");
  EXPECT_EQ(issue_for("header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: Remote-User\n  group_header: G\n").key,
            "header_identity.group_header");
  EXPECT_CONTAINS(issue_for("header_identity:\n  proxies: [0.0.0.0/0]\n  username_header: Remote-User\n").message,
                  "anyone");
  EXPECT_EQ(issue_for("header_identity:\n  proxies: [10.0.0.5/32]\n  username_header: Remote-User\n"
                      "  groups_header: remote-user\n").key,
            "header_identity.groups_header");
  // A way in without HA's password: HA's own login closes by default, as with providers.
  EXPECT_EQ(config_for(block).local_login, gatehouse::config::LocalLogin::disabled);
  // SCIM must know people by what the header gives: the username.
  const auto scim_token = write_file("scim-token", std::string(40, 'a'));
  const auto mismatch = issue_for(block + "scim:\n  token_file: " + scim_token.string() + "\n  match_claim: email\n");
  EXPECT_EQ(mismatch.key, "scim.match_claim");
  EXPECT_CONTAINS(mismatch.message, "preferred_username");
  EXPECT_TRUE(config_for(block + "scim:\n  token_file: " + scim_token.string() + "\n").scim);
}

TEST_F(ConfigTest, ClientDiscoveryIsOnForPublicAddressesAndListsPrivateOnesExplicitly) {
  EXPECT_TRUE(config_for("").client_discovery.enabled);
  EXPECT_TRUE(config_for("").client_discovery.networks.empty()) << "no private address unless listed";
  EXPECT_FALSE(config_for("client_discovery:\n  enabled: false\n").client_discovery.enabled);
  EXPECT_EQ(config_for("client_discovery:\n  networks: [192.168.1.20/32, fd00::/8]\n").client_discovery.networks.size(), 2u);
  EXPECT_CONTAINS(issue_for("client_discovery:\n  networks: [0.0.0.0/0]\n").message, "every address");
  EXPECT_EQ(issue_for("client_discovery:\n  networks: [not-a-network]\n").key, "client_discovery.networks");
  EXPECT_EQ(issue_for("client_discovery:\n  enable: false\n").key, "client_discovery.enable");
  const auto ca = write_file("client-ca.pem", "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(config_for("client_discovery:\n  ca_file: " + ca.string() + "\n").client_discovery.ca_file, ca);
  EXPECT_EQ(issue_for("client_discovery:\n  ca_file: /nonexistent/ca.pem\n").key, "client_discovery.ca_file");
}

TEST_F(ConfigTest, MetricsAreForThisMachineUnlessOtherNetworksAreListed) {
  const auto defaults = config_for("").metrics;
  EXPECT_TRUE(defaults.enabled);
  ASSERT_EQ(defaults.networks.size(), 2u);
  EXPECT_TRUE(defaults.networks[0].contains(boost::asio::ip::make_address("127.0.0.1")));
  EXPECT_FALSE(defaults.networks[0].contains(boost::asio::ip::make_address("192.168.1.5")));
  EXPECT_FALSE(config_for("metrics:\n  enabled: false\n").metrics.enabled);
  EXPECT_EQ(config_for("metrics:\n  networks: [10.0.0.7/32]\n").metrics.networks.size(), 1u);
  EXPECT_EQ(issue_for("metrics:\n  networks: [nope]\n").key, "metrics.networks");
  EXPECT_EQ(issue_for("metrics:\n  path: /m\n").key, "metrics.path");
}

TEST_F(ConfigTest, HeaderIdentityWithASignedAssertionNeedsItsIssuerAudienceAndKeys) {
  ::setenv(kTokenVariable, "admin-token", 1); // restored by the fixture
  const std::string assertion = "  assertion:\n    header: Cf-Access-Jwt-Assertion\n"
                                "    issuer: https://team.cloudflareaccess.com\n    audience: aud-tag-123\n"
                                "    jwks_uri: https://team.cloudflareaccess.com/cdn-cgi/access/certs\n";
  const std::string block = "header_identity:\n  proxies: [127.0.0.1/32]\n" + assertion;
  const auto settings = config_for(block).header_identity;
  ASSERT_TRUE(settings && settings->assertion);
  EXPECT_EQ(settings->username_header, "") << "the person comes from the signed claims";
  EXPECT_EQ(settings->assertion->header, "Cf-Access-Jwt-Assertion");
  EXPECT_EQ(settings->assertion->issuer, "https://team.cloudflareaccess.com");
  EXPECT_EQ(settings->assertion->audience, "aud-tag-123");
  EXPECT_EQ(settings->assertion->jwks_uri, "https://team.cloudflareaccess.com/cdn-cgi/access/certs");
  EXPECT_EQ(settings->assertion->algorithms.size(), 10u) << "every asymmetric algorithm unless narrowed";
  EXPECT_EQ(config_for(block + "    algorithms: [ES256]\n").header_identity->assertion->algorithms,
            std::vector<std::string>{"ES256"});
  EXPECT_EQ(issue_for(block + "    algorithms: [HS256]\n").key, "header_identity.assertion.algorithms");

  // Headers beside a signed token would be believed without its signature.
  const auto both = issue_for(block + "  username_header: Remote-User\n");
  EXPECT_EQ(both.key, "header_identity.username_header");
  EXPECT_CONTAINS(both.message, "signed claims");
  for (const std::string key : {"header", "issuer", "audience", "jwks_uri"}) {
    std::string without;
    std::istringstream lines(assertion);
    for (std::string line; std::getline(lines, line);)
      if (line.find("    " + key + ":") != 0) without += line + "\n";
    EXPECT_EQ(issue_for("header_identity:\n  proxies: [127.0.0.1/32]\n" + without).key,
              "header_identity.assertion." + key)
        << key;
  }
  std::string cookie_block = block;
  cookie_block.replace(cookie_block.find("Cf-Access-Jwt-Assertion"), 23, "Cookie");
  EXPECT_EQ(issue_for(cookie_block).key, "header_identity.assertion.header");
  EXPECT_EQ(issue_for(block + "    audiences: x\n").key, "header_identity.assertion.audiences");
  EXPECT_EQ(issue_for("header_identity:\n  proxies: [127.0.0.1/32]\n  assertion:\n    header: X-A\n"
                      "    issuer: x\n    audience: a\n    jwks_uri: ftp://x/certs\n").key,
            "header_identity.assertion.jwks_uri");
  // Pomerium's issuer is the route's host name unless jwt_issuer_format: uri.
  EXPECT_EQ(config_for("header_identity:\n  proxies: [127.0.0.1/32]\n  assertion:\n    header: X-Pomerium-Jwt-Assertion\n"
                       "    issuer: ha.example.com\n    audience: ha.example.com\n"
                       "    jwks_uri: https://ha.example.com/.well-known/pomerium/jwks.json\n")
                .header_identity->assertion->issuer,
            "ha.example.com");
  // SCIM can match on any claim the token carries, said explicitly: the default may not be in the token.
  const auto scim_token = write_file("scim-token", std::string(40, 'a'));
  EXPECT_TRUE(config_for(block + "scim:\n  token_file: " + scim_token.string() + "\n  match_claim: email\n").scim);
  const auto unsaid = issue_for(block + "scim:\n  token_file: " + scim_token.string() + "\n");
  EXPECT_EQ(unsaid.key, "scim.match_claim");
  EXPECT_CONTAINS(unsaid.message, "which claim of the proxy's token");
}

// ---- the running configuration and a reload's live keys (config/current) ----

TEST(LiveReload, TakesChangedLiveKeysAndKeepsEverythingElseRunning) {
  Config running;
  running.workers = 2;
  running.shield.mode = ShieldMode::report;
  running.local_login = LocalLogin::disabled;
  running.providers.push_back(Provider{.id = "idp"});
  Config next;
  next.workers = 4;
  next.shield.mode = ShieldMode::enforce;
  next.shield.public_paths = {"/open/*"};
  next.local_login = LocalLogin::allowed; // a default worked out from next's providers (none), its text unchanged
  next.users.admin_groups = {"admins"};
  next.trusted_devices.push_back(TrustedDevice{.name = "panel", .user = "kiosk"});
  next.limits.max_body_bytes = 1024;

  const auto merged = merge_live(running, next, {"shield", "trusted_devices", "users", "limits", "workers",
                                                 "home_assistant.token_file (contents)"},
                                 {.sign_in = true, .identities = true});
  EXPECT_EQ(merged.applied, (std::vector<std::string>{"shield", "trusted_devices", "users", "limits"}));
  EXPECT_EQ(merged.waiting, (std::vector<std::string>{"workers", "home_assistant.token_file (contents)"}));
  EXPECT_EQ(merged.config.shield.mode, ShieldMode::enforce);
  EXPECT_EQ(merged.config.shield.public_paths, (std::vector<std::string>{"/open/*"}));
  EXPECT_EQ(merged.config.users.admin_groups, (std::vector<std::string>{"admins"}));
  ASSERT_EQ(merged.config.trusted_devices.size(), 1u);
  EXPECT_EQ(merged.config.limits.max_body_bytes, 1024u);
  EXPECT_EQ(merged.config.workers, 2u) << "a restart key keeps its running value";
  ASSERT_EQ(merged.config.providers.size(), 1u) << "providers did not change";
  EXPECT_EQ(merged.config.local_login, LocalLogin::disabled) << "a key whose text did not change is not taken";
}

TEST(LiveReload, TrustedDevicesWaitForARestartWhereSignInWasOff) {
  Config running; // no providers, devices or header_identity: Gatehouse started without sign-in
  Config next;
  next.trusted_devices.push_back(TrustedDevice{.name = "panel", .user = "kiosk"});
  next.providers.push_back(Provider{.id = "idp"});
  const auto merged = merge_live(running, next, {"providers", "trusted_devices", "local_login"}, {});
  EXPECT_TRUE(merged.applied.empty());
  EXPECT_EQ(merged.waiting, (std::vector<std::string>{"providers", "trusted_devices", "local_login"}))
      << "local login is not closed while what would replace it waits";
  EXPECT_TRUE(merged.config.trusted_devices.empty());
  EXPECT_TRUE(merged.config.providers.empty());
}

// Renaming the only provider moves SCIM's implied source with it: that waits for a restart, as any
// change of scim does, and holds the providers with it (SCIM would otherwise match nobody).
TEST(LiveReload, ANewImpliedScimSourceWaitsWithTheProviders) {
  Config running;
  running.providers.push_back(Provider{.id = "old"});
  running.scim = Scim{};
  running.scim->provider = "old";
  Config next;
  next.providers.push_back(Provider{.id = "new"});
  next.scim = Scim{};
  next.scim->provider = "new";
  const Started started{.sign_in = true, .identities = true};
  const auto merged = merge_live(running, next, {"providers"}, started);
  EXPECT_TRUE(merged.applied.empty());
  EXPECT_EQ(merged.waiting, (std::vector<std::string>{"providers", "scim"}));
  EXPECT_EQ(merged.config.providers.at(0).id, "old");
  EXPECT_EQ(merged.config.scim->provider, "old");
}

TEST(LiveReload, ProvidersApplyWithTheirSecretsAndLocalLoginsDefault) {
  Config running;
  running.providers.push_back(Provider{.id = "old", .client_secret = "one"});
  running.local_login = LocalLogin::disabled;
  Config next;
  next.providers.push_back(Provider{.id = "old", .client_secret = "two"});
  next.local_login = LocalLogin::disabled;
  const Started started{.sign_in = true, .identities = true};
  // The secret's file changed, the YAML did not: the provider with its new secret.
  auto merged = merge_live(running, next, {"providers[0].client_secret_file (contents)"}, started);
  EXPECT_EQ(merged.applied, (std::vector<std::string>{"providers[0].client_secret_file (contents)"}));
  EXPECT_EQ(merged.config.providers.at(0).client_secret, "two");

  // Every provider removed (local_login not written): HA's own login opens with them, as at a start.
  Config without;
  without.local_login = LocalLogin::allowed;
  merged = merge_live(running, without, {"providers", "providers[0].client_secret_file (contents)"}, started);
  EXPECT_TRUE(merged.config.providers.empty());
  EXPECT_EQ(merged.config.local_login, LocalLogin::allowed);
  EXPECT_EQ(merged.applied.back(), "local_login");

  // A CA bundle's new contents wait for a restart, and hold the providers and what is read against them.
  merged = merge_live(running, next, {"providers", "providers[0].ca_file (contents)", "users"}, started);
  EXPECT_TRUE(merged.applied.empty());
  EXPECT_EQ(merged.config.providers.at(0).client_secret, "one");
}

TEST(LiveReload, AKeyWaitsWithTheKeysItIsCheckedAgainst) {
  Config running;
  running.trusted_devices.push_back(TrustedDevice{.name = "panel", .user = "kiosk"});
  running.scim.emplace(); // SCIM without providers at start: it checks no sign-ins, so providers wait
  running.local_login = LocalLogin::disabled;
  Config next = running;
  next.providers.push_back(Provider{.id = "new"});
  next.users.groups_claim = "roles"; // the new IdP's claim: must not meet sign-ins without it
  next.local_login = LocalLogin::allowed;
  next.sign_in_choice = true;
  const Started started{.sign_in = true, .identities = false};
  auto merged = merge_live(running, next, {"providers", "users", "local_login", "sign_in_choice"}, started);
  EXPECT_EQ(merged.applied, (std::vector<std::string>{"sign_in_choice"}));
  EXPECT_EQ(merged.waiting, (std::vector<std::string>{"providers", "users", "local_login"}));
  EXPECT_EQ(merged.config.users.groups_claim, "groups");
  EXPECT_EQ(merged.config.local_login, LocalLogin::disabled);

  // SCIM's roles come from users.roles: a change of both waits together, and providers changed with
  // them wait too (never the new providers with the old mapping).
  merged = merge_live(running, next, {"scim", "users"}, started);
  EXPECT_EQ(merged.waiting, (std::vector<std::string>{"scim", "users"}));
  merged = merge_live(running, next, {"providers", "scim", "users"}, {.sign_in = true, .identities = true});
  EXPECT_TRUE(merged.applied.empty());
  EXPECT_EQ(merged.waiting, (std::vector<std::string>{"providers", "scim", "users"}));
  // Alone, each applies.
  merged = merge_live(running, next, {"users", "local_login"}, started);
  EXPECT_EQ(merged.applied, (std::vector<std::string>{"users", "local_login"}));
  EXPECT_EQ(merged.config.users.groups_claim, "roles");
  EXPECT_EQ(merged.config.local_login, LocalLogin::allowed);
}

TEST(LiveReload, EveryThreadReadsTheReplacementAndAHeldConfigurationStaysWhole) {
  Config first;
  first.sign_in_choice = false;
  Current current(first);
  const auto held = current.get();
  EXPECT_EQ(current.get(), held) << "one copy per thread until a reload";
  bool other_before = true;
  std::thread([&] { other_before = current.get()->sign_in_choice; }).join();
  EXPECT_FALSE(other_before);

  Config second;
  second.sign_in_choice = true;
  current.replace(second);
  EXPECT_TRUE(current.get()->sign_in_choice);
  bool other_after = false;
  std::thread([&] { other_after = current.get()->sign_in_choice; }).join();
  EXPECT_TRUE(other_after);
  EXPECT_FALSE(held->sign_in_choice) << "a request that began before the reload finishes under its configuration";

  // Another Current (a test's, or a later one at the same address) is never read through this one's copy.
  Current other(first);
  EXPECT_FALSE(other.get()->sign_in_choice);
  EXPECT_TRUE(current.get()->sign_in_choice);
}

} // namespace
} // namespace gatehouse::config
