#!/usr/bin/env bash
# bench/run.sh — one command, one run: Gatehouse side by side with nginx and haproxy (and the upstream
# without a proxy, "direct"), on loopback, same upstreams, same client, same run. Prints a table with
# ratios and writes it as JSON and Markdown to bench/out/<timestamp>/. See bench/README.md.
#
#   bench/run.sh                              # everything, ~5 minutes
#   BENCH_DURATION=10s BENCH_ROUNDS=5 bench/run.sh
#   BENCH_PARTS="http ws" BENCH_PEERS="direct nginx gatehouse" bench/run.sh
#   BENCH_PARTS=http BENCH_UPSTREAM_TLS=1 bench/run.sh   # HA serving HTTPS: every proxy verifies it
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

# ---- settings -------------------------------------------------------------------------------------
to_seconds() { # "5s" | "1m" | "5" → seconds (integer)
  local v=$1
  case "$v" in
    *ms) echo $(( ${v%ms} / 1000 )) ;;
    *s) echo "${v%s}" ;;
    *m) echo $(( ${v%m} * 60 )) ;;
    *) echo "$v" ;;
  esac
}
DURATION_S=$(to_seconds "${BENCH_DURATION:-5s}")
WARMUP_S=$(to_seconds "${BENCH_WARMUP:-1s}")
ROUNDS=${BENCH_ROUNDS:-3}
PARTS=${BENCH_PARTS:-"http ws mem"}
PEERS=${BENCH_PEERS:-"direct nginx haproxy gatehouse"}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
HTTP_CONNECTIONS=${BENCH_HTTP_CONNECTIONS:-64}
SMALL_BYTES=${BENCH_SMALL_BYTES:-100}
LARGE_BYTES=${BENCH_LARGE_BYTES:-65536}
WS_CONNECTIONS=${BENCH_WS_CONNECTIONS:-32}
WS_INFLIGHT=${BENCH_WS_INFLIGHT:-8}
WS_SIZE=${BENCH_WS_SIZE:-64}
WS_PATH=${BENCH_WS_PATH:-/api/websocket}
WS_CLIENT=${BENCH_WS_CLIENT:-raw}   # raw | ws  (ws-load.mjs --impl)
WS_ECHO=${BENCH_WS_ECHO:-raw}       # raw | ws  (ws-echo.mjs --impl)
MEM_CONNECTIONS=${BENCH_MEM_CONNECTIONS:-1000}
PROXY_WORKERS=${BENCH_PROXY_WORKERS:-2}
UPSTREAM_TLS=${BENCH_UPSTREAM_TLS:-0} # 1: the HTTP upstream serves HTTPS, each proxy verifies its certificate
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${BENCH_OUT:-$BENCH_DIR/out/$STAMP}
LOGS=$OUT/logs
RAW=$OUT/raw

[[ "$DURATION_S" =~ ^[0-9]+$ && "$DURATION_S" -ge 1 ]] || { echo "BENCH_DURATION: need whole seconds ≥1 (e.g. 5s, 1m)" >&2; exit 2; }
[[ "$WARMUP_S" =~ ^[0-9]+$ ]] || { echo "BENCH_WARMUP: need whole seconds (e.g. 1s)" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS: need a positive integer" >&2; exit 2; }
[[ "$UPSTREAM_TLS" =~ ^[01]$ ]] || { echo "BENCH_UPSTREAM_TLS: 0 or 1" >&2; exit 2; }
for p in $PEERS; do
  case $p in direct|nginx|haproxy|gatehouse) ;; *) echo "BENCH_PEERS: unknown peer '$p'" >&2; exit 2 ;; esac
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[bench %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; echo "$*" >>"$OUT/warnings.txt"; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx haproxy node timeout ps; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/setup.sh bench installs the peers)"
done
[ -f "$ROOT/tests/node_modules/ws/package.json" ] || die "tests/node_modules/ws missing: run (cd tests && npm ci)"

if [ -f "$OUT/meta.json" ]; then # re-using a run directory: drop the old run's files
  rm -rf "$RAW" "$LOGS" "$OUT/warnings.txt" "$OUT/results.json" "$OUT/results.md" "$OUT/meta.json"
fi
mkdir -p "$LOGS" "$RAW"
TMP=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 755 "$TMP"

# More descriptors: 1,000 held websockets are 2,000+ sockets in the proxy. Children inherit this.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=65536
[ "$NOFILE" -gt 65536 ] && NOFILE=65536
# The peers' own limits follow it (haproxy refuses to start when maxconn needs more than it may open).
PEER_MAXCONN=$(( (NOFILE - 200) / 2 ))
NGINX_WORKER_CONNECTIONS=$(( NOFILE - 200 < 16384 ? NOFILE - 200 : 16384 ))
[ "$PEER_MAXCONN" -ge $(( MEM_CONNECTIONS + 100 )) ] ||
  die "open-file limit $NOFILE is too low for $MEM_CONNECTIONS held websockets (raise ulimit -n)"

# ---- processes ------------------------------------------------------------------------------------
declare -a PIDS=()
LAST_PID=
start_bg() { # start_bg NAME CMD... — runs in background, logs to $LOGS/NAME.{out,err}; sets LAST_PID
  local name=$1; shift
  "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" </dev/null &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

stop_pid() { # TERM, up to 15 s, then KILL; reaps it.
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      warn "pid $pid did not stop on TERM in 15 s, killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local kept=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  PIDS=("${kept[@]+"${kept[@]}"}")
}

cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p"; done
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then log "kept temp dir $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
child_pids() { ps -o pid= --ppid "$1" | tr -d ' ' || true; } # ps fails when there are none: not an error here

# ---- Gatehouse binary -----------------------------------------------------------------------------
GH_BIN=
GH_NOTE=
resolve_gatehouse() {
  if [ -n "${GATEHOUSE_BIN:-}" ]; then
    if [ -x "$GATEHOUSE_BIN" ]; then GH_BIN=$(readlink -f "$GATEHOUSE_BIN"); return 0; fi
    GH_NOTE="GATEHOUSE_BIN=$GATEHOUSE_BIN is not an executable"
    return 1
  fi
  local dir=$ROOT/build-release
  # Always brought up to date (a no-op when it is): a stale binary would measure old code.
  log "building the Release Gatehouse in build-release/ if the sources changed (log: $LOGS/build.log)"
  if ! { { [ -f "$dir/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF; } &&
         cmake --build "$dir" -j2 --target gatehouse; } >"$LOGS/build.log" 2>&1; then
    GH_NOTE="Release build failed (see logs/build.log)"
    return 1
  fi
  GH_BIN=$dir/gatehouse
}

# How to start it: GATEHOUSE_ARGS (with {config}) or, by default, "serve --config {config}" ("run" when
# the binary's --help lists a run subcommand and no serve).
gatehouse_args() {
  local cfg=$1 spec=${GATEHOUSE_ARGS:-} help
  if [ -z "$spec" ]; then
    spec="serve --config {config}"
    help=$("$GH_BIN" --help 2>&1 || true)
    if ! grep -qE '^[[:space:]]+serve([[:space:]]|$)' <<<"$help" && grep -qE '^[[:space:]]+run([[:space:]]|$)' <<<"$help"; then
      spec="run --config {config}"
    fi
  fi
  echo "${spec//\{config\}/$cfg}"
}

# ---- configs --------------------------------------------------------------------------------------
# HTTPS upstream: one throwaway CA and a certificate for localhost; each proxy verifies it (name and CA)
# and keeps its upstream connections (and TLS sessions) alive, as it would in front of a real HA.
UPSTREAM_SCHEME=http UPSTREAM_HOST=127.0.0.1 UPSTREAM_LISTEN_TLS="" UPSTREAM_TLS_SETTINGS="" NGINX_PROXY_TLS=""
HAPROXY_SERVER_TLS="" GATEHOUSE_CA=""
if [ "$UPSTREAM_TLS" = 1 ]; then
  command -v openssl >/dev/null || die "openssl not found"
  tls_dir=$TMP/upstream-tls; mkdir -p "$tls_dir"
  ec_key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec_key[@]}" -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.pem" -days 2 -subj "/CN=bench CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req "${ec_key[@]}" -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls_dir/ext"
  openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.pem" -CAkey "$tls_dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$tls_dir/ext" -out "$tls_dir/server.pem" 2>/dev/null
  UPSTREAM_SCHEME=https UPSTREAM_HOST=localhost UPSTREAM_LISTEN_TLS=ssl
  UPSTREAM_TLS_SETTINGS="ssl_certificate $tls_dir/server.pem; ssl_certificate_key $tls_dir/server.key; ssl_session_cache shared:SSL:1m;"
  NGINX_PROXY_TLS="proxy_ssl_verify on; proxy_ssl_trusted_certificate $tls_dir/ca.pem; proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on;"
  HAPROXY_SERVER_TLS="ssl verify required ca-file $tls_dir/ca.pem sni str(localhost) verifyhost localhost"
  GATEHOUSE_CA=", ca_file: \"$tls_dir/ca.pem\""
fi
NGINX_USER=""
[ "$(id -u)" -eq 0 ] && NGINX_USER="user root;"

write_upstream_nginx() { # DIR PORT — the HTTP upstream: static small + 64 KB responses, 1 worker
  local dir=$1 port=$2
  mkdir -p "$dir/www" "$dir/tmp"
  head -c "$SMALL_BYTES" /dev/zero | tr '\0' 's' >"$dir/www/small"
  head -c "$LARGE_BYTES" /dev/urandom >"$dir/www/64k"
  cat >"$dir/nginx.conf" <<EOF
$NGINX_USER
worker_processes 1;
pid $dir/nginx.pid;
error_log $LOGS/upstream-nginx.error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $NGINX_WORKER_CONNECTIONS; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/client_body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port $UPSTREAM_LISTEN_TLS backlog=4096;
    $UPSTREAM_TLS_SETTINGS
    root $dir/www;
    location = /small { default_type text/plain; }
    location = /64k { }
  }
}
EOF
}

write_nginx_proxy() { # DIR PORT UPSTREAM_PORT — nginx as the reverse proxy peer
  local dir=$1 port=$2 up=$3
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
$NGINX_USER
worker_processes $PROXY_WORKERS;
pid $dir/nginx.pid;
error_log $LOGS/${dir##*/}.error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $NGINX_WORKER_CONNECTIONS; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/client_body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream home_assistant {
    server 127.0.0.1:$up;
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / {
      proxy_pass $UPSTREAM_SCHEME://home_assistant;
      $NGINX_PROXY_TLS
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_buffers 8 16k;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
EOF
}

write_haproxy() { # DIR PORT UPSTREAM_PORT — haproxy as the reverse proxy / websocket relay peer
  local dir=$1 port=$2 up=$3
  cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $PROXY_WORKERS
  maxconn $PEER_MAXCONN
  pidfile $dir/haproxy.pid
  # no log lines: logging off, like the other peers

defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  maxconn $PEER_MAXCONN
  timeout connect 5s
  timeout client 75s
  timeout server 300s
  timeout http-keep-alive 75s
  timeout tunnel 1h

frontend front
  bind 127.0.0.1:$port
  default_backend home_assistant

backend home_assistant
  server ha 127.0.0.1:$up $HAPROXY_SERVER_TLS
EOF
}

write_gatehouse() { # DIR PORT UPSTREAM_PORT
  local dir=$1 port=$2 up=$3
  mkdir -p "$dir/data"
  chmod 700 "$dir/data"
  cat >"$dir/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$port
external_url: http://127.0.0.1:$port
data_dir: $dir/data
workers: $PROXY_WORKERS
home_assistant: { url: "$UPSTREAM_SCHEME://$UPSTREAM_HOST:$up"$GATEHOUSE_CA }
# The upstream here is not HA (it cannot tell an HA token): this run measures the relay, with the
# shield only reporting; bench/shield.sh measures the shield in front of the HA test double.
shield: { mode: report }
logging: { level: error }  # info would log every request (and report mode warns per request): that would measure logging
# Every benchmark client connects from 127.0.0.1: the cap per client address would turn the held
# websockets of the memory test away.
limits: { max_connections_per_address: 1000000 }
EOF
}

# ---- starting peers -------------------------------------------------------------------------------
declare -A PEER_PORT=() PEER_PID=()

start_peer() { # start_peer PEER PHASE UPSTREAM_PORT — sets PEER_PORT/PEER_PID; returns 1 on failure
  local peer=$1 phase=$2 up=$3 dir=$TMP/$2-$1 port
  mkdir -p "$dir"
  port=$(alloc_ports 1)
  case $peer in
    direct)
      PEER_PORT[$peer]=$up; PEER_PID[$peer]=; return 0 ;;
    nginx)
      write_nginx_proxy "$dir" "$port" "$up"
      cp "$dir/nginx.conf" "$LOGS/nginx-$phase.conf"
      start_bg "nginx-$phase" nginx -p "$dir" -e "$LOGS/$phase-nginx.error.log" -c "$dir/nginx.conf" -g 'daemon off; master_process on;'
      ;;
    haproxy)
      write_haproxy "$dir" "$port" "$up"
      cp "$dir/haproxy.cfg" "$LOGS/haproxy-$phase.cfg"
      start_bg "haproxy-$phase" haproxy -db -f "$dir/haproxy.cfg"
      ;;
    gatehouse)
      [ -n "$GH_BIN" ] || return 1
      write_gatehouse "$dir" "$port" "$up"
      cp "$dir/gatehouse.yaml" "$LOGS/gatehouse-$phase.yaml"
      # shellcheck disable=SC2046
      start_bg "gatehouse-$phase" "$GH_BIN" $(gatehouse_args "$dir/gatehouse.yaml")
      ;;
  esac
  local pid=$LAST_PID
  if [ "$peer" = gatehouse ]; then
    # Ready when it logs {"msg":"listening",...}; the port answering also counts, in case the line is
    # filtered out at level warn.
    local deadline=$((SECONDS + 30))
    while ! grep -qE '"msg" *: *"listening"' "$LOGS/gatehouse-$phase.err" "$LOGS/gatehouse-$phase.out" 2>/dev/null \
          && ! port_open "$port"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        warn "gatehouse exited at start ($phase): $(tail -n 3 "$LOGS/gatehouse-$phase.err" | tr '\n' ' ')"
        stop_pid "$pid"; return 1
      fi
      [ "$SECONDS" -lt "$deadline" ] || { warn "gatehouse not ready after 30 s ($phase)"; stop_pid "$pid"; return 1; }
      sleep 0.05
    done
    wait_port "$port" "$pid" "gatehouse" 10 || { stop_pid "$pid"; return 1; }
  else
    wait_port "$port" "$pid" "$peer ($phase)" 20 || { stop_pid "$pid"; return 1; }
  fi
  if [ "$peer" = nginx ]; then # the master listens before its workers are up: wait for them
    local i
    for ((i = 0; i < 200; i++)); do [ "$(child_pids "$pid" | wc -l)" -ge "$PROXY_WORKERS" ] && break; sleep 0.05; done
  fi
  PEER_PORT[$peer]=$port
  PEER_PID[$peer]=$pid
}

stop_peers() { # stop_peers PHASE — also reports peers that died during the phase or logged errors
  local phase=$1 peer pid n
  for peer in "${!PEER_PID[@]}"; do
    pid=${PEER_PID[$peer]}
    [ -n "$pid" ] || continue
    kill -0 "$pid" 2>/dev/null || warn "$peer exited during the $phase part (see logs/$peer-$phase.err)"
    stop_pid "$pid"
    check_peer_log "$peer" "$phase"
  done
  PEER_PID=(); PEER_PORT=()
}

check_peer_log() { # check_peer_log PEER PHASE — Gatehouse error/critical log lines become warnings
  local peer=$1 phase=$2 f n
  [ "$peer" = gatehouse ] || return 0
  f=$LOGS/gatehouse-$phase.err
  n=$(grep -cE '"level" *: *"(error|critical)"' "$f" 2>/dev/null || true)
  [ "${n:-0}" -eq 0 ] || warn "gatehouse logged $n error lines in the $phase part, first: $(grep -m1 -E '"level" *: *"(error|critical)"' "$f" | cut -c1-300)"
}

rotated_peers() { # rotated_peers ROUND — the peer list, starting at a different peer each round
  local -a list=($ACTIVE_PEERS)
  local n=${#list[@]} r=$1 i
  for ((i = 0; i < n; i++)); do echo "${list[$(( (i + r - 1) % n ))]}"; done
}

start_active_peers() { # PHASE UPSTREAM_PORT — starts all peers; ACTIVE_PEERS = those that came up
  local phase=$1 up=$2 peer
  ACTIVE_PEERS=
  for peer in $PEERS; do
    if start_peer "$peer" "$phase" "$up"; then ACTIVE_PEERS="$ACTIVE_PEERS $peer"
    else warn "$peer left out of the $phase part${GH_NOTE:+ ($GH_NOTE)}"; fi
  done
}

# ---- measurements ---------------------------------------------------------------------------------
json_tag() { # json_tag JSON key=value... — prepends string fields (and CPU_JSON, if set) to a JSON object
  local json=$1 fields="" kv; shift
  for kv in "$@"; do fields+="\"${kv%%=*}\":\"${kv#*=}\","; done
  echo "{${fields}${CPU_JSON:+$CPU_JSON,}${json#\{}"
}

# CPU accounting around one measurement: how busy the peer was (% of one core) and how much CPU went to
# processes that are not part of the benchmark (other work on the machine = noise).
pids_with_children() { local p; for p in "$@"; do [ -n "$p" ] && echo "$p" && child_pids "$p"; done; }
ticks_of() { # utime+stime of the given pids, in clock ticks
  local p t=0 f
  for p in "$@"; do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${f% *} + ${f#* }))
  done
  echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)
cpu_begin() { # cpu_begin PEER — call in this shell, not a subshell ("times" counts this shell's children)
  local -a st; read -r -a st < <(head -n1 /proc/stat)
  CB_BUSY=$(( st[1]+st[2]+st[3]+st[6]+st[7]+st[8] )); CB_ALL=$(( CB_BUSY + st[4]+st[5] ))
  mapfile -t CB_OURS < <(pids_with_children "${PIDS[@]}")
  mapfile -t CB_PEER < <(pids_with_children "${PEER_PID[$1]:-}")
  CB_OURS_T=$(ticks_of "${CB_OURS[@]}"); CB_PEER_T=$(ticks_of "${CB_PEER[@]}")
  times >"$TMP/times"; CB_CHILD=$(awk 'NR == 2 { print $1 " " $2 }' "$TMP/times")
}
cpu_end() { # sets CPU_JSON
  local -a st; read -r -a st < <(head -n1 /proc/stat)
  local busy=$(( st[1]+st[2]+st[3]+st[6]+st[7]+st[8] )) all
  all=$(( busy + st[4]+st[5] ))
  local ours=$(( $(ticks_of "${CB_OURS[@]}") - CB_OURS_T )) peer=$(( $(ticks_of "${CB_PEER[@]}") - CB_PEER_T ))
  times >"$TMP/times"
  CPU_JSON=$(awk -v b0="$CB_CHILD" -v hz="$CLK_TCK" -v busy=$((busy - CB_BUSY)) -v all=$((all - CB_ALL)) \
      -v ours="$ours" -v peer="$peer" -v ncpu="$(nproc)" '
    function secs(s,   m) { m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); return m * 60 + s }
    NR == 2 { split(b0, a, " "); client = (secs($1) + secs($2) - secs(a[1]) - secs(a[2])) * hz }
    END {
      win = all / ncpu / hz; if (win <= 0) win = 1e-9
      foreign = busy - ours - client; if (foreign < 0) foreign = 0
      printf "\"cpu\":{\"window_s\":%.2f,\"peer_pct\":%.1f,\"client_pct\":%.1f,\"foreign_pct\":%.1f}",
        win, 100 * peer / hz / win, 100 * client / hz / win, all ? 100 * foreign / all : 0
    }' "$TMP/times")
}

run_wrk() { # run_wrk PEER TEST PATH ROUND
  local peer=$1 test=$2 path=$3 round=$4 url line
  url="http://127.0.0.1:${PEER_PORT[$peer]}$path"
  [ "$peer" = direct ] && url="$UPSTREAM_SCHEME://127.0.0.1:${PEER_PORT[$peer]}$path"
  local logf="$LOGS/wrk-$test-$peer-r$round.txt"
  if [ "$WARMUP_S" -gt 0 ]; then
    timeout $((WARMUP_S + 30)) wrk -t"$WRK_THREADS" -c"$HTTP_CONNECTIONS" -d"${WARMUP_S}s" "$url" >/dev/null 2>&1 || true
  fi
  cpu_begin "$peer"
  if ! timeout $((DURATION_S + 60)) wrk -t"$WRK_THREADS" -c"$HTTP_CONNECTIONS" -d"${DURATION_S}s" --timeout 10s \
        --latency -s "$BENCH_DIR/wrk-json.lua" "$url" >"$logf" 2>&1; then
    warn "wrk failed for $test/$peer round $round (see $logf)"; return 1
  fi
  cpu_end
  line=$(sed -n 's/^WRKJSON //p' "$logf")
  [ -n "$line" ] || { warn "no summary from wrk for $test/$peer round $round"; return 1; }
  json_tag "$line" peer="$peer" test="$test" round="$round" >"$RAW/$test.$peer.r$round.json"
  log "  $(printf '%-9s %-10s' "$test" "$peer") $(node -e 'const r=JSON.parse(process.argv[1]);
    const e=r.errors, bad=e.connect+e.read+e.write+e.status+e.timeout;
    console.log(r.requests===0 ? "NO RESPONSES" : `${Math.round(r.req_per_sec)} req/s  p50 ${r.latency_ms.p50} ms  p99 ${r.latency_ms.p99} ms  ${Math.round(r.bytes_per_req)} B/resp${bad?"  ERRORS "+JSON.stringify(e):""}`)' "$line")"
}

run_ws_load() { # run_ws_load PEER ROUND
  local peer=$1 round=$2 line rc=0
  local logf="$LOGS/ws-load-$peer-r$round.txt"
  cpu_begin "$peer"
  line=$(timeout $((WARMUP_S + DURATION_S + 60)) node "$BENCH_DIR/ws-load.mjs" \
    --url "ws://127.0.0.1:${PEER_PORT[$peer]}$WS_PATH" --connections "$WS_CONNECTIONS" --inflight "$WS_INFLIGHT" \
    --size "$WS_SIZE" --duration "$DURATION_S" --warmup "$WARMUP_S" --impl "$WS_CLIENT" 2>"$logf") || rc=$?
  cpu_end
  echo "$line" >>"$logf"
  if [ -z "$line" ]; then warn "ws-load failed for $peer round $round (see $logf)"; return 1; fi
  [ "$rc" -eq 0 ] || warn "ws-load reported errors for $peer round $round: $line"
  json_tag "$line" peer="$peer" test=ws round="$round" >"$RAW/ws.$peer.r$round.json"
  log "  $(printf '%-9s %-10s' ws "$peer") $(node -e 'const r=JSON.parse(process.argv[1]);
    console.log(r.msgs_per_sec===undefined ? "FAILED "+r.error : `${r.msgs_per_sec} msg/s  p50 ${r.rtt_ms.p50} ms  p99 ${r.rtt_ms.p99} ms${r.errors||r.bad_frames?"  ERRORS "+r.errors+"/"+r.bad_frames:""}`)' "$line")"
}

proc_mem() { # proc_mem PEER PID → "rss_kb pss_kb procs" (nginx: its workers; others: the process)
  local peer=$1 pid=$2 rss=0 pss=0 n=0 p
  local -a pids=("$pid")
  [ "$peer" = nginx ] && mapfile -t pids < <(child_pids "$pid")
  for p in "${pids[@]}"; do
    rss=$((rss + $(rss_kb "$p"))); pss=$((pss + $(pss_kb "$p"))); n=$((n + 1))
  done
  echo "$rss $pss $n"
}

measure_memory() { # measure_memory PEER ECHO_PORT
  local peer=$1 echo_port=$2
  start_peer "$peer" mem "$echo_port" || { warn "$peer left out of the memory part${GH_NOTE:+ ($GH_NOTE)}"; return 1; }
  local pid=${PEER_PID[$peer]} port=${PEER_PORT[$peer]} idle loaded master_rss=0
  read -r -a idle < <(proc_mem "$peer" "$pid")
  [ "$peer" = nginx ] && master_rss=$(rss_kb "$pid")
  start_bg "ws-hold-$peer" node "$BENCH_DIR/ws-hold.mjs" --url "ws://127.0.0.1:$port$WS_PATH" \
    --count "$MEM_CONNECTIONS" --hold $((60 + MEM_CONNECTIONS / 20))
  local hold=$LAST_PID ok=1
  if wait_line '"ready"' "$hold" "ws-hold ($peer)" $((30 + MEM_CONNECTIONS / 20)) "$LOGS/ws-hold-$peer.out" &&
     grep -q '"ready":true' "$LOGS/ws-hold-$peer.out"; then
    read -r -a loaded < <(proc_mem "$peer" "$pid")
  else
    warn "could not hold $MEM_CONNECTIONS websockets through $peer: $(cat "$LOGS/ws-hold-$peer.out" 2>/dev/null)"
    ok=0
  fi
  stop_pid "$hold"
  kill -0 "$pid" 2>/dev/null || warn "$peer exited during the memory part (see logs/$peer-mem.err)"
  stop_pid "$pid"
  check_peer_log "$peer" mem
  PEER_PID=(); PEER_PORT=()
  [ "$ok" = 1 ] || return 1
  local per_conn
  per_conn=$(awk -v a="${loaded[0]}" -v b="${idle[0]}" -v n="$MEM_CONNECTIONS" 'BEGIN { printf "%.2f", (a - b) / n }')
  printf '{"peer":"%s","test":"mem","connections":%d,"processes":%d,"idle_rss_kb":%d,"loaded_rss_kb":%d,"per_conn_kb":%s,"idle_pss_kb":%d,"loaded_pss_kb":%d,"nginx_master_rss_kb":%d}\n' \
    "$peer" "$MEM_CONNECTIONS" "${idle[2]}" "${idle[0]}" "${loaded[0]}" "$per_conn" "${idle[1]}" "${loaded[1]}" "$master_rss" \
    >"$RAW/mem.$peer.json"
  log "  $(printf '%-9s %-10s' mem "$peer") idle ${idle[0]} KB, with $MEM_CONNECTIONS websockets ${loaded[0]} KB → $per_conn KB/conn"
}

# ---- run ------------------------------------------------------------------------------------------
if [[ " $PEERS " == *" gatehouse "* ]]; then
  if resolve_gatehouse; then log "gatehouse: $GH_BIN ($(gatehouse_args '<config>'))"
  else warn "gatehouse unavailable: $GH_NOTE"; fi
fi

cpu_busy_pct() { # CPU time used by anything on the machine over 1 s, in % of all cores
  local a b
  read -r -a a < <(head -n1 /proc/stat)
  sleep 1
  read -r -a b < <(head -n1 /proc/stat)
  awk -v u=$(( b[1]+b[2]+b[3]+b[6]+b[7]+b[8] - a[1]-a[2]-a[3]-a[6]-a[7]-a[8] )) \
      -v i=$(( b[4]+b[5] - a[4]-a[5] )) 'BEGIN { printf "%d", (u + i) ? 100 * u / (u + i) : 0 }'
}
BUSY_START=$(cpu_busy_pct)
if [ "$BUSY_START" -gt 20 ]; then
  warn "machine busy before the run (${BUSY_START}% CPU used by other processes): expect noise"
fi

per_part=$(( ROUNDS * (WARMUP_S + DURATION_S) ))
n_peers=$(wc -w <<<"$PEERS")
log "out: $OUT"
log "estimate: ~$(( (2 * per_part + per_part) * n_peers + 15 * n_peers )) s (BENCH_DURATION=${DURATION_S}s BENCH_ROUNDS=$ROUNDS)"

node -e '
  const [out, ...kv] = process.argv.slice(1); const o = {};
  for (const x of kv) { const i = x.indexOf("="); o[x.slice(0, i)] = x.slice(i + 1); }
  require("fs").writeFileSync(out, JSON.stringify(o, null, 2) + "\n");' "$OUT/meta.json" \
  started="$(date -Iseconds)" host_cpus="$(nproc)" kernel="$(uname -r)" \
  wrk="$(wrk -v 2>&1 | head -n1)" nginx="$(nginx -v 2>&1)" haproxy="$(haproxy -v | head -n1)" node="$(node --version)" \
  gatehouse_bin="${GH_BIN:-}" gatehouse_note="${GH_NOTE:-}" \
  gatehouse_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo uncommitted)" \
  duration_s="$DURATION_S" warmup_s="$WARMUP_S" rounds="$ROUNDS" peers="$PEERS" parts="$PARTS" \
  wrk_threads="$WRK_THREADS" http_connections="$HTTP_CONNECTIONS" small_bytes="$SMALL_BYTES" large_bytes="$LARGE_BYTES" \
  ws_connections="$WS_CONNECTIONS" ws_inflight="$WS_INFLIGHT" ws_size="$WS_SIZE" ws_path="$WS_PATH" \
  ws_client="$WS_CLIENT" ws_echo="$WS_ECHO" mem_connections="$MEM_CONNECTIONS" proxy_workers="$PROXY_WORKERS" \
  nofile="$(ulimit -n)" cpu_busy_before_pct="$BUSY_START" upstream_tls="$UPSTREAM_TLS"

if [[ " $PARTS " == *" http "* ]]; then
  log "HTTP: wrk -t$WRK_THREADS -c$HTTP_CONNECTIONS -d${DURATION_S}s (warm-up ${WARMUP_S}s), $ROUNDS rounds"
  up_dir=$TMP/http-upstream; mkdir -p "$up_dir"
  up_port=$(alloc_ports 1)
  write_upstream_nginx "$up_dir" "$up_port"
  cp "$up_dir/nginx.conf" "$LOGS/upstream-nginx.conf"
  start_bg upstream-nginx nginx -p "$up_dir" -e "$LOGS/upstream-nginx.error.log" -c "$up_dir/nginx.conf" -g 'daemon off; master_process on;'
  up_pid=$LAST_PID
  wait_port "$up_port" "$up_pid" "upstream nginx" || die "the HTTP upstream did not start (see $LOGS/upstream-nginx.error.log)"
  start_active_peers http "$up_port"
  for ((round = 1; round <= ROUNDS; round++)); do
    log "HTTP round $round/$ROUNDS"
    for peer in $(rotated_peers "$round"); do
      run_wrk "$peer" http-small /small "$round" || true
      run_wrk "$peer" http-64k /64k "$round" || true
    done
  done
  stop_peers http
  stop_pid "$up_pid"
fi

if [[ " $PARTS " == *" ws "* || " $PARTS " == *" mem "* ]]; then
  start_bg ws-echo node "$BENCH_DIR/ws-echo.mjs" --port 0 --impl "$WS_ECHO"
  echo_pid=$LAST_PID
  wait_line '"listening"' "$echo_pid" "ws-echo" 20 "$LOGS/ws-echo.out" || die "the websocket echo upstream did not start"
  echo_port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$LOGS/ws-echo.out" | head -n1)
fi

if [[ " $PARTS " == *" ws "* ]]; then
  log "WebSocket: $WS_CONNECTIONS connections × $WS_INFLIGHT in flight, ${WS_SIZE}-byte text, ${DURATION_S}s (warm-up ${WARMUP_S}s), $ROUNDS rounds"
  start_active_peers ws "$echo_port"
  for ((round = 1; round <= ROUNDS; round++)); do
    log "WebSocket round $round/$ROUNDS"
    for peer in $(rotated_peers "$round"); do run_ws_load "$peer" "$round" || true; done
  done
  stop_peers ws
fi

if [[ " $PARTS " == *" mem "* ]]; then
  log "Memory: RSS idle after start, then with $MEM_CONNECTIONS relayed websockets held open"
  for peer in $PEERS; do
    [ "$peer" = direct ] && continue
    measure_memory "$peer" "$echo_port" || true
  done
fi

[ -n "${echo_pid:-}" ] && stop_pid "$echo_pid"

node "$BENCH_DIR/report.mjs" "$OUT"
log "written: $OUT/results.json, $OUT/results.md"
