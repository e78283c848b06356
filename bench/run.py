"""``make bench``: the portal plans endpoint against a plain-Django same-work baseline (issue 7).

One run: ``bench.portal`` seeds ``limber_bench_portal``; gunicorn (2 sync workers, ``config.settings.bench``)
serves it on a free loopback port; wrk (installed with apt-get if missing; a Python http.client load
generator otherwise, and the output says so) drives ``GET /api/v1/portal/plans`` and
``GET /bench/baseline/plans`` with a random patient's token per request, each after a warm-up.
``--with-celery`` also runs ``bench.dispatch`` and ``bench.conflicts`` and keeps their output.
Writes ``bench/results.json`` and prints a table. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.portal import environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
ENDPOINTS = {"portal_plans": "/api/v1/portal/plans", "baseline": "/bench/baseline/plans"}

WRK_SCRIPT = """
local tokens = {}
init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  math.randomseed(os.time() + (tonumber(args[2]) or 0))
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
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(script)]
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
        parts = pool.map(_python_worker, [(port, path, tokens, deadline, n) for n in range(connections)])
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


def _start_gunicorn(port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--worker-class=sync",
        "--log-level=warning",
    ]
    env = {**os.environ, **environment()}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_ready(process: subprocess.Popen, base: str, token: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode} before it was ready.")
        try:
            if _get(base + ENDPOINTS["baseline"], token)[0] == 200:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per endpoint")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per endpoint")
    parser.add_argument("--with-celery", action="store_true", help="also run bench.dispatch and bench.conflicts")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    args = parser.parse_args()

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
        tool = f"wrk ({wrk}), {args.threads} threads, {args.connections} connections"
        script = workdir / "tokens.lua"
        script.write_text(WRK_SCRIPT)
    else:
        tool = f"Python http.client load generator, {args.connections} processes (wrk unavailable)"
        print("wrk could not be installed: falling back to the Python load generator.", flush=True)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_gunicorn(port, args.workers, workdir / "gunicorn.log")
    results: dict = {
        "patients": args.patients,
        "gunicorn_workers": args.workers,
        "load_tool": tool,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "cpus": os.cpu_count(),
    }
    try:
        _wait_ready(server, base, tokens[0])
        for name, path in ENDPOINTS.items():
            status, body = _get(base + path, random.choice(tokens))
            if status != 200:
                raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
            print(f"{path}: 200, {len(body):,} bytes; measuring …", flush=True)
            for seconds, keep in ((args.warmup, False), (args.duration, True)):
                if wrk:
                    figures = _wrk(
                        wrk,
                        base + path,
                        script,
                        tokens_file,
                        threads=args.threads,
                        connections=args.connections,
                        seconds=seconds,
                    )
                else:
                    figures = _python_load(port, path, tokens, connections=args.connections, seconds=seconds)
                if keep:
                    results[name] = {"path": path, "response_bytes": len(body), **figures}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    portal, baseline = results["portal_plans"], results["baseline"]
    results["ratio"] = round(portal["req_per_s"] / baseline["req_per_s"], 3)
    results["p99_ratio"] = round(portal["p99_ms"] / baseline["p99_ms"], 3)
    results["targets"] = {"ratio": ">= 0.70", "p99_ratio": "<= 1.5"}
    if args.with_celery:
        results["dispatch"] = _run_module("bench.dispatch")
        results["conflicts"] = _run_module("bench.conflicts")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"\nLoad: {tool}; {args.duration:g} s per endpoint after {args.warmup:g} s warm-up")
    print(f"{'endpoint':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'non-2xx':>9}")
    for name in ENDPOINTS:
        row = results[name]
        print(
            f"{row['path']:<26}{row['req_per_s']:>10.1f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
            f"{row['requests']:>10}{row['non_2xx'] + row['socket_errors']:>9}"
        )
    print(f"portal/baseline req/s: {results['ratio']:.3f} (target >= 0.70)")
    print(f"portal/baseline p99:   {results['p99_ratio']:.3f} (target <= 1.5)")
    for name in ("dispatch", "conflicts"):
        if name in results:
            print(f"bench.{name}: exit {results[name]['returncode']} in {results[name]['seconds']} s (output above)")
    print(f"Written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
