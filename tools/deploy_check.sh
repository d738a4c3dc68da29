#!/usr/bin/env bash
# Checks deploy/ against a built server binary: systemd-analyze verify
# accepts the unit, and tools/deploy_check.py's checks of the flags, stop
# timeouts, probes and ports in the unit and the Kubernetes manifests. With
# the CLI too, tools/deploy_sandbox_check.py checks the unit's sandbox
# against a traced run of the server.
#   bash tools/deploy_check.sh SERVER_BINARY [CLI_BINARY]
# Prints one "deploy: ok/FAIL - ..." line per check and ends with
# "deploy: N passed, N failed"; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
binary=${1:?usage: tools/deploy_check.sh SERVER_BINARY [CLI_BINARY]}
cli=${2:-}
unit=deploy/systemd/batchexec.service
lines=$(mktemp)
root=$(mktemp -d)
trap 'rm -f "$lines"; rm -rf "$root"' EXIT

if [ ! -x "$binary" ]; then
  echo "deploy: FAIL - no executable $binary (bazel build //server:batchexec_server)" |
    tee -a "$lines"
fi

# systemd-analyze verify checks that ExecStart's binary exists, so the unit,
# unchanged, is verified in a root that has it at /usr/local/bin as
# docs/deploy.md installs it, beside this machine's own units (for the
# targets it orders after) and kill (ExecReload). It reports bad values and
# unknown keys as warnings with exit code 0: any output is a failure.
mkdir -p "$root/usr/local/bin" "$root/usr/lib/systemd" \
  "$root/etc/systemd/system" "$root/usr/bin"
ln -s usr/bin "$root/bin"
cp "$binary" "$root/usr/local/bin/batchexec_server" 2>/dev/null
cp "$(type -P kill)" "$root/usr/bin/kill"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$unit" "$root/etc/systemd/system/"
if ! command -v systemd-analyze >/dev/null; then
  echo "deploy: FAIL - systemd-analyze verify $unit: no systemd-analyze (apt-get install systemd)" |
    tee -a "$lines"
elif out=$(systemd-analyze verify --root="$root" batchexec.service 2>&1) &&
  [ -z "$out" ]; then
  echo "deploy: ok   - systemd-analyze verify $unit" | tee -a "$lines"
else
  echo "deploy: FAIL - systemd-analyze verify $unit: ${out:-exit code non-zero}" |
    tee -a "$lines"
fi

python3 tools/deploy_check.py "$binary" deploy 2>&1 | tee -a "$lines"
[ "${PIPESTATUS[0]}" -eq 0 ] ||
  echo "deploy: FAIL - tools/deploy_check.py did not finish" | tee -a "$lines"

if [ -n "$cli" ]; then
  python3 tools/deploy_sandbox_check.py "$binary" "$cli" "$unit" 2>&1 |
    tee -a "$lines"
  [ "${PIPESTATUS[0]}" -eq 0 ] ||
    echo "deploy: FAIL - tools/deploy_sandbox_check.py did not finish" |
    tee -a "$lines"
fi

passed=$(grep -c '^deploy: ok ' "$lines")
failed=$(grep -c '^deploy: FAIL ' "$lines")
echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
