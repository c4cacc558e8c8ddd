// net/websocket_frames: owns the little of RFC 6455 framing a byte-level relay needs: following frame
// boundaries in one direction of a stream without copying or unmasking payloads (so Gatehouse can end
// a relay between frames, inject its own close frame there, and cap client message sizes), and
// building close frames. Everything else in a relayed frame is the two endpoints' business.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gatehouse::net {

class FrameScanner {
public:
  // 0: no limit. Otherwise the largest data message (all its fragments together) allowed through.
  explicit FrameScanner(std::uint64_t max_message_bytes = 0) : max_message_bytes_(max_message_bytes) {}

  struct Step {
    std::size_t held_bytes = 0; // bytes of a frame head from earlier reads (see held()), to go out first
    std::size_t data_bytes = 0; // then this many bytes from the start of the scanned data
    bool over_limit = false;    // the bytes after those begin a message over the limit: stop the relay
  };

  // Scans the next bytes of the stream. A frame head cut off by the end of `data` is held back until it
  // is whole, so what goes out always ends between frames or inside a payload, never inside a head.
  Step scan(std::span<const std::uint8_t> data);
  std::span<const std::uint8_t> held() const { return {carried_.data(), carried_size_}; }

  // Everything let through so far ends exactly at a frame boundary: a frame may be injected here.
  bool between_frames() const { return payload_left_ == 0; }
  bool close_seen() const { return close_seen_; }

private:
  std::uint64_t max_message_bytes_;
  std::uint64_t payload_left_ = 0;
  std::uint64_t message_bytes_ = 0;
  bool close_seen_ = false;
  std::array<std::uint8_t, 14> head_{}; // the frame head being read
  std::size_t head_size_ = 0;
  std::array<std::uint8_t, 14> carried_{}; // head bytes held from the previous scan, released by this one
  std::size_t carried_size_ = 0;
};

// One whole frame at the start of a byte string: what a handshake phase (Gatehouse answering HA's
// auth step for the client) needs to read, not to relay.
struct FrameHead {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::array<std::uint8_t, 4> mask{};
  std::size_t head_bytes = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t frame_bytes() const { return head_bytes + payload_bytes; }
};

// nullopt while `data` does not yet hold the frame's whole head.
std::optional<FrameHead> read_frame_head(std::span<const std::uint8_t> data);
// The frame's payload, unmasked. `data` must hold the whole frame.
std::string frame_payload(std::span<const std::uint8_t> data, const FrameHead& head);
// A complete, unfragmented text frame (masked for frames sent to HA).
std::string make_text_frame(std::string_view payload, bool masked);

// A complete close frame. `masked` for frames sent to HA (a client's frames must be masked; the mask
// comes from the OS CSPRNG). The reason is cut to the 123 bytes a control frame allows, at a UTF-8
// character boundary.
std::string make_close_frame(std::uint16_t code, std::string_view reason, bool masked);

} // namespace gatehouse::net
