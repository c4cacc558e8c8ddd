// hass/admin_connection against a minimal HA websocket API in this process: auth, the admin check, then
// one command answered with a result. Found by scripts/test.sh --sanitize (heap-use-after-free in every
// SSO and trusted-device e2e test): the reply loop keeps `id`, a pointer into the reply object, across
// `message["type"]`, and Boost.JSON 1.81's non-const object::operator[] reserves room for one more
// member first (object.hpp emplace: reserve(size() + 1)), which reallocates an object parsed to its exact
// size even when the key exists. Without ASan the freed memory usually still reads right, so this test
// fails (aborts) in the sanitizer build only.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "hass/admin_connection.hpp"

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using asio::ip::tcp;

// Accepts one connection and plays HA: auth_required, auth_ok, an admin current_user, then answers every
// later command with a successful result {"echo": <its type>}, until the client goes away. Commands of
// type `silent_type` get no answer at all, as HA 2023.9 treats config/auth/update with an unknown group
// (contract §0.2).
class FakeHaApi {
public:
  explicit FakeHaApi(std::string silent_type = "")
      : silent_type_(std::move(silent_type)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeHaApi() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
  void serve() {
    boost::system::error_code ec;
    tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    if (ec) return;
    websocket::stream<tcp::socket> ws(std::move(socket));
    ws.accept(ec);
    if (ec) return;
    send(ws, {{"type", "auth_required"}, {"ha_version", "2024.6.0"}});
    if (!read(ws)) return;
    send(ws, {{"type", "auth_ok"}, {"ha_version", "2024.6.0"}});
    for (;;) {
      const auto command = read(ws);
      if (!command) return;
      const auto id = command->at("id");
      if (const auto* type = command->at("type").if_string(); type && *type == silent_type_) continue;
      if (command->at("type") == "auth/current_user") {
        send(ws, {{"id", id}, {"type", "result"}, {"success", true}, {"result", {{"id", "admin-id"}, {"is_admin", true}}}});
      } else {
        send(ws, {{"id", id}, {"type", "result"}, {"success", true}, {"result", {{"echo", command->at("type")}}}});
      }
    }
  }
  static void send(websocket::stream<tcp::socket>& ws, const json::object& message) {
    boost::system::error_code ec;
    ws.write(asio::buffer(json::serialize(message)), ec);
  }
  static std::optional<json::object> read(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    ws.read(buffer, ec);
    if (ec) return std::nullopt;
    auto value = json::parse(beast::buffers_to_string(buffer.data()), ec);
    if (ec || !value.is_object()) return std::nullopt;
    return value.as_object();
  }

  std::string silent_type_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

gatehouse::config::HomeAssistant ha_at(const FakeHaApi& ha) {
  gatehouse::config::HomeAssistant home_assistant;
  home_assistant.url = "http://127.0.0.1:" + std::to_string(ha.port());
  home_assistant.host = "127.0.0.1";
  home_assistant.port = ha.port();
  home_assistant.token = "admin-token";
  return home_assistant;
}

} // namespace

TEST(AdminConnection, ACommandGetsHaResult) {
  FakeHaApi ha;
  gatehouse::hass::AdminConnection admin(ha_at(ha));
  admin.start();
  ASSERT_EQ(admin.wait_first_outcome(std::chrono::seconds(10)), gatehouse::hass::AdminStatus::ready) << admin.status_message();

  asio::io_context io;
  gatehouse::hass::CommandResult result;
  json::object command{{"type", "config/auth/list"}};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { result = co_await admin.call(command); },
                 asio::detached);
  io.run();
  EXPECT_TRUE(result.ok) << result.error_code << ": " << result.error_message;
  EXPECT_EQ(result.result, (json::object{{"echo", "config/auth/list"}}));
  admin.stop();
}

// A command HA never answers fails on its own deadline; a command sent while it waits is answered, and
// the connection keeps serving afterwards: a silent HA wedges neither the connection nor a sign-in.
TEST(AdminConnection, ACommandHaNeverAnswersTimesOutAlone) {
  FakeHaApi ha("config/auth/update");
  gatehouse::hass::AdminConnection admin(ha_at(ha), std::chrono::milliseconds(1500));
  admin.start();
  ASSERT_EQ(admin.wait_first_outcome(std::chrono::seconds(10)), gatehouse::hass::AdminStatus::ready) << admin.status_message();

  asio::io_context io;
  gatehouse::hass::CommandResult silent, answered, later;
  std::vector<std::string> finished;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    json::object update{{"type", "config/auth/update"}, {"user_id", "u"}, {"group_ids", json::array{"no-such-group"}}};
    silent = co_await admin.call(std::move(update));
    finished.push_back("silent");
    json::object list{{"type", "config/auth/list"}};
    later = co_await admin.call(std::move(list));
    finished.push_back("later");
  }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    json::object list{{"type", "config/auth/list"}};
    answered = co_await admin.call(std::move(list));
    finished.push_back("answered");
  }, asio::detached);
  io.run();
  admin.stop();

  EXPECT_FALSE(silent.ok);
  EXPECT_EQ(silent.error_code, "timeout");
  EXPECT_TRUE(answered.ok) << answered.error_code;
  EXPECT_TRUE(later.ok) << later.error_code << ": " << later.error_message;
  EXPECT_EQ(later.result, (json::object{{"echo", "config/auth/list"}}));
  EXPECT_EQ(finished, (std::vector<std::string>{"answered", "silent", "later"}));
}
