// Fuzz target: net::FrameScanner, which follows websocket frame boundaries in a relayed byte stream.
// Input: [size byte][seed byte][limit byte] then the stream. The first two pick the read splits (see
// pieces.hpp), the third the message limit (0: none). The stream is scanned as the relay does, in the
// fuzzer's pieces, in one piece and byte by byte, and each time the bytes let through must be exactly
// what an independent reading of RFC 6455 §5.2 framing says: a prefix of the input that never ends
// inside a frame head, that stops before the head of a data message over the limit, and the same
// whatever the split.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "net/websocket_frames.hpp"
#include "pieces.hpp"

using gatehouse::net::FrameScanner;

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "websocket_frames invariant broken: %s\n", what);
  std::abort();
}

struct Outcome {
  std::size_t passed = 0; // bytes let through, a prefix of the stream
  bool over_limit = false;
  bool between_frames = true;
  bool close_seen = false;
};

// The expected outcome, read frame by frame from the whole stream.
Outcome reference(std::span<const std::uint8_t> s, std::uint64_t limit) {
  Outcome out;
  std::uint64_t message = 0;
  std::size_t at = 0;
  while (at < s.size()) {
    if (s.size() - at < 2) break; // a cut head is held back
    const unsigned short_length = s[at + 1] & 0x7f;
    const std::size_t extended = short_length == 126 ? 2 : short_length == 127 ? 8 : 0;
    const std::size_t head = 2 + extended + ((s[at + 1] & 0x80) ? 4 : 0);
    if (s.size() - at < head) break;
    std::uint64_t length = short_length;
    if (extended) {
      length = 0;
      for (std::size_t i = 0; i < extended; ++i) length = (length << 8) | s[at + 2 + i];
    }
    const unsigned opcode = s[at] & 0x0f;
    if (opcode & 0x8) {
      if (opcode == 0x8) out.close_seen = true;
    } else {
      message = opcode == 0 ? message + length : length;
      if (limit != 0 && (message > limit || length > limit)) {
        out.over_limit = true;
        break;
      }
    }
    at += head;
    const std::uint64_t available = s.size() - at;
    if (length > available) {
      at = s.size();
      out.between_frames = false;
      break;
    }
    at += static_cast<std::size_t>(length);
  }
  out.passed = at;
  return out;
}

// Runs the scanner over the stream cut by `next_piece`, checking each step; returns what it let through.
template <class NextPiece>
Outcome scan(std::span<const std::uint8_t> stream, std::uint64_t limit, NextPiece next_piece) {
  FrameScanner scanner(limit);
  std::vector<std::uint8_t> passed;
  Outcome out;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t piece = next_piece(stream.size() - at);
    const auto data = stream.subspan(at, piece);
    const auto step = scanner.scan(data);
    const auto held = scanner.held();
    if (held.size() > 14) fail("more held than a frame head");
    if (step.held_bytes > held.size()) fail("held_bytes beyond what is held");
    if (step.data_bytes > data.size()) fail("data_bytes beyond the scanned data");
    passed.insert(passed.end(), held.begin(), held.begin() + static_cast<std::ptrdiff_t>(step.held_bytes));
    passed.insert(passed.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(step.data_bytes));
    at += piece;
    if (passed.size() > at) fail("more let through than came in");
    if (step.over_limit) {
      out.over_limit = true;
      if (!scanner.between_frames()) fail("stopped over the limit inside a frame");
      break;
    }
  }
  if (!std::equal(passed.begin(), passed.end(), stream.begin())) fail("what went through is not the stream's start");
  out.passed = passed.size();
  out.between_frames = scanner.between_frames();
  out.close_seen = scanner.close_seen();
  return out;
}

void expect_same(const Outcome& got, const Outcome& want, const char* split) {
  if (got.passed != want.passed) {
    std::fprintf(stderr, "%s: let %zu bytes through, framing says %zu\n", split, got.passed, want.passed);
    fail("bytes let through differ from the framing");
  }
  if (got.over_limit != want.over_limit) fail("over_limit differs from the framing");
  if (got.between_frames != want.between_frames) fail("between_frames differs from the framing");
  if (got.close_seen != want.close_seen) fail("close_seen differs from the framing");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  gatehouse::fuzz::Pieces pieces(data[0], data[1]);
  const std::uint8_t limit_byte = data[2];
  // Small limits reach the limit logic; the large ones cross the 16- and 64-bit length forms.
  const std::uint64_t limit = limit_byte == 0 ? 0 : limit_byte < 0xc0 ? limit_byte : std::uint64_t{1} << (limit_byte - 0xc0);
  const std::span<const std::uint8_t> stream(data + 3, size - 3);

  const Outcome want = reference(stream, limit);
  expect_same(scan(stream, limit, [&](std::size_t left) { return pieces.next(left); }), want, "fuzzer's split");
  expect_same(scan(stream, limit, [](std::size_t left) { return left; }), want, "one piece");
  expect_same(scan(stream, limit, [](std::size_t) { return std::size_t{1}; }), want, "byte by byte");
  return 0;
}
