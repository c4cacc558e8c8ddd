// FrameScanner follows frame boundaries across arbitrary read splits and stops before an oversized
// client message; close frames are well formed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/websocket_frames.hpp"

using gatehouse::net::FrameScanner;
using gatehouse::net::make_close_frame;

namespace {

std::vector<std::uint8_t> frame(std::uint8_t first_byte, std::uint64_t length, bool masked) {
  std::vector<std::uint8_t> out{first_byte};
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (length < 126) {
    out.push_back(mask_bit | static_cast<std::uint8_t>(length));
  } else if (length <= 0xffff) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(length >> shift));
  }
  if (masked) out.insert(out.end(), {1, 2, 3, 4});
  out.insert(out.end(), static_cast<std::size_t>(length), 'x');
  return out;
}

std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// Feeds `stream` in pieces of `piece` bytes and returns exactly the bytes the scanner let through.
std::vector<std::uint8_t> pass_through(FrameScanner& scanner, const std::vector<std::uint8_t>& stream,
                                       std::size_t piece, bool* stopped = nullptr) {
  std::vector<std::uint8_t> out;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    std::span<const std::uint8_t> data(stream.data() + at, std::min(piece, stream.size() - at));
    auto step = scanner.scan(data);
    out.insert(out.end(), scanner.held().begin(), scanner.held().begin() + step.held_bytes);
    out.insert(out.end(), data.begin(), data.begin() + step.data_bytes);
    if (step.over_limit) {
      if (stopped) *stopped = true;
      return out;
    }
  }
  return out;
}

} // namespace

TEST(WebsocketFrames, EveryReadSplitLetsTheWholeStreamThroughAndEndsBetweenFrames) {
  const auto stream = concat({frame(0x81, 5, true), frame(0x02, 300, true), frame(0x80, 70000, true),
                              frame(0x89, 0, true), frame(0x88, 2, true)});
  for (std::size_t piece : {1u, 2u, 3u, 7u, 13u, 64u, 4096u, 100000u}) {
    FrameScanner scanner;
    EXPECT_EQ(pass_through(scanner, stream, piece), stream) << "piece " << piece;
    EXPECT_TRUE(scanner.between_frames()) << "piece " << piece;
    EXPECT_TRUE(scanner.close_seen()) << "piece " << piece;
  }
}

TEST(WebsocketFrames, AHeadCutByTheReadIsHeldBackUntilWhole) {
  FrameScanner scanner;
  const auto stream = frame(0x82, 300, true); // 2 + 2 length + 4 mask bytes of head
  std::span<const std::uint8_t> first(stream.data(), 3);
  auto step = scanner.scan(first);
  EXPECT_EQ(step.held_bytes + step.data_bytes, 0u);
  EXPECT_TRUE(scanner.between_frames());
  std::span<const std::uint8_t> rest(stream.data() + 3, 20);
  step = scanner.scan(rest);
  EXPECT_EQ(step.held_bytes, 3u);
  EXPECT_EQ(step.data_bytes, 20u);
  EXPECT_FALSE(scanner.between_frames());
}

TEST(WebsocketFrames, InsideAPayloadIsNotBetweenFrames) {
  FrameScanner scanner;
  const auto stream = frame(0x81, 10, false);
  scanner.scan(std::span<const std::uint8_t>(stream.data(), 5));
  EXPECT_FALSE(scanner.between_frames());
  scanner.scan(std::span<const std::uint8_t>(stream.data() + 5, stream.size() - 5));
  EXPECT_TRUE(scanner.between_frames());
  EXPECT_FALSE(scanner.close_seen());
}

TEST(WebsocketFrames, StopsBeforeAMessageOverTheLimitWhateverTheSplit) {
  const auto allowed = frame(0x81, 100, true);
  const auto stream = concat({allowed, frame(0x81, 101, true), frame(0x81, 1, true)});
  for (std::size_t piece : {1u, 5u, 100u, 1000u}) {
    FrameScanner scanner(100);
    bool stopped = false;
    EXPECT_EQ(pass_through(scanner, stream, piece, &stopped), allowed) << "piece " << piece;
    EXPECT_TRUE(stopped);
    EXPECT_TRUE(scanner.between_frames());
  }
}

TEST(WebsocketFrames, FragmentsCountTowardsOneMessageAndControlFramesDoNot) {
  const auto fits = concat({frame(0x01, 60, true), frame(0x89, 125, true), frame(0x80, 40, true)});
  FrameScanner scanner(100);
  bool stopped = false;
  EXPECT_EQ(pass_through(scanner, fits, 9, &stopped), fits);
  EXPECT_FALSE(stopped);

  const auto first_two = concat({frame(0x01, 60, true), frame(0x00, 40, true)});
  const auto too_long = concat({first_two, frame(0x80, 1, true)});
  FrameScanner strict(100);
  EXPECT_EQ(pass_through(strict, too_long, 9, &stopped), first_two);
  EXPECT_TRUE(stopped);
}

TEST(WebsocketFrames, A64BitLengthIsFollowed) {
  FrameScanner scanner;
  const auto head = std::vector<std::uint8_t>{0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0}; // 2^32 bytes follow
  auto step = scanner.scan(head);
  EXPECT_EQ(step.data_bytes, head.size());
  EXPECT_FALSE(scanner.between_frames());
}

TEST(WebsocketFrames, CloseFrameToTheClientIsUnmaskedWithCodeAndReason) {
  const std::string frame = make_close_frame(1012, "Home Assistant connection lost", false);
  ASSERT_EQ(frame.size(), 2u + 2u + 30u);
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x88);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), 32);
  EXPECT_EQ((static_cast<unsigned char>(frame[2]) << 8) | static_cast<unsigned char>(frame[3]), 1012);
  EXPECT_EQ(frame.substr(4), "Home Assistant connection lost");
}

TEST(WebsocketFrames, CloseFrameToHaIsMaskedAndUnmasksToCodeAndReason) {
  const std::string frame = make_close_frame(1001, "client went away", true);
  ASSERT_EQ(frame.size(), 2u + 4u + 2u + 16u);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), 0x80 | 18);
  std::string payload = frame.substr(6);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ frame[2 + i % 4]);
  EXPECT_EQ((static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]), 1001);
  EXPECT_EQ(payload.substr(2), "client went away");
}

TEST(WebsocketFrames, LongReasonIsCutToTheControlFrameLimitAtACharacterBoundary) {
  std::string reason(122, 'a');
  reason += "\xC3\xA9"; // é straddles byte 123
  const std::string frame = make_close_frame(1000, reason, false);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), 2 + 122);
  EXPECT_EQ(frame.substr(4), std::string(122, 'a'));
}
