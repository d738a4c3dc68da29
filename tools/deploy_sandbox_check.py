#!/usr/bin/env python3
"""Checks the systemd unit's sandbox against what the server really does:
runs the built server under `strace -f` while the CLI runs a batch of every
task kind the server lists (against a local HTTP server and the server
itself), scrapes /metrics, sends SIGHUP and SIGTERM; then checks the system
calls, socket families, memory mappings and written files against the
unit's SystemCallFilter=, RestrictAddressFamilies=, MemoryDenyWriteExecute=
and ProtectSystem=strict.

  python3 tools/deploy_sandbox_check.py SERVER_BINARY CLI_BINARY UNIT

Prints one "deploy: ok   - ..." or "deploy: FAIL - ..." line per check.
"""
import http.server
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path


def check(name, ok, why=""):
    print(f"deploy: ok   - {name}" if ok else f"deploy: FAIL - {name}: {why}",
          flush=True)


def unit_values(unit, key):
    """Every value of `key` in the unit, space-separated words."""
    words = []
    for line in Path(unit).read_text().splitlines():
        if line.startswith(key + "="):
            words += line.split("=", 1)[1].split()
    return words


def allowed_syscalls(filters):
    """System calls SystemCallFilter= allows (allow lists only)."""
    names, todo, seen = set(), list(filters), set()
    while todo:
        f = todo.pop()
        if f.startswith("~"):
            raise ValueError(f"deny lists are not handled: {f}")
        if f in seen:
            continue
        seen.add(f)
        if not f.startswith("@"):
            names.add(f)
            continue
        out = subprocess.run(["systemd-analyze", "syscall-filter", f],
                             capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines()[1:]:
            word = line.strip()
            if re.fullmatch(r"@?[a-z0-9_-]+", word):
                todo.append(word)
    return names


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def traced_run(server, cli, work):
    """Runs the server under strace; returns (trace text, kinds run, why)."""
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    web_port = web.server_address[1]
    (work / "tokens").write_text("ci deploy-sandbox-check-token-0123456789\n")
    (work / "token").write_text("deploy-sandbox-check-token-0123456789\n")
    metrics_port = free_port()
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", str(work / "trace"), server,
         "--host=127.0.0.1", "--port=0", f"--metrics_port={metrics_port}",
         f"--auth_tokens_file={work / 'tokens'}",
         f"--access_log={work / 'access.log'}", "--drain_delay=1s",
         "--shutdown_grace=2s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        m = re.search(r"listening on \S+:(\d+)", first)
        if not m:
            return "", set(), f"the server did not start: {first!r}"
        port = m.group(1)
        target = f"--target=127.0.0.1:{port}"
        auth = f"--auth_token_file={work / 'token'}"
        kinds_out = subprocess.run([cli, "kinds", "--json", target, auth],
                                   capture_output=True, text=True, timeout=60)
        listed = {k["name"] for k in
                  json.loads(kinds_out.stdout or "{}").get("kinds", [])}
        tasks = [
            {"kind": "echo", "args": {"x": 1}},
            {"kind": "sleep", "args": {"seconds": 0.1}},
            {"kind": "primes", "args": {"n": 100000}},
            {"kind": "fail", "args": {"code": 5}},
            {"kind": "tcp_probe", "args": {"host": "localhost",
                                           "port": web_port}},
            {"kind": "http", "args": {"url":
                                      f"http://localhost:{web_port}/"}},
            {"kind": "dns", "args": {"name": "localhost"}},
            {"kind": "grpc_health", "args": {"target": f"localhost:{port}"}},
        ]
        (work / "tasks.jsonl").write_text(
            "".join(json.dumps(t) + "\n" for t in tasks))
        gather = subprocess.run(
            [cli, "gather", target, auth, "--return_exceptions",
             "--progress=none", str(work / "tasks.jsonl")],
            capture_output=True, text=True, timeout=120)
        results = [json.loads(l) for l in gather.stdout.splitlines()]
        ran = {tasks[r["index"]]["kind"] for r in results
               if r["status"].get("code", 0) == 0 or
               tasks[r["index"]]["kind"] == "fail"}
        urllib.request.urlopen(
            f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).read()
        pid = subprocess.run(["pgrep", "-P", str(proc.pid)],
                             capture_output=True, text=True).stdout.split()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            subprocess.run(["kill", f"-{sig.name[3:]}", *pid], check=True)
            if sig == signal.SIGHUP:
                subprocess.run(["sleep", "1"])
        proc.wait(timeout=60)
        why = "" if listed <= ran else (
            "kinds listed but not run successfully: " +
            ", ".join(sorted(listed - ran)) + f" ({gather.stderr.strip()})")
        return (work / "trace").read_text(), ran, why
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        web.shutdown()


def main():
    server, cli, unit = sys.argv[1:4]
    if not shutil.which("strace"):
        check("sandbox: strace the server", False,
              "no strace (apt-get install strace)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trace, ran, why = traced_run(server, cli, work)
        check(f"sandbox: the traced server ran every kind it lists "
              f"({len(ran)})", trace and not why, why)
        if not trace:
            return
        calls = set(re.findall(r"^\d+ +([a-z0-9_]+)\(", trace, re.M))
        filters = unit_values(unit, "SystemCallFilter")
        outside = sorted(calls - allowed_syscalls(filters))
        check(f"sandbox: its {len(calls)} system calls are in "
              f"SystemCallFilter={' '.join(filters)}", not outside,
              "not allowed: " + ", ".join(outside))
        families = set(re.findall(r"\bsocket\((AF_[A-Z0-9]+)", trace))
        allowed = set(unit_values(unit, "RestrictAddressFamilies"))
        check(f"sandbox: its socket families ({', '.join(sorted(families))}) "
              f"are in RestrictAddressFamilies=", families <= allowed,
              "not allowed: " + ", ".join(sorted(families - allowed)))
        wx = [l for l in trace.splitlines()
              if re.search(r"\b(mmap|mprotect|pkey_mprotect)\(", l) and
              "PROT_WRITE" in l and "PROT_EXEC" in l]
        check("sandbox: no writable and executable memory "
              "(MemoryDenyWriteExecute=yes)",
              unit_values(unit, "MemoryDenyWriteExecute") == ["yes"] and
              not wx, "; ".join(wx[:3]) or "not set in the unit")
        written = sorted(set(re.findall(
            r'open(?:at)?\((?:AT_FDCWD, )?"([^"]+)", [A-Z_|]*'
            r'(?:O_WRONLY|O_RDWR|O_CREAT)', trace)))
        outside = [p for p in written if not p.startswith(tmp)]
        check("sandbox: it writes only its access log (ProtectSystem=strict)",
              not outside, "wrote " + ", ".join(outside))


if __name__ == "__main__":
    main()
