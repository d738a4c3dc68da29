#!/usr/bin/env python3
"""Peak RSS of the batchexec CLI when the first result comes last.

Results print in request order, so while task 0 runs every later line waits
in the CLI. This runs the same batch twice against one server: N echo tasks
whose outputs are about SIZE bytes each, with task 0 either an echo too
(fast) or a sleep that ends after every echo (slow), and prints the CLI's
peak RSS (VmHWM, as getrusage's ru_maxrss of the exited child) for both and
their ratio; issue 34 asks for slow / fast <= 1.3.

Usage (from the repository, after `bazel build //cli:batchexec
//server:batchexec_server`):
  bench/cli_window_rss.py [--n 20000] [--size 2500] [--runs 3]
                          [--cli_flags=--max_pending_output_bytes=...]
Prints one JSON line per run and a last line with the medians.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time


def start_server(server):
    process = subprocess.Popen([server, "--port=0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        match = re.match(r"batchexec server listening on (\S+)", line)
        if match:
            return process, match.group(1)
    raise RuntimeError("the server did not start")


def write_tasks(path, n, size, slow_seconds):
    text = "x" * size
    with open(path, "w") as f:
        if slow_seconds:
            f.write(json.dumps({"kind": "sleep",
                                "args": {"seconds": slow_seconds}}) + "\n")
        else:
            f.write(json.dumps({"kind": "echo", "args": {"s": text}}) + "\n")
        line = json.dumps({"kind": "echo", "args": {"s": text}}) + "\n"
        for _ in range(n - 1):
            f.write(line)


def peak_rss_kib(cli, target, tasks, flags):
    with open(os.devnull, "w") as devnull:
        # stdout to a pipe read at full speed, as `| jq` would.
        process = subprocess.Popen(
            [cli, "gather", "--progress=none", "--target=" + target, tasks] +
            flags, stdout=subprocess.PIPE, stderr=devnull)
        lines = 0
        for _ in process.stdout:
            lines += 1
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError("the CLI exited %d" % process.returncode)
    return usage.ru_maxrss, lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--size", type=int, default=2500)
    parser.add_argument("--slow_seconds", type=float, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cli", default="bazel-bin/cli/batchexec")
    parser.add_argument("--server",
                        default="bazel-bin/server/batchexec_server")
    parser.add_argument("--cli_flags", action="append", default=[])
    args = parser.parse_args()
    server, target = start_server(args.server)
    try:
        with tempfile.TemporaryDirectory() as work:
            fast = os.path.join(work, "fast.jsonl")
            slow = os.path.join(work, "slow.jsonl")
            write_tasks(fast, args.n, args.size, 0)
            write_tasks(slow, args.n, args.size, args.slow_seconds)
            results = {"fast": [], "slow": []}
            for run in range(args.runs):
                for name, tasks in (("fast", fast), ("slow", slow)):
                    start = time.monotonic()
                    kib, lines = peak_rss_kib(args.cli, target, tasks,
                                              args.cli_flags)
                    results[name].append(kib)
                    print(json.dumps({
                        "run": run, "index0": name, "lines": lines,
                        "peak_rss_mib": round(kib / 1024, 1),
                        "wall_s": round(time.monotonic() - start, 2)}))
            fast_mib = statistics.median(results["fast"]) / 1024
            slow_mib = statistics.median(results["slow"]) / 1024
            print(json.dumps({
                "n": args.n, "size": args.size, "flags": args.cli_flags,
                "fast_peak_rss_mib": round(fast_mib, 1),
                "slow_peak_rss_mib": round(slow_mib, 1),
                "slow_over_fast": round(slow_mib / fast_mib, 2)}))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
