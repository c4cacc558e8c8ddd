#!/usr/bin/env bash
# bench/shield.sh — one command, one run: what the pre-authentication shield costs on authenticated
# traffic. One Gatehouse (shield enforce) in front of an nginx upstream that answers every path with
# the same small body, and passes /api/websocket to the HA test double (so Gatehouse can check a token
# with "HA" once). In interleaved rounds, wrk sends through the same Gatehouse:
#   public  GET /frontend_latest/bench.js: a public path, so the token it carries is not checked — the
#           relay with the route decision only (the same request size as below)
#   token   GET /api/states + the same Bearer <valid HA token>, known after its first check (the cached path)
#   nginx   GET /api/states straight to the upstream (reference)
# and the table shows token/public for req/s and p99. Results in bench/out/shield-<timestamp>/.
#
#   bench/shield.sh                                  # 5 rounds x 10 s per case, ~2 minutes
#   SHIELD_ROUNDS=3 SHIELD_DURATION=5 bench/shield.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
ROUNDS=${SHIELD_ROUNDS:-5}
DURATION_S=${SHIELD_DURATION:-10}
CONNECTIONS=${SHIELD_CONNECTIONS:-64}
WORKERS=${SHIELD_WORKERS:-2}
GH_BIN=${GATEHOUSE_BIN:-$ROOT/build/gatehouse}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${SHIELD_OUT:-$BENCH_DIR/out/shield-$STAMP}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$DURATION_S" =~ ^[1-9][0-9]*$ ]] || { echo "SHIELD_ROUNDS/SHIELD_DURATION: positive integers" >&2; exit 2; }
for tool in wrk nginx node curl; do command -v "$tool" >/dev/null || { echo "$tool not found (scripts/setup.sh bench)" >&2; exit 1; }; done
[ -x "$GH_BIN" ] || { echo "no $GH_BIN: build first (cmake --build build)" >&2; exit 1; }

log() { printf '[shield %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$OUT/logs" "$OUT/raw"
TMP=$(mktemp -d /tmp/gatehouse-shield.XXXXXX)
chmod 755 "$TMP"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
wait_for() { # NAME URL
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$2" 2>/dev/null && return 0; sleep 0.1; done
  echo "$1 did not start (logs in $OUT/logs)" >&2; exit 1
}

read -r HA_PORT UP_PORT GH_PORT <<<"$(alloc_ports 3)"

# ---- the HA test double, with one user and a long-lived token ------------------------------------------
node "$ROOT/tests/ha-double/server.mjs" --host 127.0.0.1 --port "$HA_PORT" \
  --options-json '{"useXForwardedFor":true,"trustedProxies":["127.0.0.1"]}' >"$OUT/logs/ha-double.log" 2>&1 &
pids+=($!)
wait_for ha-double "http://127.0.0.1:$HA_PORT/manifest.json"
user_id=$(curl -fsS -X POST -H 'content-type: application/json' \
  -d '{"name":"Bench","username":"bench","password":"unused-'"$RANDOM$RANDOM"'","groups":["system-users"]}' \
  "http://127.0.0.1:$HA_PORT/__double/users" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).id))')
TOKEN=$(curl -fsS -X POST -H 'content-type: application/json' -d '{"userId":"'"$user_id"'","clientName":"bench"}' \
  "http://127.0.0.1:$HA_PORT/__double/long-lived-tokens" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).token))')

# ---- nginx: the upstream ----------------------------------------------------------------------------------
BODY=$(printf 'x%.0s' $(seq 1 100))
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
error_log $OUT/logs/nginx-error.log warn;
pid $TMP/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP_PORT;
    location = /api/websocket {
      proxy_pass http://127.0.0.1:$HA_PORT;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header X-Forwarded-For \$http_x_forwarded_for;
    }
    location / { default_type text/plain; return 200 "$BODY"; }
  }
}
EOF
nginx -c "$TMP/nginx.conf" -p "$TMP" -g 'daemon off;' >"$OUT/logs/nginx.log" 2>&1 &
pids+=($!)
wait_for nginx "http://127.0.0.1:$UP_PORT/"

# ---- Gatehouse, shield enforce ------------------------------------------------------------------------------
mkdir -p "$TMP/gh/data"; chmod 700 "$TMP/gh/data"
cat >"$TMP/gh/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$GH_PORT
external_url: http://127.0.0.1:$GH_PORT
data_dir: $TMP/gh/data
workers: $WORKERS
home_assistant: { url: "http://127.0.0.1:$UP_PORT" }
logging: { level: warn }   # info would log every request: that would measure logging
EOF
cp "$TMP/gh/gatehouse.yaml" "$OUT/logs/gatehouse.yaml"
"$GH_BIN" serve -c "$TMP/gh/gatehouse.yaml" >"$OUT/logs/gatehouse.log" 2>&1 &
pids+=($!)
wait_for gatehouse "http://127.0.0.1:$GH_PORT/healthz"

# The token is checked with "HA" once, here; every measured request after that is the cached path.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$GH_PORT/api/states")
[ "$status" = 200 ] || { echo "the token was not accepted through Gatehouse (HTTP $status)" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GH_PORT/api/states")
[ "$status" = 401 ] || { echo "a request without a token was not refused (HTTP $status)" >&2; exit 1; }

run_case() { # CASE ROUND
  local case=$1 round=$2 url header=()
  case $case in
    public) url="http://127.0.0.1:$GH_PORT/frontend_latest/bench.js"; header=(-H "Authorization: Bearer $TOKEN") ;;
    token) url="http://127.0.0.1:$GH_PORT/api/states"; header=(-H "Authorization: Bearer $TOKEN") ;;
    nginx) url="http://127.0.0.1:$UP_PORT/api/states"; header=(-H "Authorization: Bearer $TOKEN") ;;
  esac
  wrk -t1 -c"$CONNECTIONS" -d1s "${header[@]}" "$url" >/dev/null 2>&1 || true # warm-up
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION_S}s" --latency -s "$BENCH_DIR/wrk-json.lua" "${header[@]}" "$url" \
    >"$OUT/logs/wrk-$case-r$round.txt" 2>&1
  sed -n 's/^WRKJSON //p' "$OUT/logs/wrk-$case-r$round.txt" >"$OUT/raw/$case.r$round.json"
  log "  $(printf '%-7s' "$case") round $round: $(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    const e=r.errors; console.log(`${Math.round(r.req_per_sec)} req/s  p50 ${r.latency_ms.p50} ms  p99 ${r.latency_ms.p99} ms${e.status?"  NON-2xx "+e.status:""}`)' "$OUT/raw/$case.r$round.json")"
}

log "wrk -t1 -c$CONNECTIONS -d${DURATION_S}s, $ROUNDS interleaved rounds; Gatehouse workers: $WORKERS"
for round in $(seq 1 "$ROUNDS"); do
  for case in public token nginx; do run_case "$case" "$round"; done
done

node - "$OUT" "$ROUNDS" <<'NODE'
const fs = require('fs');
const [out, rounds] = [process.argv[2], Number(process.argv[3])];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const cases = {};
for (const c of ['public', 'token', 'nginx']) {
  const runs = [...Array(rounds).keys()].map((i) => JSON.parse(fs.readFileSync(`${out}/raw/${c}.r${i + 1}.json`, 'utf8')));
  const bad = runs.reduce((n, r) => n + r.errors.status + r.errors.connect + r.errors.read + r.errors.timeout, 0);
  cases[c] = { rps: median(runs.map((r) => r.req_per_sec)), p50: median(runs.map((r) => r.latency_ms.p50)),
    p99: median(runs.map((r) => r.latency_ms.p99)), errors: bad };
}
const pct = (a, b) => `${((a / b - 1) * 100).toFixed(1)}%`;
const lines = [
  '| case | req/s (median) | p50 ms | p99 ms | errors |', '|---|---|---|---|---|',
  ...Object.entries(cases).map(([c, v]) => `| ${c} | ${Math.round(v.rps)} | ${v.p50.toFixed(3)} | ${v.p99.toFixed(3)} | ${v.errors} |`),
  '',
  `token vs public: req/s ${pct(cases.token.rps, cases.public.rps)}, p99 ${pct(cases.token.p99, cases.public.p99)} (goal: req/s within -2%, no visible p99 change)`,
];
fs.writeFileSync(`${out}/results.md`, `${lines.join('\n')}\n`);
fs.writeFileSync(`${out}/results.json`, JSON.stringify(cases, null, 2));
console.log(lines.join('\n'));
NODE
log "results: $OUT/results.md"
