// net/head_checks: raw-head and framing checks.
#include "net/head_checks.hpp"

#include <boost/beast/core/string.hpp>
#include <algorithm>
#include <iterator>

namespace gatehouse::net {
namespace http = boost::beast::http;

bool has_obs_fold(std::string_view head) {
  head = head.substr(0, head.find("\r\n\r\n"));
  return head.find("\r\n ") != std::string_view::npos || head.find("\r\n\t") != std::string_view::npos;
}

namespace {

bool is_plain_length(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
}

} // namespace

bool is_relayable_transfer_coding(std::string_view value) { return boost::beast::iequals(value, "chunked"); }

std::string_view ambiguous_framing(const http::request_header<>& request) {
  const auto codings = request.equal_range(http::field::transfer_encoding);
  const auto coding_count = std::distance(codings.first, codings.second);
  if (coding_count > 1 || (coding_count == 1 && !is_relayable_transfer_coding(codings.first->value())))
    return "transfer coding other than chunked";
  if (coding_count == 1 && request.version() < 11) return "transfer coding in HTTP/1.0";
  if (request.count(http::field::host) > 1) return "several Host headers";
  // Beast takes a repeated equal length ("5, 5", or two lines) as one; HA's parser refuses it.
  const auto lengths = request.equal_range(http::field::content_length);
  const auto length_count = std::distance(lengths.first, lengths.second);
  if (length_count > 1 || (length_count == 1 && !is_plain_length(lengths.first->value())))
    return "Content-Length other than one number";
  return {};
}

} // namespace gatehouse::net
