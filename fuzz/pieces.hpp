// fuzz/pieces: cuts a byte string into pieces the way reads from a socket would, at points the fuzzer
// chooses. Two input bytes decide the cuts: the first the largest piece (1 byte up to 64 KiB), the
// second the seed of the piece lengths below it; so one mutated byte moves every cut.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace gatehouse::fuzz {

class Pieces {
public:
  Pieces(std::uint8_t size_byte, std::uint8_t seed_byte)
      : largest_(kLargest[size_byte % 8]), state_((0x9e3779b9u ^ (seed_byte * 0x01000193u) ^ size_byte) | 1u) {}

  // The length of the next piece, when `left` bytes remain (0 only when none remain).
  std::size_t next(std::size_t left) {
    if (left == 0) return 0;
    state_ ^= state_ << 13; // xorshift32
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % std::min(largest_, left);
  }

private:
  static constexpr std::size_t kLargest[8] = {1, 2, 3, 7, 16, 100, 1500, 65536};
  std::size_t largest_;
  std::uint32_t state_;
};

} // namespace gatehouse::fuzz
