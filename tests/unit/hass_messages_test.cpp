// hass/: reading HA's websocket messages (contract §4.2–4.3) without changing them. The messages are
// parsed with a memory resource that overwrites every block it frees, so a read that reallocates the
// message (boost::json::object::operator[] reserves room for an insertion even when the key exists) and
// then goes on through an older pointer into it sees the overwritten bytes instead of HA's values.
#include <gtest/gtest.h>

#include <boost/json/memory_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/storage_ptr.hpp>
#include <cstring>
#include <new>

#include "hass/admin_connection.hpp"
#include "hass/api_socket.hpp"

namespace json = boost::json;
using gatehouse::hass::read_command_reply;

namespace {

class PoisonOnFree final : public json::memory_resource {
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    return ::operator new(bytes, std::align_val_t(alignment));
  }
  void do_deallocate(void* block, std::size_t bytes, std::size_t alignment) override {
    std::memset(block, 0xa5, bytes);
    ::operator delete(block, std::align_val_t(alignment));
  }
  bool do_is_equal(const json::memory_resource& other) const noexcept override { return this == &other; }
};

// HA's message as the admin connection receives it: parsed, with no spare room in its table.
json::object received(std::string_view text, PoisonOnFree& resource) {
  auto value = json::parse(text, json::storage_ptr(&resource));
  auto message = std::move(value.as_object());
  EXPECT_EQ(message.size(), message.capacity()) << "the parser leaves no room: an insertion reallocates";
  return message;
}

} // namespace

TEST(AdminReplies, ASuccessIsReadWithItsIdAndResultAndTheMessageStaysAsItWas) {
  PoisonOnFree resource;
  const std::string text = R"({"id":7,"type":"result","success":true,"result":{"id":"abc","is_admin":true}})";
  const auto message = received(text, resource);
  const auto reply = read_command_reply(message);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->id, 7);
  EXPECT_TRUE(reply->result.ok);
  EXPECT_EQ(reply->result.result, json::parse(R"({"id":"abc","is_admin":true})"));
  EXPECT_EQ(json::serialize(message), text);
}

TEST(AdminReplies, AnErrorIsReadWithItsCodeAndMessage) {
  PoisonOnFree resource;
  const std::string text =
      R"({"id":12,"type":"result","success":false,"error":{"code":"not_found","message":"User not found"}})";
  const auto message = received(text, resource);
  const auto reply = read_command_reply(message);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->id, 12);
  EXPECT_FALSE(reply->result.ok);
  EXPECT_EQ(reply->result.error_code, "not_found");
  EXPECT_EQ(reply->result.error_message, "User not found");
  EXPECT_EQ(json::serialize(message), text);
}

TEST(AdminReplies, MissingMembersAreReadAsAbsentWithoutBeingAdded) {
  PoisonOnFree resource;
  // No success: not a success. No result: a null result.
  for (const std::string text : {R"({"id":3,"type":"result"})", R"({"type":"result","id":3,"success":true})"}) {
    const auto message = received(text, resource);
    const auto reply = read_command_reply(message);
    ASSERT_TRUE(reply) << text;
    EXPECT_EQ(reply->id, 3) << text;
    EXPECT_EQ(json::serialize(message), text) << "nothing was added to the message";
  }
  EXPECT_FALSE(read_command_reply(received(R"({"id":3,"type":"result"})", resource))->result.ok);
  EXPECT_TRUE(read_command_reply(received(R"({"type":"result","id":3,"success":true})", resource))->result.result.is_null());
}

TEST(AdminReplies, OtherMessagesAreNotReplies) {
  PoisonOnFree resource;
  for (const std::string text : {R"({"id":4,"type":"event","event":{}})", R"({"id":4,"type":"pong"})",
                                 R"({"id":4,"success":true})", R"({"id":"4","type":"result","success":true})",
                                 R"({"type":"result","success":true})", R"({"id":4,"type":7,"success":true})", "{}"}) {
    const auto message = received(text, resource);
    EXPECT_FALSE(read_command_reply(message)) << text;
    EXPECT_EQ(json::serialize(message), text) << "nothing was added to the message";
  }
}

TEST(ApiSocketMessages, TheTypeIsReadWithoutChangingTheMessage) {
  PoisonOnFree resource;
  const auto ok = received(R"({"type":"auth_ok","ha_version":"2025.5.0"})", resource);
  EXPECT_EQ(gatehouse::hass::message_type(ok), "auth_ok");
  for (const std::string text : {R"({"ha_version":"2025.5.0"})", R"({"type":null})", R"({"type":["auth_ok"]})"}) {
    const auto message = received(text, resource);
    EXPECT_EQ(gatehouse::hass::message_type(message), "") << text;
    EXPECT_EQ(json::serialize(message), text);
  }
}
