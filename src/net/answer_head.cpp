// net/answer_head: HA's answer head, written for the client as it is parsed.
#include "net/answer_head.hpp"

#include <string_view>

#include "net/forwarding.hpp"
#include "net/head_checks.hpp"

namespace gatehouse::net {
namespace http = boost::beast::http;
using namespace std::string_view_literals; // literals as views: no strlen per piece

namespace {

// `lines` without the field lines whose names are in `named`.
std::string without_named(std::string_view lines, const ConnectionNamed& named) {
  std::string kept;
  kept.reserve(lines.size());
  while (!lines.empty()) {
    const auto end = lines.find("\r\n"sv) + 2; // every line was written with its CRLF (values hold none)
    const auto line = lines.substr(0, end);
    const auto name = line.substr(0, line.find(':'));
    if (!named.contains(name)) kept += line;
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
    // Relayed only as requests are (net/head_checks): one line, exactly "chunked". Beast alone would
    // take "chunked ;x=1" as chunked, and "chunked, chunked" as a body that ends when HA closes.
    if (has_transfer_encoding_ || !is_relayable_transfer_coding(value)) ec = http::error::bad_transfer_encoding;
    has_transfer_encoding_ = true;
    return;
  }
  if (name == http::field::connection) {
    connection_named_.add(value);
    return;
  }
  if (is_hop_by_hop(name) || sets_own_cookie(name, value)) return;
  lines_ += name_string;
  lines_ += ": "sv;
  lines_ += value;
  lines_ += "\r\n"sv;
}

void AnswerParser::on_header_impl(boost::beast::error_code& ec) {
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

  auto& out = answer.head;
  out.reserve(lines_.size() + reason_.size() + 80);
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
  if (answer.chunked) out += "Transfer-Encoding: chunked\r\n"sv;
  if (client_version >= 11 && !answer.keep_alive) out += "Connection: close\r\n"sv;
  if (client_version < 11 && answer.keep_alive) out += "Connection: keep-alive\r\n"sv;
  out += "\r\n"sv;
  return answer;
}

} // namespace gatehouse::net
