"""UI benchmark: server time of the pages against the JSON API for the same data, and their size.

Builds a store (embedded chDB) the way bench/detect.py does: 1,000,000 finished spans of realistic swarm
runs over the last hour, 10,000 open spans (with waits, a few cycles, 1% silent), one full detection
sweep so the runs carry findings, and one 10,000-span trace (ui/demo_trace.py). Then a real
`swarmscope serve` on that store (detection off, so sweeps do not run under the timings) and, over one
keep-alive HTTP connection, medians of --repeat requests of:

- the runs page `/` and `/api/runs`, `/api/traces` (the 50 newest);
- the 10,000-span trace's first render `/traces/{id}`, its run page `/runs/run-big`,
  one collapsed subtree's expand, and `/api/traces/{id}` (every span, with attributes);

Times are measured at the client on loopback (includes ~0.2 ms of HTTP); `cpu ms` is the serve
process's CPU time per request (all its threads, the embedded engine's included, from /proc), which
moves far less than wall time with the load of a shared machine. Targets: runs page under 150 ms,
first render of the 10,000-span trace under 300 ms and under 1 MB of HTML; the live page (all open spans,
the wait-for graph) and the tools page (with sparklines) under 200 ms each.

    python bench/ui.py [--spans 1000000] [--open 10000] [--repeat 15] [--keep DIR]

With --keep, the store is built in DIR once and reused by later runs.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIG_RUN = "run-big"
TARGETS_MS = {"runs page": 150.0, "trace page (10k spans)": 300.0, "live page": 200.0, "tools page": 200.0}
MAX_TRACE_HTML = 1_000_000


def build(data_dir: Path, spans: int, open_count: int) -> None:
    """Fill the store in data_dir (in this process: the embedded engine is one per process)."""
    from detect import _requests, finished_traffic, open_spans  # bench/detect.py: this script's directory
    from swarmscope.detectors.config import DetectorConfig
    from swarmscope.detectors.runner import run_sweep
    from swarmscope.schema.store import Store, embedded_url
    from swarmscope.ui.demo_trace import big_trace_spans, requests

    store = Store(embedded_url(data_dir))
    store.migrate()
    now = time.time_ns()
    started = time.perf_counter()
    finished, pending = finished_traffic(spans, now)
    batches = _requests(finished) + _requests(pending) + _requests(open_spans(open_count, now, now))
    print(f"  generated {len(finished):,} finished + {open_count:,} open spans in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    for i in range(0, len(batches), 200):
        store.insert_requests(batches[i:i + 200])
    store.insert_requests(requests(big_trace_spans(10_000, BIG_RUN, start_ns=now - 600 * 10**9)))
    print(f"  inserted in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    result = run_sweep(store, DetectorConfig())
    print(f"  one full sweep: {len(result.findings):,} findings in {time.perf_counter() - started:.0f} s",
          flush=True)
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data_dir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "swarmscope.ui.cli", "serve", "--port", str(port),
                             "--grpc-port", "0", "--data", str(data_dir), "--detect-interval", "0",
                             "--log-level", "warning"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            status, _ = fetch(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/healthz")
            if status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not become healthy")


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def cpu_ms(pid: int | None) -> float:
    """CPU time (user + system, all threads) the process has used, from /proc; 0 where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def measure(conn: http.client.HTTPConnection, path: str, repeat: int, pid: int | None = None
            ) -> tuple[float, int, list[float], float]:
    """Median wall ms, body size, every time, and the server's CPU ms per request (pid: serve's)."""
    status, body = fetch(conn, path)  # warm-up: template compile, first-query caches
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    times = []
    cpu_before = cpu_ms(pid)
    for _ in range(repeat):
        started = time.perf_counter()
        status, body = fetch(conn, path)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path}: {status}")
    return statistics.median(times), len(body), times, (cpu_ms(pid) - cpu_before) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", help="build the store in this directory once, and reuse it")
    parser.add_argument("--build-only", help=argparse.SUPPRESS)  # the child process that fills the store
    args = parser.parse_args()
    if args.build_only:
        build(Path(args.build_only), args.spans, args.open)
        return

    data_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="swarmscope-ui-bench-"))
    try:
        if not (data_dir / ".built").exists():
            print(f"building {data_dir}: {args.spans:,} spans over the last hour, {args.open:,} open, "
                  "a 10,000-span trace ...", flush=True)
            subprocess.run([sys.executable, __file__, "--build-only", str(data_dir),
                            "--spans", str(args.spans), "--open", str(args.open)], check=True)
            (data_dir / ".built").touch()
        from swarmscope.ui.demo_trace import span_id, trace_id_for

        trace_id = trace_id_for(BIG_RUN).hex()
        proc, port = serve(data_dir)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            rows = [
                ("runs page", "/"),
                ("  /api/runs", "/api/runs"),
                ("  /api/traces", "/api/traces"),
                ("trace page (10k spans)", f"/traces/{trace_id}"),
                ("  run page (same trace)", f"/runs/{BIG_RUN}"),
                ("  expand one subtree", f"/traces/{trace_id}/children/{span_id(2).hex()}?depth=1"),
                ("  /api/traces/{id}", f"/api/traces/{trace_id}"),
                ("live page", "/live"),  # web UI part 2: open runs, waits, silent agents, wait-for graph
                ("  /api/waits", "/api/waits"),
                ("tools page", "/tools"),  # per tool stats and 30-bucket sparklines from tool_minutes
                ("  /api/tools", "/api/tools"),
            ]
            print(f"\n{'what':<26} {'median ms':>10} {'min':>8} {'max':>8} {'cpu ms':>7} {'bytes':>11}  path")
            results = {}
            for label, path in rows:
                median, size, times, cpu = measure(conn, path, args.repeat, proc.pid)
                results[label] = (median, size)
                print(f"{label:<26} {median:>10.1f} {min(times):>8.1f} {max(times):>8.1f} {cpu:>7.1f} "
                      f"{size:>11,}  {path}", flush=True)
            print()
            for label, target in TARGETS_MS.items():
                median = results[label][0]
                verdict = "met" if median < target else "MISSED"
                print(f"{label}: {median:.0f} ms, target < {target:.0f} ms: {verdict}")
            size = results["trace page (10k spans)"][1]
            verdict = "met" if size < MAX_TRACE_HTML else "MISSED"
            print(f"trace page HTML: {size / 1e6:.2f} MB, target < 1 MB: {verdict}")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
