"""``make bench``: the portal plans endpoint against a plain-Django same-work baseline (issue 7) and a hand-written
same-work limit (issue 20).

One run: ``bench.portal`` seeds ``limber_bench_portal`` (and ANALYZEs it); gunicorn starts with the
project's ``config/gunicorn.conf.py`` (preloaded app, ``gc.freeze``; ``--workers`` sync workers,
``config.settings.bench``) on a free loopback port; wrk (installed with apt-get if missing; a Python
http.client load generator otherwise, and the output says so) drives ``GET /api/v1/portal/plans``,
``GET /bench/baseline/plans`` (``bench.baseline``: the same work with the ORM) and ``GET /bench/limit/plans``
(``bench.limit``: the same work in two prepared SQL statements, the fewest round trips, served with no
middleware by ``bench.wsgi``) with a random patient's token
per request.

After one warm-up per endpoint the three are measured in interleaved rounds, the order rotated each round
(portal, baseline, limit; baseline, limit, portal; …), ``--duration`` seconds each, so drift (autovacuum, CPU
frequency, page cache, a noisy neighbour) hits all. Each endpoint's figures are the medians across rounds; the
headline ratios are portal ÷ baseline and portal ÷ limit, of req/s and of p99, as median / median; every
round's own ratios and their medians are kept too. During every measured window the CPU seconds of gunicorn (master and
workers), PostgreSQL (every ``postgres`` process), the load generator and the whole machine are sampled
from ``/proc`` and reported as cores used: which part saturates first on this machine.

``--quick``: 200 patients, 1 round of 5 s after 1 s warm-up (explicit flags still override).
``--with-celery`` also runs ``bench.dispatch`` and ``bench.conflicts`` afterwards and keeps their output.
Writes ``bench/results.json`` and prints a table. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.portal import BENCH_DB, environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
ENDPOINTS = {
    "portal_plans": "/api/v1/portal/plans",
    "baseline": "/bench/baseline/plans",
    "limit": "/bench/limit/plans",
}
YARDSTICKS = {"baseline": ("ratio", "p99_ratio"), "limit": ("limit_ratio", "limit_p99_ratio")}  # portal ÷ each
DEFAULTS = {"patients": 1000, "rounds": 3, "duration": 10.0, "warmup": 3.0}
QUICK = {"patients": 200, "rounds": 1, "duration": 5.0, "warmup": 1.0}
FIGURES = ("req_per_s", "p50_ms", "p99_ms", "mean_ms")
COUNTS = ("requests", "seconds", "non_2xx", "socket_errors")
CLK_TCK = os.sysconf("SC_CLK_TCK")
POSTGRES_BACKEND = re.compile(r"postgres: (?:\S+: )?\S+ (\S+) (?:\[local\]|\S+\(\d+\))")
BUSY_ELSEWHERE = 0.25  # cores used by processes outside the benchmark that make a run worth a warning
SAMPLE_EVERY = 0.5  # seconds between /proc scans inside a window (catches processes that come and go)

WRK_SCRIPT = """
local tokens = {}
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)  -- each thread its own random sequence of tokens
end
init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  math.randomseed(os.time() + (tonumber(args[2]) or 0) + 7919 * (thread_id or 0))
end
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", nil, {["Authorization"] = "Token " .. token})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, '
    .. '"non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# --- CPU accounting (standard library only: /proc) ---------------------------------------------------------


def _proc_stat(pid: str) -> tuple[str, int, int, int] | None:
    """(comm, ppid, starttime, utime + stime) of one process in clock ticks, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except OSError:
        return None
    close = data.rindex(b")")  # comm may itself hold spaces and parentheses
    comm = data[data.index(b"(") + 1 : close].decode(errors="replace")
    fields = data[close + 2 :].split()  # fields[0] is field 3 (state) of proc(5)
    return comm, int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12])


def _children_cpu() -> float:
    """CPU seconds of this process's children that have exited and been waited for (wrk, the Python pool)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs together from the first line of /proc/stat."""
    with open("/proc/stat") as file:
        values = [int(x) for x in file.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq  # guest time is already inside user
    return busy, steal, busy + idle + iowait + steal


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return []


def _other_db(pid: int) -> str | None:
    """The database of a PostgreSQL client backend serving another database than the benchmark's, else None.

    Backends retitle themselves ``postgres: [cluster: ]user database host(port) activity``; the lead's test
    run on the same server is not the benchmark's database load.
    """
    match = POSTGRES_BACKEND.search(" ".join(_cmdline(pid)))
    return match.group(1) if match and match.group(1) != BENCH_DB else None


def _label(pid: int, comm: str) -> str:
    """A short name for an ungrouped process: its comm, or the script or module a Python process runs."""
    argv = _cmdline(pid)
    if comm.startswith("python") and len(argv) > 1:
        script = argv[2] if argv[1] == "-m" and len(argv) > 2 else Path(argv[1]).name
        return f"python {script}"[:40]
    return comm


class CpuMeter:
    """CPU seconds of process groups over one measured window, sampled from /proc by a background thread.

    Groups: ``gunicorn`` (the server's pid and its descendants), ``postgres`` (every process whose comm
    starts with ``postgres``, whoever owns it, except client backends of other databases), the load
    generator (this process's other descendants: wrk, or the Python pool processes) and the whole machine
    from /proc/stat; ``other`` is the machine's busy cores minus the groups, and ``top_other`` names the
    ungrouped processes that used the most. A process is keyed by (pid, start time); one born inside the
    window counts from zero, one that exits keeps its last sample (up to ``SAMPLE_EVERY`` s uncounted) —
    except the load generator, which has been reaped when the window closes and is counted exactly with
    ``getrusage(RUSAGE_CHILDREN)``.
    """

    def __init__(self, server_pid: int, load_name: str) -> None:
        self.server_pid, self.load_name, self.self_pid = server_pid, load_name, os.getpid()
        self.seen: dict[tuple[int, int], list] = {}  # (pid, start) -> [group, label, ticks at start, last ticks]
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def _group(self, pid: int, comm: str, table: dict[int, tuple]) -> tuple[str | None, str]:
        if comm.startswith("postgres"):
            database = _other_db(pid)
            return (None, f"postgres:{database}") if database else ("postgres", comm)
        hops, current = 0, pid
        while current > 1 and hops < 64:
            if current == self.server_pid:
                return "gunicorn", comm
            if current == self.self_pid:
                return (self.load_name, comm) if pid != self.self_pid else (None, "bench.run")
            current = table[current][1] if current in table else 0
            hops += 1
        return None, _label(pid, comm)

    def _sample(self, *, first: bool = False) -> None:
        table = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (stat := _proc_stat(name)) is not None:
                table[int(name)] = stat
        for pid, (comm, _ppid, start, ticks) in table.items():
            key = (pid, start)
            if key in self.seen:
                self.seen[key][3] = ticks
            else:
                self.seen[key] = [*self._group(pid, comm, table), ticks if first else 0, ticks]

    def _loop(self) -> None:
        while not self.stop_event.wait(SAMPLE_EVERY):
            self._sample()

    def start(self) -> None:
        self._sample(first=True)
        self.machine = _machine_ticks()
        self.children = _children_cpu()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> dict:
        """Cores used per group (CPU seconds / wall seconds), ``other``, the machine's busy and steal fractions."""
        self.stop_event.set()
        self.thread.join()
        self._sample()
        wall = time.monotonic() - self.started
        busy, steal, total = (end - start for end, start in zip(_machine_ticks(), self.machine, strict=True))
        seconds = {"gunicorn": 0.0, "postgres": 0.0, self.load_name: 0.0}
        others: dict[str, float] = {}
        for group, label, begin, last in self.seen.values():
            used = max(0, last - begin) / CLK_TCK
            if group is not None:
                seconds[group] += used
            elif used:
                others[label] = others.get(label, 0.0) + used
        # The load generator (wrk, or the Python pool) has exited and been reaped by now: the kernel's exact
        # count for reaped children beats the last /proc sample, up to SAMPLE_EVERY seconds old.
        seconds[self.load_name] = max(seconds[self.load_name], _children_cpu() - self.children)
        cores: dict = {group: round(value / wall, 2) for group, value in seconds.items()}
        cores["other"] = round(max(0.0, busy / CLK_TCK - sum(seconds.values())) / wall, 2)
        cores["machine_busy"] = round(busy / total, 3) if total else 0.0
        cores["steal"] = round(steal / total, 3) if total else 0.0
        top = sorted(others.items(), key=lambda item: -item[1])[:3]
        cores["top_other"] = {label: round(used / wall, 2) for label, used in top if used / wall >= 0.01}
        return cores


# --- load ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _ensure_wrk() -> str | None:
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if shutil.which("apt-get"):
        print("Installing wrk with apt-get …", flush=True)
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(install, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet)
            subprocess.run(install, **quiet)
    return shutil.which("wrk")


def _wrk(wrk: str, url: str, script: Path, tokens: Path, *, threads: int, connections: int, seconds: float):
    duration = f"-d{max(1, round(seconds))}s"
    command = [wrk, f"-t{threads}", f"-c{connections}", duration, "--timeout", "10s", "-s", str(script)]
    output = subprocess.run(
        [*command, url, "--", str(tokens), str(random.randrange(1 << 20))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return {
        "requests": raw["requests"],
        "seconds": round(raw["duration_us"] / 1e6, 2),
        "req_per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"],
    }


def _python_worker(args) -> list[float]:
    """One fallback load process: back-to-back keep-alive GETs until the deadline; latencies in seconds."""
    import http.client

    port, path, tokens, deadline, seed = args
    rng = random.Random(seed)
    latencies, errors = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            conn.request("GET", path, headers={"Authorization": f"Token {rng.choice(tokens)}"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        latencies.append(time.monotonic() - started)
    return latencies + [-1.0] * errors


def _python_load(port: int, path: str, tokens: list[str], *, connections: int, seconds: float):
    import multiprocessing

    deadline = time.monotonic() + seconds
    with multiprocessing.Pool(connections) as pool:
        started = time.monotonic()
        parts = pool.map(_python_worker, [(port, path, tokens, deadline, n) for n in range(connections)], 1)
        elapsed = time.monotonic() - started
    samples = [x for part in parts for x in part]
    latencies = sorted(x for x in samples if x >= 0)
    if not latencies:
        raise SystemExit(f"No successful request to {path}.")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(50) * 1000, 2),
        "p99_ms": round(pct(99) * 1000, 2),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 2),
        "non_2xx": len(samples) - len(latencies),
        "socket_errors": 0,
    }


# --- server and Celery ---------------------------------------------------------------------------------------


def _start_gunicorn(port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "-c",
        str(GUNICORN_CONF.relative_to(ROOT)),
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
        "bench.wsgi:application",  # the app's, and the same-work limit with no middleware
    ]
    env = {**os.environ, **environment()}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_ready(process: subprocess.Popen, base: str, token: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.stderr.write(log.read_text()[-3000:])
            raise SystemExit(f"gunicorn exited with status {process.returncode} before it was ready.")
        try:
            if all(_get(base + ENDPOINTS[name], token)[0] == 200 for name in ("baseline", "limit")):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer within a minute.")


def _run_module(module: str) -> dict:
    print(f"\n--- python -m {module} ---", flush=True)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr[-2000:] if result.returncode else "")
    return {
        "returncode": result.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "output": result.stdout.strip().splitlines(),
    }


# --- report --------------------------------------------------------------------------------------------------


def _summary(path: str, body: bytes, rounds: list[dict]) -> dict:
    """An endpoint's medians across rounds (totals for the counts), its median CPU, and every round."""
    summary: dict = {"path": path, "response_bytes": len(body)}
    summary.update({key: round(statistics.median(r[key] for r in rounds), 2) for key in FIGURES})
    summary.update({key: round(sum(r[key] for r in rounds), 2) for key in COUNTS})
    numbers = [key for key, value in rounds[0]["cpu"].items() if isinstance(value, float | int)]
    summary["cpu"] = {key: round(statistics.median(r["cpu"][key] for r in rounds), 3) for key in numbers}
    others: dict[str, float] = {}
    for r in rounds:
        for label, value in r["cpu"].get("top_other", {}).items():
            others[label] = others.get(label, 0.0) + value / len(rounds)
    summary["cpu"]["top_other"] = {
        label: round(value, 2) for label, value in sorted(others.items(), key=lambda x: -x[1])[:3]
    }
    summary["rounds"] = rounds
    return summary


def _warnings(results: dict) -> list[str]:
    """What makes these figures less trustworthy than they look."""
    warnings = []
    for name in ENDPOINTS:
        row = results[name]
        cpu, path = row["cpu"], row["path"]
        if cpu["other"] >= BUSY_ELSEWHERE:
            names = ", ".join(cpu["top_other"]) or "unattributed"
            warnings.append(
                f"{path}: other processes used {cpu['other']:.2f} cores while measuring ({names}); "
                "the machine was not quiet, the figures are low and noisy"
            )
        if cpu["steal"] >= 0.05:
            warnings.append(f"{path}: the hypervisor stole {cpu['steal']:.0%} of the CPU")
        if errors := row["non_2xx"] + row["socket_errors"]:
            warnings.append(f"{path}: {errors} non-2xx answers or socket errors")
    if results["rounds"] > 1:
        for name, keys in YARDSTICKS.items():
            for key, label in zip(keys, ("req/s", "p99"), strict=True):
                values = [r[key] for r in results["round_ratios"]]
                if max(values) - min(values) > 0.15 * statistics.median(values):
                    spread = ", ".join(f"{v:.3f}" for v in values)
                    warnings.append(
                        f"the portal/{name} {label} ratio varies by more than 15 % between rounds ({spread})"
                    )
    if not results.get("limit_body_matches", True):
        warnings.append("the limit's body differs from the portal's for the same token: not the same work")
    return warnings


def _cpu_line(cpu: dict) -> str:
    groups = "  ".join(
        f"{key} {value:.2f}" for key, value in cpu.items() if key not in ("machine_busy", "steal", "top_other")
    )
    if cpu.get("top_other"):
        groups += " (" + ", ".join(f"{label} {value:.2f}" for label, value in cpu["top_other"].items()) + ")"
    steal = f", steal {cpu['steal']:.0%}" if cpu.get("steal", 0) >= 0.005 else ""
    return f"{groups}  | machine busy {cpu['machine_busy']:.0%}{steal}"


def _print_table(results: dict, tool: str, args) -> None:
    print(
        f"\nLoad: {tool}; {args.rounds} interleaved round(s) of {args.duration:g} s per endpoint "
        f"after {args.warmup:g} s warm-up each; {args.patients:,} patients, {args.workers} gunicorn workers"
    )
    header = f"{'round':<7}{'endpoint':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'non-2xx':>9}"
    print(header + f"{'portal/x':>10}{'p99 p/x':>9}")
    runs = zip(*(results[name]["rounds"] for name in ENDPOINTS), strict=True)
    rows = [(str(n), dict(zip(ENDPOINTS, run, strict=True))) for n, run in enumerate(runs, start=1)]
    if len(rows) > 1:
        rows.append(("median", {name: results[name] for name in ENDPOINTS}))
    for label, row_of in rows:
        portal = row_of["portal_plans"]
        for name, row in row_of.items():
            line = (
                f"{label:<7}{row['path']:<24}{row['req_per_s']:>9.1f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
                f"{row['requests']:>10}{row['non_2xx'] + row['socket_errors']:>9}"
            )
            if name in YARDSTICKS:
                line += f"{portal['req_per_s'] / row['req_per_s']:>10.3f}{portal['p99_ms'] / row['p99_ms']:>9.3f}"
            print(line)
    if len(rows) > 2:
        print("(median rows: medians of the rounds' req/s, p50 and p99; requests and non-2xx summed)")
    rounds = "; median of rounds " if args.rounds > 1 else ""
    for name, (ratio, p99_ratio) in YARDSTICKS.items():
        for key, label, target in ((ratio, "req/s", ">= 0.70"), (p99_ratio, "p99", "<= 1.5")):
            if name == "limit" and key == p99_ratio:
                target = "reported"
            of_rounds = f"{rounds}{results[key + '_of_rounds']:.3f}" if rounds else ""
            print(
                f"portal/{name + ' ' + label + ':':<16}{results[key]:.3f} (median / median{of_rounds}; target {target})"
            )
    median = "median of rounds, " if args.rounds > 1 else ""
    print(f"CPU, cores used while measured ({median}of {results['cpus']}):")
    for name in ENDPOINTS:
        print(f"  {results[name]['path']:<24}{_cpu_line(results[name]['cpu'])}")
    for warning in results["warnings"]:
        print(f"WARNING: {warning}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 patients, 1 round of 5 s, 1 s warm-up, no Celery")
    parser.add_argument("--patients", type=int, help=f"default {DEFAULTS['patients']}")
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds, default {DEFAULTS['rounds']}")
    parser.add_argument(
        "--duration", type=float, help=f"seconds per endpoint per round, default {DEFAULTS['duration']:g}"
    )
    parser.add_argument("--warmup", type=float, help=f"seconds of warm-up per endpoint, default {DEFAULTS['warmup']:g}")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--with-celery", action="store_true", help="also run bench.dispatch and bench.conflicts")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or args.patients < 1:
        parser.error("--rounds and --patients must be >= 1, --duration > 0 and --warmup >= 0")
    return args


def main() -> None:
    args = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="limber-bench-"))
    tokens_file = workdir / "tokens.txt"
    subprocess.run(
        [sys.executable, "-m", "bench.portal", f"--patients={args.patients}", f"--tokens={tokens_file}"],
        cwd=ROOT,
        check=True,
    )
    tokens = tokens_file.read_text().split()

    wrk = None if args.python_load else _ensure_wrk()
    if wrk:
        tool, load_name = f"wrk ({wrk}), {args.threads} threads, {args.connections} connections", "wrk"
        script = workdir / "tokens.lua"
        script.write_text(WRK_SCRIPT)
    else:
        why = "--python-load" if args.python_load else "wrk unavailable"
        tool, load_name = f"Python http.client load generator, {args.connections} processes ({why})", "load"
        if not args.python_load:
            print("wrk could not be installed: falling back to the Python load generator.", flush=True)

    def load(path: str, seconds: float):
        if wrk:
            return _wrk(
                wrk,
                base + path,
                script,
                tokens_file,
                threads=args.threads,
                connections=args.connections,
                seconds=seconds,
            )
        return _python_load(port, path, tokens, connections=args.connections, seconds=seconds)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = workdir / "gunicorn.log"
    server = _start_gunicorn(port, args.workers, log)
    results: dict = {
        "patients": args.patients,
        "gunicorn_workers": args.workers,
        "gunicorn_config": str(GUNICORN_CONF.relative_to(ROOT)),
        "load_tool": tool,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "cpus": os.cpu_count(),
    }
    bodies: dict[str, bytes] = {}
    rounds: dict[str, list[dict]] = {name: [] for name in ENDPOINTS}
    try:
        _wait_ready(server, base, tokens[0], log)
        probe = random.choice(tokens)  # one patient for all three: the limit must answer the portal's body
        for name, path in ENDPOINTS.items():
            status, bodies[name] = _get(base + path, probe)
            if status != 200:
                raise SystemExit(f"{path} answered {status}: {bodies[name][:300]!r}")
            print(f"{path}: 200, {len(bodies[name]):,} bytes; warming up {args.warmup:g} s …", flush=True)
            if args.warmup > 0:
                load(path, args.warmup)
        results["limit_body_matches"] = json.loads(bodies["limit"]) == json.loads(bodies["portal_plans"])
        if not results["limit_body_matches"]:
            print("WARNING: the limit's body differs from the portal's for the same token.", flush=True)
        order = list(ENDPOINTS.items())
        for number in range(1, args.rounds + 1):
            # The order rotates each round (A B C, B C A, C A B, …): no endpoint always runs first or after another.
            shift = (number - 1) % len(order)
            for name, path in order[shift:] + order[:shift]:
                meter = CpuMeter(server.pid, load_name)
                meter.start()
                figures = load(path, args.duration)
                cpu = meter.stop()
                rounds[name].append({"round": number, "path": path, **figures, "cpu": cpu})
                errors = figures["non_2xx"] + figures["socket_errors"]
                print(
                    f"round {number}/{args.rounds} {path:<24}{figures['req_per_s']:>8.1f} req/s  "
                    f"p50 {figures['p50_ms']:.1f} ms  p99 {figures['p99_ms']:.1f} ms"
                    + (f"  {errors} ERRORS" if errors else "")
                    + f"  | cpu {_cpu_line(cpu)}",
                    flush=True,
                )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    for name, path in ENDPOINTS.items():
        results[name] = _summary(path, bodies[name], rounds[name])
    portal = results["portal_plans"]
    results["round_ratios"] = [{"round": p["round"]} for p in portal["rounds"]]
    for name, (ratio, p99_ratio) in YARDSTICKS.items():
        other = results[name]
        # Headline: median / median; also the median of the rounds' own ratios (they agree when rounds are steady).
        results[ratio] = round(portal["req_per_s"] / other["req_per_s"], 3)
        results[p99_ratio] = round(portal["p99_ms"] / other["p99_ms"], 3)
        for entry, p, o in zip(results["round_ratios"], portal["rounds"], other["rounds"], strict=True):
            entry[ratio] = round(p["req_per_s"] / o["req_per_s"], 3)
            entry[p99_ratio] = round(p["p99_ms"] / o["p99_ms"], 3)
        for key in (ratio, p99_ratio):
            results[f"{key}_of_rounds"] = round(statistics.median(r[key] for r in results["round_ratios"]), 3)
    results["targets"] = {"ratio": ">= 0.70", "p99_ratio": "<= 1.5", "limit_ratio": ">= 0.70"}
    results["warnings"] = _warnings(results)
    if args.with_celery:
        results["dispatch"] = _run_module("bench.dispatch")
        results["conflicts"] = _run_module("bench.conflicts")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    _print_table(results, tool, args)
    for name in ("dispatch", "conflicts"):
        if name in results:
            print(f"bench.{name}: exit {results[name]['returncode']} in {results[name]['seconds']} s (output above)")
    print(f"Written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
