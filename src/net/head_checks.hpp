// net/head_checks: owns the checks on a request head that must run on its raw bytes or its framing
// before anything acts on it: a folded header line (obs-fold, which Beast would silently unfold and
// another reader could take as two headers) and framing two HTTP readers could understand differently
// (request smuggling). A head that fails either is refused, never forwarded.
#pragma once

#include <boost/beast/http/message.hpp>
#include <string_view>

namespace gatehouse::net {

// A header line continued on the next line (RFC 9112 §5.2) in `head`, the bytes up to the blank line.
bool has_obs_fold(std::string_view head);

// The one transfer coding Gatehouse relays, in requests and in HA's answers alike: exactly "chunked"
// (any case), on one Transfer-Encoding line. Any other list (other codings, parameters, "chunked"
// twice, junk Beast's tokenizer stops at) could be framed one way here and another way by the reader
// on the other side.
bool is_relayable_transfer_coding(std::string_view value);

// Why the head's framing is ambiguous ("" when it is not): a transfer coding other than exactly
// "chunked" (Beast would read no body, HA might read one), one in HTTP/1.0, several Host headers, or a
// Content-Length that is not one line of digits (Beast reads "5, 5" as 5; HA's parser refuses it).
std::string_view ambiguous_framing(const boost::beast::http::request_header<>& request);

} // namespace gatehouse::net
