#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) against Debian's
# libraries and fuzzes each for a bounded time, starting from the checked-in
# corpus (new finds go to a scratch directory, not into the repository).
#   bash tests/fuzz/run.sh [seconds per target, default 60]
#   FUZZ_TARGETS="task_args" bash tests/fuzz/run.sh 10   # some targets only
# Ends with "fuzz: N passed, N failed" (one per target) and the executions.
set -uo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bazel build //proto:batch_cc_proto >/dev/null 2>&1 || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
gen=$(find -L "$(bazel info bazel-bin 2>/dev/null)/proto" -name batch.pb.cc | head -1)
gen_root=${gen%/batchexec/v1/batch.pb.cc}
absl_modules=$(cd /usr/lib/x86_64-linux-gnu/pkgconfig && ls absl_*.pc | sed 's/\.pc$//')
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -fsanitize-ignorelist="$root/tests/fuzz/sanitizer_ignorelist.txt"
       -I"$root" -I"$gen_root")
# libcurl and c-ares: the `http` and `dns` kinds are in the executor.
libs="$(pkg-config --libs protobuf $absl_modules) $(pkg-config --libs libcurl libcares)"

# The first-party sources each corpus test links, asked of Bazel so that this
# compile line follows the BUILD files instead of a hand-kept list.
first_party_srcs() {
  bazel query "kind('source file', deps(//tests/fuzz:$1_corpus_test)) except kind('source file', deps(//proto:batch_cc_proto))" 2>/dev/null |
    grep -v '^@' | grep '\.cc$' | grep -v corpus_replay_test | sed 's#^//##; s#:#/#' | tr '\n' ' '
}
declare -A sources=(
  [execute_request]="$(first_party_srcs execute_request) $gen"
  [task_reader]="$(first_party_srcs task_reader) $gen"
  [task_args]="$(first_party_srcs task_args) $gen"
)

passed=0
failed=0
total_execs=0
for target in ${FUZZ_TARGETS:-execute_request task_reader task_args}; do
  bin="$work/${target}_fuzzer"
  # shellcheck disable=SC2086
  if ! clang++ "${flags[@]}" ${sources[$target]} $libs -lpthread -o "$bin" 2>"$work/$target.build.log"; then
    echo "fuzz: $target failed to build:" >&2
    tail -20 "$work/$target.build.log" >&2
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$work/$target.corpus"
  if "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=20 \
      -rss_limit_mb=4096 -artifact_prefix="$work/$target-" \
      "$work/$target.corpus" "tests/fuzz/corpus/$target" >"$work/$target.log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' | tail -1)
    echo "fuzz: $target ran ${execs:-?} inputs in ${seconds}s, no crash"
    total_execs=$((total_execs + ${execs:-0}))
    passed=$((passed + 1))
  else
    echo "fuzz: $target FOUND A CRASH:" >&2
    grep -A30 -m1 'ERROR\|runtime error\|deadly signal' "$work/$target.log" >&2
    for crash in "$work/$target-"*; do
      [ -f "$crash" ] && { echo "input (base64):" >&2; base64 "$crash" >&2; }
    done
    failed=$((failed + 1))
  fi
done
echo "fuzz: executions=$total_execs"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
