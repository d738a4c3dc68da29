#!/usr/bin/env bash
# A real scrape: starts a built batchexec_server with --metrics_port on
# loopback and Debian's Prometheus (/usr/bin/prometheus) scraping it every
# second, runs a batch with the CLI, and checks through Prometheus's HTTP API
# that the target is up and that batchexec_tasks_completed_total rose.
#   bash tests/prometheus/run.sh [SERVER_BINARY] [CLI_BINARY]
# (default bazel-bin/server/batchexec_server, bazel-bin/cli/batchexec).
# Builds nothing. Ends with one line "prometheus: N passed, N failed"; exits
# non-zero if anything failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/start_server.sh
. "$root/tests/start_server.sh"
server=${1:-$root/bazel-bin/server/batchexec_server}
cli=${2:-$root/bazel-bin/cli/batchexec}
prometheus=${PROMETHEUS:-/usr/bin/prometheus}

work=$(mktemp -d)
server_pid=""
prom_pid=""
cleanup() {
  # Only the processes this script started, if they are still up.
  for pid in "$prom_pid" "$server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() {  # check NAME COMMAND...
  local name=$1
  shift
  if "$@"; then
    echo "ok   - $name"
    passed=$((passed + 1))
  else
    echo "FAIL - $name"
    failed=$((failed + 1))
  fi
}
finish() {
  echo "prometheus: $passed passed, $failed failed"
  if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then exit 0; fi
  exit 1
}
die() {
  echo "prometheus: $*" >&2
  failed=$((failed + 1))
  finish
}

for bin in "$server" "$cli" "$prometheus"; do
  [ -x "$bin" ] || die "no executable $bin (bazel build //server:batchexec_server //cli:batchexec; bash bazel/install_deps.sh)"
done
command -v curl >/dev/null || die "curl is missing (bash bazel/install_deps.sh)"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
metrics_port=$(free_port)
prom_port=$(free_port)

# --- batchexec ---------------------------------------------------------------
start_server "$work" "$server" --metrics_port="$metrics_port" --drain_delay=0 \
  --access_log="$work/access.log" || die "the server did not start"

scrape_ok() {
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" &&
    grep -q '^# TYPE batchexec_tasks_completed_total counter$' "$work/metrics.txt"
}
check "GET /metrics answers in the exposition format" scrape_ok

# --- Prometheus ----------------------------------------------------------------
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: batchexec
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YAML
"$prometheus" --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" \
  --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
ready=""
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$prom_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  tail -n 30 "$work/prometheus.log" >&2
  die "prometheus did not become ready"
fi

# The value of an instant query's first sample, or nothing.
query() {
  curl -fsS -G "http://127.0.0.1:$prom_port/api/v1/query" \
    --data-urlencode "query=$1" 2>/dev/null |
    python3 -c 'import json,sys
d = json.load(sys.stdin)
r = d.get("data", {}).get("result", [])
print(r[0]["value"][1] if d.get("status") == "success" and r else "")'
}
# Polls `query` until its value satisfies the python expression on v.
wait_for() {  # wait_for QUERY EXPR SECONDS
  local v
  for _ in $(seq $(($3 * 4))); do
    v=$(query "$1" || true)
    if [ -n "$v" ] && python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if $2 else 1)" "$v"; then
      echo "$v"
      return 0
    fi
    sleep 0.25
  done
  echo "${v:-none}"
  return 1
}

up_ok() { wait_for 'up{job="batchexec"}' 'v == 1' 30 >/dev/null; }
check "prometheus scrapes the target: up == 1" up_ok

before=$(wait_for 'sum(batchexec_tasks_completed_total)' 'v >= 0' 30 || true)
[ "$before" = "none" ] && before=0

run_batch() {
  "$cli" gather --target="$address" --progress=none \
    'echo:{"x":1}' 'echo:{"x":2}' 'echo:{"x":3}' sleep:0.05 'fail:{"code":5}' \
    --return_exceptions >"$work/cli.out" 2>"$work/cli.err"
  # A failed task makes the CLI exit non-zero by design; it must still have
  # printed five results.
  [ "$(wc -l <"$work/cli.out")" -eq 5 ]
}
check "a batch of 5 tasks runs through the CLI" run_batch

rose_ok() {
  wait_for 'sum(batchexec_tasks_completed_total)' "v >= $before + 5" 30 >/dev/null
}
check "batchexec_tasks_completed_total rose by the batch's 5 tasks" rose_ok
by_code_ok() {
  wait_for 'batchexec_tasks_completed_total{kind="fail",code="NOT_FOUND"}' 'v == 1' 10 >/dev/null &&
    wait_for 'batchexec_tasks_completed_total{kind="echo",code="OK"}' 'v == 3' 10 >/dev/null
}
check "counts carry kind and gRPC code name labels" by_code_ok
histogram_ok() {
  wait_for 'batchexec_batch_duration_seconds_count' 'v >= 1' 10 >/dev/null &&
    wait_for 'histogram_quantile(0.99, sum by (le) (batchexec_task_duration_seconds_bucket))' 'v >= 0' 10 >/dev/null
}
check "the duration histograms answer histogram_quantile" histogram_ok
access_ok() {
  [ "$(wc -l <"$work/access.log")" -eq 1 ] &&
    grep -q ' tasks=5 policy=COLLECT_ALL outcome=UNKNOWN failed=1 ' "$work/access.log"
}
check "the access log has one line for the batch" access_ok

# --- Stop --------------------------------------------------------------------
kill -TERM "$prom_pid" 2>/dev/null || true
wait "$prom_pid" 2>/dev/null || true
prom_pid=""
kill -TERM "$server_pid"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""
server_exit_ok() { [ "$server_rc" -eq 0 ]; }
check "the server exits 0 on SIGTERM" server_exit_ok

if [ "$failed" -ne 0 ]; then
  echo "--- server stderr" >&2
  tail -n 20 "$work/server.err" >&2
  echo "--- prometheus log" >&2
  tail -n 20 "$work/prometheus.log" >&2
  [ -f "$work/cli.err" ] && { echo "--- cli stderr" >&2; cat "$work/cli.err" >&2; }
fi
finish
