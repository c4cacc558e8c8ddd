// hass/admin_connection: the admin websocket to HA, its reconnect loop, and command round trips.
#include "hass/admin_connection.hpp"

#include "metrics/metrics.hpp"
#include "hass/api_socket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "logging/log.hpp"

namespace gatehouse::hass {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using asio::ip::tcp;

namespace {

metrics::Gauge admin_connection_ready("gatehouse_ha_admin_connection_ready",
                                      "1 while Gatehouse's admin websocket to Home Assistant is open and authenticated",
                                      metrics::Gauge::Reading::from_source);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kMaxBackoff = std::chrono::seconds(30);
constexpr std::size_t kMaxMessageBytes = 64 * 1024 * 1024; // user lists of big installations
} // namespace

struct AdminConnection::Session {
  std::unique_ptr<ApiSocket> ws; // open once the session is ready
  std::deque<std::string> outbox;
  bool writing = false;
};

struct AdminConnection::Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(executor) {}
  asio::steady_timer timer;
  CommandResult result;
  bool done = false;
};

AdminConnection::AdminConnection(const config::HomeAssistant& home_assistant, std::chrono::milliseconds command_timeout)
    : home_assistant_(home_assistant), target_(net::upstream_target(home_assistant)), command_timeout_(command_timeout) {
  admin_connection_ready.read_from([this] { return status() == AdminStatus::ready ? 1.0 : 0.0; });
}

AdminConnection::~AdminConnection() {
  admin_connection_ready.read_from({});
  stop();
}

void AdminConnection::start() {
  asio::co_spawn(io_, run(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

void AdminConnection::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    if (session_ && session_->ws) beast::get_lowest_layer(*session_->ws).close();
    for (auto& [id, waiter] : waiters_) {
      waiter->result = {false, nullptr, "connection_lost", "Gatehouse is stopping"};
      waiter->done = true;
      waiter->timer.cancel();
    }
  });
  asio::post(io_, [this] { io_.stop(); });
  thread_.join();
}

void AdminConnection::set_status(AdminStatus status, std::string message) {
  {
    std::lock_guard lock(status_mutex_);
    status_ = status;
    status_message_ = std::move(message);
    if (status != AdminStatus::connecting) had_outcome_ = true;
  }
  status_changed_.notify_all();
}

AdminStatus AdminConnection::wait_first_outcome(std::chrono::milliseconds limit) {
  std::unique_lock lock(status_mutex_);
  status_changed_.wait_for(lock, limit, [this] { return had_outcome_; });
  return status_;
}

AdminStatus AdminConnection::status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

std::string AdminConnection::status_message() const {
  std::lock_guard lock(status_mutex_);
  return status_message_;
}

std::string AdminConnection::ha_version() const {
  std::lock_guard lock(status_mutex_);
  return ha_version_;
}

std::string AdminConnection::service_user_id() const {
  std::lock_guard lock(status_mutex_);
  return service_user_id_;
}

std::optional<CommandReply> read_command_reply(const json::object& message) {
  const auto* id = message.if_contains("id");
  if (!id || !id->is_int64() || message_type(message) != "result") return std::nullopt;
  CommandReply reply;
  reply.id = id->get_int64();
  const auto* success = message.if_contains("success");
  reply.result.ok = success && *success == true;
  if (reply.result.ok) {
    if (const auto* result = message.if_contains("result")) reply.result.result = *result;
  } else if (const auto* error = message.if_contains("error"); error && error->is_object()) {
    const auto& e = error->get_object();
    if (const auto* code = e.if_contains("code"); code && code->is_string())
      reply.result.error_code = std::string(code->get_string());
    if (const auto* text = e.if_contains("message"); text && text->is_string())
      reply.result.error_message = std::string(text->get_string());
  }
  return reply;
}

asio::awaitable<void> AdminConnection::run() {
  auto executor = co_await asio::this_coro::executor;
  auto backoff = std::chrono::seconds(1);
  while (!stopping_) {
    auto session = std::make_shared<Session>();
    std::string failure;
    bool permanent = false;
    AdminStatus failure_status = AdminStatus::unreachable;
    // Named first: GCC 12 mishandles temporaries inside co_await.
    std::string own_name; // no X-Forwarded-For: the admin connection is Gatehouse itself
    auto opening = co_await open_api_socket(target_, std::move(own_name), std::chrono::seconds(10));
    if (!opening) {
      failure = opening.failure;
    } else {
      session->ws = std::move(opening.socket);
      std::lock_guard lock(status_mutex_);
      ha_version_ = *opening.ha_version;
    }
    beast::flat_buffer buffer;
    auto read_json = [&]() -> asio::awaitable<json::object> {
      buffer.clear();
      auto [ec, n] = co_await session->ws->async_read(buffer, use_tuple);
      if (ec) co_return json::object{};
      boost::system::error_code parse_ec;
      auto value = json::parse(beast::buffers_to_string(buffer.data()), parse_ec);
      if (parse_ec || !value.is_object()) co_return json::object{};
      co_return std::move(value.as_object());
    };
    auto write_json = [&](const json::object& message) -> asio::awaitable<bool> {
      const std::string text = json::serialize(message);
      auto [ec, n] = co_await session->ws->async_write(asio::buffer(text), use_tuple);
      co_return !ec;
    };
    // Contract §4.2: after auth_required (read above), exactly {type, access_token}.
    if (failure.empty()) {
      json::object auth{{"type", "auth"}, {"access_token", home_assistant_.token}};
      if (!co_await write_json(auth)) failure = "HA closed the connection during authentication";
    }
    if (failure.empty()) {
      const auto answer = co_await read_json();
      if (message_type(answer) == "auth_invalid") {
        failure = "Home Assistant rejected the admin token (home_assistant.token_file): create a long-lived "
                  "access token for Gatehouse's admin user in HA and restart Gatehouse";
        failure_status = AdminStatus::token_rejected;
        permanent = true;
      } else if (message_type(answer) != "auth_ok") {
        failure = "HA did not finish the websocket auth handshake";
      }
    }
    if (failure.empty()) {
      json::object who{{"id", next_id_++}, {"type", "auth/current_user"}};
      const bool sent = co_await write_json(who);
      json::object reply;
      if (sent) reply = co_await read_json();
      // Contract §4.4: {id, name, is_owner, is_admin, ...}. The id is kept so that linking never hands
      // this user to an identity (users/link_rule).
      const auto* result = reply.if_contains("result");
      const auto* user_id = result && result->is_object() ? result->as_object().if_contains("id") : nullptr;
      if (!user_id || !user_id->is_string() || user_id->as_string().empty()) {
        failure = "HA did not say who the admin token belongs to";
      } else if (const auto* admin = result->as_object().if_contains("is_admin"); !admin || *admin != true) {
        failure = "the user of home_assistant.token_file is not an administrator in HA: Gatehouse needs an admin "
                  "user to create and update users";
        failure_status = AdminStatus::not_admin;
        permanent = true;
      } else {
        std::lock_guard lock(status_mutex_);
        service_user_id_ = std::string(user_id->as_string());
      }
    }
    if (!failure.empty()) {
      beast::error_code ignored;
      if (session->ws) beast::get_lowest_layer(*session->ws).socket().close(ignored);
      set_status(failure_status, failure);
      logging::error("home assistant admin connection failed", {{"reason", failure}});
      if (permanent) co_return;
      asio::steady_timer wait(executor, backoff);
      co_await wait.async_wait(use_tuple);
      backoff = std::min<std::chrono::seconds>(backoff * 2, kMaxBackoff);
      continue;
    }

    backoff = std::chrono::seconds(1);
    auto& ws = *session->ws;
    beast::get_lowest_layer(ws).expires_never();
    ws.read_message_max(kMaxMessageBytes);
    websocket::stream_base::timeout timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
    ws.set_option(timeouts);
    session_ = session;
    set_status(AdminStatus::ready, "connected");
    logging::info("home assistant admin connection ready", {{"ha_version", ha_version()}});
    for (;;) {
      auto message = co_await read_json();
      if (message.empty()) break;
      auto reply = read_command_reply(message);
      if (!reply) continue;
      auto it = waiters_.find(reply->id);
      if (it == waiters_.end()) continue;
      Waiter* waiter = it->second;
      waiters_.erase(it);
      waiter->result = std::move(reply->result);
      waiter->done = true;
      waiter->timer.cancel();
    }
    session_.reset();
    for (auto& [id, waiter] : waiters_) {
      waiter->result = {false, nullptr, "connection_lost", "the connection to HA was lost"};
      waiter->done = true;
      waiter->timer.cancel();
    }
    waiters_.clear();
    if (stopping_) co_return;
    set_status(AdminStatus::connecting, "reconnecting");
    logging::warn("home assistant admin connection lost; reconnecting");
  }
}

asio::awaitable<CommandResult> AdminConnection::call_here(json::object command) {
  if (!session_) {
    co_return CommandResult{false, nullptr, "not_connected",
                            "Gatehouse is not connected to Home Assistant (" + status_message() + ")"};
  }
  auto session = session_;
  const std::int64_t id = next_id_++;
  command["id"] = id;
  Waiter waiter(co_await asio::this_coro::executor);
  waiter.timer.expires_after(command_timeout_);
  waiters_[id] = &waiter;
  session->outbox.push_back(json::serialize(command));
  if (!session->writing) {
    // One writer at a time on a websocket: whoever finds the outbox idle drains it.
    session->writing = true;
    while (!session->outbox.empty()) {
      std::string message = std::move(session->outbox.front());
      session->outbox.pop_front();
      auto [ec, n] = co_await session->ws->async_write(asio::buffer(message), use_tuple);
      if (ec) break;
    }
    session->writing = false;
  }
  if (!waiter.done) co_await waiter.timer.async_wait(use_tuple);
  if (!waiter.done) {
    waiters_.erase(id);
    co_return CommandResult{false, nullptr, "timeout", "Home Assistant did not answer in time"};
  }
  co_return std::move(waiter.result);
}

asio::awaitable<CommandResult> AdminConnection::call(json::object command) {
  auto operation = call_here(std::move(command));
  co_return co_await asio::co_spawn(io_, std::move(operation), asio::use_awaitable);
}

} // namespace gatehouse::hass
