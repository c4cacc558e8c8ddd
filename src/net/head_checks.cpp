// net/head_checks: raw-head and framing checks.
#include "net/head_checks.hpp"

#include <boost/beast/core/string.hpp>
#include <iterator>

namespace gatehouse::net {
namespace http = boost::beast::http;

bool has_obs_fold(std::string_view head) {
  head = head.substr(0, head.find("\r\n\r\n"));
  return head.find("\r\n ") != std::string_view::npos || head.find("\r\n\t") != std::string_view::npos;
}

bool is_relayable_transfer_coding(std::string_view value) { return boost::beast::iequals(value, "chunked"); }

std::string_view ambiguous_framing(const http::request_header<>& request) {
  const auto codings = request.equal_range(http::field::transfer_encoding);
  const auto coding_count = std::distance(codings.first, codings.second);
  if (coding_count > 1 || (coding_count == 1 && !is_relayable_transfer_coding(codings.first->value())))
    return "transfer coding other than chunked";
  if (coding_count == 1 && request.version() < 11) return "transfer coding in HTTP/1.0";
  if (request.count(http::field::host) > 1) return "several Host headers";
  return {};
}

} // namespace gatehouse::net
