#!/usr/bin/env bash
# Compiles every C++ source of the server, the SDK, the CLI and common/ (their
# tests too) with clang's thread-safety analysis (-Wthread-safety and -beta),
# which checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED /
# ABSL_ACQUIRED_BEFORE annotations that gcc ignores. Syntax only: the Bazel
# build (gcc) makes the binaries; this makes the annotations count.
# Needs the generated proto headers: run after `bazel build //...`.
# Prints "thread-safety: N passed, N failed" (one check per file).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$(bazel info bazel-bin 2>/dev/null)
# gRPC's own protos (health, reflection) are generated under external/.
includes=(-I. -I"$bin" -I"$bin/external/com_github_grpc_grpc")
while IFS= read -r dir; do includes+=(-I"$dir"); done < <(
  find "$bin" -maxdepth 4 -type d -path '*/_virtual_includes/*')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

targets='kind("cc_(library|test|binary)", //server/... + //client/... + //cli/... + //common/...)'
sources=$(bazel query "labels(srcs, $targets)" 2>/dev/null | grep '\.cc$' |
  grep -v '^@' | sed 's|^//||; s|:|/|')
[ -n "$sources" ] || { echo "thread-safety: 0 passed, 1 failed"; exit 1; }

# One file: its verdict goes to $work/<n>.ok or $work/<n>.fail (with the
# first diagnostics). Sources that include gRPC take seconds each to parse,
# so the files run in parallel, one per core.
check() {
  local f=$1 out
  local slot="$work/$(echo "$f" | tr '/' '_')"
  if out=$(clang++ -std=c++17 -fsyntax-only -Wthread-safety -Wthread-safety-beta \
      -Werror=thread-safety -Wno-unused-command-line-argument \
      "${includes[@]}" "$f" 2>&1) && ! grep -q "thread-safety" <<<"$out"; then
    touch "$slot.ok"
  else
    { echo "thread-safety: $f"; echo "$out" | grep -E "error|warning" | head -5; } >"$slot.fail"
  fi
}
export -f check
export work
export includes_str="${includes[*]}"
# shellcheck disable=SC2016
echo "$sources" | xargs -P "$(nproc)" -I{} bash -c 'includes=($includes_str); check "$1"' _ {}

passed=$(find "$work" -name '*.ok' | wc -l)
failed=$(find "$work" -name '*.fail' | wc -l)
[ "$failed" -eq 0 ] || cat "$work"/*.fail >&2
echo "thread-safety: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
