// front_door/request_target: what may reach any routing decision, and what is refused as ambiguous.
#include <gtest/gtest.h>

#include "front_door/request_target.hpp"

using gatehouse::front_door::check_target;
using gatehouse::front_door::TargetProblem;

namespace {

void expect_refused(std::string_view target, TargetProblem problem) {
  auto check = check_target(target);
  EXPECT_FALSE(check) << target;
  EXPECT_EQ(check.problem, problem) << target;
}

} // namespace

TEST(RequestTarget, OrdinaryTargetsPassUnchanged) {
  for (std::string_view target :
       {"/", "/api/states", "/auth/authorize?response_type=code&client_id=https%3A%2F%2Fx%2F", "/lovelace/0",
        "/frontend_latest/app.abc123.js", "/api/camera_proxy/camera.door?token=abc", "/local/My%20Photos/a.jpg",
        "/api/history/period/2026-11-22T10:00:00+00:00?filter_entity_id=sensor.x", "/media/%C3%A9t%C3%A9.mp3",
        "/.well-known/oauth-authorization-server", "/api/hassio/app/.hidden"}) {
    auto check = check_target(target);
    ASSERT_TRUE(check) << target << ": " << gatehouse::front_door::describe(check.problem);
    const auto question = target.find('?');
    EXPECT_EQ(check.target->path, target.substr(0, question));
    EXPECT_EQ(check.target->query, question == std::string_view::npos ? "" : target.substr(question + 1));
  }
}

TEST(RequestTarget, AbsoluteFormIsRefusedWhateverTheHost) {
  expect_refused("http://ha.example.com/api/states", TargetProblem::not_origin_form);
  expect_refused("http://evil.example/api/states", TargetProblem::not_origin_form);
  expect_refused("https://ha.example.com@evil.example/", TargetProblem::not_origin_form);
}

TEST(RequestTarget, OtherFormsAreRefused) {
  expect_refused("", TargetProblem::empty);
  expect_refused("*", TargetProblem::not_origin_form);
  expect_refused("api/states", TargetProblem::not_origin_form);
  expect_refused("ha.example.com:443", TargetProblem::not_origin_form);
  expect_refused("ftp://ha.example.com/x", TargetProblem::not_origin_form);
  expect_refused("/api/states#frag", TargetProblem::not_origin_form);
}

TEST(RequestTarget, EncodedDelimitersAreRefusedInEitherCase) {
  for (std::string_view target : {"/api%2Fhassio/x", "/api%2fhassio/x", "/api/hassio%5Cx", "/api/hassio%5cx",
                                  "/%2E%2E/api/hassio", "/api/%2e%2e/hassio", "/api/%2E/x", "/auth/token%2E"})
    expect_refused(target, TargetProblem::encoded_delimiter);
}

// HA on aiohttp 3.10.6 and later routes on the decoded path: "/auth/%74oken" is its /auth/token, while a
// proxy matching the raw path sees some other path. No client encodes these characters.
TEST(RequestTarget, EncodedLettersDigitsAndUnreservedMarksAreRefused) {
  for (std::string_view target : {"/auth/%74oken", "/auth/login%5Fflow", "/api/mobile_app/%72egistrations",
                                  "/api/webhook/%41bc", "/api/x%2Dy", "/api/x%7Ey", "/api/%30", "/AUTH/%54OKEN"})
    expect_refused(target, TargetProblem::encoded_unreserved);
  // Reserved characters, spaces and non-ASCII stay encoded, as clients send them; the query is not a route.
  for (std::string_view target : {"/api/x%20y", "/api/x%3Ay", "/api/x%2By", "/media/%C3%A9.mp3", "/api/x?q=%74"})
    EXPECT_TRUE(check_target(target)) << target;
}

TEST(RequestTarget, BackslashesAreRefused) {
  expect_refused("/api\\hassio", TargetProblem::backslash);
  expect_refused("/\\\\evil.example/", TargetProblem::backslash);
}

TEST(RequestTarget, DotSegmentsAreRefused) {
  for (std::string_view target : {"/./api", "/../api", "/api/..", "/api/.", "/api/../hassio/x", "/local/./x",
                                  "/api/hassio/../../auth/token?x=1"})
    expect_refused(target, TargetProblem::dot_segment);
}

TEST(RequestTarget, ControlCharactersAreRefusedRawOrEncoded) {
  expect_refused(std::string_view("/api/\0x", 7), TargetProblem::control_character);
  expect_refused("/api/%00x", TargetProblem::control_character);
  expect_refused("/api/%0d%0aSet-Cookie:x", TargetProblem::control_character);
  expect_refused("/api/%7F", TargetProblem::control_character);
  expect_refused("/api/x?token=%00", TargetProblem::control_character);
  expect_refused("/api/x?a=\t", TargetProblem::control_character);
}

TEST(RequestTarget, MalformedEscapesAreRefused) {
  for (std::string_view target : {"/api/%", "/api/%2", "/api/%zz", "/api/%%32%65", "/api/x?y=%", "/api/x?y=%g1"})
    expect_refused(target, TargetProblem::bad_escape);
}

TEST(RequestTarget, InvalidOrOverlongUtf8IsRefused) {
  for (std::string_view target : {"/api/%C0%AE%C0%AE/hassio", // overlong '.'
                                  "/api/%C0%AF",               // overlong '/'
                                  "/api/%E0%80%AF",            // 3-byte overlong '/'
                                  "/api/%F0%80%80%AF",         // 4-byte overlong '/'
                                  "/api/%ED%A0%80",            // a UTF-16 surrogate
                                  "/api/%F4%90%80%80",         // above U+10FFFF
                                  "/api/%C3", "/api/%FF", "/api/\xC3("})
    expect_refused(target, TargetProblem::bad_utf8);
}
