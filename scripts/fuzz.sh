#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang 14, ASan + UBSan, in build-fuzz/) and runs each for SECONDS
# (default 60), printing the executions done and exec/s per target. Each target starts from its
# committed seed corpus fuzz/corpus/<target>/ plus what earlier runs found, kept in
# build-fuzz/corpus/<target>/ (the committed corpus is never written; rm -rf build-fuzz/corpus resets).
# Any crash, leak, timeout or out-of-memory fails the run (exit 1); the input that caused it is kept in
# build-fuzz/crashes/<target>/ and printed, to be replayed with: build-fuzz/fuzz_<target> <file>
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 20, scripts/fuzz.sh 300 jws jwks
# FUZZ_TIMEOUT=N: seconds one input may take before it counts as a hang (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
all_targets=(request_target head_checks websocket_frames jwks jws config form scim_filter scim_patch)
if [ "$#" -eq 0 ]; then targets=("${all_targets[@]}"); else targets=("$@"); fi
for target in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: no target $target (${all_targets[*]})" >&2; exit 2; }
done

scripts/setup.sh fuzz
mkdir -p build-fuzz/logs
# Quiet unless it fails: Boost's headers print deprecation notes for every file.
if ! { cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGATEHOUSE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 &&
       cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"; } >build-fuzz/logs/build.log 2>&1; then
  grep -E 'error|Error' build-fuzz/logs/build.log | head -40 >&2
  echo "fuzz.sh: the build failed (build-fuzz/logs/build.log)" >&2
  exit 1
fi

# Symbolized reports; leaks are findings too (the targets run in process, nothing exits through signals).
if command -v llvm-symbolizer-14 >/dev/null 2>&1; then export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer-14)"; fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

status=0
printf '%-18s %12s %10s %8s  %s\n' target executions exec/s corpus result
for target in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$target"
  crashes="build-fuzz/crashes/$target"
  log="build-fuzz/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  cp -n fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  before=$(ls "$crashes" | wc -l)
  result=ok
  # -timeout: one input taking 10 s is a finding (a request or a config that hangs Gatehouse). libFuzzer
  # counts wall time: a long run sharing its cores with builds may raise it (FUZZ_TIMEOUT=60).
  options=(-max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -f "fuzz/$target.dict" ] && options+=(-dict="fuzz/$target.dict")
  if ! "build-fuzz/fuzz_$target" "${options[@]}" "$corpus" >"$log" 2>&1; then
    result=FAILED
    status=1
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # A crash ends the run before the final stats: take the last progress line ("#N ... exec/s: M").
  [ -n "$executions" ] || executions=$(sed -n 's/^#\([0-9]*\)\t.*/\1/p' "$log" | tail -1)
  [ -n "$per_second" ] || per_second=$(sed -n 's/^#[0-9]*\t.* exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -1)
  printf '%-18s %12s %10s %8s  %s\n' "$target" "${executions:-?}" "${per_second:-?}" "$(ls "$corpus" | wc -l)" "$result"
  if [ "$result" != ok ]; then
    new=$(ls -t "$crashes" | head -n $(( $(ls "$crashes" | wc -l) - before )) | sed "s|^|$crashes/|")
    echo "  input kept: ${new:-none written (see the log)}"
    echo "  log: $log; the report:"
    grep -m1 -B2 -A25 -E '^==[0-9]+==ERROR|runtime error:|invariant broken|deadly signal|uncaught exception|^terminate called' "$log" | sed 's/^/    /' || tail -30 "$log" | sed 's/^/    /'
  fi
done

if [ "$status" -ne 0 ]; then echo "fuzz.sh: FAILED" >&2; else echo "fuzz.sh: no crash in ${#targets[@]} targets, ${seconds} s each"; fi
exit "$status"
