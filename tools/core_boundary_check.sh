#!/usr/bin/env bash
# Checks that the server's core (//server/core/...) stays gRPC-free, as its
# BUILD file promises: unit tests and TSan reach everything there only while
# none of it links Debian's uninstrumented gRPC.
#   bash tools/core_boundary_check.sh
# One check per target of //server/core/...: its transitive deps name nothing
# in @com_github_grpc_grpc (grpc++, grpc, gpr, reflection, generated gRPC
# stubs through their deps) and no rule links -lgrpc* directly. A second check
# per source file: no #include of gRPC headers (Debian installs them in
# /usr/include, so an include compiles without a BUILD dependency).
# Ends with "core_boundary: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
fail() {
  echo "core_boundary: FAIL - $*" >&2
  failed=$((failed + 1))
}

if ! targets=$(bazel query --noshow_progress 'kind(rule, //server/core/...)' 2>/dev/null) ||
  [ -z "$targets" ]; then
  echo "core_boundary: bazel query //server/core/... failed" >&2
  echo "core_boundary: 0 passed, 1 failed"
  exit 1
fi

# Core targets that reach gRPC as a Bazel dependency, at any depth...
q() { bazel query --noshow_progress "$@" 2>/dev/null; }
core='//server/core/...'
grpc_deps="filter('^@com_github_grpc_grpc//', deps($core))"
# ...or link one of its libraries by hand (a linkopt outside gRPC's own rules).
grpc_links="attr(linkopts, '-lgrpc|-lgpr', deps($core) except @com_github_grpc_grpc//...)"
if ! bad_deps=$(q "rdeps($core, $grpc_deps) intersect $core") ||
  ! bad_links=$(q "rdeps($core, $grpc_links) intersect $core"); then
  fail "bazel query for gRPC under $core failed"
  bad_deps=""
  bad_links=""
fi
for t in $targets; do
  if grep -qxF "$t" <<<"$bad_deps"; then
    fail "$t depends on gRPC: $(q "somepath($t, $grpc_deps)" | tr '\n' ' ')"
  elif grep -qxF "$t" <<<"$bad_links"; then
    fail "$t links gRPC through a linkopt: $(q "somepath($t, $grpc_links)" | tr '\n' ' ')"
  else
    passed=$((passed + 1))
  fi
done

# Sources: gRPC headers reached without a BUILD dependency.
while IFS= read -r f; do
  if grep -nE '^\s*#\s*include\s*[<"](grpcpp?|grpc\+\+)/|\.grpc\.pb\.h"' "$f" >&2; then
    fail "$f includes a gRPC header"
  else
    passed=$((passed + 1))
  fi
done < <(git ls-files -- 'server/core/*.h' 'server/core/*.cc')

echo "core_boundary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
