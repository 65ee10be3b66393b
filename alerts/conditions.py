"""One query per rule kind: which instances the condition holds for at `now_ms` (values bound
server-side; the clock is a parameter, so simulated time works exactly like real time)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from swarmscope.detectors.model import SEVERITIES
from swarmscope.schema.open_spans import unfinished
from swarmscope.schema.params import array_of, fill, in_list, list_param

from .rules import SAME_HOUR, Rule
from .sql_guard import RUN_SETTINGS
from .state import Sample


@dataclass
class Evaluation:
    samples: list[Sample] = field(default_factory=list)
    has_data: bool = True  # False: the measure had no entity with enough samples (rule health nodata)


FINDINGS_SQL = """
SELECT Id, Kind, Severity, TraceId, RunId, AgentIds, Summary
FROM findings FINAL
WHERE Status = 'open'
  AND ({kind:String} = '' OR Kind = {kind:String})
  AND has({severities:Array(String)}, Severity)
  AND ({agent:String} = '' OR has(AgentIds, {agent:String}))
  AND ({tool:String} = '' OR JSONExtractString(Evidence, 'tool') = {tool:String})
  AND ({service:String} = '' OR TraceId IN (SELECT TraceId FROM traces WHERE has(Services, {service:String})))
ORDER BY FirstSeen, Id
LIMIT 1000
"""

# Runs with open spans (as of now), their newest span start and newest heartbeat. Heartbeats say a
# process is alive, not that it gets anywhere, so they are not progress.
OPEN_RUNS_FILTER = """LastSeen >= fromUnixTimestamp64Milli({horizon_ms:Int64})
  AND StartTime <= fromUnixTimestamp64Milli({now_ms:Int64})
  AND ({service:String} = '' OR ServiceName = {service:String})"""
OPEN_RUNS_SQL = fill("""
SELECT if(RunId != '', RunId, TraceId) AS run, groupUniqArray(TraceId) AS trace_ids,
    count() AS open_spans, toUnixTimestamp64Milli(max(StartTime)) AS last_start_ms
FROM pending_spans FINAL
WHERE {open_runs} AND {unfinished}
GROUP BY run
""", open_runs=OPEN_RUNS_FILTER, unfinished=unfinished(OPEN_RUNS_FILTER))
# Progress of those runs: the newest span that started or ended (finished spans), up to now.
RUN_PROGRESS_SQL = fill("""
SELECT if(RunId != '', RunId, TraceId) AS run,
    max(least(toUnixTimestamp64Milli(Timestamp) + intDiv(Duration, 1000000), {now_ms:Int64})) AS last_ms
FROM spans
WHERE Timestamp >= fromUnixTimestamp64Milli({horizon_ms:Int64})
  AND Timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
  AND (RunId IN {runs} OR TraceId IN {traces})
GROUP BY run
""", runs=in_list("runs"), traces=in_list("traces"))
STUCK_HORIZON_MS = 86_400_000  # open spans not seen for a day are not tracked (as the detectors do)
# Open tool spans that started at least `min_age` before now (the `tool_p99_factor` form of stuck).
OPEN_TOOLS_FILTER = OPEN_RUNS_FILTER + """
  AND ToolName != '' AND ({tool:String} = '' OR ToolName = {tool:String})
  AND StartTime <= fromUnixTimestamp64Milli({older_than_ms:Int64})"""
OPEN_TOOLS_SQL = fill("""
SELECT if(RunId != '', RunId, TraceId) AS run, TraceId, SpanId, ToolName, AgentId,
    toUnixTimestamp64Milli(StartTime) AS start_ms
FROM pending_spans FINAL
WHERE {open_tools} AND {unfinished}
""", open_tools=OPEN_TOOLS_FILTER, unfinished=unfinished(OPEN_TOOLS_FILTER))

# Measures for `rate` and `drift`: per entity (tool or agent), the value and how many samples it rests
# on, over one or more windows [start, end) (a seasonal baseline is one window per day), bound as the
# lists `starts` and `ends`; `from_ms`/`to_ms` enclose them all, for the primary key. Tools come from
# the per-minute aggregates (a window starts at its first minute), agents from their spans.
_IN_WINDOWS = ("arrayExists((s, e) -> {ms} >= {start} AND {ms} < e, "
               + array_of("starts", "Int64") + ", " + array_of("ends", "Int64") + ")")
_SPAN_IN_WINDOWS = fill(_IN_WINDOWS, ms="toUnixTimestamp64Milli(Timestamp)", start="s")
_TOOL_MINUTES = fill("""
SELECT ToolName AS entity, sum(Calls) AS samples, {value} AS value
FROM tool_minutes
WHERE Minute >= toStartOfMinute(fromUnixTimestamp64Milli({from_ms:Int64}))
  AND Minute < fromUnixTimestamp64Milli({to_ms:Int64})
  AND {in_windows}
  AND ({name:String} = '' OR ToolName = {name:String})
GROUP BY ToolName""", in_windows=fill(_IN_WINDOWS, ms="toUnixTimestamp(Minute) * 1000",
                                       start="intDiv(s, 60000) * 60000"))
_AGENT_SPANS = fill("""
SELECT AgentId AS entity, count() AS samples, {value} AS value
FROM spans
WHERE Timestamp >= fromUnixTimestamp64Milli({from_ms:Int64})
  AND Timestamp < fromUnixTimestamp64Milli({to_ms:Int64}) AND {in_windows}
  AND AgentId != '' AND ({name:String} = '' OR AgentId = {name:String}) AND {only}
GROUP BY AgentId""", in_windows=_SPAN_IN_WINDOWS)
# Tokens per run: each (agent, run) summed first, then averaged per agent.
_AGENT_RUNS = fill("""
SELECT AgentId AS entity, count() AS samples, avg(tokens) AS value
FROM (
    SELECT AgentId, if(RunId != '', RunId, TraceId) AS run, sum(InputTokens + OutputTokens) AS tokens
    FROM spans
    WHERE Timestamp >= fromUnixTimestamp64Milli({from_ms:Int64})
      AND Timestamp < fromUnixTimestamp64Milli({to_ms:Int64}) AND {in_windows}
      AND AgentId != '' AND ({name:String} = '' OR AgentId = {name:String})
    GROUP BY AgentId, run)
GROUP BY AgentId""", in_windows=_SPAN_IN_WINDOWS)


def _tools(value: str) -> str:
    return fill(_TOOL_MINUTES, value=value)


def _agents(value: str, only: str = "Operation = 'invoke_agent'") -> str:
    return fill(_AGENT_SPANS, value=value, only=only)


MEASURE_SQL: dict[str, str] = {
    "tool_error_rate": _tools("sum(Errors) / greatest(samples, 1)"),
    "tool_errors": _tools("toFloat64(sum(Errors))"),
    "tool_calls": _tools("toFloat64(samples)"),
    "tool_latency_p95_ms": _tools("quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles)[2] / 1e6"),
    "agent_tokens_per_run": _AGENT_RUNS,
    "agent_latency_p95_ms": _agents("quantile(0.95)(Duration) / 1e6"),
    "agent_confidence": _agents("avg(assumeNotNull(Confidence))", "Confidence IS NOT NULL"),
    "agent_error_rate": _agents("avg(StatusCode = 'Error')"),
}
TOOL_P99_SQL = _tools("quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles)[3] / 1e6")
DAY_MS = 86_400_000
_COMPARE = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill_template(template: str, values: dict[str, Any]) -> str:
    """`{name}` placeholders from values (plain substitution: no attribute access, no format specs;
    a value is never expanded again, whatever it contains)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group())), template)


def baseline_windows(p: dict[str, Any], now_ms: int) -> list[tuple[int, int]]:
    """A drift rule's baseline: the window just before the recent one, or (`same_hour`) the recent
    window's clock time on each of the previous `baseline_days` days."""
    window_ms = int(p["window"] * 1000)
    if p["baseline"] == SAME_HOUR:
        days = range(1, p["baseline_days"] + 1)
        return [(now_ms - d * DAY_MS - window_ms, now_ms - d * DAY_MS) for d in days]
    return [(now_ms - window_ms - int(p["baseline"] * 1000), now_ms - window_ms)]


def run_link(run_id: str = "", trace_id: str = "") -> str:
    """The UI path of a run (or, without a run id, of a trace)."""
    from urllib.parse import quote

    if run_id:
        return "/runs/" + quote(run_id, safe="")
    return "/traces/" + quote(trace_id, safe="") if trace_id else ""


class Conditions:
    """Evaluates rules against one store. `sql` rules run on a client of their own, read-only."""

    def __init__(self, store) -> None:
        self.store = store
        self._readonly = None

    def evaluate(self, rule: Rule, now_ms: int) -> Evaluation:
        return getattr(self, "_" + rule.kind)(rule, rule.params, now_ms)

    def _sample(self, rule: Rule, labels: dict[str, str], value: float | None, values: dict[str, Any],
                link: str = "") -> Sample:
        all_labels = {"alertname": rule.name, **rule.labels, **{k: v for k, v in labels.items() if v != ""}}
        context = {**values, **all_labels, "value": "" if value is None else f"{value:.4g}"}
        annotations = {k: fill_template(v, context) for k, v in rule.annotations.items()}
        if "summary" not in annotations and values.get("summary"):
            annotations["summary"] = str(values["summary"])
        return Sample(all_labels, value, annotations, link)

    # ---- kinds ------------------------------------------------------------------------------

    def _finding(self, rule: Rule, p: dict[str, Any], now_ms: int) -> Evaluation:
        severities = list(SEVERITIES[SEVERITIES.index(p["min_severity"]):])
        rows = self.store.rows(FINDINGS_SQL, {
            "kind": p["finding_kind"], "severities": severities, "agent": p["agent"], "tool": p["tool"],
            "service": p["service"]})
        samples = []
        for r in rows:
            run_id = r["RunId"] or r["TraceId"]
            labels = {"finding_kind": r["Kind"], "finding_severity": r["Severity"], "run_id": run_id,
                      "finding_id": r["Id"]}
            values = {"summary": r["Summary"], "trace_id": r["TraceId"], "agents": ", ".join(r["AgentIds"])}
            samples.append(self._sample(rule, labels, None, values, run_link(r["RunId"], r["TraceId"])))
        return Evaluation(samples)

    def _stuck(self, rule: Rule, p: dict[str, Any], now_ms: int) -> Evaluation:
        if p["tool_p99_factor"]:
            return self._stuck_tool(rule, p, now_ms)
        base = {"now_ms": now_ms, "horizon_ms": now_ms - STUCK_HORIZON_MS, "service": p["service"]}
        runs = self.store.rows(OPEN_RUNS_SQL, base)
        if not runs:
            return Evaluation()
        traces = sorted({t for r in runs for t in r["trace_ids"]})
        progress = {r["run"]: r["last_ms"] for r in self.store.rows(RUN_PROGRESS_SQL, {
            **base, "runs": list_param(r["run"] for r in runs), "traces": list_param(traces)})}
        samples = []
        for r in runs:
            last_ms = max(r["last_start_ms"], progress.get(r["run"], 0))
            silent_s = (now_ms - last_ms) / 1000
            if silent_s < p["silent_for"]:
                continue
            values = {"silent_for": f"{silent_s / 60:.0f}m", "open_spans": r["open_spans"],
                      "summary": f"run {r['run']} has {r['open_spans']} open span(s) and no progress "
                                 f"for {silent_s / 60:.0f} min"}
            # a run without a run id is its trace
            link = run_link(trace_id=r["run"]) if r["run"] in r["trace_ids"] else run_link(run_id=r["run"])
            samples.append(self._sample(rule, {"run_id": r["run"]}, round(silent_s, 3), values, link))
        return Evaluation(samples)

    def _stuck_tool(self, rule: Rule, p: dict[str, Any], now_ms: int) -> Evaluation:
        """Open tool spans older than tool_p99_factor x their tool's p99: one instance per run, about
        the span that crossed its threshold first (so the instance keeps its labels while it lasts)."""
        min_age_ms = int(p["min_age"] * 1000)
        spans = self.store.rows(OPEN_TOOLS_SQL, {
            "now_ms": now_ms, "horizon_ms": now_ms - STUCK_HORIZON_MS, "service": p["service"],
            "tool": p["tool"], "older_than_ms": now_ms - min_age_ms})
        if not spans:  # the common case: no need to read a week of latency
            return Evaluation()
        history = self._per_entity(TOOL_P99_SQL, p["tool"], [(now_ms - int(p["history"] * 1000), now_ms)])
        p99 = {tool: ms for tool, (ms, calls) in history.items() if calls >= p["min_calls"] and ms > 0}
        over: dict[str, list[tuple]] = {}  # run -> (crossed at, span id, span, p99) of each span past it
        for r in spans:
            tool_p99 = p99.get(r["ToolName"])
            if tool_p99 is None or now_ms - r["start_ms"] <= p["tool_p99_factor"] * tool_p99:
                continue
            crossed = r["start_ms"] + max(p["tool_p99_factor"] * tool_p99, min_age_ms)
            over.setdefault(r["run"], []).append((crossed, r["SpanId"], r, tool_p99))
        samples = []
        for run, crossings in sorted(over.items()):
            _, _, r, tool_p99 = min(crossings, key=lambda c: c[:2])
            age_s = (now_ms - r["start_ms"]) / 1000
            ratio = round((now_ms - r["start_ms"]) / tool_p99, 2)
            values = {"age": f"{age_s / 60:.0f}m", "p99_ms": f"{tool_p99:.0f}", "ratio": f"{ratio:g}",
                      "stuck_spans": len(crossings), "trace_id": r["TraceId"],
                      "summary": f"run {run}: {r['ToolName']} call open for {age_s / 60:.0f} min, "
                                 f"{ratio:g} x its p99 of {tool_p99 / 1000:.3g} s"}
            link = run_link(trace_id=run) if run == r["TraceId"] else run_link(run_id=run)
            labels = {"run_id": run, "tool": r["ToolName"], "agent": r["AgentId"]}
            samples.append(self._sample(rule, labels, ratio, values, link))
        # nodata: open calls whose tools have too little history to judge
        return Evaluation(samples, has_data=any(r["ToolName"] in p99 for r in spans))

    def _per_entity(self, sql: str, name: str, windows: list[tuple[int, int]]) -> dict[str, tuple]:
        """{entity: (value, samples)} of a measure query over the windows [start, end)."""
        starts, ends = [w[0] for w in windows], [w[1] for w in windows]
        rows = self.store.rows(sql, {"from_ms": min(starts), "to_ms": max(ends), "starts": list_param(starts),
                                     "ends": list_param(ends), "name": name})
        return {r["entity"]: (r["value"], r["samples"]) for r in rows if r["value"] == r["value"]}

    def _measure(self, measure: str, p: dict[str, Any], windows: list[tuple[int, int]]) -> dict[str, tuple]:
        name = p["tool"] if measure.startswith("tool_") else p["agent"]
        return self._per_entity(MEASURE_SQL[measure], name, windows)

    @staticmethod
    def _entity_label(measure: str) -> str:
        return "tool" if measure.startswith("tool_") else "agent"

    def _rate(self, rule: Rule, p: dict[str, Any], now_ms: int) -> Evaluation:
        measured = self._measure(p["measure"], p, [(now_ms - int(p["window"] * 1000), now_ms)])
        enough = {e: v for e, (v, n) in measured.items() if n >= p["min_samples"]}
        samples = [
            self._sample(rule, {self._entity_label(p["measure"]): e, "measure": p["measure"]}, v,
                         {"threshold": p["threshold"], "samples": measured[e][1]})
            for e, v in sorted(enough.items()) if _COMPARE[p["op"]](v, p["threshold"])
        ]
        return Evaluation(samples, has_data=bool(enough))

    def _drift(self, rule: Rule, p: dict[str, Any], now_ms: int) -> Evaluation:
        recent = self._measure(p["measure"], p, [(now_ms - int(p["window"] * 1000), now_ms)])
        baseline = self._measure(p["measure"], p, baseline_windows(p, now_ms))
        samples, compared = [], 0
        for entity in sorted(recent):
            (value, n), (base, n_base) = recent[entity], baseline.get(entity, (None, 0))
            if n < p["min_samples"] or n_base < p["min_baseline_samples"] or not base:
                continue
            compared += 1
            ratio = value / base
            up, down = ratio >= p["factor"], ratio <= 1 / p["factor"]
            if {"up": up, "down": down, "both": up or down}[p["direction"]]:
                values = {"baseline": f"{base:.4g}", "recent": f"{value:.4g}", "ratio": f"{ratio:.2f}"}
                samples.append(self._sample(
                    rule, {self._entity_label(p["measure"]): entity, "measure": p["measure"]},
                    round(ratio, 4), values))
        return Evaluation(samples, has_data=compared > 0)

    def _sql(self, rule: Rule, p: dict[str, Any], now_ms: int) -> Evaluation:
        result = self._readonly_client().query(p["query"], parameters={"now_ms": now_ms})
        samples = []
        for row in result.result_rows:
            record = dict(zip(result.column_names, row, strict=True))
            value = record.pop("value", None)
            value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            labels = {str(k): str(v) for k, v in record.items()}
            link = run_link(labels.get("run_id", ""), labels.get("trace_id", ""))
            samples.append(self._sample(rule, labels, value, labels, link))
        return Evaluation(samples)

    def _readonly_client(self):
        """A client whose session is read-only with time, memory and result limits: the limits are
        set first and readonly last (once read-only, a session cannot change settings)."""
        if self._readonly is None:
            import clickhouse_connect
            from swarmscope.schema.store import EMBEDDED_ENGINE_OPTIONS

            if self.store.embedded:
                client = clickhouse_connect.get_client(dsn=self.store.url, database=self.store.database,
                                                       chdb_options=EMBEDDED_ENGINE_OPTIONS)
                for name, value in RUN_SETTINGS.items():
                    client.command(f"SET {name} = {{value:String}}", parameters={"value": str(value)})
            else:
                client = clickhouse_connect.get_client(dsn=self.store.url, database=self.store.database,
                                                       settings=RUN_SETTINGS)
            self._readonly = client
        return self._readonly

    def close(self) -> None:
        if self._readonly is not None:
            self._readonly.close()
            self._readonly = None
