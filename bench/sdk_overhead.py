"""What the swarmscope SDK costs an agent, measured side by side in one run.

1. Per span: the same agent workload (an agent span, three tool calls, a wait; fingerprints of
   inputs and outputs; tokens) instrumented with swarmscope and with bare OpenTelemetry spans carrying
   the same attributes (fingerprints computed the same way), both batching into a no-op exporter.
   Rounds alternate the order; medians of the per-span cost and their ratio. Bar: <= 1.5x.

2. Exporter down: the same workload with some agent work between spans, each configuration in a
   fresh process (the SDK is per process):
     noop         spans batched into an exporter that drops them (no network: the floor),
     healthy      OTLP/HTTP to a local sink that answers 200 (another process),
     refused      OTLP/HTTP to a closed port (connection refused),
     blackhole    OTLP/HTTP to a port that accepts connections and never answers (hangs to the timeout).
   Medians of the agent's wall time; the cost of a broken exporter is its ratio to the working ones
   minus 1. Bar: under 5%. The time shutdown() takes at exit is reported too.

    python bench/sdk_overhead.py [--rounds 7] [--tasks 2000] [--exporter-rounds 9]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import swarmscope
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode

SPANS_PER_TASK = 5
TASK = {"goal": "add retry to the http client", "files": ["client.py", "test_client.py"], "budget": 8000}
QUERIES = [{"q": "exponential backoff full jitter"}, {"path": "client.py"}, {"cmd": "pytest -q"}]
RESULT = {"hits": ["https://example.org/a", "https://example.org/b"], "took_ms": 41}
OUTPUT = {"patch": "diff --git a/client.py b/client.py ...", "tests": "12 passed"}
RUN_ID = "0" * 32
BLOB = bytes(200_000)


class DropExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _fingerprint(value) -> str:
    # What a team would write by hand for the bare-OpenTelemetry baseline: the same canonical hash.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def agent_work() -> None:
    hashlib.sha256(BLOB).digest()  # ~0.1 ms of "real" work per tool call (releases the GIL, like I/O)


def swarmscope_task(i: int, work: bool = False) -> None:
    with swarmscope.agent("coder", role="worker", task_id=f"T-{i}", input=TASK) as a:
        for arguments in QUERIES:
            with swarmscope.tool("search", arguments=arguments) as t:
                if work:
                    agent_work()
                t.set_result(RESULT)
        with swarmscope.wait_for("reviewer", task_id=f"T-{i}", timeout=30):
            pass
        a.record_tokens(1200, 300, model="gpt-x")
        a.set_output(OUTPUT)


def bare_task(tracer: trace.Tracer, i: int) -> None:
    agent_attrs = {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "coder", "gen_ai.agent.name": "coder",
        "swarmscope.agent.role": "worker", "swarmscope.task.id": f"T-{i}", "swarmscope.run.id": RUN_ID,
        "swarmscope.input.hash": _fingerprint(TASK),
    }
    with tracer.start_as_current_span("invoke_agent coder", attributes=agent_attrs) as a:
        for arguments in QUERIES:
            tool_attrs = {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": f"call_{random.getrandbits(64):016x}", "swarmscope.run.id": RUN_ID,
                "swarmscope.attempt": 1, "gen_ai.agent.id": "coder", "gen_ai.agent.name": "coder",
                "swarmscope.input.hash": _fingerprint(arguments),
            }
            with tracer.start_as_current_span("execute_tool search", attributes=tool_attrs) as t:
                t.set_attribute("swarmscope.output.hash", _fingerprint(RESULT))
                t.set_status(Status(StatusCode.OK))
        wait_attrs = {
            "gen_ai.operation.name": "wait", "swarmscope.wait.for": "reviewer", "swarmscope.run.id": RUN_ID,
            "gen_ai.agent.id": "coder", "gen_ai.agent.name": "coder", "swarmscope.wait.task_id": f"T-{i}",
            "swarmscope.wait.timeout_ms": 30000,
        }
        with tracer.start_as_current_span("wait reviewer", attributes=wait_attrs) as w:
            w.set_status(Status(StatusCode.OK))
        a.set_attribute("gen_ai.usage.input_tokens", 1200)
        a.set_attribute("gen_ai.usage.output_tokens", 300)
        a.set_attribute("gen_ai.request.model", "gpt-x")
        a.set_attribute("swarmscope.output.hash", _fingerprint(OUTPUT))
        a.set_attribute("swarmscope.task.status", "completed")
        a.set_status(Status(StatusCode.OK))


def per_span(rounds: int, tasks: int) -> dict:
    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    bare_tracer = bare_provider.get_tracer("bare")
    swarmscope.init("bench", exporter=DropExporter(), tracer_provider=TracerProvider())

    def time_it(fn) -> float:
        started = time.perf_counter()
        for i in range(tasks):
            fn(i)
        return (time.perf_counter() - started) / (tasks * SPANS_PER_TASK) * 1e6

    runs = {"bare": [], "swarmscope": []}
    time_it(lambda i: bare_task(bare_tracer, i))  # warm up both
    time_it(swarmscope_task)
    for r in range(rounds):
        order = [("bare", lambda i: bare_task(bare_tracer, i)), ("swarmscope", swarmscope_task)]
        for name, fn in order if r % 2 == 0 else reversed(order):
            runs[name].append(time_it(fn))
    swarmscope.shutdown()
    bare_provider.shutdown()
    medians = {name: statistics.median(v) for name, v in runs.items()}
    ratio = medians["swarmscope"] / medians["bare"]
    return {"us_per_span": runs, "median_us_per_span": medians, "ratio": ratio}


# exporter down ------------------------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child(endpoint: str, tasks: int) -> None:
    """One configuration in a fresh process: prints the agent's wall time and the exit cost."""
    if endpoint == "noop":
        swarmscope.init("bench-exporter", exporter=DropExporter())
    else:
        swarmscope.init("bench-exporter", endpoint=endpoint)
    for i in range(50):
        swarmscope_task(i, work=True)
    started = time.perf_counter()
    for i in range(tasks):
        swarmscope_task(i, work=True)
    wall = time.perf_counter() - started
    stats = swarmscope.stats()
    started = time.perf_counter()
    swarmscope.shutdown()
    print(json.dumps({"wall_s": wall, "shutdown_s": time.perf_counter() - started, **stats}))


def exporter_down(rounds: int, tasks: int) -> dict:
    sink_port = _free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(sink_port)])
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1024)  # accepts at the kernel level, never answers
    endpoints = {
        "noop": "noop",
        "healthy": f"http://127.0.0.1:{sink_port}",
        "refused": f"http://127.0.0.1:{_free_port()}",
        "blackhole": f"http://127.0.0.1:{blackhole.getsockname()[1]}",
    }
    time.sleep(1.0)  # let the sink start
    results: dict[str, list[dict]] = {name: [] for name in endpoints}
    try:
        for r in range(rounds):
            names = list(endpoints)
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order
                out = subprocess.run(
                    [sys.executable, __file__, "--child", endpoints[name], "--tasks", str(tasks)],
                    capture_output=True, text=True, timeout=600,
                )
                if out.returncode != 0:
                    raise RuntimeError(out.stderr)
                results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        sink.kill()
        blackhole.close()
    wall = {name: statistics.median(r["wall_s"] for r in runs) for name, runs in results.items()}
    exits = {name: statistics.median(r["shutdown_s"] for r in runs) for name, runs in results.items()}
    return {
        "median_wall_s": wall,
        "median_shutdown_s": exits,
        "cost": {
            (down, up): wall[down] / wall[up] - 1
            for down in ("refused", "blackhole")
            for up in ("noop", "healthy")
        },
        "last_run_stats": {n: {k: v for k, v in runs[-1].items() if k not in ("wall_s", "shutdown_s")}
                           for n, runs in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--exporter-rounds", type=int, default=9)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        ThreadingHTTPServer(("127.0.0.1", args.sink), _Sink).serve_forever()
        return
    if args.child:
        child(args.child, args.tasks)
        return

    spans = per_span(args.rounds, args.tasks)
    print(f"per span, {args.tasks * SPANS_PER_TASK} spans x {args.rounds} rounds (median us/span):")
    for name, value in spans["median_us_per_span"].items():
        runs = ", ".join(f"{v:.1f}" for v in spans["us_per_span"][name])
        print(f"  {name:<11} {value:7.1f}   [{runs}]")
    verdict = "ok" if spans["ratio"] <= 1.5 else "OVER THE 1.5x BAR"
    print(f"  swarmscope / bare OpenTelemetry = {spans['ratio']:.2f}x  ({verdict})")

    down = exporter_down(args.exporter_rounds, args.tasks)
    print(f"\nagent wall time, {args.tasks} tasks with agent work x {args.exporter_rounds} rounds (median):")
    for name, value in down["median_wall_s"].items():
        print(f"  {name:<10} {value:7.3f} s   shutdown at exit {down['median_shutdown_s'][name]:6.3f} s")
        print(f"             last run: {down['last_run_stats'][name]}")
    for (broken, working), cost in down["cost"].items():
        verdict = "ok" if cost < 0.05 else "OVER THE 5% BAR"
        print(f"  {broken} exporter vs {working}: {cost * 100:+.1f}% agent wall time  ({verdict})")


if __name__ == "__main__":
    main()
