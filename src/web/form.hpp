// web/form: owns reading an HTML form body the way Home Assistant's server (aiohttp's request.post())
// reads it, so Gatehouse never sees another form than HA does (contract §1.1, §0.2): only
// `application/x-www-form-urlencoded` and `multipart/form-data` bodies are forms; any other body,
// including one without a Content-Type, is an empty form. The first field of a name wins, as in HA.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::web {

class Form {
public:
  // nullopt when the body claims to be a form but cannot be read as one (a multipart body without its
  // boundary or with a broken part, more than kMaxFields fields).
  static std::optional<Form> read(std::string_view content_type, std::string_view body);

  // The first value of `name`, if the form has it.
  std::optional<std::string_view> get(std::string_view name) const;
  std::string value(std::string_view name) const { return std::string(get(name).value_or("")); }
  bool empty() const { return fields_.empty(); }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

  static constexpr std::size_t kMaxFields = 64;

private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// The media type of a Content-Type value, lowercased, without parameters ("" when there is none).
std::string media_type(std::string_view content_type);

} // namespace gatehouse::web
