#!/usr/bin/env bash
# Compiles the gRPC-free C++ sources of the server, the SDK and common/ (their
# tests too) with clang's
# thread-safety analysis (-Wthread-safety), which checks the ABSL_GUARDED_BY /
# ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations that gcc ignores. Syntax only: the
# Bazel build (gcc) makes the binaries; this makes the annotations count.
# Needs the generated proto headers: run after `bazel build //...`.
# Prints "thread-safety: N passed, N failed" (one check per file).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$(bazel info bazel-bin 2>/dev/null)
includes=(-I. -I"$bin")
while IFS= read -r dir; do includes+=(-I"$dir"); done < <(
  find "$bin" -maxdepth 3 -type d -path '*/_virtual_includes/*')
passed=0
failed=0
# The gRPC-free core (targets that do not reach gRPC), where our locks are
# and where TSan looks too; sources that include gRPC take seconds each to
# parse and hold no lock the core does not.
core='kind("cc_(library|test)", //server/... + //client/... + //cli/... + //common/...)'
core="$core except rdeps(//server/... + //client/... + //cli/... + //common/..., \"@com_github_grpc_grpc//:grpc++\")"
sources=$(bazel query "labels(srcs, $core)" 2>/dev/null | grep '\.cc$' |
  sed 's|^//||; s|:|/|')
[ -n "$sources" ] || { echo "thread-safety: 0 passed, 1 failed"; exit 1; }
for f in $sources; do
  if out=$(clang++ -std=c++17 -fsyntax-only -Wthread-safety -Wthread-safety-beta \
      -Werror=thread-safety -Wno-unused-command-line-argument \
      "${includes[@]}" "$f" 2>&1) && ! grep -q "thread-safety" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "thread-safety: $f" >&2
    echo "$out" | grep -E "error|warning" | head -5 >&2
  fi
done
echo "thread-safety: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
