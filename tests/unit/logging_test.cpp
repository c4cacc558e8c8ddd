// Unit tests for logging: paths are logged without queries and without secret path segments.
#include <gtest/gtest.h>

#include "logging/log.hpp"

using gatehouse::logging::loggable_path;

TEST(LoggingPath, QueryIsDropped) {
  EXPECT_EQ(loggable_path("/auth/authorize?client_id=x&code=secret"), "/auth/authorize");
  EXPECT_EQ(loggable_path("/media/a.mp3?authSig=eyJsecret"), "/media/a.mp3");
}

TEST(LoggingPath, SecretSegmentsAreMasked) {
  EXPECT_EQ(loggable_path("/api/webhook/0123456789abcdef"), "/api/webhook/<redacted>");
  EXPECT_EQ(loggable_path("/sso/breakglass/sV3cr3t-Token_0123"), "/sso/breakglass/<redacted>");
  EXPECT_EQ(loggable_path("/api/hls/tok3n/master_playlist.m3u8"), "/api/hls/<redacted>/master_playlist.m3u8");
  EXPECT_EQ(loggable_path("/api/hassio_ingress/abc/index.html?x=1"), "/api/hassio_ingress/<redacted>/index.html");
  EXPECT_EQ(loggable_path("/api/tts_proxy/abcdef.mp3"), "/api/tts_proxy/<redacted>");
}

TEST(LoggingPath, OrdinaryPathsUnchanged) {
  EXPECT_EQ(loggable_path("/api/states"), "/api/states");
  EXPECT_EQ(loggable_path("/api/webhook/"), "/api/webhook/");
  EXPECT_EQ(loggable_path("/"), "/");
}

TEST(LoggingLevel, NamesParse) {
  gatehouse::logging::Level level;
  EXPECT_TRUE(gatehouse::logging::parse_level("warn", level));
  EXPECT_EQ(level, gatehouse::logging::Level::warn);
  EXPECT_FALSE(gatehouse::logging::parse_level("verbose", level));
}
