#!/usr/bin/env bash
# What README's plain `bazel run //server:batchexec_server` gives a user,
# measured: the 100k echo batch (gather_bench's echo100k scenario, --quick,
# no baselines) against
#   plain      the server started exactly as README says (no -c flag; the
#              workspace .bazelrc's `run -c opt` makes it optimized),
#   fastbuild  the same server built -c fastbuild (-O0), for contrast,
# each compared with the bench's own -c opt in-process server in the same
# round. Two rounds, in that order; prints each figure and the ratios.
#   bash bench/plain_build.sh            # ~2-4 min with a warm cache
# Target (issue 13): plain within 1.3x of -c opt.
# The servers listen on --port=0 (README uses 50051, which another server on
# a shared box may hold); the build mode is what this measures.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Starts a server with `bazel run [mode flags]` in the background; sets
# $port. `bazel run` execs the binary in place of its client, so $! is the
# server, and the Bazel server is free again for the next command.
start_server() {
  local name=$1
  shift
  bazel run "$@" //server:batchexec_server -- --port=0 --access_log=none \
    --drain_delay=0 >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 1200); do
    if grep -q "listening on" "$tmp/$name.out"; then break; fi
    sleep 0.5
  done
  port=$(sed -n 's/^batchexec server listening on .*:\([0-9]*\)$/\1/p' \
    "$tmp/$name.out")
  if [ -z "$port" ]; then
    echo "plain_build: $name server did not start:" >&2
    tail -5 "$tmp/$name.err" >&2
    exit 1
  fi
  echo "plain_build: $name server (bazel run $*) on port $port" >&2
}

# Prints "TASKS_PER_S SERVER_BATCH_MS" of the echo100k scenario.
bench() {
  local line
  line=$(bazel run -c opt //bench:gather_bench -- --quick --nobaselines \
    --scenarios=echo100k "$@" 2>/dev/null | grep '^BENCH ')
  echo "$(sed 's/.* echo100k_tasks_per_s=\([^ ]*\).*/\1/' <<<"$line")" \
    "$(sed 's/.* echo100k_batch_wall_ms=\([^ ]*\).*/\1/' <<<"$line")"
}

bazel build //server:batchexec_server //bench:gather_bench 2>/dev/null
start_server plain
plain_port=$port
start_server fastbuild -c fastbuild
fast_port=$port

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-34s %-34s %-34s\n' round "-c opt in-process (tasks/s, ms)" \
  "plain README build" "-c fastbuild"
for round in 1 2; do
  read -r opt_rate opt_ms <<<"$(bench)"
  read -r plain_rate plain_ms <<<"$(bench --target=127.0.0.1:$plain_port)"
  read -r fast_rate fast_ms <<<"$(bench --target=127.0.0.1:$fast_port)"
  printf '%-6s %-34s %-34s %-34s\n' "$round" \
    "$(printf '%.0f/s, server %.1f ms' "$opt_rate" "$opt_ms")" \
    "$(printf '%.0f/s, server %.1f ms' "$plain_rate" "$plain_ms")" \
    "$(printf '%.0f/s, server %.1f ms' "$fast_rate" "$fast_ms")"
  awk -v o="$opt_rate" -v p="$plain_rate" -v f="$fast_rate" \
    -v om="$opt_ms" -v pm="$plain_ms" -v fm="$fast_ms" 'BEGIN {
      printf "       plain: %.2fx the -c opt time end to end (server batch %.2fx) -> %s (target <= 1.3x)\n",
        o / p, pm / om, (o / p <= 1.3 ? "met" : "MISSED")
      printf "       fastbuild: %.2fx end to end (server batch %.2fx)\n",
        o / f, fm / om }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
