// web/qr, read back by a real decoder: every symbol is written as an image and decoded by zbarimg
// (Debian's zbar-tools, installed by scripts/setup.sh), for texts that need each version 1-10.
#include "web/qr.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unistd.h>

namespace {

using gatehouse::web::qr_encode;
using gatehouse::web::qr_svg;
using gatehouse::web::QrCode;

// A PBM image of the code, 4 pixels a module, with the 4-module quiet zone a reader needs.
std::filesystem::path write_image(const QrCode& code) {
  constexpr int kScale = 4, kQuiet = 4;
  const int side = (code.size + 2 * kQuiet) * kScale;
  const auto path = std::filesystem::temp_directory_path() /
                    ("gatehouse-qr-" + std::to_string(::getpid()) + "-" + std::to_string(code.size) + ".pbm");
  std::ofstream out(path);
  out << "P1\n" << side << " " << side << "\n";
  for (int py = 0; py < side; ++py) {
    for (int px = 0; px < side; ++px) {
      const int x = px / kScale - kQuiet, y = py / kScale - kQuiet;
      const bool dark = x >= 0 && y >= 0 && x < code.size && y < code.size && code.at(x, y);
      out << (dark ? "1 " : "0 ");
    }
    out << "\n";
  }
  return path;
}

std::string decoded(const QrCode& code) {
  const auto image = write_image(code);
  const std::string command = "zbarimg --quiet --raw -Sdisable -Sqrcode.enable '" + image.string() + "' 2>/dev/null"; // stderr: D-Bus noise
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  std::string output;
  std::array<char, 512> chunk{};
  while (pipe && std::fgets(chunk.data(), chunk.size(), pipe.get())) output += chunk.data();
  std::filesystem::remove(image);
  if (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

// A URL like the one the waiting page shows, padded to `length` bytes.
std::string url_of_length(std::size_t length) {
  std::string url = "https://ha.example.org:8443/sso/device?code=KXBR-TMPD&x=";
  for (std::size_t i = 0; url.size() < length; ++i) url += static_cast<char>('a' + i % 26);
  url.resize(length);
  return url;
}

TEST(Qr, EachVersionIsReadBackByARealDecoder) {
  // The most bytes versions 1-10 hold at level M, and one more.
  for (const std::size_t bytes : {14u, 15u, 26u, 27u, 42u, 43u, 62u, 63u, 84u, 85u, 106u, 107u, 122u, 123u, 152u,
                                  153u, 180u, 181u, 213u}) {
    const auto text = url_of_length(bytes);
    const auto code = qr_encode(text);
    ASSERT_TRUE(code) << bytes;
    EXPECT_EQ(decoded(*code), text) << "version " << (code->size - 17) / 4 << ", " << bytes << " bytes";
  }
}

// A decoder corrects errors, so a few wrong modules would still decode: one symbol is also compared
// module by module with npm qrcode 1.5.4's (version 7: version bits, six alignment patterns, 4 blocks).
TEST(Qr, MatchesAReferenceEncoderModuleByModule) {
  const std::string text = "https://ha.example.org:8443/sso/device?code=KXBR-TMPD&x=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzab";
  const std::vector<std::string> expected{
      "#######..#.....#.#..##....#.#.#.#...#.#######",
      "#.....#.##.###.#...##...###.#....#.#..#.....#",
      "#.###.#.######..#.#..#..#..#...###.#..#.###.#",
      "#.###.#.#...#..#####.#...#####.###.##.#.###.#",
      "#.###.#..#....#....######..#.##...###.#.###.#",
      "#.....#..##..#.###..#...##.#.##.##....#.....#",
      "#######.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#######",
      "........#.#.###.#..##...###.#####.#.#........",
      "#.....#.###.#.####.########...##.#...##..###.",
      ".#...#.##.#...#...##.######..###.####.##.#.#.",
      "..##..###..#####..##.#..###.##...##..###.#.#.",
      "####....#.....####...#.####........#..#####..",
      "..##..#######.#.#.#.##.##.#...#.#..#..#.##.#.",
      "##.#......##..#.##...##..#..####.#.###.####.#",
      "###.###.#.#..#..###.######..##.#####..#.##.#.",
      "##..##.####.#..#..####.#...#.#...#.#.....###.",
      ".....##..###.#.#######..#.#..###..#..##.....#",
      ".#.#....##.#..#....#.#.#.#...##..#.###..##..#",
      "####..#..#.##.####.#.##.##.#...#.....#.#.##.#",
      "#....#..#..#....####.....###...###.#....###.#",
      "##..######..###.###.#####.#...##.#.######..#.",
      "#####...#.##...#...##...##.#####.####...###..",
      ".####.#.#####..#..#.#.#.#...#.##..###.#.#.#..",
      "#.#.#...###..##..##.#...#...#####...#...#####",
      "##.########..##.##########.##.#.#.#######....",
      "#...#.....#...######.#####.#.##.#..##..#.##.#",
      "#.#.#.###.###.##....#.##..#..#...##.##.##.##.",
      ".#..#..##......#.#.####.#.#.#..#.#.#.#.####..",
      "####..#......#.##..........#......#...#.#..##",
      ".###...#..###...###.#.#..#..####.#....##....#",
      "#########.#....####.#.########..##...######.#",
      "##...#..#..###....####.#...##.###..##.#..##.#",
      "..#.#.#.#.###.######.....#....##.#.....##...#",
      "##.#....##...##....#...#.###.######..#.###...",
      "....#.#.##.......##..#....#....#..#.##.#####.",
      ".####..#.#....##..####.##...#.####.##.######.",
      "#..##.#.#...##....#######.####..#.########..#",
      "........##..#..####.#...#...###.##.##...###.#",
      "#######...#.#..#.####.#.##.#.###..###.#.#.##.",
      "#.....#..#...#..#..##...###..###.#.##...####.",
      "#.###.#..#..#..####.#######....#.#########...",
      "#.###.#....##.#..###.........###.#.#.##.###.#",
      "#.###.#......#.##..##.###......###..###.#.#.#",
      "#.....#..#.##.########...#..#.#.##.###.#.##..",
      "#######.##.#.###.....#..#....###.#..#.####.#.",
  };
  const auto code = qr_encode(text, 5);
  ASSERT_TRUE(code);
  ASSERT_EQ(code->size, 45);
  for (int y = 0; y < code->size; ++y) {
    std::string row;
    for (int x = 0; x < code->size; ++x) row += code->at(x, y) ? '#' : '.';
    EXPECT_EQ(row, expected[static_cast<std::size_t>(y)]) << "row " << y;
  }
}

TEST(Qr, TheSmallestVersionThatHoldsTheTextIsChosen) {
  EXPECT_EQ(qr_encode(url_of_length(14))->size, 21);
  EXPECT_EQ(qr_encode(url_of_length(15))->size, 25);
  EXPECT_EQ(qr_encode(url_of_length(213))->size, 57);
  EXPECT_FALSE(qr_encode(url_of_length(214))) << "past version 10 the page shows only the code";
}

TEST(Qr, SvgHasAQuietZoneAndOnlyDrawingElements) {
  const auto code = qr_encode("https://ha.example.org/sso/device?code=KXBR-TMPD");
  ASSERT_TRUE(code);
  const auto svg = qr_svg(*code, 200);
  const std::string side = std::to_string(code->size + 8);
  EXPECT_NE(svg.find("viewBox=\"0 0 " + side + " " + side + "\""), std::string::npos) << svg.substr(0, 200);
  EXPECT_NE(svg.find("width=\"200\""), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("style"), std::string::npos) << "presentation attributes only";
  // The top-left finder's first row, 7 dark modules, begins after the quiet zone.
  EXPECT_NE(svg.find("M4,4h7v1h-7z"), std::string::npos);
}

} // namespace
