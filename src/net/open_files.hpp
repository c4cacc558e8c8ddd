// net/open_files: owns the process's file-descriptor budget. Every client connection is a descriptor,
// and may hold a second one to Home Assistant; when descriptors run out, accept() fails and nobody gets
// an answer, not even the 503 of the connection limit. So at start Gatehouse raises its soft
// RLIMIT_NOFILE to the hard limit, and, unless `limits.max_connections` is configured, derives the
// connection limit from it:
//   max_connections = (open files - reserved) / 2
//   reserved        = 64 (store, log, admin connection, IdP and health requests, signals)
//                     + workers x (256 pooled idle upstream connections + 8 for the acceptor and event loop)
//                     + limits.max_concurrent_token_checks (one websocket to HA each)
#pragma once

#include <cstddef>
#include <cstdint>

namespace gatehouse::net {

struct OpenFilesLimit {
  std::uint64_t soft_before = 0; // the soft limit Gatehouse was started with
  std::uint64_t soft = 0;        // after raising it
  std::uint64_t hard = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard limit (to 1048576 when the hard limit is unlimited), or as
// far as the kernel allows.
OpenFilesLimit raise_open_files_limit();

// Descriptors kept for everything but client connections and their upstream connections.
std::uint64_t reserved_descriptors(unsigned workers, std::uint32_t concurrent_token_checks);
// The default limits.max_connections for `open_files` descriptors (at least 1).
std::size_t connections_for(std::uint64_t open_files, unsigned workers, std::uint32_t concurrent_token_checks);

} // namespace gatehouse::net
