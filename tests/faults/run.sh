#!/usr/bin/env bash
# The fault suite: the real server binary under hostile but legal load, each
# scenario ending with a fresh connection that must be served.
#   bash tests/faults/run.sh SERVER_BINARY CLI_BINARY FAULT_CLIENT_BINARY
# 1. descriptors: the server under `ulimit -n 256` runs 1000 http tasks that
#    each hold a socket; none fails, and fresh connections are served during
#    and after the batch;
# 2. reflection: three concurrent lookups of a 400k-character symbol answer,
#    and an echo batch beside them finishes;
# 3. bytes: callers at their shares of --max_request_memory leave another
#    caller's 10 MiB batch admitted.
# Ends with "faults: N passed, N failed".
set -uo pipefail
server_bin=$1
cli=$2
client=$3
cd "$(dirname "$0")/../.."
# shellcheck source=tests/start_server.sh
source tests/start_server.sh
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() {  # check NAME COMMAND...: one counted check
  local name=$1
  shift
  if "$@"; then
    echo "faults: ok   $name"
    passed=$((passed + 1))
  else
    echo "faults: FAIL $name" >&2
    failed=$((failed + 1))
  fi
}
# Lines of the CLI's output whose status is OK.
ok_lines() { grep -c '"status":{"code":0' "$1" || true; }

# --- 1. Descriptors ------------------------------------------------------------
python3 tests/faults/hold_target.py 0.3 >"$work/target.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  port=$(sed -n 's/^port //p' "$work/target.out")
  [ -n "$port" ] && break
  sleep 0.1
done
python3 - "$port" >"$work/http.jsonl" <<'EOF'
import json, sys
for i in range(1000):
    print(json.dumps({"kind": "http", "id": str(i), "args": {
        "url": "http://127.0.0.1:%s/%d" % (sys.argv[1], i), "timeout": 60}}))
EOF
mkdir -p "$work/fd"
if (ulimit -n 256 && start_server "$work/fd" "$server_bin" &&
    echo "$server_pid $address" >"$work/fd/server") ; then
  read -r fd_pid fd_address <"$work/fd/server"
  pids+=("$fd_pid")
  "$cli" gather --target="$fd_address" --progress=none --return_exceptions \
    "$work/http.jsonl" >"$work/fd/results" 2>"$work/fd/cli.err" &
  cli_pid=$!
  sleep 1
  check "descriptors: a fresh connection is served during the batch" \
    "$client" health "$fd_address"
  wait "$cli_pid"
  n=$(ok_lines "$work/fd/results")
  echo "faults: $n of 1000 held-socket http tasks OK under ulimit -n 256"
  check "descriptors: every task OK under ulimit -n 256" [ "$n" -eq 1000 ]
  if [ "$n" -ne 1000 ]; then
    grep -v '"code":0' "$work/fd/results" | head -3 >&2
  fi
  check "descriptors: a fresh connection is served after the batch" \
    "$client" health "$fd_address"
  kill "$fd_pid"
else
  check "descriptors: server starts under ulimit -n 256" false
fi

# --- 2. Reflection --------------------------------------------------------------
mkdir -p "$work/refl"
if start_server "$work/refl" "$server_bin"; then
  pids+=("$server_pid")
  "$client" reflect "$address" 400000 3 >"$work/refl/reflect.out" 2>&1 &
  reflect_pid=$!
  sleep 0.2
  start=$SECONDS
  check "reflection: an echo batch beside three 400k-character lookups" \
    "$cli" gather --target="$address" --progress=none echo:'{"x":1}' \
    echo:'{"x":2}' sleep:0.1
  echo "faults: the echo batch took $((SECONDS - start)) s"
  check "reflection: three 400k-character lookups each answer" \
    wait "$reflect_pid"
  cat "$work/refl/reflect.out"
  check "reflection: a fresh connection is served after" \
    "$client" health "$address"
  kill "$server_pid"
else
  check "reflection: server starts" false
fi

# --- 3. Callers at their byte shares ---------------------------------------------
mkdir -p "$work/bytes"
for c in a b c d; do
  echo "$c token-$c" >>"$work/bytes/tokens"
  echo "token-$c" >"$work/bytes/token-$c"
done
# 12 sleeping tasks of 1 MiB each: a 12 MiB request.
python3 - >"$work/bytes/big.jsonl" <<'EOF'
import base64, json
pad = base64.b64encode(b"x" * (1 << 20)).decode()
for i in range(12):
    print(json.dumps({"kind": "sleep", "args": {"seconds": 60}, "payload": pad}))
EOF
python3 - >"$work/bytes/small.jsonl" <<'EOF'
import base64, json
pad = base64.b64encode(b"y" * (213 << 10)).decode()
for i in range(48):
    print(json.dumps({"kind": "echo", "args": {"i": i}, "payload": pad}))
EOF
if start_server "$work/bytes" "$server_bin" --max_request_memory=268435456 \
    --auth_tokens_file="$work/bytes/tokens"; then
  pids+=("$server_pid")
  # Caller a sends 12 sleeping 12 MiB batches (each counts ~24 MiB) and so
  # fills its share; then caller d's small batch must still be admitted.
  for i in $(seq 12); do
    "$cli" gather --target="$address" --progress=none \
      --auth_token_file="$work/bytes/token-a" "$work/bytes/big.jsonl" \
      >/dev/null 2>>"$work/bytes/hog-a.$i.err" &
    pids+=($!)
  done
  # Until one of a's batches is refused (each CLI parses 16 MB first).
  for _ in $(seq 100); do
    cat "$work/bytes"/hog-a.*.err 2>/dev/null | grep -q RESOURCE_EXHAUSTED && break
    sleep 0.2
  done
  sleep 1
  refused=$(cat "$work/bytes"/hog-a.*.err | grep -c 'RESOURCE_EXHAUSTED' || true)
  echo "faults: $refused of caller a's 12 big batches refused RESOURCE_EXHAUSTED"
  cat "$work/bytes"/hog-a.*.err | grep -m1 RESOURCE_EXHAUSTED
  check "bytes: caller a is refused past its share" [ "$refused" -gt 0 ]
  small_batch() {
    "$cli" gather --target="$address" --progress=none \
      --auth_token_file="$work/bytes/token-d" "$work/bytes/small.jsonl" \
      >/dev/null
  }
  check "bytes: another caller's 10 MiB batch is admitted beside a caller at its share" \
    small_batch
  check "bytes: a fresh connection is served" "$client" health "$address"
  kill "$server_pid"
else
  check "bytes: server starts" false
fi

echo "faults: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
