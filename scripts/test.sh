#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: C++ unit tests (ctest), the HA test double's
# own suite, the end-to-end suites through Gatehouse, then a scan of every log the suites produced for
# the secrets they used and for sanitizer reports, then the Debian package's checks.
# Usage: scripts/test.sh              the build users run (build/)
#        scripts/test.sh --sanitize   the same tests against an ASan + UBSan build (build-sanitize/)
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") build_dir=build; cmake_options=() ;;
  --sanitize)
    build_dir=build-sanitize
    cmake_options=(-DGATEHOUSE_SANITIZE=ON)
    # Every report is fatal (a process that aborts fails its test; check-sanitizer-reports.test.mjs
    # catches reports from processes no test watched). Leaks are checked at exit: Gatehouse exits
    # through its SIGTERM/SIGINT handler and returns from main, so LeakSanitizer runs there too.
    export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1"
    export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
    export GATEHOUSE_SANITIZED=1 # memory bounds in the e2e tests then apply to growth (harness.mjs PeakRss)
    ;;
  *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
esac

scripts/setup.sh test
# RelWithDebInfo keeps NDEBUG defined, as every build users or tests run must: Boost.Beast 1.81 asserts
# (http/impl/basic_parser.ipp:702) on a legal chunked body whose chunk header is split across reads.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_options[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

status=0
(cd "$build_dir" && ctest --output-on-failure -j"$(nproc)") || status=1

rm -rf tests/.tmp
export GATEHOUSE_BIN="$PWD/$build_dir/gatehouse"
# A test that hangs fails with its name after 2 minutes (the slowest takes ~17 s under the sanitizers);
# a test file that never exits is stopped with the whole run after 30 minutes, never the CI's time.
node_test=(timeout --kill-after=30s 30m node --test --test-timeout=120000)
(cd tests && "${node_test[@]}" --test-concurrency=2 ha-double/ idp/ e2e/) || status=1
# Runs after every other suite: no Gatehouse log may contain a secret a test used or a sanitizer report.
(cd tests && "${node_test[@]}" check-logs.test.mjs check-failed-logins.test.mjs check-sanitizer-reports.test.mjs) || status=1

# The Debian package as users install it: its own Release build, lintian, the systemd unit's checks and
# an install into a fresh Debian 12 tree (not in the sanitizer run, which tests another build).
if [ -z "${1:-}" ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo -n) # debootstrap and chroot; never waits for a password
  { deb=$(scripts/package.sh) && "${as_root[@]}" scripts/check-package.sh "$deb"; } || status=1
fi

if [ "$status" -ne 0 ]; then echo "test.sh${1:+ $1}: FAILED" >&2; else echo "test.sh${1:+ $1}: all suites passed"; fi
exit "$status"
