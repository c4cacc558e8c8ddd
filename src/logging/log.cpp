// logging: JSON lines on stderr through spdlog (its sink serialises writes from all I/O threads).
#include "logging/log.hpp"

#include <array>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <fmt/format.h>

namespace gatehouse::logging {
namespace {

std::atomic<int> g_threshold{static_cast<int>(Level::info)};

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = spdlog::stderr_logger_mt("gatehouse");
    // The message is already the JSON members after "ts" and "level".
    l->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
  case Level::trace: return spdlog::level::trace;
  case Level::debug: return spdlog::level::debug;
  case Level::info: return spdlog::level::info;
  case Level::warn: return spdlog::level::warn;
  case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Path prefixes whose next segment is a secret (webhook ids, stream and ingress tokens: §8.4–§8.6).
constexpr std::array<std::string_view, 7> kSecretSegmentPrefixes = {
    "/api/webhook/", "/api/hls/", "/api/tts_proxy/", "/api/hassio_ingress/", "/api/image/serve/",
    "/api/esphome/ffmpeg_proxy/", "/sso/breakglass/"};

} // namespace

bool parse_level(std::string_view name, Level& out) {
  static constexpr std::array<std::pair<std::string_view, Level>, 5> names{
      {{"trace", Level::trace}, {"debug", Level::debug}, {"info", Level::info}, {"warn", Level::warn},
       {"error", Level::error}}};
  for (auto& [n, l] : names)
    if (n == name) {
      out = l;
      return true;
    }
  return false;
}

void init(Level level) {
  g_threshold = static_cast<int>(level);
  logger();
}

bool enabled(Level level) { return static_cast<int>(level) >= g_threshold.load(std::memory_order_relaxed); }

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line = "\"msg\":";
  line += boost::json::serialize(boost::json::string(message.data(), message.size()));
  for (const auto& field : fields) {
    line += ',';
    line += boost::json::serialize(boost::json::string(field.key.data(), field.key.size()));
    line += ':';
    // Boost.JSON writes doubles as 6.57E0; logs read better as 6.570.
    if (field.value.is_double()) line += fmt::format("{:.3f}", field.value.get_double());
    else line += boost::json::serialize(field.value);
  }
  logger().log(to_spdlog(level), line);
}

std::string loggable_path(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  for (auto prefix : kSecretSegmentPrefixes) {
    if (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix) {
      auto rest = path.substr(prefix.size());
      auto slash = rest.find('/');
      std::string out(prefix);
      out += "<redacted>";
      if (slash != std::string_view::npos) out += rest.substr(slash);
      return out;
    }
  }
  return std::string(path);
}

} // namespace gatehouse::logging
