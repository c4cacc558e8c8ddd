#!/usr/bin/env bash
# The demo: installs what is missing, builds Gatehouse, starts the HA test double on 127.0.0.1:8124 and
# Gatehouse in front of it on port 8123, and prints the URL to open. Ctrl-C stops everything.
# Usage: scripts/demo.sh   (GATEHOUSE_DEMO_PORT / GATEHOUSE_DEMO_HA_PORT change the ports)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${GATEHOUSE_DEMO_PORT:-8123}"
ha_port="${GATEHOUSE_DEMO_HA_PORT:-8124}"

scripts/setup.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target gatehouse

run_dir="$PWD/demo-data"
mkdir -p "$run_dir"
chmod 700 "$run_dir"
cat > "$run_dir/gatehouse.yaml" <<YAML
listen: 0.0.0.0:$port
external_url: http://127.0.0.1:$port
data_dir: $run_dir/data
trusted_proxies: []
home_assistant:
  url: http://127.0.0.1:$ha_port
logging:
  level: info
YAML

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The HA double believes Gatehouse's X-Forwarded-For, like a real HA configured with
# http: {use_x_forwarded_for: true, trusted_proxies: [127.0.0.1]}.
double_options='{"useXForwardedFor":true,"trustedProxies":["127.0.0.1"],"users":[
 {"name":"Owner","username":"owner","password":"owner-password","groups":["system-admin"],"isOwner":true},
 {"name":"Alice","username":"alice","password":"alice-password","groups":["system-users"]}]}'
coproc DOUBLE { exec node tests/ha-double/server.mjs --host 127.0.0.1 --port "$ha_port" --options-json "$double_options"; }
pids+=("$DOUBLE_PID")
read -r -t 30 line <&"${DOUBLE[0]}" || { echo "demo: the HA test double did not start" >&2; exit 1; }
case "$line" in *listening*) ;; *) echo "demo: unexpected output from the HA double: $line" >&2; exit 1 ;; esac

coproc GATE { exec build/gatehouse serve -c "$run_dir/gatehouse.yaml" 2>&1; }
pids+=("$GATE_PID")
while read -r -t 30 line <&"${GATE[0]}"; do
  echo "$line"
  case "$line" in *'"msg":"listening"'*) break ;; esac
done

cat <<MSG

  Gatehouse is running in front of the Home Assistant test double.
  Open:  http://127.0.0.1:$port/
  Sign in with  owner / owner-password  (or alice / alice-password).
  Health: http://127.0.0.1:$port/healthz      Logs follow below; Ctrl-C stops the demo.

MSG
cat <&"${GATE[0]}"
