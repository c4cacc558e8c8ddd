#include "net/service_manager.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "os/file_descriptor.hpp"

namespace gatehouse::net {

void notify_service_manager(std::string_view state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where) return;
  const std::string_view path(where);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // A path, or an abstract socket written with a leading '@'; nothing else is systemd's.
  if (path.empty() || (path[0] != '/' && path[0] != '@') || path.size() >= sizeof address.sun_path) return;
  std::memcpy(address.sun_path, path.data(), path.size());
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  const os::FileDescriptor descriptor(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!descriptor.is_open()) return;
  ::sendto(descriptor.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size()));
}

} // namespace gatehouse::net
