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

std::string make_close_frame(std::uint16_t code, std::string_view reason, bool masked) {
  std::size_t reason_bytes = std::min<std::size_t>(reason.size(), 123);
  while (reason_bytes > 0 && reason_bytes < reason.size() &&
         (static_cast<unsigned char>(reason[reason_bytes]) & 0xc0) == 0x80)
    --reason_bytes; // never cut a UTF-8 character in half
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  payload.append(reason.substr(0, reason_bytes));

  std::string frame;
  frame.push_back(static_cast<char>(0x88)); // FIN + close
  frame.push_back(static_cast<char>((masked ? 0x80 : 0x00) | payload.size()));
  if (masked) {
    unsigned char key[4];
    if (RAND_bytes(key, sizeof key) != 1) throw std::runtime_error("the OS random source failed");
    frame.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
  }
  frame += payload;
  return frame;
}

} // namespace gatehouse::net
