// net/open_files: RLIMIT_NOFILE and the connection limit it allows.
#include "net/open_files.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "net/upstream.hpp"

namespace gatehouse::net {

namespace {
constexpr std::uint64_t kFixedReserve = 64;
constexpr std::uint64_t kPerWorkerEventLoop = 8;
constexpr rlim_t kWhenUnlimited = 1'048'576; // Linux's default fs.nr_open: NOFILE cannot go higher
} // namespace

OpenFilesLimit raise_open_files_limit() {
  OpenFilesLimit result;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return result;
  result.soft_before = result.soft = limit.rlim_cur;
  result.hard = limit.rlim_max;
  const rlim_t wanted = limit.rlim_max == RLIM_INFINITY ? kWhenUnlimited : limit.rlim_max;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised{wanted, limit.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) result.soft = wanted;
  }
  if (result.soft == RLIM_INFINITY) result.soft = kWhenUnlimited;
  return result;
}

std::uint64_t reserved_descriptors(unsigned workers, std::uint32_t concurrent_token_checks) {
  return kFixedReserve + std::uint64_t{workers} * (UpstreamPool::kMaxIdle + kPerWorkerEventLoop) +
         concurrent_token_checks;
}

std::size_t connections_for(std::uint64_t open_files, unsigned workers, std::uint32_t concurrent_token_checks) {
  const auto reserved = reserved_descriptors(workers, concurrent_token_checks);
  if (open_files <= reserved + 2) return 1;
  return static_cast<std::size_t>((open_files - reserved) / 2);
}

} // namespace gatehouse::net
