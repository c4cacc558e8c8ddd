// web/query: owns reading a request target's query into decoded parameters, the same way for every
// endpoint Gatehouse answers itself (sign-in, SCIM): percent-escapes and '+' decoded, the first of each
// name wins, and a query that is malformed or holds an overlong parameter is marked invalid, never guessed at.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::web {

struct Query {
  std::vector<std::pair<std::string, std::string>> items;
  bool valid = true;
  std::string get(std::string_view name) const;
  bool has(std::string_view name) const;
};

// `query_text` without the '?'. A parameter longer than `max_parameter_bytes` makes the query invalid.
Query parse_query(std::string_view query_text, std::size_t max_parameter_bytes);

} // namespace gatehouse::web
