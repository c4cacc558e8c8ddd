// web/qr: owns drawing a short text (a URL) as a QR code (ISO/IEC 18004: byte mode, error correction
// level M, versions 1-10, the mask with the lowest penalty) and as an inline SVG for Gatehouse's pages:
// a phone's camera opens /sso/device with the code filled in. No library in Debian does this for C++.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::web {

struct QrCode {
  int size = 0;                // modules per side: 17 + 4 × version
  std::vector<bool> dark;      // row by row, size × size
  bool at(int x, int y) const { return dark[static_cast<std::size_t>(y * size + x)]; }
};

// The symbol for `text`, in the smallest version that holds it; none past version 10 (213 bytes). `mask`
// 0-7 forces that mask (to compare with a reference encoder); otherwise the lowest penalty's is used.
std::optional<QrCode> qr_encode(std::string_view text, int mask = -1);

// An <svg> of the code with a quiet zone of 4 modules, dark on light, `pixels` wide and high.
std::string qr_svg(const QrCode& code, int pixels);

} // namespace gatehouse::web
