#!/usr/bin/env bash
# Builds the server, the SDK, the CLI, common/ and the bench (their tests too)
# with `--config=thread_safety` (.bazelrc): clang with -Wthread-safety as an
# error, which checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED /
# ABSL_ACQUIRED_BEFORE annotations that gcc ignores.
# Prints "thread-safety: N passed, N failed", one check per source file: a
# file fails when clang reports a thread-safety error in it (or, when the
# build fails for another reason, the build counts as one failure).
set -uo pipefail
cd "$(dirname "$0")/.."
targets=(//server/... //client/... //cli/... //common/... //bench/...)
query="kind('source file', labels(srcs, kind('cc_(library|test|binary)', $(
  IFS=+; echo "${targets[*]}"))))"
sources=$(bazel query --noshow_progress "$query" 2>/dev/null | grep -c '\.cc$')
log=$(mktemp)
trap 'rm -f "$log"' EXIT

rc=0
# Compiles only (output group compilation_outputs): the analysis is a compile
# warning, so linking every test and binary with clang would only cost time.
bazel build --config=thread_safety --keep_going --noshow_progress \
  --output_groups=compilation_outputs "${targets[@]}" >"$log" 2>&1 || rc=$?
# clang: "path/file.cc:12:3: error: ... [-Werror,-Wthread-safety-analysis]"
bad=$(grep -E '^[^ :]+:[0-9]+:[0-9]+: error: .*-Wthread-safety' "$log" |
  cut -d: -f1 | sort -u)
failed=$(grep -c . <<<"$bad")
if [ "$failed" -gt 0 ]; then
  grep -E -A3 '^[^ :]+:[0-9]+:[0-9]+: error: .*-Wthread-safety' "$log" >&2
elif [ "$rc" -ne 0 ]; then
  echo "thread-safety: the clang build failed:" >&2
  grep -E 'error|ERROR' "$log" | head -20 >&2
  failed=1
fi
echo "thread-safety: $((sources - failed)) passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
