// web/query: Boost.URL reads the query as an origin-form target would carry it.
#include "web/query.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace gatehouse::web {

std::string Query::get(std::string_view name) const {
  for (const auto& [key, value] : items)
    if (key == name) return value;
  return "";
}

bool Query::has(std::string_view name) const {
  return std::any_of(items.begin(), items.end(), [&](const auto& item) { return item.first == name; });
}

Query parse_query(std::string_view query_text, std::size_t max_parameter_bytes) {
  Query query;
  const std::string target = "/?" + std::string(query_text);
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    query.valid = false;
    return query;
  }
  for (auto param : parsed->params()) {
    if (param.key.size() > max_parameter_bytes || param.value.size() > max_parameter_bytes) query.valid = false;
    query.items.emplace_back(param.key, param.value);
  }
  return query;
}

} // namespace gatehouse::web
