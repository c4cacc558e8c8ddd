// Fuzz target: the checks on a raw request head (net::has_obs_fold, net::ambiguous_framing) and the
// Beast 1.81 request parser Gatehouse reads requests with.
// Input: [size byte][seed byte][body buffer byte] then the request bytes, in which "\xff\xfe" k c stands
// for (k + 1) * 257 copies of byte c, so a few input bytes reach Beast's and Gatehouse's size limits.
// 1. has_obs_fold on the bytes, as Gatehouse runs it on the whole head before parsing.
// 2. the bytes parsed in one go by a request_parser<empty_body> (header_limit 64 KiB; it may refuse),
//    then ambiguous_framing on the head when there is one.
// 3. the bytes read as the relay reads them (net::BoundedParser, the parser Gatehouse reads requests
//    with): http::read_header, then http::read_some into a small
//    buffer_body until the message is done, from a stream whose reads return the fuzzer's pieces (see
//    pieces.hpp; at most ~256 reads per message), into a buffer as bounded as Gatehouse's. The same bytes read in the largest pieces Beast asks for must give the same head,
//    body and success: a request that two reads of the same bytes see differently is request smuggling.
// Exceptions out of Beast are not caught: they would escape a relay coroutine, so they are findings.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/system/system_error.hpp>

#include "net/bounded_parser.hpp"
#include "net/head_checks.hpp"
#include "pieces.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::uint32_t kHeaderLimit = 64 * 1024;           // Gatehouse's default limits.max_header_bytes
constexpr std::uint64_t kBodyLimit = 1024ull * 1024 * 1024; // and limits.max_body_bytes

void fail(const char* what) {
  std::fprintf(stderr, "head_checks invariant broken: %s\n", what);
  std::abort();
}

std::string expand(std::string_view input) {
  std::string out;
  for (std::size_t i = 0; i < input.size(); ++i) {
    if (input.compare(i, 2, "\xff\xfe") == 0 && i + 3 < input.size()) {
      out.append((static_cast<unsigned char>(input[i + 2]) + 1u) * 257u, input[i + 3]);
      i += 3;
    } else {
      out += input[i];
    }
  }
  return out;
}

// A SyncReadStream over fixed bytes whose reads return at most the next piece.
template <class NextPiece>
class PieceStream {
public:
  PieceStream(std::string_view bytes, NextPiece next_piece) : bytes_(bytes), next_piece_(next_piece) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    if (at_ == bytes_.size()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    const std::size_t piece = next_piece_(bytes_.size() - at_);
    const std::size_t n = asio::buffer_copy(buffers, asio::buffer(bytes_.substr(at_, piece)));
    at_ += n;
    return n;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    const auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

private:
  std::string_view bytes_;
  NextPiece next_piece_;
  std::size_t at_ = 0;
};

struct Reading {
  bool ok = false;          // head and body read to the end of the message
  std::string head;         // method, target, version and every field, as parsed
  std::string_view framing; // ambiguous_framing's answer
  std::string body;         // body bytes as the parser delivered them
  std::string error;
};

std::string parsed_head(const http::request_header<>& request) {
  std::string out = std::string(request.method_string()) + ' ' + std::string(request.target()) + ' ' +
                    std::to_string(request.version()) + '\n';
  for (const auto& field : request) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += '\n';
  }
  return out;
}

template <class NextPiece>
Reading relay_read(std::string_view bytes, std::size_t chunk_size, NextPiece next_piece) {
  PieceStream<NextPiece> stream(bytes, next_piece);
  beast::flat_buffer buffer(gatehouse::net::read_buffer_limit(kHeaderLimit));
  gatehouse::net::BoundedParser<true> parser; // as Gatehouse reads requests: trailers count too
  parser.field_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  Reading reading;
  boost::system::error_code ec;
  http::read_header(stream, buffer, parser, ec);
  if (ec) {
    reading.error = ec.message();
    return reading;
  }
  reading.head = parsed_head(parser.get());
  reading.framing = gatehouse::net::ambiguous_framing(parser.get());

  std::vector<char> chunk(chunk_size);
  auto& body = parser.get().body();
  // Each round either consumes buffered bytes or reads new ones, so this bound is never reached unless
  // the parser stops making progress.
  for (std::size_t rounds = 0; !parser.is_done(); ++rounds) {
    if (rounds > 4 * bytes.size() + 16) fail("the body read makes no progress");
    body.data = chunk.data();
    body.size = chunk.size();
    http::read_some(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    reading.body.append(chunk.data(), chunk.size() - body.size);
    if (ec) {
      reading.error = ec.message();
      return reading;
    }
  }
  reading.ok = true;
  return reading;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  gatehouse::fuzz::Pieces pieces(data[0], data[1]);
  static constexpr std::size_t kChunkSizes[8] = {1, 2, 7, 64, 512, 4096, 65536, 65536};
  const std::size_t chunk_size = kChunkSizes[data[2] % 8];
  const std::string bytes = expand(std::string_view(reinterpret_cast<const char*>(data) + 3, size - 3));

  (void)gatehouse::net::has_obs_fold(bytes);

  {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    boost::system::error_code ec;
    parser.put(asio::buffer(bytes), ec);
    if (parser.is_header_done()) (void)gatehouse::net::ambiguous_framing(parser.get());
  }

  // At most ~256 reads per message: Beast re-scans a chunk line it has not seen the end of on every read
  // (quadratic in its length), so byte-sized reads of a 64 KiB message would cost seconds per input.
  // Gatehouse bounds that line by its read buffer limit; here the bound keeps the fuzzer fast.
  const std::size_t smallest_piece = bytes.size() / 256 + 1;
  const Reading split = relay_read(bytes, chunk_size, [&](std::size_t left) {
    return std::max(pieces.next(left), std::min(smallest_piece, left));
  });
  const Reading whole = relay_read(bytes, 65536, [](std::size_t left) { return left; });
  if (split.ok != whole.ok) {
    std::fprintf(stderr, "split read: %s; whole read: %s\n", split.ok ? "ok" : split.error.c_str(),
                 whole.ok ? "ok" : whole.error.c_str());
    fail("the same bytes read in other pieces succeed in one reading and fail in the other");
  }
  if (!split.head.empty() && !whole.head.empty() && split.head != whole.head) fail("the same bytes give two heads");
  if (split.framing != whole.framing) fail("the same bytes give two framing verdicts");
  if (split.ok && split.body != whole.body) fail("the same bytes give two bodies");
  return 0;
}
