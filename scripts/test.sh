#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: C++ unit tests (ctest), the HA test double's
# own suite, the end-to-end suites through Gatehouse, then a scan of every log the suites produced for
# the secrets they used. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

status=0
(cd build && ctest --output-on-failure -j"$(nproc)") || status=1

rm -rf tests/.tmp
export GATEHOUSE_BIN="$PWD/build/gatehouse"
(cd tests && node --test --test-concurrency=2 ha-double/ idp/ e2e/) || status=1
# Runs after every other suite: no Gatehouse log may contain a secret a test used.
(cd tests && node --test check-logs.test.mjs check-failed-logins.test.mjs) || status=1

if [ "$status" -ne 0 ]; then echo "test.sh: FAILED" >&2; else echo "test.sh: all suites passed"; fi
exit "$status"
