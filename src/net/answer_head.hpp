// net/answer_head: owns what a client is told of HA's answer head. HA's field lines are written, as
// Beast's parser reads them, straight into the bytes the client will get: no field container, so a
// relayed answer costs no allocation or tree insert per header. Hop-by-hop headers, those HA's
// Connection header names, and any Set-Cookie of Gatehouse's own cookies are left out on the way
// (net/forwarding's rules). The head is then finished
// for the client's own connection: its HTTP version, its keep-alive, and the body's framing, HA's
// close-ended bodies re-framed as chunked so the client's connection can stay open (an HTTP/1.0 client
// gets no Transfer-Encoding at all: the body ends with its connection). Promises: HA's answer is framed
// as requests must be (net/head_checks) or refused as unreadable, never passed on: a Transfer-Encoding
// other than one line of exactly "chunked", or one with a Content-Length, gets the client a 502; a
// chunked body's trailers count against the head budget and are never passed on.
#pragma once

#include <boost/beast/http/field.hpp>
#include <string>

#include "net/bounded_parser.hpp"
#include "net/forwarding.hpp"

namespace gatehouse::net {

// How one answer of HA's goes on to a client: its head as bytes, and how its body is framed there.
struct ClientAnswer {
  std::string head;
  bool chunked = false;    // the body goes out in chunks: HA's own, or HA's close-ended body re-framed
  bool keep_alive = false; // the client's connection stays open after this answer
  bool bodiless = false;   // no body follows the head, whatever it says (HEAD, 204, 304)
};

// Reads HA's answer head (one parser per answer, as Beast's are) and its body into a buffer_body.
class AnswerParser : public BoundedParser<false> {
public:
  unsigned status() const { return status_; }

  // The answer as a client speaking HTTP/1.`client_version % 10` gets it. `keep_alive`: whether
  // Gatehouse would keep the client's connection open; a body the client can only see end by a close
  // turns it off. `head_request`: the client asked with HEAD (the answer has no body whatever its head
  // says, as 204 and 304 have none).
  ClientAnswer for_client(unsigned client_version, bool keep_alive, bool head_request) const;

private:
  void on_response_impl(int code, boost::beast::string_view reason, int version, boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string, boost::beast::string_view value,
                     boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;

  unsigned status_ = 0;
  std::string reason_;
  std::string lines_;           // HA's end-to-end field lines, "Name: value\r\n" each, in HA's order
  bool has_transfer_encoding_ = false;
  ConnectionNamed connection_named_; // header names HA's Connection header made hop-by-hop
};

} // namespace gatehouse::net
