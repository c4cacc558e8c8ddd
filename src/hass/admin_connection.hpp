// hass/admin_connection: owns Gatehouse's one websocket connection to HA as its dedicated admin user
// (contract §4): kept open on its own thread, re-opened with backoff when HA goes away, and used by any
// worker through call(). A token HA rejects, or one whose user is not an admin, is never retried: every
// rejected attempt would be a failed login HA records against Gatehouse's own address (§1.12).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "net/upstream.hpp"

namespace gatehouse::hass {

struct CommandResult {
  bool ok = false;
  boost::json::value result;  // HA's `result` when ok
  std::string error_code;     // HA's error code, or "not_connected" / "timeout" / "connection_lost"
  std::string error_message;
};

enum class AdminStatus { connecting, ready, unreachable, token_rejected, not_admin };

// One command's reply (contract §4.3): {"id":N,"type":"result","success":true,"result":...}, or
// "success":false with {"error":{"code","message"}}.
struct CommandReply {
  std::int64_t id = 0;
  CommandResult result;
};
// `message` read as a command's reply; nullopt for anything else (events, pongs, no integer id). Only
// reads `message`: boost::json::object::operator[] may insert and reallocate, which would leave any
// pointer into the message dangling.
std::optional<CommandReply> read_command_reply(const boost::json::object& message);

class AdminConnection {
public:
  // How long one command waits for HA's reply. HA may never answer one (contract §0.2: config/auth/update
  // with an unknown group); the command then fails with "timeout" and the connection serves the others.
  static constexpr std::chrono::milliseconds kDefaultCommandTimeout{15'000};

  explicit AdminConnection(const config::HomeAssistant& home_assistant,
                           std::chrono::milliseconds command_timeout = kDefaultCommandTimeout);
  ~AdminConnection();
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  void start();
  void stop();
  // Blocks until the first attempt has an outcome (or `limit` passes): for a clear startup error.
  AdminStatus wait_first_outcome(std::chrono::milliseconds limit);
  AdminStatus status() const;
  std::string status_message() const; // what to tell the operator; never the token
  std::string ha_version() const;
  // The HA user id of home_assistant.token_file's user (Gatehouse's own service user), learned from
  // auth/current_user at every connect (contract §4.4); "" until the first connection is ready.
  std::string service_user_id() const;

  // The admin connection's own thread, for work that must not interleave with itself.
  boost::asio::io_context::executor_type executor() { return io_.get_executor(); }

  // Sends `command` (without "id") and waits for HA's result. From any thread's coroutine.
  boost::asio::awaitable<CommandResult> call(boost::json::object command);

private:
  struct Session;
  struct Waiter;
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<CommandResult> call_here(boost::json::object command);
  void set_status(AdminStatus status, std::string message);

  config::HomeAssistant home_assistant_;
  net::UpstreamTarget target_; // where HA is, plain or TLS
  std::chrono::milliseconds command_timeout_;
  boost::asio::io_context io_{1};
  std::thread thread_;
  std::shared_ptr<Session> session_; // the open connection, when ready (admin thread only)
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, Waiter*> waiters_;
  bool stopping_ = false;

  mutable std::mutex status_mutex_;
  std::condition_variable status_changed_;
  AdminStatus status_ = AdminStatus::connecting;
  bool had_outcome_ = false;
  std::string status_message_;
  std::string ha_version_;
  std::string service_user_id_;
};

} // namespace gatehouse::hass
