// scim/text: the few text rules every part of scim/ shares: SCIM names and most values compare ignoring
// ASCII case (RFC 7643 §2.1), and a JSON member read as text is "" when absent or not a string.
#pragma once

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <string>
#include <string_view>

namespace gatehouse::scim {

inline char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

inline std::string text_at(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

} // namespace gatehouse::scim
