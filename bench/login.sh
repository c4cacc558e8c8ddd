#!/usr/bin/env bash
# bench/login.sh — one command, one run: a whole OIDC login through Gatehouse side by side with Apache httpd +
# mod_auth_openidc, against the same IdP (tests/idp/oidc-idp.mjs, a real oidc-provider), driven by the same
# client (bench/login-bench.mjs on tests/idp/drive-login.mjs). Gatehouse sits in front of the HA test double
# (tests/ha-double) and creates/updates the HA user and runs HA's login flow on every login; Apache protects a
# static file. Prints a table (per-login median/p90, callback step alone, CPU per login, ratios) and writes it
# to bench/out/login-<timestamp>/. See bench/README.md, "Login benchmark".
#
#   bench/login.sh                                   # 200 logins per peer at concurrency 1 and 8, ~15 s
#   LOGIN_COUNT=500 LOGIN_CONCURRENCY="1 4 16" bench/login.sh
#   GATEHOUSE_BIN=build-release/gatehouse bench/login.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

# ---- settings -------------------------------------------------------------------------------------
COUNT=${LOGIN_COUNT:-200}
WARMUP=${LOGIN_WARMUP:-10}
CONCURRENCY=${LOGIN_CONCURRENCY:-"1 8"}
ROUNDS=${LOGIN_ROUNDS:-2}
USERS=${LOGIN_USERS:-16}
PEERS=${LOGIN_PEERS:-"gatehouse apache"}
WORKERS=${LOGIN_WORKERS:-2}   # Gatehouse `workers`; Apache runs this many processes (mpm_event)
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${LOGIN_OUT:-$BENCH_DIR/out/login-$STAMP}
LOGS=$OUT/logs

[[ "$COUNT" =~ ^[1-9][0-9]*$ ]] || { echo "LOGIN_COUNT: need a positive integer" >&2; exit 2; }
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "LOGIN_WARMUP: need an integer ≥0" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "LOGIN_ROUNDS: need a positive integer" >&2; exit 2; }
[[ "$USERS" =~ ^[1-9][0-9]*$ ]] || { echo "LOGIN_USERS: need a positive integer" >&2; exit 2; }
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || { echo "LOGIN_WORKERS: need a positive integer" >&2; exit 2; }
for c in $CONCURRENCY; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || { echo "LOGIN_CONCURRENCY: need positive integers, e.g. \"1 8\"" >&2; exit 2; }; done
for p in $PEERS; do
  case $p in gatehouse|apache) ;; *) echo "LOGIN_PEERS: unknown peer '$p'" >&2; exit 2 ;; esac
done

log() { printf '[login %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[login %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; echo "$*" >>"$OUT/warnings.txt"; }
die() { printf '[login] ERROR: %s\n' "$*" >&2; exit 1; }

APACHE_BIN=${APACHE_BIN:-$(command -v apache2 || echo /usr/sbin/apache2)}
APACHE_MODS=${APACHE_MODS:-/etc/apache2/mods-available}
for tool in node ps; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/setup.sh bench)"; done
[ -f "$ROOT/tests/node_modules/oidc-provider/package.json" ] || die "tests/node_modules/oidc-provider missing: run (cd tests && npm ci)"
if [[ " $PEERS " == *" apache "* ]]; then
  [ -x "$APACHE_BIN" ] || die "apache2 not found (scripts/setup.sh bench installs apache2 and libapache2-mod-auth-openidc)"
  [ -f "$APACHE_MODS/auth_openidc.load" ] || die "$APACHE_MODS/auth_openidc.load missing (apt-get install libapache2-mod-auth-openidc)"
fi

if [ -f "$OUT/meta.json" ]; then # re-using a run directory: drop the old run's files
  rm -rf "$OUT/raw" "$LOGS" "$OUT/warnings.txt" "$OUT/results.json" "$OUT/results.md" "$OUT/meta.json"
fi
mkdir -p "$LOGS"
TMP=$(mktemp -d /tmp/gatehouse-login-bench.XXXXXX)
chmod 755 "$TMP" # Apache's children (www-data) read their document root below it
RUN_START=$SECONDS

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
  local rc=$? p i
  trap - EXIT INT TERM
  # Newest first: the peers before the IdP and HA they talk to.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  # Apache's children leave with their master; should one outlive it, it is one we recorded at start.
  for p in ${APACHE_CHILDREN:-}; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
  if [ "${LOGIN_KEEP_TMP:-0}" = 1 ]; then log "kept temp dir $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

child_pids() { ps -o pid= --ppid "$1" | tr -d ' '; }
secret() { node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))'; }
write_secret() { (umask 077; printf '%s\n' "$2" >"$1"); chmod 600 "$1"; }

cpu_busy_pct() { # CPU time used by anything on the machine over 1 s, in % of all cores
  local a b
  read -r -a a < <(head -n1 /proc/stat)
  sleep 1
  read -r -a b < <(head -n1 /proc/stat)
  awk -v u=$(( b[1]+b[2]+b[3]+b[6]+b[7]+b[8] - a[1]-a[2]-a[3]-a[6]-a[7]-a[8] )) \
      -v i=$(( b[4]+b[5] - a[4]-a[5] )) 'BEGIN { printf "%d", (u + i) ? 100 * u / (u + i) : 0 }'
}

# ---- Gatehouse binary -----------------------------------------------------------------------------
# GATEHOUSE_BIN, or build/gatehouse (the tree's regular build); built only when missing.
GH_BIN=
GH_NOTE=
resolve_gatehouse() {
  if [ -n "${GATEHOUSE_BIN:-}" ]; then
    if [ -x "$GATEHOUSE_BIN" ]; then GH_BIN=$(readlink -f "$GATEHOUSE_BIN"); return 0; fi
    GH_NOTE="GATEHOUSE_BIN=$GATEHOUSE_BIN is not an executable"; return 1
  fi
  local dir=$ROOT/build
  if [ ! -x "$dir/gatehouse" ]; then
    log "build/gatehouse missing: building it (log: $LOGS/build.log)"
    if ! { { [ -f "$dir/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo; } &&
           cmake --build "$dir" -j2 --target gatehouse; } >"$LOGS/build.log" 2>&1; then
      GH_NOTE="build failed (see logs/build.log)"; return 1
    fi
  fi
  GH_BIN=$dir/gatehouse
}
gh_build_type() { # the CMAKE_BUILD_TYPE next to the binary, if it is in a build tree
  sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$GH_BIN")/CMakeCache.txt" 2>/dev/null || true
}

# ---- run ------------------------------------------------------------------------------------------
BUSY_START=$(cpu_busy_pct)
if [ "$BUSY_START" -gt 20 ]; then warn "machine busy before the run (${BUSY_START}% CPU used by other processes): expect noise"; fi

read -r GH_PORT AP_PORT < <(alloc_ports 2)
GH_URL=http://127.0.0.1:$GH_PORT
AP_URL=http://127.0.0.1:$AP_PORT
GH_SECRET=$(secret)
AP_SECRET=$(secret)

# -- IdP: one client per peer, LOGIN_USERS users (odd ones admins+users, even ones users)
idp_args=(--port 0 --alg RS256
  --client "gatehouse:$GH_SECRET:$GH_URL/sso/callback"
  --client "apache:$AP_SECRET:$AP_URL/protected/redirect_uri")
USER_LIST=()
for ((i = 1; i <= USERS; i++)); do
  u=$(printf 'user%02d' "$i")
  USER_LIST+=("$u")
  if ((i % 2)); then idp_args+=(--user "$u:$u:Bench_User_$i:admins,users"); else idp_args+=(--user "$u:$u:Bench_User_$i:users"); fi
done
start_bg idp node "$ROOT/tests/idp/oidc-idp.mjs" "${idp_args[@]}"
IDP_PID=$LAST_PID
wait_line '"issuer"' "$IDP_PID" "IdP" 30 "$LOGS/idp.out" || die "the IdP did not start (see $LOGS/idp.err)"
ISSUER=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$LOGS/idp.out" | head -n1)
log "IdP: $ISSUER (oidc-provider $(node -p 'require(process.argv[1]).version' "$ROOT/tests/node_modules/oidc-provider/package.json"))"

# -- HA test double, with the admin user whose long-lived token Gatehouse uses
HA_PID=
if [[ " $PEERS " == *" gatehouse "* ]]; then
  ha_options=$(node -e '
    const [owner, admin] = process.argv.slice(1);
    console.log(JSON.stringify({ useXForwardedFor: true, trustedProxies: ["127.0.0.1"], users: [
      { name: "Owner", username: "owner", password: owner, isOwner: true, groups: ["system-admin"] },
      { name: "Gatehouse service", username: "gatehouse-admin", password: admin, isOwner: false, groups: ["system-admin"] } ] }));' \
    "$(secret)" "$(secret)")
  start_bg ha node "$ROOT/tests/ha-double/server.mjs" --port 0 --options-json "$ha_options"
  HA_PID=$LAST_PID
  wait_line '"listening"' "$HA_PID" "HA double" 30 "$LOGS/ha.out" || die "the HA double did not start (see $LOGS/ha.err)"
  HA_PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$LOGS/ha.out" | head -n1)
  HA_TOKEN=$(node --input-type=module -e '
    const base = process.argv[1];
    const state = await (await fetch(`${base}/__double/state`)).json();
    const userId = state.userIds["gatehouse-admin"];
    if (!userId) throw new Error(`no gatehouse-admin in ${JSON.stringify(state)}`);
    const res = await fetch(`${base}/__double/long-lived-tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ userId, clientName: "Gatehouse" }) });
    if (!res.ok) throw new Error(`long-lived token: ${res.status} ${await res.text()}`);
    console.log((await res.json()).token);' "http://127.0.0.1:$HA_PORT") || die "could not create the HA admin token"
  write_secret "$TMP/ha-token" "$HA_TOKEN"
  log "HA double: http://127.0.0.1:$HA_PORT"
fi

# -- Gatehouse
GH_PID=
start_gatehouse() {
  resolve_gatehouse || return 1
  local dir=$TMP/gatehouse
  mkdir -p "$dir/data"; chmod 700 "$dir" "$dir/data"
  write_secret "$dir/client-secret" "$GH_SECRET"
  cat >"$dir/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$GH_PORT
external_url: $GH_URL
data_dir: $dir/data
workers: $WORKERS
logging: { level: warn }   # info would log every request; Apache runs without an access log
home_assistant: { url: "http://127.0.0.1:$HA_PORT", token_file: $TMP/ha-token }
providers:
  - { id: main, name: Test IdP, issuer: "$ISSUER", client_id: gatehouse, client_secret_file: $dir/client-secret }
users:
  roles: { admin: [admins], user: [users] }
EOF
  cp "$dir/gatehouse.yaml" "$LOGS/gatehouse.yaml"
  start_bg gatehouse "$GH_BIN" serve --config "$dir/gatehouse.yaml"
  GH_PID=$LAST_PID
  wait_port "$GH_PORT" "$GH_PID" gatehouse 30 || { GH_NOTE="did not start: $(tail -n 3 "$LOGS/gatehouse.err" | tr '\n' ' ')"; stop_pid "$GH_PID"; GH_PID=; return 1; }
}

# -- Apache httpd + mod_auth_openidc: own ServerRoot/config in the temp dir, foreground, mpm_event with
#    LOGIN_WORKERS processes that never get recycled (so its CPU accounting stays whole), no access log.
AP_PID=
APACHE_CHILDREN=
start_apache() {
  local dir=$TMP/apache user_lines="" total_logins shm_max
  mkdir -p "$dir/www/protected" "$dir/run" "$dir/logs"
  printf '<!DOCTYPE html><title>protected</title><p>gatehouse-login-bench protected page</p>\n' >"$dir/www/protected/index.html"
  chmod -R a+rX "$dir/www"
  if [ "$(id -u)" -eq 0 ]; then # httpd refuses to run its children as root
    if id www-data >/dev/null 2>&1; then user_lines=$'User www-data\nGroup www-data'; else user_lines=$'User nobody\nGroup nogroup'; fi
  fi
  # The shm cache holds sessions, nonces, metadata and JWKS; the default 500 entries can overflow
  # in a long run (mod_auth_openidc then overwrites entries and logs errors). Size it to the run.
  total_logins=$(( (COUNT + WARMUP) * $(wc -w <<<"$CONCURRENCY") + USERS ))
  shm_max=$(( total_logins * 3 + 500 ))
  cat >"$dir/apache2.conf" <<EOF
ServerRoot $dir
ServerName 127.0.0.1:$AP_PORT
Listen 127.0.0.1:$AP_PORT
PidFile $dir/run/apache2.pid
DefaultRuntimeDir $dir/run
ErrorLog $LOGS/apache.error.log
LogLevel warn
$user_lines

Include $APACHE_MODS/mpm_event.load
Include $APACHE_MODS/authn_core.load
Include $APACHE_MODS/authz_core.load
Include $APACHE_MODS/authz_user.load
Include $APACHE_MODS/alias.load
Include $APACHE_MODS/mime.load
Include $APACHE_MODS/auth_openidc.load

# $WORKERS processes, started at once and never stopped or recycled during the run.
StartServers $WORKERS
ServerLimit $WORKERS
ThreadsPerChild 32
ThreadLimit 32
MaxRequestWorkers $(( WORKERS * 32 ))
MinSpareThreads 1
MaxSpareThreads $(( WORKERS * 32 ))
MaxConnectionsPerChild 0
KeepAlive On
TypesConfig /dev/null
AddType text/html .html

DocumentRoot $dir/www
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory $dir/www>
  Require all granted
</Directory>

OIDCProviderMetadataURL $ISSUER/.well-known/openid-configuration
OIDCClientID apache
OIDCClientSecret $AP_SECRET
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCRedirectURI $AP_URL/protected/redirect_uri
OIDCCryptoPassphrase $(secret)
OIDCPKCEMethod S256
OIDCScope "openid profile email groups"
OIDCRemoteUserClaim sub
OIDCCacheType shm
OIDCCacheShmMax $shm_max
OIDCSessionType server-cache
OIDCPassClaimsAs none

<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
EOF
  # The client secret and passphrase stay in the temp dir; the log copy has them masked.
  sed -E 's/^(OIDCClientSecret|OIDCCryptoPassphrase) .*/\1 <masked>/' "$dir/apache2.conf" >"$LOGS/apache2.conf"
  start_bg apache "$APACHE_BIN" -d "$dir" -f "$dir/apache2.conf" -DFOREGROUND
  AP_PID=$LAST_PID
  wait_port "$AP_PORT" "$AP_PID" apache 20 || { warn "apache: $(tail -n 3 "$LOGS/apache.error.log" "$LOGS/apache.err" 2>/dev/null | tr '\n' ' ')"; stop_pid "$AP_PID"; AP_PID=; return 1; }
  local i
  for ((i = 0; i < 200; i++)); do [ "$(child_pids "$AP_PID" | wc -l)" -ge "$WORKERS" ] && break; sleep 0.05; done
  APACHE_CHILDREN=$(child_pids "$AP_PID" | tr '\n' ' ')
}

ACTIVE=
for peer in $PEERS; do
  case $peer in
    gatehouse) if start_gatehouse; then ACTIVE+=" gatehouse"; log "gatehouse: $GH_BIN ($(gh_build_type)) on $GH_URL, pid $GH_PID"
               else warn "gatehouse left out: $GH_NOTE"; fi ;;
    apache) if start_apache; then ACTIVE+=" apache"; log "apache: $("$APACHE_BIN" -v | sed -n 's/^Server version: //p') + mod_auth_openidc $(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?') on $AP_URL, pid $AP_PID (children: $APACHE_CHILDREN)"
            else warn "apache left out (see logs/apache.error.log)"; fi ;;
  esac
done
[ -n "$ACTIVE" ] || die "no peer started"

# ---- plan, measurement, report --------------------------------------------------------------------
node -e '
  const [out, ...kv] = process.argv.slice(1); const o = {};
  for (const x of kv) { const i = x.indexOf("="); o[x.slice(0, i)] = x.slice(i + 1); }
  require("fs").writeFileSync(out, JSON.stringify(o, null, 2) + "\n");' "$OUT/meta.json" \
  started="$(date -Iseconds)" host_cpus="$(nproc)" kernel="$(uname -r)" node="$(node --version)" \
  oidc_provider="$(node -p 'require(process.argv[1]).version' "$ROOT/tests/node_modules/oidc-provider/package.json")" \
  apache="$("$APACHE_BIN" -v 2>/dev/null | sed -n 's/^Server version: //p')" \
  mod_auth_openidc="$(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')" \
  gatehouse_bin="${GH_BIN:-}" gatehouse_build_type="$( [ -n "$GH_BIN" ] && gh_build_type)" gatehouse_note="${GH_NOTE:-}" \
  gatehouse_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')" \
  peers="${ACTIVE# }" count="$COUNT" warmup="$WARMUP" concurrency="$CONCURRENCY" rounds="$ROUNDS" users="$USERS" \
  workers="$WORKERS" cpu_busy_before_pct="$BUSY_START"

node -e '
  const [file, meta, hz, peers, ghBase, ghPid, apBase, apPid, idpPid, haPid, users, count, warmup, conc, rounds] = process.argv.slice(1);
  const plan = {
    meta: JSON.parse(require("fs").readFileSync(meta, "utf8")), clk_tck: Number(hz),
    peers: peers.trim().split(/\s+/).map((name) => name === "gatehouse" ? { name, base: ghBase, pid: Number(ghPid) } : { name, base: apBase, pid: Number(apPid) }),
    helpers: [{ name: "idp", pid: Number(idpPid) }, ...(haPid ? [{ name: "ha", pid: Number(haPid) }] : [])],
    users: users.split(" "), count: Number(count), warmup: Number(warmup),
    concurrency: conc.trim().split(/\s+/).map(Number), rounds: Number(rounds),
  };
  require("fs").writeFileSync(file, JSON.stringify(plan, null, 2) + "\n");' \
  "$TMP/plan.json" "$OUT/meta.json" "$(getconf CLK_TCK)" "$ACTIVE" "$GH_URL" "${GH_PID:-0}" "$AP_URL" "${AP_PID:-0}" \
  "$IDP_PID" "${HA_PID:-}" "${USER_LIST[*]}" "$COUNT" "$WARMUP" "$CONCURRENCY" "$ROUNDS"
cp "$TMP/plan.json" "$LOGS/plan.json"

log "out: $OUT"
log "$COUNT logins per peer at concurrency ${CONCURRENCY// /, } after $WARMUP warm-up logins, $ROUNDS rounds, $USERS IdP users"
# In the background and waited for, so that INT/TERM reach the trap (and the cleanup) at once.
rc=0
node "$BENCH_DIR/login-bench.mjs" --plan "$TMP/plan.json" --out "$OUT" >"$OUT/table.txt" 2> >(tee "$LOGS/login-bench.err" >&2) </dev/null &
DRIVER_PID=$!
PIDS+=("$DRIVER_PID")
wait "$DRIVER_PID" || rc=$?
stop_pid "$DRIVER_PID" # already gone: only takes it off PIDS
cat "$OUT/table.txt"

# Peers that died, or logged errors, during the run.
for pair in "gatehouse:${GH_PID:-}" "apache:${AP_PID:-}" "idp:$IDP_PID" "ha:${HA_PID:-}"; do
  name=${pair%%:*} pid=${pair#*:}
  [ -n "$pid" ] || continue
  kill -0 "$pid" 2>/dev/null || warn "$name exited during the run (see logs/$name.err)"
done
if [ -n "${GH_PID:-}" ]; then
  n=$( { grep -cE '"level" *: *"(error|critical)"' "$LOGS/gatehouse.err" "$LOGS/gatehouse.out" 2>/dev/null || true; } | awk -F: '{ s += $NF } END { print s + 0 }')
  [ "$n" -eq 0 ] || warn "gatehouse logged $n error lines, first: $(grep -h -m1 -E '"level" *: *"(error|critical)"' "$LOGS/gatehouse.err" "$LOGS/gatehouse.out" | cut -c1-300)"
fi
if [ -n "${AP_PID:-}" ]; then
  n=$(grep -cE ':(error|crit|alert|emerg)\]' "$LOGS/apache.error.log" 2>/dev/null || true)
  [ "${n:-0}" -eq 0 ] || warn "apache logged $n error lines, first: $(grep -m1 -E ':(error|crit|alert|emerg)\]' "$LOGS/apache.error.log" | cut -c1-300)"
fi
if [ -f "$OUT/warnings.txt" ]; then echo; echo "Warnings:"; sed 's/^/  - /' "$OUT/warnings.txt"; fi
log "took $((SECONDS - RUN_START)) s; written: $OUT/results.md, $OUT/results.json"
exit "$rc"
