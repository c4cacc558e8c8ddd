#!/usr/bin/env bash
# Installs everything Gatehouse needs to build, test and benchmark on Debian 12. Idempotent:
# apt-get only installs what is missing, npm ci only runs when the lockfile changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

build_pkgs=(build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev sqlite3 libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev googletest libjemalloc-dev ca-certificates)
test_pkgs=(curl openssl chromium zbar-tools prometheus python3
  debhelper lintian debootstrap systemd) # the package: scripts/package.sh and its checks
bench_pkgs=(wrk nginx-light haproxy apache2 libapache2-mod-auth-openidc)
# scripts/fuzz.sh: clang 14 with libFuzzer and its sanitizer runtimes; llvm-14 for llvm-symbolizer.
fuzz_pkgs=(clang-14 libclang-rt-14-dev llvm-14)

want=("${build_pkgs[@]}")
case "${1:-all}" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  fuzz) want+=("${fuzz_pkgs[@]}") ;;
  bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  all) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "usage: scripts/setup.sh [build|test|fuzz|bench|all]" >&2; exit 2 ;;
esac
command -v node >/dev/null 2>&1 || want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # nginx, haproxy and Apache are benchmark peers, Prometheus a test peer: not services of this machine.
  for svc in nginx haproxy apache2 prometheus; do
    if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi

if [ "${1:-all}" != build ] && [ "${1:-all}" != fuzz ] && [ -f tests/package-lock.json ]; then
  stamp=tests/node_modules/.lock-sha
  sum=$(sha256sum tests/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "setup: npm ci in tests/"
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" > "$stamp"
  fi
fi
echo "setup: ok"
