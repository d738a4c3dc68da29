#!/usr/bin/env python3
"""Checks deploy/ against a built server binary: the flags the systemd unit
and the Kubernetes manifests pass exist and parse, stop timeouts outlast the
drain, probes and annotations name the ports the flags set.

  python3 tools/deploy_check.py SERVER_BINARY [DEPLOY_DIR]

Prints one "deploy: ok   - ..." or "deploy: FAIL - ..." line per check;
tools/deploy_check.sh counts them.
"""
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:
    print("deploy: FAIL - python3 has no yaml module "
          "(apt-get install python3-yaml)")
    sys.exit(1)

# systemd's DefaultTimeoutStopSec when a unit sets no TimeoutStopSec.
SYSTEMD_DEFAULT_STOP_SECONDS = 90.0

results = []


def check(name, ok, why=""):
    results.append(ok)
    if ok:
        print(f"deploy: ok   - {name}")
    else:
        print(f"deploy: FAIL - {name}: {why}")


def server_flags(binary):
    """{name: default} from the binary's --helpfull (Abseil's layout:
    '    --name (help ...); default: VALUE;', possibly over several lines)."""
    out = subprocess.run([binary, "--helpfull"], capture_output=True,
                         text=True, timeout=60)
    text = out.stdout + out.stderr
    flags = {}
    for m in re.finditer(r"^    --(\w+) \((.*?)\);\s+default: (.*?);$", text,
                         re.M | re.S):
        flags[m.group(1)] = m.group(3).strip('"')
    return flags


def parse_duration(text):
    """Seconds in an Abseil duration ('5s', '1m30s', '500ms', '0')."""
    if text in ("0", "inf"):
        return 0.0 if text == "0" else float("inf")
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([0-9.]+)(h|ms|m|s|us|ns)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def parse_timespan(text):
    """Seconds in a systemd time span ('30s', '1min 30s', '90', 'infinity')."""
    text = text.strip()
    if text == "infinity":
        return float("inf")
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    units = {"ms": 1e-3, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600,
             "hr": 3600}
    total = 0.0
    for n, u in re.findall(r"([0-9.]+)\s*([a-z]+)", text):
        if u not in units:
            raise ValueError(f"unknown unit in {text!r}")
        total += float(n) * units[u]
    return total


def flag_args(args):
    """[(name, value or None)] of the --flags in a list of arguments."""
    found = []
    for a in args:
        m = re.fullmatch(r"--?([A-Za-z0-9_]+)(?:=(.*))?", a)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def check_flags(where, args, flags, binary):
    """Every flag exists, and the binary parses them all (names, types);
    returns whether both hold."""
    names = [n for n, _ in flag_args(args)]
    unknown = sorted({n for n in names if n not in flags})
    check(f"{where}: its {len(names)} flags are the server's", bool(not unknown
          and names), "not flags of the server: " +
          ", ".join("--" + n for n in unknown) if unknown else "no flags")
    # --helpfull after them: Abseil parses every flag, then prints the help
    # instead of starting the server. A bad value is an "ERROR:" line.
    out = subprocess.run([binary] + args + ["--helpfull"], capture_output=True,
                         text=True, timeout=60)
    errors = [l for l in (out.stdout + out.stderr).splitlines()
              if l.startswith("ERROR")]
    check(f"{where}: the server parses its flags", not errors,
          "; ".join(errors))
    return not unknown and not errors


def check_starts(where, args, binary):
    """The server starts with these flags (its own checks, e.g. limits that
    cannot work, pass), here on loopback with free ports and a tokens file
    of our own put after them: the last occurrence of a flag wins."""
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        tokens.write_text("ci deploy-check-token-0123456789abcdef\n")
        local = ["--host=127.0.0.1", "--port=0", "--metrics_port=0",
                 "--access_log=none"]
        if any(n == "auth_tokens_file" for n, _ in flag_args(args)):
            local.append(f"--auth_tokens_file={tokens}")
        proc = subprocess.Popen([binary] + args + local,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()
        started = "listening on" in first
        # Twice: the second skips the drain delay.
        for _ in range(2):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        check(f"{where}: the server starts with its flags", started,
              f"exit code {proc.returncode}: {err.strip()[-300:]}")


def last_value(args, name, flags):
    """The value the server ends up with: the last occurrence, else default."""
    value = flags.get(name)
    for n, v in flag_args(args):
        if n == name and v is not None:
            value = v
    return value


def unit_settings(path):
    """{key: value} of the [Service] section, continuation lines joined
    (the last assignment of a key wins, as systemd does for these)."""
    settings = {}
    section = None
    lines = path.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def env_flags(path, commented):
    """Arguments of BATCHEXEC_FLAGS= lines (also '#BATCHEXEC_FLAGS=' ones
    when `commented`)."""
    args = []
    prefix = r"#?" if commented else ""
    for line in path.read_text().splitlines():
        m = re.fullmatch(prefix + r"BATCHEXEC_FLAGS=(.*)", line.strip())
        if m:
            args += shlex.split(m.group(1))
    return args


def check_systemd(d, flags, binary):
    unit = d / "systemd" / "batchexec.service"
    env = d / "systemd" / "batchexec.env"
    settings = unit_settings(unit)
    exec_start = shlex.split(settings.get("ExecStart", ""))
    args = [a for a in exec_start[1:] if not a.startswith("$")]
    check_flags("systemd ExecStart", args, flags, binary)
    check_flags("systemd batchexec.env (commented lines too)",
                env_flags(env, commented=True), flags, binary)
    # What the server runs with: ExecStart's flags, then the env file's.
    effective = args + env_flags(env, commented=False)
    check_starts("systemd ExecStart + batchexec.env", effective, binary)
    need = (parse_duration(last_value(effective, "drain_delay", flags)) +
            parse_duration(last_value(effective, "shutdown_grace", flags)))
    stop = parse_timespan(settings.get("TimeoutStopSec",
                                       str(SYSTEMD_DEFAULT_STOP_SECONDS)))
    check(f"systemd TimeoutStopSec ({stop:g}s) > drain_delay + shutdown_grace"
          f" ({need:g}s)", stop > need, "systemd would SIGKILL mid-drain")
    nofile = settings.get("LimitNOFILE", "")
    check("systemd LimitNOFILE is raised (>= 65536)",
          nofile == "infinity" or (nofile.split(":")[-1].isdigit() and
                                   int(nofile.split(":")[-1]) >= 65536),
          f"LimitNOFILE={nofile or '(unset: 1024 soft)'}")
    check("systemd ExecReload sends SIGHUP (re-reads --auth_tokens_file)",
          "-HUP" in settings.get("ExecReload", "") and
          "$MAINPID" in settings.get("ExecReload", ""),
          f"ExecReload={settings.get('ExecReload', '')}")


def load_manifests(d):
    docs = {}
    for f in sorted((d / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


def quantity_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3,
             "M": 10**6, "G": 10**9, "T": 10**12}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    return float(m.group(1)) * units.get(m.group(2), 1)


def check_kubernetes(d, flags, binary):
    try:
        docs = load_manifests(d)
    except (yaml.YAMLError, KeyError, TypeError) as e:
        check("kubernetes manifests parse", False, str(e))
        return
    missing = {"Deployment", "Service", "PodDisruptionBudget"} - docs.keys()
    check("kubernetes: a Deployment, a Service and a PodDisruptionBudget",
          not missing, "missing " + ", ".join(sorted(missing)))
    if missing:
        return
    dep, svc, pdb = (docs["Deployment"], docs["Service"],
                     docs["PodDisruptionBudget"])
    pod = dep["spec"]["template"]
    [c] = [c for c in pod["spec"]["containers"] if c["name"] == "batchexec"]
    args = c.get("args", [])
    if check_flags("kubernetes container args", args, flags, binary):
        check_starts("kubernetes container args", args, binary)

    port = int(last_value(args, "port", flags))
    metrics_port = int(last_value(args, "metrics_port", flags))
    host = last_value(args, "host", flags)
    check(f"kubernetes --host={host} is reachable from the kubelet",
          not host.startswith("127.") and host not in ("::1", "[::1]",
                                                       "localhost"),
          "a loopback --host fails every probe")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = c.get(probe, {}).get("grpc", {})
        check(f"kubernetes {probe} is grpc on --port ({port})",
              grpc.get("port") == port, f"{probe}.grpc = {grpc}")
    named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    target = svc["spec"]["ports"][0]["targetPort"]
    check(f"kubernetes Service targets --port ({port})",
          named.get(target, target) == port and named.get("grpc") == port,
          f"targetPort {target}, container ports {named}")
    ann = pod["metadata"].get("annotations", {})
    check(f"kubernetes prometheus.io annotations scrape --metrics_port "
          f"({metrics_port})",
          ann.get("prometheus.io/scrape") == "true" and metrics_port > 0 and
          ann.get("prometheus.io/port") == str(metrics_port) and
          metrics_port in named.values(),
          f"annotations {ann}, container ports {named}")

    drain = parse_duration(last_value(args, "drain_delay", flags))
    grace = parse_duration(last_value(args, "shutdown_grace", flags))
    pre_stop = (c.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
                .get("seconds", 0))
    # Kubernetes' default when unset.
    period = pod["spec"].get("terminationGracePeriodSeconds", 30)
    need = pre_stop + drain + grace
    check(f"kubernetes terminationGracePeriodSeconds ({period}) > preStop + "
          f"drain_delay + shutdown_grace ({need:g})", period > need,
          "the kubelet would SIGKILL mid-drain")
    live = c.get("livenessProbe", {})
    tolerated = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
    check(f"kubernetes livenessProbe tolerates the drain ({tolerated}s > "
          f"{drain + grace:g}s)", tolerated > drain + grace,
          "the server reports NOT_SERVING while it drains")

    check("kubernetes Service is headless (clusterIP: None)",
          svc["spec"].get("clusterIP") == "None",
          f"clusterIP {svc['spec'].get('clusterIP')}")
    labels = pod["metadata"].get("labels", {})
    for what, selector in (("Deployment", dep["spec"]["selector"]
                            ["matchLabels"]),
                           ("Service", svc["spec"]["selector"]),
                           ("PodDisruptionBudget", pdb["spec"]["selector"]
                            ["matchLabels"])):
        check(f"kubernetes {what} selects the pods",
              selector and all(labels.get(k) == v for k, v in
                               selector.items()),
              f"selector {selector}, pod labels {labels}")

    sc = c.get("securityContext", {})
    psc = pod["spec"].get("securityContext", {})
    check("kubernetes runs non-root, read-only root, no privilege escalation",
          psc.get("runAsNonRoot") is True and
          sc.get("readOnlyRootFilesystem") is True and
          sc.get("allowPrivilegeEscalation") is False,
          f"pod {psc}, container {sc}")
    limit = c.get("resources", {}).get("limits", {}).get("memory")
    requests = int(last_value(args, "max_request_memory", flags))
    check("kubernetes --max_request_memory is under the memory limit",
          limit is not None and requests < quantity_bytes(limit),
          f"--max_request_memory={requests}, limits.memory={limit}")


def main():
    binary = sys.argv[1]
    d = Path(sys.argv[2] if len(sys.argv) > 2 else
             Path(__file__).resolve().parent.parent / "deploy")
    flags = server_flags(binary)
    check(f"the server lists its flags ({len(flags)})",
          {"port", "drain_delay", "shutdown_grace"} <= flags.keys(),
          f"{binary} --helpfull gave {sorted(flags)}")
    if not flags:
        return
    check_systemd(d, flags, binary)
    check_kubernetes(d, flags, binary)


if __name__ == "__main__":
    main()
