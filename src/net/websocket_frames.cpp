// net/websocket_frames: frame boundaries and close frames for the byte-level websocket relay.
#include "net/websocket_frames.hpp"

#include <algorithm>
#include <openssl/rand.h>
#include <stdexcept>

namespace gatehouse::net {

namespace {

// Bytes in a frame head, as far as the bytes seen so far tell (RFC 6455 §5.2).
std::size_t head_length(const std::array<std::uint8_t, 14>& head, std::size_t have) {
  if (have < 2) return 2;
  const unsigned short_length = head[1] & 0x7f;
  const std::size_t extended = short_length == 126 ? 2 : short_length == 127 ? 8 : 0;
  const std::size_t mask = (head[1] & 0x80) ? 4 : 0;
  return 2 + extended + mask;
}

std::uint64_t payload_length(const std::array<std::uint8_t, 14>& head) {
  const unsigned short_length = head[1] & 0x7f;
  if (short_length < 126) return short_length;
  const std::size_t bytes = short_length == 126 ? 2 : 8;
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < bytes; ++i) length = (length << 8) | head[2 + i];
  return length;
}

} // namespace

FrameScanner::Step FrameScanner::scan(std::span<const std::uint8_t> data) {
  std::copy_n(head_.begin(), head_size_, carried_.begin());
  carried_size_ = head_size_;
  bool head_began_earlier = head_size_ > 0;
  bool release_carried = false;
  Step step;
  std::size_t i = 0;
  std::size_t head_start = 0;
  while (i < data.size()) {
    if (payload_left_ > 0) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, data.size() - i));
      i += take;
      payload_left_ -= take;
      step.data_bytes = i;
      continue;
    }
    if (head_size_ == 0) head_start = i;
    head_[head_size_++] = data[i++];
    if (head_size_ < head_length(head_, head_size_)) continue;

    const unsigned opcode = head_[0] & 0x0f;
    const std::uint64_t length = payload_length(head_);
    if (opcode & 0x8) {
      if (opcode == 0x8) close_seen_ = true;
    } else {
      message_bytes_ = opcode == 0 ? message_bytes_ + length : length;
      if (max_message_bytes_ != 0 && (message_bytes_ > max_message_bytes_ || length > max_message_bytes_)) {
        step.over_limit = true;
        step.data_bytes = head_began_earlier ? 0 : head_start;
        step.held_bytes = release_carried ? carried_size_ : 0;
        return step;
      }
    }
    if (head_began_earlier) release_carried = true;
    head_began_earlier = false;
    head_size_ = 0;
    payload_left_ = length;
    step.data_bytes = i;
  }
  step.held_bytes = release_carried ? carried_size_ : 0;
  return step;
}

namespace {

// Frame head + payload, the payload masked with a fresh key from the OS CSPRNG when `masked`.
std::string make_frame(std::uint8_t first_byte, std::string payload, bool masked) {
  std::string frame;
  frame.push_back(static_cast<char>(first_byte));
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(mask_bit | static_cast<char>(payload.size())));
  } else if (payload.size() <= 0xffff) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((payload.size() >> shift) & 0xff));
  }
  if (masked) {
    unsigned char key[4];
    if (RAND_bytes(key, sizeof key) != 1) throw std::runtime_error("the OS random source failed");
    frame.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
  }
  frame += payload;
  return frame;
}

} // namespace

std::optional<FrameHead> read_frame_head(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 14> head{};
  const std::size_t have = std::min<std::size_t>(data.size(), head.size());
  std::copy_n(data.begin(), have, head.begin());
  if (have < 2) return std::nullopt;
  const std::size_t length = head_length(head, have);
  if (have < length) return std::nullopt;
  FrameHead result;
  result.fin = (head[0] & 0x80) != 0;
  result.opcode = head[0] & 0x0f;
  result.masked = (head[1] & 0x80) != 0;
  result.head_bytes = length;
  result.payload_bytes = payload_length(head);
  if (result.masked) std::copy_n(head.begin() + static_cast<std::ptrdiff_t>(length - 4), 4, result.mask.begin());
  return result;
}

std::string frame_payload(std::span<const std::uint8_t> data, const FrameHead& head) {
  std::string payload(reinterpret_cast<const char*>(data.data()) + head.head_bytes,
                      static_cast<std::size_t>(head.payload_bytes));
  if (head.masked) {
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ head.mask[i % 4]);
  }
  return payload;
}

std::string make_text_frame(std::string_view payload, bool masked) {
  return make_frame(0x81, std::string(payload), masked);
}

std::string make_close_frame(std::uint16_t code, std::string_view reason, bool masked) {
  std::size_t reason_bytes = std::min<std::size_t>(reason.size(), 123);
  while (reason_bytes > 0 && reason_bytes < reason.size() &&
         (static_cast<unsigned char>(reason[reason_bytes]) & 0xc0) == 0x80)
    --reason_bytes; // never cut a UTF-8 character in half
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  payload.append(reason.substr(0, reason_bytes));
  return make_frame(0x88, std::move(payload), masked); // FIN + close
}

} // namespace gatehouse::net
