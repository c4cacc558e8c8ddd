// net/answer_head: HA's answer head, written for the client as it is parsed.
#include "net/answer_head.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <string_view>

#include "net/forwarding.hpp"

namespace gatehouse::net {
namespace http = boost::beast::http;
using namespace std::string_view_literals; // literals as views: no strlen per piece

namespace {

// Takes the final coding off a Transfer-Encoding list: the "chunked" Beast found last in it.
void drop_last_coding(std::string& codings) {
  constexpr std::string_view kSeparators = " \t,";
  const auto last_end = codings.find_last_not_of(kSeparators);
  if (last_end == std::string::npos) return codings.clear();
  const auto before_last = codings.find_last_of(kSeparators, last_end);
  codings.erase(before_last == std::string::npos ? 0 : before_last + 1);
  const auto kept_end = codings.find_last_not_of(kSeparators);
  codings.erase(kept_end == std::string::npos ? 0 : kept_end + 1);
}

// `lines` without the field lines whose names are in `named`.
std::string without_named(std::string_view lines, const std::vector<std::string>& named) {
  std::string kept;
  kept.reserve(lines.size());
  while (!lines.empty()) {
    const auto end = lines.find("\r\n"sv) + 2; // every line was written with its CRLF (values hold none)
    const auto line = lines.substr(0, end);
    const auto name = line.substr(0, line.find(':'));
    if (std::none_of(named.begin(), named.end(), [&](const std::string& n) { return boost::beast::iequals(n, name); }))
      kept += line;
    lines.remove_prefix(end);
  }
  return kept;
}

} // namespace

void AnswerParser::on_response_impl(int code, boost::beast::string_view reason, int, boost::beast::error_code& ec) {
  status_ = static_cast<unsigned>(code);
  reason_.assign(reason.data(), reason.size());
  lines_.reserve(512);
  ec = {};
}

void AnswerParser::on_field_impl(http::field name, boost::beast::string_view name_string, boost::beast::string_view value,
                                 boost::beast::error_code& ec) {
  if (!charge(name_string, value, ec)) return;
  if (is_header_done()) return; // a chunked body's trailers: counted, never passed on
  if (name == http::field::transfer_encoding) {
    if (has_transfer_encoding_) transfer_coding_ += ", "sv;
    transfer_coding_ += value;
    has_transfer_encoding_ = true;
    return;
  }
  if (name == http::field::connection) {
    add_connection_named(value, connection_named_);
    return;
  }
  if (is_hop_by_hop(name)) return;
  lines_ += name_string;
  lines_ += ": "sv;
  lines_ += value;
  lines_ += "\r\n"sv;
}

void AnswerParser::on_header_impl(boost::beast::error_code& ec) {
  // Beast refuses Content-Length after a chunked Transfer-Encoding, but not after another coding: a
  // body framed two ways is read one way here and maybe the other way by whatever is behind the client.
  if (has_transfer_encoding_ && content_length()) {
    ec = http::error::bad_transfer_encoding;
    return;
  }
  if (!connection_named_.empty()) lines_ = without_named(lines_, connection_named_);
  ec = {};
}

ClientAnswer AnswerParser::for_client(unsigned client_version, bool keep_alive, bool head_request) const {
  ClientAnswer answer;
  answer.keep_alive = keep_alive;
  answer.chunked = chunked();
  answer.bodiless = head_request || status_ == 204 || status_ == 304;
  if (!answer.bodiless && need_eof()) {
    // HA ends this body by closing: chunks let the client's connection stay open; HTTP/1.0 has none.
    if (client_version >= 11) answer.chunked = true;
    else answer.keep_alive = false;
  }
  if (client_version < 11 && answer.chunked) { // HTTP/1.0 has no chunks: the body ends with the connection
    answer.chunked = false;
    answer.keep_alive = false;
  }

  std::string codings = transfer_coding_;
  if (chunked() && !answer.chunked) drop_last_coding(codings);
  if (!chunked() && answer.chunked) codings += codings.empty() ? "chunked"sv : ", chunked"sv;

  auto& out = answer.head;
  out.reserve(lines_.size() + reason_.size() + codings.size() + 64);
  out += "HTTP/"sv;
  out += static_cast<char>('0' + client_version / 10 % 10);
  out += '.';
  out += static_cast<char>('0' + client_version % 10);
  out += ' ';
  const char status[3] = {static_cast<char>('0' + status_ / 100 % 10), static_cast<char>('0' + status_ / 10 % 10),
                          static_cast<char>('0' + status_ % 10)};
  out.append(status, 3); // a status is three digits (Beast's parser accepts no other)
  out += ' ';
  out += reason_;
  out += "\r\n"sv;
  out += lines_;
  if (!codings.empty()) {
    out += "Transfer-Encoding: "sv;
    out += codings;
    out += "\r\n"sv;
  }
  if (client_version >= 11 && !answer.keep_alive) out += "Connection: close\r\n"sv;
  if (client_version < 11 && answer.keep_alive) out += "Connection: keep-alive\r\n"sv;
  out += "\r\n"sv;
  return answer;
}

} // namespace gatehouse::net
