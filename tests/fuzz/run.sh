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
sanitizers=(-fsanitize=address,undefined -fno-sanitize-recover=undefined
            -fsanitize-ignorelist="$root/tests/fuzz/sanitizer_ignorelist.txt")
# Sources are compiled once (with libFuzzer's coverage, without its main)
# and shared by the targets that link them.
cflags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link
        "${sanitizers[@]}" -I"$root" -I"$gen_root")
# libcurl and c-ares: the `http` and `dns` kinds are in the executor.
libs="$(pkg-config --libs protobuf $absl_modules) $(pkg-config --libs libcurl libcares)"

# The first-party sources each corpus test links, asked of Bazel so that this
# compile line follows the BUILD files instead of a hand-kept list.
first_party_srcs() {
  bazel query "kind('source file', deps(//tests/fuzz:$1_corpus_test)) except kind('source file', deps(//proto:batch_cc_proto))" 2>/dev/null |
    grep -v '^@' | grep '\.cc$' | grep -v corpus_replay_test | sed 's#^//##; s#:#/#' | tr '\n' ' '
}
# Every <name>_corpus_test in tests/fuzz/BUILD replays <name>_fuzzer.cc's
# corpus; each is a target here.
all_targets=$(bazel query --noshow_progress 'kind(cc_test, //tests/fuzz:*)' 2>/dev/null |
  sed -n 's#^//tests/fuzz:\(.*\)_corpus_test$#\1#p' | tr '\n' ' ')
[ -n "$all_targets" ] || { echo "fuzz: 0 passed, 1 failed"; exit 1; }

targets=${FUZZ_TARGETS:-$all_targets}
declare -A objects
mkdir -p "$work/obj"
for target in $targets; do
  objects[$target]=""
  for src in $(first_party_srcs "$target") $gen; do
    objects[$target]+=" $work/obj/$(tr / _ <<<"$src").o"
    echo "$src" >>"$work/all_sources"
  done
done
sort -u "$work/all_sources" >"$work/sources"
compile() {
  local out="$work/obj/$(tr / _ <<<"$1").o"
  clang++ "${cflags[@]}" -c "$1" -o "$out" 2>"$out.log" || cat "$out.log" >&2
}
export -f compile
export work
export cflags_str="${cflags[*]}"
# shellcheck disable=SC2016
xargs -P "$(nproc)" -I{} bash -c 'cflags=($cflags_str); compile "$1"' _ {} <"$work/sources"

passed=0
failed=0
total_execs=0
# Links every target, then fuzzes them all at once: each fuzzer is one
# process, so on a machine of N cores N of them take the time of one.
declare -A pids
for target in $targets; do
  bin="$work/${target}_fuzzer"
  # shellcheck disable=SC2086
  if ! clang++ -fsanitize=fuzzer "${sanitizers[@]}" ${objects[$target]} $libs -lpthread -o "$bin" 2>"$work/$target.build.log"; then
    echo "fuzz: $target failed to build:" >&2
    tail -20 "$work/$target.build.log" >&2
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$work/$target.corpus"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=20 \
    -rss_limit_mb=4096 -artifact_prefix="$work/$target-" \
    "$work/$target.corpus" "tests/fuzz/corpus/$target" >"$work/$target.log" 2>&1 &
  pids[$target]=$!
done
for target in "${!pids[@]}"; do
  if wait "${pids[$target]}"; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' | tail -1)
    echo "fuzz: $target ran ${execs:-?} inputs in ${seconds}s, no crash"
    total_execs=$((total_execs + ${execs:-0}))
    passed=$((passed + 1))
  else
    echo "fuzz: $target FOUND A CRASH:" >&2
    grep -A30 -m1 '==[0-9]*== *ERROR\|runtime error\|deadly signal' "$work/$target.log" >&2
    for crash in "$work/$target-"*; do
      [ -f "$crash" ] && { echo "input (base64):" >&2; base64 "$crash" >&2; }
    done
    failed=$((failed + 1))
  fi
done
echo "fuzz: executions=$total_execs"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
