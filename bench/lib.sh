#!/usr/bin/env bash
# bench/lib.sh — helpers the benchmark scripts share (sourced; the caller defines warn()).

alloc_ports() { # alloc_ports N — N currently free loopback ports (the kernel picks them)
  node -e '
    const net = require("net"); const n = Number(process.argv[1]); const servers = [];
    (function next() {
      if (servers.length === n) { console.log(servers.map(s => s.address().port).join(" ")); servers.forEach(s => s.close()); return; }
      const s = net.createServer(); s.listen(0, "127.0.0.1", () => { servers.push(s); next(); });
    })();' "$1"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # wait_port PORT PID WHAT [TIMEOUT_S] — until the port accepts, or the process dies
  local port=$1 pid=$2 what=$3 deadline=$((SECONDS + ${4:-20}))
  while ! port_open "$port"; do
    kill -0 "$pid" 2>/dev/null || { warn "$what exited before listening on $port"; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { warn "$what not listening on $port after ${4:-20} s"; return 1; }
    sleep 0.05
  done
}

wait_line() { # wait_line PATTERN PID WHAT TIMEOUT_S FILE... — until a line matching PATTERN appears
  local pattern=$1 pid=$2 what=$3 deadline=$((SECONDS + $4)); shift 4
  while ! grep -qE -- "$pattern" "$@" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { warn "$what exited (see $*): $(tail -n 3 "$@" 2>/dev/null | tr '\n' ' ')"; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { warn "$what: no line matching '$pattern' in $4 s"; return 1; }
    sleep 0.05
  done
}
