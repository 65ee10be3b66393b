"""Ingest benchmark: swarmscope serve vs the straightforward Python-rows collector, in one run.

Both servers run as subprocesses on the embedded store; the same concurrent senders post the same kind
of pre-serialized 512-span OTLP/HTTP requests (realistic swarm traces, bench/workload.py). For each
round: spans/s acknowledged (all 200s back), spans/s queryable (until /api/stats counts them), request
latency percentiles, peak server RSS. Medians over rounds, and the ratio swarmscope/baseline.

    python bench/ingest.py [--rounds 3] [--requests 300] [--senders 4]
    python bench/ingest.py --overload 3      # offered load 3x measured capacity, with retries
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent

SPANS_PER_REQUEST = 512


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind: str, data: Path, extra: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "swarmscope":
        cmd = [sys.executable, "-m", "swarmscope.ui.cli", "serve", "--port", str(port), "--grpc-port", "0",
               "--data", str(data), "--detect-interval", "0", "--log-level", "warning", *extra]
    else:
        cmd = [sys.executable, str(HERE / "baseline_server.py"), str(port), str(data)]
    with open(data.parent / f"{kind}.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start; see {data.parent / f'{kind}.log'}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (ClickHouse's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:
        return json.loads(resp.read())


def stored_spans(port: int) -> int:
    return get_json(port, "/api/stats")["spans"]


def wait_queryable(port: int, expected: int) -> None:
    """Return once the store counts `expected` spans. The store is asked only when /healthz says nothing
    acknowledged is left to normalize: each /api/stats costs the server ~10 ms of CPU (four counts),
    and asking it every 50 ms took ~0.2 CPU-s a round from the very inserts being timed."""
    while True:
        # The baseline has no ingest queue: everything it acknowledged is already inserted.
        if get_json(port, "/healthz").get("ingest_queue_bytes", 0) == 0 and stored_spans(port) >= expected:
            return
        time.sleep(0.02)


def sender(port: int, seed: int, count: int, rate: float, start_at: float, out: mp.Queue) -> None:
    """Post `count` requests (optionally paced at `rate` req/s); retry 429/503 after Retry-After."""
    from workload import SwarmTraffic

    bodies = SwarmTraffic(seed=seed).requests(count, SPANS_PER_REQUEST)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies, refused = [], 0
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for i, body in enumerate(bodies):
        if rate:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sent = time.perf_counter()
        while True:
            try:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                resp = conn.getresponse()
                resp.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                refused += 1
                time.sleep(0.2)
                continue
            if resp.status == 200:
                break
            if resp.status in (429, 503):
                refused += 1
                time.sleep(float(resp.getheader("Retry-After") or 1) * 0.25)
                continue
            raise RuntimeError(f"unexpected status {resp.status}")
        latencies.append(time.perf_counter() - sent)
    out.put((latencies, refused, time.time()))


def run_round(port: int, seed: int, requests: int, senders: int, rate: float, expected_before: int) -> dict:
    out: mp.Queue = mp.Queue()
    per = requests // senders
    start_at = time.time() + max(3.0, requests / 60)  # senders build their requests before the start
    procs = [mp.Process(target=sender, args=(port, seed * 1000 + i, per, rate / senders if rate else 0,
                                             start_at, out)) for i in range(senders)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    acked_at = max(r[2] for r in results)
    total = per * senders * SPANS_PER_REQUEST
    wait_queryable(port, expected_before + total)
    queryable_at = time.time()
    latencies = sorted(x for r in results for x in r[0])
    return {
        "spans": total,
        "acked_per_s": total / (acked_at - start_at),
        "queryable_per_s": total / (queryable_at - start_at),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "refused": sum(r[1] for r in results),
    }


def bench(kind: str, args: argparse.Namespace, extra: list[str]) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    proc, port = start_server(kind, workdir / "data", extra)
    try:
        rounds, stored = [], 0
        for r in range(args.rounds):
            cpu_before = cpu_seconds(proc.pid)
            result = run_round(port, seed=r + 1, requests=args.requests, senders=args.senders, rate=0,
                               expected_before=stored)
            # Server CPU per 100k spans until all are queryable: less sensitive to a noisy machine
            # than spans/s (merges that run afterwards are not counted).
            result["cpu_per_100k"] = (cpu_seconds(proc.pid) - cpu_before) / result["spans"] * 100_000
            stored += result["spans"]
            rounds.append(result)
            print(f"  {kind:10s} round {r + 1}: {result['acked_per_s']:>9,.0f} spans/s acked, "
                  f"{result['queryable_per_s']:>9,.0f} queryable, p50 {result['p50_ms']:.0f} ms, "
                  f"p99 {result['p99_ms']:.0f} ms, server CPU {result['cpu_per_100k']:.2f} s / 100k spans",
                  flush=True)
        summary = {k: statistics.median(r[k] for r in rounds)
                   for k in ("acked_per_s", "queryable_per_s", "p50_ms", "p99_ms", "cpu_per_100k")}
        summary["peak_rss_mb"] = peak_rss_mb(proc.pid)
        return summary
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def overload(args: argparse.Namespace, extra: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-overload-"))
    proc, port = start_server("swarmscope", workdir / "data", extra)
    try:
        # Sustainable capacity is what becomes queryable: acknowledgements alone can run ahead of it
        # (into the write-ahead log) until the budget is full.
        capacity = run_round(port, 1, args.requests, args.senders, 0, 0)["queryable_per_s"]
        offered = capacity * args.overload
        print(f"capacity {capacity:,.0f} spans/s; offering {offered:,.0f} spans/s "
              f"({args.overload}x) from {args.senders * 2} senders", flush=True)
        stored = stored_spans(port)
        requests = int(offered / SPANS_PER_REQUEST * 10)  # ~10 s of offered load
        result = run_round(port, 99, requests, args.senders * 2, offered / SPANS_PER_REQUEST, stored)
        final = stored_spans(port)
        print(f"sent {result['spans']:,} spans, stored {final - stored:,} (exactly once: "
              f"{final - stored == result['spans']}), refused {result['refused']} times with 429/503, "
              f"peak RSS {peak_rss_mb(proc.pid):,.0f} MiB", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="512-span requests per round")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--overload", type=float, default=0, help="run the overload check at this factor")
    parser.add_argument("--only", choices=["swarmscope", "baseline"])
    parser.add_argument("--serve-arg", action="append", default=[], help="extra swarmscope serve argument")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.rounds} rounds of {args.requests} x {SPANS_PER_REQUEST}-span "
          "requests, "
          f"{args.senders} senders", flush=True)
    if args.overload:
        overload(args, args.serve_arg)
        return
    results = {}
    for kind in ("swarmscope", "baseline"):
        if args.only in (None, kind):
            results[kind] = bench(kind, args, args.serve_arg if kind == "swarmscope" else [])
    print(f"\n{'':12s}{'acked/s':>12s}{'queryable/s':>13s}{'p50 ms':>9s}{'p99 ms':>9s}{'peak RSS MiB':>14s}"
          f"{'CPU s/100k':>12s}")
    for kind, s in results.items():
        print(f"{kind:12s}{s['acked_per_s']:>12,.0f}{s['queryable_per_s']:>13,.0f}{s['p50_ms']:>9.0f}"
              f"{s['p99_ms']:>9.0f}{s['peak_rss_mb']:>14,.0f}{s['cpu_per_100k']:>12.2f}")
    if len(results) == 2:
        ratio = results["swarmscope"]["queryable_per_s"] / results["baseline"]["queryable_per_s"]
        print(f"\nratio swarmscope/baseline (queryable spans/s, medians): {ratio:.1f}x")


if __name__ == "__main__":
    main()
