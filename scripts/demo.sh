#!/usr/bin/env bash
# The demo: installs what is missing, builds Gatehouse, starts the HA test double on 127.0.0.1:8124, a
# real OpenID provider (oidc-provider) with demo users on 127.0.0.1:8125, and Gatehouse in front of HA
# on port 8123 with single sign-on, and prints the URL to open. Ctrl-C stops everything.
# Usage: scripts/demo.sh   (GATEHOUSE_DEMO_PORT / GATEHOUSE_DEMO_HA_PORT / GATEHOUSE_DEMO_IDP_PORT)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${GATEHOUSE_DEMO_PORT:-8123}"
ha_port="${GATEHOUSE_DEMO_HA_PORT:-8124}"
idp_port="${GATEHOUSE_DEMO_IDP_PORT:-8125}"

scripts/setup.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target gatehouse

run_dir="$PWD/demo-data"
mkdir -p "$run_dir"
chmod 700 "$run_dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Starts a program with its output in $run_dir/<name>.log and waits (30 s at most) for `pattern` there.
start_and_wait() {
  local name=$1 pattern=$2
  shift 2
  "$@" >"$run_dir/$name.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 300); do
    grep -q -- "$pattern" "$run_dir/$name.log" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: $name did not start; its output:" >&2
  cat "$run_dir/$name.log" >&2
  exit 1
}

# The HA double believes Gatehouse's X-Forwarded-For, like a real HA configured with
# http: {use_x_forwarded_for: true, trusted_proxies: [127.0.0.1]}.
double_options='{"useXForwardedFor":true,"trustedProxies":["127.0.0.1"],"users":[
 {"name":"Owner","username":"owner","password":"owner-password","groups":["system-admin"],"isOwner":true}]}'
start_and_wait ha-double listening \
  node tests/ha-double/server.mjs --host 127.0.0.1 --port "$ha_port" --options-json "$double_options"

# The IdP's demo users: sub:username:name:groups.
start_and_wait idp issuer node tests/idp/oidc-idp.mjs --port "$idp_port" --alg ES256 \
  --client "gatehouse:demo-client-secret:http://127.0.0.1:$port/sso/callback" \
  --user "alice:alice:Alice Admin:ha-admins" --user "bob:bob:Bob User:ha-users" \
  --user guest:guest:Guest:ha-guests --user mallory:mallory:Mallory:other

# Gatehouse's admin user in HA and its long-lived token (what an HA owner makes in Profile → Security).
admin_id=$(curl -fsS -X POST -H 'content-type: application/json' \
  -d '{"name":"Gatehouse","username":"gatehouse-admin","password":"unused-'"$RANDOM$RANDOM"'","groups":["system-admin"]}' \
  "http://127.0.0.1:$ha_port/__double/users" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).id))')
(umask 077
 curl -fsS -X POST -H 'content-type: application/json' -d '{"userId":"'"$admin_id"'","clientName":"gatehouse"}' \
   "http://127.0.0.1:$ha_port/__double/long-lived-tokens" |
   node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).token))' >"$run_dir/ha-token"
 printf '%s' demo-client-secret >"$run_dir/idp-client-secret")

cat > "$run_dir/gatehouse.yaml" <<YAML
listen: 0.0.0.0:$port
external_url: http://127.0.0.1:$port
data_dir: $run_dir/data
trusted_proxies: []
home_assistant:
  url: http://127.0.0.1:$ha_port
  token_file: $run_dir/ha-token
providers:
  - id: demo
    name: Demo identity provider
    issuer: http://127.0.0.1:$idp_port
    client_id: gatehouse
    client_secret_file: $run_dir/idp-client-secret
users:
  roles: { admin: [ha-admins], user: [ha-users], read_only: [ha-guests] }
logging:
  level: info
YAML

start_and_wait gatehouse '"msg":"listening"' build/gatehouse serve -c "$run_dir/gatehouse.yaml"

cat <<MSG

  Gatehouse is running in front of the Home Assistant test double, with single sign-on.
  Open:  http://127.0.0.1:$port/
  You land at the demo identity provider: sign in as  alice  (becomes an HA admin),  bob  (user),
  guest  (read-only) or  mallory  (in no HA group: refused with a page). No passwords in the demo IdP.
  Audit log:  build/gatehouse audit -c $run_dir/gatehouse.yaml
  HA's own password login is switched off (SSO only); open it for one browser with
              build/gatehouse breakglass -c $run_dir/gatehouse.yaml
  Health: http://127.0.0.1:$port/healthz      Logs follow below; Ctrl-C stops the demo.

MSG
tail -n +1 -f --pid="${pids[-1]}" "$run_dir/gatehouse.log"
