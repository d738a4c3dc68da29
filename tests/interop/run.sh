#!/usr/bin/env bash
# Runs the Node.js interop test (interop_test.js) against a built server:
#   bash tests/interop/run.sh [SERVER_BINARY]   (default bazel-bin/server/batchexec_server)
# Builds nothing. Installs the pinned npm packages (npm ci), starts the server
# on a free port, runs the test, stops the server with SIGTERM and checks it
# exits 0. Ends with one line "interop: N passed, N failed"; exits non-zero if
# anything failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/start_server.sh
. "$root/tests/start_server.sh"
server=${1:-$root/bazel-bin/server/batchexec_server}

work=$(mktemp -d)
server_pid=""
cleanup() {
  # Only the server this script started, if it is still up.
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
finish() {
  echo "interop: $passed passed, $failed failed"
  if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
    exit 0
  fi
  exit 1
}

if [ ! -x "$server" ]; then
  echo "interop: no server binary at $server (bazel build //server:batchexec_server)" >&2
  failed=1
  finish
fi

# --ignore-scripts: every dependency is plain JavaScript; nothing needs to run
# at install time. --prefer-offline: a warm npm cache needs no network.
if ! (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts \
        --prefer-offline --loglevel=error) >"$work/npm.log" 2>&1; then
  cat "$work/npm.log" >&2
  echo "interop: npm ci failed" >&2
  failed=1
  finish
fi

if ! start_server "$work" "$server"; then
  echo "interop: the server did not start" >&2
  failed=1
  finish
fi

test_rc=0
node "$here/interop_test.js" "$address" | tee "$work/test.out" || test_rc=$?
counts=$(sed -n 's/^\([0-9]\+\) passed, \([0-9]\+\) failed$/\1 \2/p' "$work/test.out" | tail -n 1)
if [ -n "$counts" ]; then
  read -r passed failed <<<"$counts"
fi
# A test that crashed before its summary must not read as green.
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi

# SIGTERM drains (nothing is running now) and must exit 0, in well under the
# default 10 s grace.
kill -TERM "$server_pid"
server_rc=""
for _ in $(seq 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    server_rc=0
    wait "$server_pid" || server_rc=$?
    break
  fi
  sleep 0.1
done
if [ "$server_rc" = "0" ]; then
  echo "ok   - the server exits 0 on SIGTERM"
  passed=$((passed + 1))
else
  echo "FAIL - the server on SIGTERM: ${server_rc:-still running after 15 s}"
  sed 's/^/       /' "$work/server.err"
  failed=$((failed + 1))
fi
server_pid=""

finish
