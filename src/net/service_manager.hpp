// net/service_manager: owns telling systemd (Type=notify) how the service is: READY=1 once it listens,
// RELOADING=1 and READY=1 around a reload, STOPPING=1 at shutdown. The notify protocol is systemd's
// documented, stable one (sd_notify(3): one datagram to the AF_UNIX socket in $NOTIFY_SOCKET), written
// here rather than linked from libsystemd, which would load seven libraries (xz, zstd, lz4, gcrypt...)
// into a security proxy and about 1 MB of memory for one sendto. Without $NOTIFY_SOCKET it does nothing.
#pragma once

#include <string_view>

namespace gatehouse::net {

void notify_service_manager(std::string_view state);

} // namespace gatehouse::net
