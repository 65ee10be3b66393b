"""Detection benchmark: sweeps over a store with 1,000,000 spans in the last hour and 10,000 open spans.

Builds the store once (embedded chDB in a temporary directory): realistic swarm traces spread over the
last hour (bench/workload.py; most failed tool calls retried successfully, see `with_retries`; input
tokens shaped like a real fan-out, 1% of runs forwarding whole transcripts, see `realistic_tokens`),
`--framework` of the runs (30%) shaped like a framework's (OpenInference: only agent spans name
their agent, tool spans carry their arguments as `input.value` and no swarmscope attributes, retries
without an attempt number; schema/resolve.py works those out), pending-span records for 2% of them
that have since finished, and 10,000 open spans (orchestrators, agents, tool calls and 1,000 open
waits, a few of them in cycles, 1% of them silent). Then, medians over --repeat rounds:

- full sweep: every detector over the whole hour and every open span (what `swarmscope detect` and
  the first sweep of `serve` do), findings persisted;
- incremental sweep: what `serve` does every few seconds after that: 5 s of new traffic arrives
  (~1,400 spans), then one sweep (all detectors; finished-span ones only on the traces that moved);
- the wait-for graph with 1,000 open waits: the open-span query plus the graph and its cycles
  (GET /api/waits), and the graph algorithm alone;
- readers of resolved values: the agent table (GET /api/agents) over the hour, one framework trace's
  outline (the trace view), a tool's recent failures.

    python bench/detect.py [--spans 1000000] [--open 10000] [--framework 0.3] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from swarmscope import _conventions as c
from workload import SwarmTraffic, _kv  # bench/workload.py: the script's own directory is on sys.path

NS = 1_000_000_000


def _requests(spans: list[Span], per_request: int = 512, service: str = "swarm-bench") -> list[bytes]:
    out = []
    for i in range(0, len(spans), per_request):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([_kv("service.name", service)])
        rs.scope_spans.add().spans.extend(spans[i : i + per_request])
        out.append(request.SerializeToString())
    return out


def _pending(
    real: Span, heartbeat_ns: int, interval_ms: int = 10_000, pending_id: bytes | None = None
) -> Span:
    span = Span(
        trace_id=real.trace_id,
        span_id=pending_id or os.urandom(8),
        parent_span_id=real.span_id,
        name=real.name,
        kind=real.kind,
        start_time_unix_nano=real.start_time_unix_nano,
        end_time_unix_nano=heartbeat_ns,
    )
    span.attributes.extend(real.attributes)
    span.attributes.extend(
        [
            _kv("swarmscope.span_type", "pending"),
            _kv("swarmscope.pending_parent_id", (real.parent_span_id or bytes(8)).hex()),
            _kv("swarmscope.heartbeat.interval_ms", interval_ms),
        ]
    )
    return span


def _int_attr(span: Span, key: str, default: int = 0) -> int:
    return next((a.value.int_value for a in span.attributes if a.key == key), default)


def with_retries(run: list[Span], rng: random.Random, recovered: float = 0.9) -> list[Span]:
    """bench/workload.py fails 3% of tool calls independently and never retries them, so half of its
    traces end with an agent reporting `completed` over a failed call it ignored (a partial failure).
    Agents retry (the SDK's `swarmscope.retry`: a new span per attempt, same call id, same parent), so
    here `recovered` of the failed calls get a successful next attempt after a short backoff; the rest
    stay unrecovered (some 7% of traces), which `partial_failure` rightly reports."""
    out: list[Span] = []
    for span in run:
        out.append(span)
        if span.status.code != Status.STATUS_CODE_ERROR or rng.random() >= recovered:
            continue
        retry = Span()
        retry.CopyFrom(span)
        retry.span_id = rng.randbytes(8)
        retry.ClearField("status")
        retry.start_time_unix_nano = span.end_time_unix_nano + rng.randint(50, 2000) * 1_000_000
        retry.end_time_unix_nano = retry.start_time_unix_nano + (
            span.end_time_unix_nano - span.start_time_unix_nano
        )
        attempt = _int_attr(span, "swarmscope.attempt", 1)
        del retry.attributes[:]
        retry.attributes.extend(
            a for a in span.attributes if a.key not in ("error.type", "swarmscope.attempt")
        )
        retry.attributes.append(_kv("swarmscope.attempt", attempt + 1))
        out.append(retry)
    return out


# Input tokens per agent role beyond the run's shared brief: what its system prompt and its own tool
# results add (a coder reads files, a planner mostly reads the brief).
ROLE_CONTEXT_TOKENS = {
    "planner": 2500, "coder": 9000, "tester": 6000, "docs": 4000, "researcher": 8000, "reviewer": 7000,
}


def _set_int_attr(span: Span, key: str, value: int) -> None:
    for a in span.attributes:
        if a.key == key:
            a.value.int_value = value
            return
    span.attributes.append(_kv(key, value))


def realistic_tokens(run: list[Span], rng: random.Random, relay: float = 0.01) -> list[Span]:
    """bench/workload.py draws every agent's input tokens independently from 500-20,000 (and the
    orchestrator's from 500-5,000): no swarm looks like that. Real fan-outs give every agent the same
    brief plus what its role adds (within a small factor, see ROLE_CONTEXT_TOKENS), and the
    orchestrator reads back every agent's report. Here that is the shape, and `relay` of the runs (1%)
    are the failure `context_bloat` is for: the agents run one after another and each is handed the
    previous one's whole transcript, so input tokens grow hop by hop."""
    brief = rng.randint(1500, 3000)
    agents = [s for s in run[1:] if _attr(s, "gen_ai.operation.name") == "invoke_agent"]
    forwarded = rng.random() < relay
    carried = brief
    for k, span in enumerate(agents):
        role = _attr(span, "gen_ai.agent.id")
        own = int(ROLE_CONTEXT_TOKENS.get(role, 5000) * rng.lognormvariate(0, 0.3))
        tokens = carried + own if forwarded else brief + own
        _set_int_attr(span, "gen_ai.usage.input_tokens", tokens)
        if forwarded:
            carried = tokens + _int_attr(span, "gen_ai.usage.output_tokens")
            # A relay is sequential: agent k starts once agent k - 1 has finished (agents take 5 s).
            shift = run[0].start_time_unix_nano + 1_000_000 + k * 5_200_000_000 - span.start_time_unix_nano
            for moved in [span, *(s for s in run if s.parent_span_id == span.span_id)]:
                moved.start_time_unix_nano += shift
                moved.end_time_unix_nano += shift
    reports = sum(_int_attr(s, "gen_ai.usage.output_tokens") for s in agents)
    _set_int_attr(run[0], "gen_ai.usage.input_tokens", brief + 2000 + reports)
    return run


def _attr(span: Span, key: str) -> str:
    return next((a.value.string_value for a in span.attributes if a.key == key), "")


# What a framework's tool and wait spans do not carry: our agent, run, fingerprint and attempt keys.
_SDK_ONLY = {c.AGENT_ID, c.AGENT_NAME, c.RUN_ID, c.INPUT_HASH, c.ATTEMPT, c.OPERATION, c.TOOL_NAME}


def framework_shaped(run: list[Span], rng: random.Random) -> list[Span]:
    """The run as an OpenInference-instrumented framework reports it: agent spans name their agent
    (`agent.name`), the root its session; tool spans name only their tool and arguments (a retry
    repeats the arguments of the call it retries), so their agent, run and attempt come from the tree."""
    arguments: dict[str, str] = {}  # tool call id -> its arguments (a retry keeps its call's id)
    for span in run:
        attrs = {a.key: a for a in span.attributes}
        operation = attrs[c.OPERATION].value.string_value if c.OPERATION in attrs else ""
        kept = [a for a in span.attributes if a.key not in _SDK_ONLY | {c.INPUT_HASH}]
        if operation == c.OP_AGENT:
            kept += [_kv(c.OI_SPAN_KIND, "AGENT"), _kv(c.OI_AGENT_NAME, attrs[c.AGENT_ID].value.string_value)]
            if not span.parent_span_id:
                kept.append(_kv(c.OI_SESSION_ID, attrs[c.RUN_ID].value.string_value))
        elif operation == c.OP_TOOL:
            call = attrs[c.TOOL_CALL_ID].value.string_value
            args = arguments.setdefault(call, f'{{"q": "{rng.randint(1, 10**6)}"}}')
            kept += [_kv(c.OI_SPAN_KIND, "TOOL"), _kv(c.OI_TOOL_NAME, attrs[c.TOOL_NAME].value.string_value),
                     _kv(c.OI_INPUT_VALUE, args)]
        else:
            kept = [a for a in span.attributes if a.key not in _SDK_ONLY - {c.OPERATION}]
        del span.attributes[:]
        span.attributes.extend(kept)
    return run


def swarm_run(traffic: SwarmTraffic, start_ns: int, rng: random.Random, framework: float = 0.0) -> list[Span]:
    """One run of bench/workload.py with realistic token counts and retried tool calls; `framework` of
    the runs framework-shaped."""
    run = with_retries(realistic_tokens(traffic.run_spans(start_ns), rng), rng)
    return framework_shaped(run, rng) if rng.random() < framework else run


def finished_traffic(
    total: int, now_ns: int, seed: int = 7, framework: float = 0.0
) -> tuple[list[Span], list[Span]]:
    """(finished spans spread over the last hour, pending records of 2% of them)."""
    traffic = SwarmTraffic(seed=seed)
    rng = random.Random(seed)
    spans: list[Span] = []
    pending: list[Span] = []
    while len(spans) < total:
        run = swarm_run(traffic, now_ns - rng.randint(60, 3600) * NS, rng, framework)
        spans.extend(run)
        if rng.random() < 0.5:  # the orchestrator was pending for a while before it finished
            pending.append(_pending(run[0], run[0].start_time_unix_nano + 10 * NS))
    return spans[:total], pending


def open_spans(count: int, now_ns: int, started_ns: int, seed: int = 11) -> list[Span]:
    """`count` open spans (as pending records) in runs of ten: an orchestrator, four agents, a tool call
    each and one wait (so count/10 open waits); every 50th run has a second wait that closes a two-agent
    cycle; 1% of the runs stopped heartbeating a minute before `now_ns`. Start times are relative to
    `started_ns`, heartbeats to `now_ns`, so a later call with a later `now_ns` is the next heartbeat."""
    rng = random.Random(seed)  # the same seed gives the same spans: calling again is a heartbeat
    agents = ["planner", "coder", "tester", "docs"]
    out: list[Span] = []
    run_no = 0
    while len(out) < count:
        run_no += 1
        trace_id, run_id = rng.randbytes(16), f"open-run-{run_no}"
        beat = now_ns - (60 * NS if rng.random() < 0.01 else rng.randint(0, 5) * NS)
        start = started_ns - rng.randint(5, 60) * NS

        def real(name: str, parent: bytes, attrs: list, _trace=trace_id, _start=start) -> Span:
            span = Span(
                trace_id=_trace,
                span_id=rng.randbytes(8),
                parent_span_id=parent,
                name=name,
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=_start,
                end_time_unix_nano=_start,
            )
            span.attributes.extend(attrs)
            return span

        orch = real(
            "invoke_agent orchestrator",
            b"",
            [
                _kv("gen_ai.operation.name", "invoke_agent"),
                _kv("gen_ai.agent.id", "orchestrator"),
                _kv("swarmscope.run.id", run_id),
                _kv("swarmscope.task.id", f"{run_id}/all"),
            ],
        )
        run = [orch]
        agent_spans = {}
        for agent in agents:
            a = real(
                f"invoke_agent {agent}",
                orch.span_id,
                [
                    _kv("gen_ai.operation.name", "invoke_agent"),
                    _kv("gen_ai.agent.id", agent),
                    _kv("swarmscope.run.id", run_id),
                    _kv("swarmscope.task.id", f"{run_id}/{agent}"),
                ],
            )
            agent_spans[agent] = a
            run.append(a)
            run.append(
                real(
                    "execute_tool web_search",
                    a.span_id,
                    [
                        _kv("gen_ai.operation.name", "execute_tool"),
                        _kv("gen_ai.tool.name", "web_search"),
                        _kv("gen_ai.agent.id", agent),
                        _kv("swarmscope.run.id", run_id),
                    ],
                )
            )
        waiter, target = rng.sample(agents, 2)
        pairs = [(waiter, target)] + ([(target, waiter)] if run_no % 50 == 0 else [])
        for who, whom in pairs:
            run.append(
                real(
                    f"wait {whom}",
                    agent_spans[who].span_id,
                    [
                        _kv("gen_ai.operation.name", "wait"),
                        _kv("swarmscope.wait.for", whom),
                        _kv("swarmscope.wait.timeout_ms", 3_600_000),
                        _kv("gen_ai.agent.id", who),
                        _kv("swarmscope.run.id", run_id),
                    ],
                )
            )
        out.extend(_pending(s, beat, pending_id=rng.randbytes(8)) for s in run)
    return out[:count]


def _cpu_s() -> float:
    """CPU time of this process (the embedded store runs in it), user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median_ms(fn, repeat: int, cpu: list[float] | None = None) -> tuple[float, list[float]]:
    """Median wall ms of `repeat` calls; their CPU ms go to `cpu` when given (on a shared machine the
    CPU figures move less with other load)."""
    times = []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), _cpu_s()
        fn()
        times.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((_cpu_s() - cpu_started) * 1000)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--framework", type=float, default=0.3, help="share of framework-shaped runs")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", help="build the store in this directory and keep it")
    args = parser.parse_args()

    from swarmscope.detectors.config import DetectorConfig
    from swarmscope.detectors.runner import DetectionLoop, run_sweep
    from swarmscope.detectors.sweep import Sweep
    from swarmscope.detectors.views import agents, wait_graph
    from swarmscope.detectors.waitgraph import build_graph
    from swarmscope.schema.queries.spans import outline
    from swarmscope.schema.queries.tools import tool_failures
    from swarmscope.schema.store import Store, embedded_url
    from swarmscope.schema.times import now_ms

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="swarmscope-detect-bench-"))
    store = Store(embedded_url(workdir), database="bench")
    store.migrate()
    config = DetectorConfig()
    try:
        now_ns = time.time_ns()
        print(
            f"building: {args.spans:,} finished spans over the last hour, {args.open:,} open spans ...",
            flush=True,
        )
        started = time.perf_counter()
        spans, finished_pending = finished_traffic(args.spans, now_ns, framework=args.framework)
        requests = _requests(spans) + _requests(finished_pending)
        built = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(0, len(requests), 200):
            store.insert_requests(requests[i : i + 200])

        open_since = time.time_ns()

        def heartbeat() -> None:
            """The open spans' processes heartbeat (untimed, before each measured sweep)."""
            store.insert_requests(_requests(open_spans(args.open, time.time_ns(), open_since)))

        heartbeat()
        inserted = time.perf_counter() - started
        loaded = time.perf_counter()
        counts = store.rows(
            "SELECT (SELECT count() FROM spans) AS spans, (SELECT count() FROM pending_spans) AS pending"
        )[0]
        print(
            f"  generated in {built:.0f} s, inserted in {inserted:.0f} s: {counts['spans']:,} spans, "
            f"{counts['pending']:,} pending records",
            flush=True,
        )

        opened = Sweep(store, config, now_ms(), now_ms()).open_spans()
        print(
            f"  open spans: {len(opened):,} ({sum(s.is_wait for s in opened):,} waits, "
            f"{sum(s.dead for s in opened):,} silent)",
            flush=True,
        )

        # ---- full sweeps -----------------------------------------------------------------------
        results = []

        full_all, full_cpu = [], []
        for _ in range(args.repeat):
            heartbeat()
            cpu = _cpu_s()
            started = time.perf_counter()
            results.append(run_sweep(store, config))
            full_all.append((time.perf_counter() - started) * 1000)
            full_cpu.append((_cpu_s() - cpu) * 1000)
        full_ms = statistics.median(full_all)
        last = results[-1]
        kinds: dict[str, int] = {}
        for f in last.findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        print(
            f"\nfull sweep (1 h of spans + all open spans), median of {args.repeat}: {full_ms:.0f} ms "
            f"(min {min(full_all):.0f}, max {max(full_all):.0f}); CPU {statistics.median(full_cpu):.0f} ms"
        )
        per = {k: statistics.median(r.timings_ms.get(k, 0) for r in results) for k in last.timings_ms}
        print("  per detector (median ms): " + ", ".join(f"{k} {v:.0f}" for k, v in per.items()))
        print(f"  conditions found: {len(last.findings):,} {dict(sorted(kinds.items()))}")
        assert not last.errors, last.errors

        # ---- incremental sweeps ----------------------------------------------------------------
        # Sweeps re-read the last `overlap_s` of ingest (late inserts); let the bulk load age out of
        # it, as it would have in a server that received this hour of traffic over an hour.
        time.sleep(max(0.0, config.get("sweep", "overlap_s") - (time.perf_counter() - loaded)))
        loop = DetectionLoop(store, config, interval_s=5)
        heartbeat()
        loop.run_once()  # the loop's own first (full) sweep
        traffic = SwarmTraffic(seed=99)
        retry_rng = random.Random(99)
        incremental, inc_cpu = [], []
        scopes = []
        for _ in range(args.repeat):
            new: list[Span] = []
            while len(new) < 1400:  # 5 s of 1,000,000 spans/hour
                new.extend(swarm_run(traffic, time.time_ns(), retry_rng, args.framework))
            store.insert_requests(_requests(new))
            heartbeat()
            started, cpu = time.perf_counter(), _cpu_s()
            loop.run_once()
            incremental.append((time.perf_counter() - started) * 1000)
            inc_cpu.append((_cpu_s() - cpu) * 1000)
            scopes.append(loop.last_result.traces_in_scope)
        inc_ms = statistics.median(incremental)
        print(
            f"\nincremental sweep (5 s of new traffic, ~{statistics.median(scopes):.0f} traces in scope), "
            f"median of {args.repeat}: {inc_ms:.0f} ms "
            f"(min {min(incremental):.0f}, max {max(incremental):.0f}); "
            f"CPU {statistics.median(inc_cpu):.0f} ms"
        )
        inc_per = {k: v for k, v in loop.last_result.timings_ms.items()}
        print("  last one per detector (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in inc_per.items()))
        print(f"  full / incremental: {full_ms / inc_ms:.1f}x")

        # ---- wait-for graph --------------------------------------------------------------------
        heartbeat()
        graphs = []
        api_ms, _ = median_ms(lambda: graphs.append(wait_graph(store, config)), args.repeat)
        graph = graphs[-1]
        only_graph_ms, _ = median_ms(lambda: build_graph(opened), args.repeat)
        print(
            f"\nwait-for graph, {len(graph['waits']):,} open waits, {len(graph['nodes']):,} nodes, "
            f"{len(graph['edges']):,} edges, {len(graph['cycles'])} cycles:"
        )
        print(f"  open-span query + graph + cycles (GET /api/waits), median: {api_ms:.0f} ms")
        print(f"  graph + cycles alone (Tarjan, Python), median: {only_graph_ms:.1f} ms")

        # ---- readers of resolved values -------------------------------------------------------
        hour_ago = now_ms() - 3_600_000
        cpu: dict[str, list[float]] = {"agents": [], "outline": [], "failures": []}
        agents_ms, _ = median_ms(lambda: agents(store, since_ms=hour_ago, config=config), args.repeat,
                                 cpu["agents"])
        framework_trace = store.scalar(
            "SELECT TraceId FROM span_resolution "
            "WHERE Timestamp >= fromUnixTimestamp64Milli({t:Int64}) LIMIT 1", {"t": hour_ago})
        outline_ms, _ = median_ms(lambda: outline(store, [framework_trace]), args.repeat, cpu["outline"])
        failures_ms, _ = median_ms(lambda: tool_failures(store, "web_search", since_ms=hour_ago), args.repeat,
                                   cpu["failures"])
        reader_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        print("\nreaders of resolved values, median (CPU): "
              f"agent table (GET /api/agents, 1 h) {agents_ms:.0f} ms ({reader_cpu['agents']:.0f}); "
              f"one framework trace's outline {outline_ms:.0f} ms ({reader_cpu['outline']:.0f}); "
              f"a tool's failures (1 h) {failures_ms:.0f} ms ({reader_cpu['failures']:.0f})")
        print(
            f"\nbars: sweep < 1000 ms: serve's sweep {inc_ms:.0f} ms {'PASS' if inc_ms < 1000 else 'FAIL'}, "
            f"cold full-hour sweep {full_ms:.0f} ms {'PASS' if full_ms < 1000 else 'FAIL'}; "
            f"wait-for graph < 100 ms: {api_ms:.0f} ms {'PASS' if api_ms < 100 else 'FAIL'}"
        )
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
