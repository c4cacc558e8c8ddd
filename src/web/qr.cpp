#include "web/qr.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>

namespace gatehouse::web {

namespace {

constexpr int kMaxVersion = 10;
// Per version 1-10 at level M (ISO/IEC 18004 table 9): all codewords, error correction codewords per
// block, and blocks.
constexpr std::array<int, kMaxVersion + 1> kCodewords{0, 26, 44, 70, 100, 134, 172, 196, 242, 292, 346};
constexpr std::array<int, kMaxVersion + 1> kEccPerBlock{0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26};
constexpr std::array<int, kMaxVersion + 1> kBlocks{0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5};
constexpr int kLevelMFormatBits = 0b00;

int data_codewords(int version) { return kCodewords[version] - kEccPerBlock[version] * kBlocks[version]; }
int count_bits(int version) { return version < 10 ? 8 : 16; } // byte mode's character count

// GF(256) with the polynomial x^8 + x^4 + x^3 + x^2 + 1.
std::uint8_t gf_multiply(std::uint8_t x, std::uint8_t y) {
  unsigned z = 0;
  for (int i = 7; i >= 0; --i) {
    z = (z << 1) ^ ((z >> 7) * 0x11D);
    z ^= ((y >> i) & 1u) * x;
  }
  return static_cast<std::uint8_t>(z);
}

std::vector<std::uint8_t> reed_solomon_divisor(int degree) {
  std::vector<std::uint8_t> result(static_cast<std::size_t>(degree), 0);
  result.back() = 1;
  std::uint8_t root = 1;
  for (int i = 0; i < degree; ++i) {
    for (std::size_t j = 0; j < result.size(); ++j) {
      result[j] = gf_multiply(result[j], root);
      if (j + 1 < result.size()) result[j] ^= result[j + 1];
    }
    root = gf_multiply(root, 0x02);
  }
  return result;
}

std::vector<std::uint8_t> reed_solomon_remainder(const std::vector<std::uint8_t>& data,
                                                 const std::vector<std::uint8_t>& divisor) {
  std::vector<std::uint8_t> result(divisor.size(), 0);
  for (const auto byte : data) {
    const auto factor = static_cast<std::uint8_t>(byte ^ result.front());
    result.erase(result.begin());
    result.push_back(0);
    for (std::size_t i = 0; i < result.size(); ++i) result[i] ^= gf_multiply(divisor[i], factor);
  }
  return result;
}

// The data codewords split into blocks, each followed by its error correction, interleaved.
std::vector<std::uint8_t> codewords_with_ecc(const std::vector<std::uint8_t>& data, int version) {
  const int blocks = kBlocks[version];
  const int ecc_length = kEccPerBlock[version];
  const int short_blocks = blocks - kCodewords[version] % blocks;
  const int short_data = kCodewords[version] / blocks - ecc_length;
  const auto divisor = reed_solomon_divisor(ecc_length);
  std::vector<std::vector<std::uint8_t>> data_blocks, ecc_blocks;
  std::size_t at = 0;
  for (int i = 0; i < blocks; ++i) {
    const auto length = static_cast<std::size_t>(short_data + (i < short_blocks ? 0 : 1));
    data_blocks.emplace_back(data.begin() + static_cast<long>(at), data.begin() + static_cast<long>(at + length));
    at += length;
    ecc_blocks.push_back(reed_solomon_remainder(data_blocks.back(), divisor));
  }
  std::vector<std::uint8_t> result;
  for (int i = 0; i <= short_data; ++i)
    for (const auto& block : data_blocks)
      if (static_cast<std::size_t>(i) < block.size()) result.push_back(block[static_cast<std::size_t>(i)]);
  for (int i = 0; i < ecc_length; ++i)
    for (const auto& block : ecc_blocks) result.push_back(block[static_cast<std::size_t>(i)]);
  return result;
}

bool mask_inverts(int mask, int x, int y) {
  switch (mask) {
  case 0: return (x + y) % 2 == 0;
  case 1: return y % 2 == 0;
  case 2: return x % 3 == 0;
  case 3: return (x + y) % 3 == 0;
  case 4: return (x / 3 + y / 2) % 2 == 0;
  case 5: return x * y % 2 + x * y % 3 == 0;
  case 6: return (x * y % 2 + x * y % 3) % 2 == 0;
  default: return ((x + y) % 2 + x * y % 3) % 2 == 0;
  }
}

class Symbol {
public:
  explicit Symbol(int version) : version_(version), size_(17 + 4 * version), dark_(cells(), false), fixed_(cells(), false) {
    for (int i = 0; i < size_; ++i) {
      set_fixed(6, i, i % 2 == 0); // timing patterns
      set_fixed(i, 6, i % 2 == 0);
    }
    finder(3, 3);
    finder(size_ - 4, 3);
    finder(3, size_ - 4);
    const auto centres = alignment_centres();
    const auto last = centres.size() - 1;
    for (std::size_t i = 0; i < centres.size(); ++i)
      for (std::size_t j = 0; j < centres.size(); ++j)
        if (!((i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0))) alignment(centres[i], centres[j]);
    format_bits(0); // reserves the format areas; drawn again with the chosen mask
    version_bits();
  }

  void place(const std::vector<std::uint8_t>& codewords) {
    std::size_t bit = 0;
    for (int right = size_ - 1; right >= 1; right -= 2) {
      if (right == 6) right = 5; // the vertical timing pattern's column is skipped
      for (int vertical = 0; vertical < size_; ++vertical)
        for (int j = 0; j < 2; ++j) {
          const int x = right - j;
          const bool upward = ((right + 1) & 2) == 0;
          const int y = upward ? size_ - 1 - vertical : vertical;
          if (fixed_[index(x, y)] || bit >= codewords.size() * 8) continue;
          dark_[index(x, y)] = (codewords[bit >> 3] >> (7 - (bit & 7))) & 1;
          ++bit;
        }
    }
  }

  void apply_mask(int mask) {
    for (int y = 0; y < size_; ++y)
      for (int x = 0; x < size_; ++x)
        if (!fixed_[index(x, y)] && mask_inverts(mask, x, y)) dark_[index(x, y)] = !dark_[index(x, y)];
  }

  void format_bits(int mask) {
    const int data = kLevelMFormatBits << 3 | mask;
    int remainder = data;
    for (int i = 0; i < 10; ++i) remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537);
    const int bits = (data << 10 | remainder) ^ 0x5412;
    const auto bit = [&](int i) { return ((bits >> i) & 1) != 0; };
    for (int i = 0; i <= 5; ++i) set_fixed(8, i, bit(i));
    set_fixed(8, 7, bit(6));
    set_fixed(8, 8, bit(7));
    set_fixed(7, 8, bit(8));
    for (int i = 9; i < 15; ++i) set_fixed(14 - i, 8, bit(i));
    for (int i = 0; i < 8; ++i) set_fixed(size_ - 1 - i, 8, bit(i));
    for (int i = 8; i < 15; ++i) set_fixed(8, size_ - 15 + i, bit(i));
    set_fixed(8, size_ - 8, true); // the dark module
  }

  // ISO/IEC 18004 §7.8.3: runs, 2×2 blocks, finder look-alikes, and the dark/light balance.
  long penalty() const {
    long score = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const auto module = [&](int line, int i) { return pass == 0 ? at(i, line) : at(line, i); };
      for (int line = 0; line < size_; ++line) {
        int run = 1;
        for (int i = 1; i <= size_; ++i) {
          if (i < size_ && module(line, i) == module(line, i - 1)) {
            ++run;
            continue;
          }
          if (run >= 5) score += 3 + (run - 5);
          run = 1;
        }
        // 1:1:3:1:1 with four light modules on one side; outside the symbol counts as light.
        const auto lit = [&](int i) { return i >= 0 && i < size_ && module(line, i); };
        static constexpr std::array<bool, 11> kFinderLeft{false, false, false, false, true, false, true, true, true, false, true};
        static constexpr std::array<bool, 11> kFinderRight{true, false, true, true, true, false, true, false, false, false, false};
        for (int start = -4; start + 11 <= size_ + 4; ++start) {
          bool left = true, right = true;
          for (int k = 0; k < 11; ++k) {
            left = left && lit(start + k) == kFinderLeft[static_cast<std::size_t>(k)];
            right = right && lit(start + k) == kFinderRight[static_cast<std::size_t>(k)];
          }
          score += (left ? 40 : 0) + (right ? 40 : 0);
        }
      }
    }
    long dark = 0;
    for (int y = 0; y < size_; ++y)
      for (int x = 0; x < size_; ++x) {
        dark += at(x, y) ? 1 : 0;
        if (x + 1 < size_ && y + 1 < size_ && at(x, y) == at(x + 1, y) && at(x, y) == at(x, y + 1) &&
            at(x, y) == at(x + 1, y + 1))
          score += 3;
      }
    const long total = static_cast<long>(size_) * size_;
    score += ((std::labs(dark * 20 - total * 10) + total - 1) / total - 1) * 10;
    return score;
  }

  QrCode result() const { return QrCode{size_, dark_}; }

private:
  std::size_t cells() const { return static_cast<std::size_t>(size_ * size_); }
  std::size_t index(int x, int y) const { return static_cast<std::size_t>(y * size_ + x); }
  bool at(int x, int y) const { return dark_[index(x, y)]; }
  void set_fixed(int x, int y, bool dark) {
    dark_[index(x, y)] = dark;
    fixed_[index(x, y)] = true;
  }

  void finder(int cx, int cy) {
    for (int dy = -4; dy <= 4; ++dy)
      for (int dx = -4; dx <= 4; ++dx) {
        const int x = cx + dx, y = cy + dy;
        const int distance = std::max(std::abs(dx), std::abs(dy));
        if (x >= 0 && x < size_ && y >= 0 && y < size_) set_fixed(x, y, distance != 2 && distance != 4);
      }
  }

  void alignment(int cx, int cy) {
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) set_fixed(cx + dx, cy + dy, std::max(std::abs(dx), std::abs(dy)) != 1);
  }

  std::vector<int> alignment_centres() const {
    if (version_ == 1) return {};
    const int count = version_ / 7 + 2;
    const int step = (version_ * 8 + count * 3 + 5) / (count * 4 - 4) * 2;
    std::vector<int> centres(static_cast<std::size_t>(count));
    centres[0] = 6;
    for (int i = count - 1, at = size_ - 7; i >= 1; --i, at -= step) centres[static_cast<std::size_t>(i)] = at;
    return centres;
  }

  void version_bits() {
    if (version_ < 7) return;
    int remainder = version_;
    for (int i = 0; i < 12; ++i) remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25);
    const long bits = static_cast<long>(version_) << 12 | remainder;
    for (int i = 0; i < 18; ++i) {
      const bool dark = ((bits >> i) & 1) != 0;
      const int a = size_ - 11 + i % 3, b = i / 3;
      set_fixed(a, b, dark);
      set_fixed(b, a, dark);
    }
  }

  int version_;
  int size_;
  std::vector<bool> dark_;
  std::vector<bool> fixed_; // function patterns, never masked or written with data
};

} // namespace

std::optional<QrCode> qr_encode(std::string_view text, int mask) {
  int version = 1;
  while (version <= kMaxVersion &&
         4 + count_bits(version) + 8 * static_cast<long>(text.size()) > 8L * data_codewords(version))
    ++version;
  if (version > kMaxVersion) return std::nullopt;

  std::vector<bool> bits;
  const auto append = [&](unsigned value, int length) {
    for (int i = length - 1; i >= 0; --i) bits.push_back(((value >> i) & 1u) != 0);
  };
  append(0b0100, 4); // byte mode
  append(static_cast<unsigned>(text.size()), count_bits(version));
  for (const char c : text) append(static_cast<unsigned char>(c), 8);
  const std::size_t capacity = static_cast<std::size_t>(data_codewords(version)) * 8;
  append(0, static_cast<int>(std::min<std::size_t>(4, capacity - bits.size()))); // terminator
  append(0, static_cast<int>((8 - bits.size() % 8) % 8));
  for (unsigned pad = 0xEC; bits.size() < capacity; pad ^= 0xEC ^ 0x11) append(pad, 8);
  std::vector<std::uint8_t> data(bits.size() / 8, 0);
  for (std::size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) data[i >> 3] = static_cast<std::uint8_t>(data[i >> 3] | (1u << (7 - (i & 7))));

  Symbol symbol(version);
  symbol.place(codewords_with_ecc(data, version));
  int best_mask = mask;
  long best_penalty = std::numeric_limits<long>::max();
  for (int candidate = 0; candidate < 8 && (mask < 0 || mask > 7); ++candidate) {
    symbol.apply_mask(candidate);
    symbol.format_bits(candidate);
    if (const long penalty = symbol.penalty(); penalty < best_penalty) {
      best_penalty = penalty;
      best_mask = candidate;
    }
    symbol.apply_mask(candidate); // undone: the mask is its own inverse
  }
  symbol.apply_mask(best_mask);
  symbol.format_bits(best_mask);
  return symbol.result();
}

std::string qr_svg(const QrCode& code, int pixels) {
  constexpr int kQuietZone = 4;
  const std::string side = std::to_string(code.size + 2 * kQuietZone);
  std::string path;
  for (int y = 0; y < code.size; ++y)
    for (int x = 0; x < code.size;) {
      if (!code.at(x, y)) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < code.size && code.at(x + run, y)) ++run;
      path += "M" + std::to_string(x + kQuietZone) + "," + std::to_string(y + kQuietZone) + "h" + std::to_string(run) +
              "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  const std::string size = std::to_string(pixels);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + side + " " + side + "\" width=\"" + size +
         "\" height=\"" + size + "\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\"><rect width=\"" +
         side + "\" height=\"" + side + "\" fill=\"#fff\"/><path fill=\"#000\" d=\"" + path + "\"/></svg>";
}

} // namespace gatehouse::web
