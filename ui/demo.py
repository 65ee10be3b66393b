"""`swarmscope demo`: a live, simulated swarm in the UI within a minute.

Starts `serve` (same flags, embedded store by default) and keeps the scenarios of `demo_scenarios`
running against it through the SDK, each in its own process (the SDK's state is per process): first
all of them once, the deadlock staying open and heartbeating for as long as the demo runs, then every
`--every` seconds a healthy pipeline and one of the failure scenarios again. `--url URL` feeds a server
that is already running instead.

Tests and benchmarks feed a server once, deterministically (fixed run ids, fixed shapes):

    with demo.running(url) as runs:        # {"healthy": "demo-healthy", "deadlock": "demo-deadlock", ...}
        ...                                # the deadlock's waits stay open until the block exits

A worker is `python -m swarmscope.ui.demo SCENARIO URL RUN_ID`: it prints one JSON line when its spans
are out (for an open scenario: when its waits are open and heartbeating) and, for an open scenario,
keeps running until its stdin closes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from urllib.parse import quote, urlparse

from .demo_scenarios import SCENARIOS, STAYS_OPEN, Scenario

READY_TIMEOUT = 90.0  # seconds a worker may take to start and send its spans (2 busy cores, cold imports)
HEARTBEAT_INTERVAL = 2.0  # open spans heartbeat this often, so a killed worker is noticed in ~6 s
# Scenarios the demo repeats, one per round after the first, with a healthy pipeline each time.
REPEATED = ("fanout", "phantom", "retry_storm", "duplicate_payment", "loop", "context_bloat")

_open_workers: list[subprocess.Popen] = []
_lock = threading.Lock()


def run_id_for(scenario: str, prefix: str = "demo-", suffix: str = "") -> str:
    return f"{prefix}{scenario}{suffix}"


def feed(url: str, scenarios: Iterable[str] | None = None, *, prefix: str = "demo-", suffix: str = "",
         api_key: str | None = None) -> dict[str, str]:
    """Run each scenario once against the server at `url`; return {scenario: run id}.

    Returns when every scenario's spans are sent (open ones: heartbeating). Open scenarios keep running
    until `stop_all()` (or interpreter exit). Unknown scenario names are a ValueError before anything runs.
    """
    names = list(SCENARIOS if scenarios is None else scenarios)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown demo scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    env = dict(os.environ)
    if api_key:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = "Authorization=" + quote(f"Bearer {api_key}")
    workers = {}
    for name in names:
        run_id = run_id_for(name, prefix, suffix)
        workers[name] = (run_id, subprocess.Popen(
            [sys.executable, "-m", "swarmscope.ui.demo", name, url, run_id], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for name, (_, proc) in workers.items():
            _await_ready(name, proc)
    except BaseException:
        for _, proc in workers.values():
            _end(proc)
        raise
    for name, (_, proc) in workers.items():
        if name in STAYS_OPEN:
            with _lock:
                _open_workers.append(proc)
        else:
            _end(proc, wait=READY_TIMEOUT)
    return {name: run_id for name, (run_id, _) in workers.items()}


def _await_ready(name: str, proc: subprocess.Popen) -> None:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT)
    if not line or not line[0].strip():
        code = proc.poll()
        why = f"exited with code {code}" if code is not None else f"sent nothing in {READY_TIMEOUT:.0f} s"
        raise RuntimeError(f"demo scenario {name!r} {why} before reporting ready (its stderr says why)")


def _end(proc: subprocess.Popen, wait: float = 10.0) -> None:
    """Close the worker's stdin (its signal to finish) and wait; kill it if it does not."""
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def stop_all() -> None:
    """End the open scenarios (their waits end as released, and are reported as such)."""
    with _lock:
        workers, _open_workers[:] = list(_open_workers), []
    for proc in workers:
        _end(proc)


@contextlib.contextmanager
def running(url: str, scenarios: Iterable[str] | None = None, *, prefix: str = "demo-",
            api_key: str | None = None) -> Iterator[dict[str, str]]:
    """`feed`, then end the open scenarios when the block exits."""
    try:
        yield feed(url, scenarios, prefix=prefix, api_key=api_key)
    finally:
        stop_all()


# --- the worker (one scenario, in its own process) ------------------------------------------------------

def _worker(scenario: str, url: str, run_id: str) -> int:
    import swarmscope

    service, body = SCENARIOS[scenario]
    swarmscope.init(service, endpoint=url, run_id=run_id, pending_delay=0.2,
                    heartbeat_interval=HEARTBEAT_INTERVAL, schedule_delay=0.2)
    stays_open = scenario in STAYS_OPEN
    ctx = Scenario(run_id)

    def ready() -> None:
        time.sleep(0.5)  # past pending_delay: the open spans' first records are queued
        swarmscope.flush(10.0)
        print(json.dumps({"scenario": scenario, "run_id": run_id, "ready": True}), flush=True)

    if stays_open:
        ctx.ready = ready
        # Released when the parent closes our stdin (or dies).
        threading.Thread(target=lambda: (sys.stdin.read(), ctx.release.set()), daemon=True).start()
    body(ctx)
    if not stays_open:
        ready()
    swarmscope.shutdown(5.0)
    return 0


# --- `swarmscope demo` ------------------------------------------------------------------------------------

def browse_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def healthy(url: str, api_key: str | None = None, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url + "/healthz", headers=headers),
                                        timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.2)
    return False


class Driver:
    """Feeds the first round, prints where to look, then a new round every `every` seconds until stopped."""

    def __init__(self, url: str, every: float, api_key: str | None = None, wait_for_server: float = 120.0):
        self.url, self.every, self.api_key, self.wait_for_server = url, every, api_key, wait_for_server
        self.stopped = threading.Event()
        self.failed: str | None = None

    def run(self) -> None:
        try:
            if not healthy(self.url, self.api_key, self.wait_for_server):
                self.failed = f"no swarmscope server answered at {self.url}/healthz"
                return
            runs = feed(self.url, api_key=self.api_key)
            print(f"swarmscope demo: {len(runs)} scenarios running; each run's page:", flush=True)
            for run_id in runs.values():
                print(f"    {self.url}/runs/{quote(run_id)}", flush=True)
            print(f"swarmscope demo: open {self.url}/ in your browser (Ctrl-C stops)", flush=True)
            round_ = 1
            while not self.stopped.wait(self.every):
                round_ += 1
                again = REPEATED[(round_ - 2) % len(REPEATED)]
                feed(self.url, ["healthy", again], suffix=f"-{round_}", api_key=self.api_key)
        except Exception as exc:  # a worker that failed to report: say so, keep the server up
            self.failed = str(exc)
            print(f"swarmscope demo: feeding stopped: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self.stopped.set()
        stop_all()


def add_demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="feed the swarmscope server already running at URL instead of "
                        "starting one, e.g. http://127.0.0.1:4318")
    parser.add_argument("--every", type=float, default=20.0,
                        help="seconds between rounds of new runs after the first (default 20)")


def run(args: argparse.Namespace, serve) -> int:
    """`swarmscope demo` with parsed arguments; `serve(args)` runs the server in this thread."""
    if args.every <= 0:
        print("swarmscope demo: --every must be > 0 seconds", file=sys.stderr)
        return 2
    if args.url:
        parsed = urlparse(args.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            print(f"swarmscope demo: --url must be an http(s) URL such as http://127.0.0.1:4318, got "
                  f"{args.url!r}", file=sys.stderr)
            return 2
        driver = Driver(args.url.rstrip("/"), args.every, args.api_key, wait_for_server=5.0)
        try:
            driver.run()  # returns after a failure; otherwise runs rounds until interrupted
        except KeyboardInterrupt:
            pass
        finally:
            driver.stop()
        if driver.failed:
            print(f"swarmscope demo: {driver.failed}", file=sys.stderr)
            return 1
        return 0
    driver = Driver(browse_url(args.host, args.port), args.every, args.api_key)
    thread = threading.Thread(target=driver.run, name="swarmscope-demo", daemon=True)
    thread.start()
    try:
        return serve(args)
    finally:
        driver.stop()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 3 or argv[0] not in SCENARIOS:
        print("usage: python -m swarmscope.ui.demo SCENARIO URL RUN_ID  (scenarios: "
              f"{', '.join(SCENARIOS)}); `swarmscope demo` runs them all", file=sys.stderr)
        return 2
    return _worker(*argv)


if __name__ == "__main__":
    sys.exit(main())
