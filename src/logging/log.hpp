// logging: owns Gatehouse's structured log: one JSON object per line on stderr, UTC timestamps.
// Callers pass fields; this module never sees a raw request, so it cannot leak one. Anything that might
// carry a secret (query strings, tokens, cookies) must be kept out of fields by the caller; paths go
// through `loggable_path`, which drops the query and masks path segments that are secrets themselves.
#pragma once

#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <type_traits>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::logging {

enum class Level { trace, debug, info, warn, error };

// Level names as in the config: trace|debug|info|warn|error.
bool parse_level(std::string_view name, Level& out);
void init(Level level);
bool enabled(Level level);

// A named value for a log line; strings are copied into the JSON value, numbers and booleans kept.
struct Field {
  template <class T>
  Field(std::string_view name, T&& v) : key(name), value(to_json(std::forward<T>(v))) {}
  std::string_view key;
  boost::json::value value;

private:
  template <class T>
  static boost::json::value to_json(T&& v) {
    using Plain = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<Plain, bool> || std::is_arithmetic_v<Plain>) return boost::json::value(v);
    else {
      std::string_view text(v);
      return boost::json::value(boost::json::string(text.data(), text.size()));
    }
  }
};
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::debug, m, f); }

// "/api/webhook/abc?x=1" -> "/api/webhook/<redacted>". HA puts secrets in some paths (§8.4, §8.5).
std::string loggable_path(std::string_view target);

} // namespace gatehouse::logging
