#!/usr/bin/env bash
# Checks that every BUILD, .bzl and WORKSPACE file the repository tracks is
# formatted as buildifier (pinned in package-lock.json) writes it.
#   bash tools/buildifier/check.sh        check, one result per file
#   bash tools/buildifier/check.sh --fix  rewrite the files in place
# Only formatting is checked: buildifier's lint warnings are written for
# Bazel 7+ (rules no longer native), which this Bazel 4 project cannot follow.
# Ends with "buildifier: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

# --ignore-scripts: the package ships its binaries; nothing runs at install.
if ! (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts \
        --prefer-offline --loglevel=error) >/dev/null 2>&1; then
  echo "buildifier: npm ci failed in tools/buildifier" >&2
  echo "buildifier: 0 passed, 1 failed"
  exit 1
fi
buildifier="$here/node_modules/.bin/buildifier"

mapfile -t files < <(git ls-files -- '*BUILD' '*BUILD.bazel' '*.bzl' '*WORKSPACE' '*.BUILD')
if [ "${1:-}" = "--fix" ]; then
  "$buildifier" -mode=fix -lint=off "${files[@]}"
fi
passed=0
failed=0
for f in "${files[@]}"; do
  if "$buildifier" -mode=check -lint=off "$f" >/dev/null 2>&1; then
    passed=$((passed + 1))
  else
    echo "FAIL - $f is not buildifier-formatted (bash tools/buildifier/check.sh --fix)"
    failed=$((failed + 1))
  fi
done
echo "buildifier: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
