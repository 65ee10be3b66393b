"""phantom_completion and partial_failure: claims of success that the trace contradicts.

A *claim* (`outcomes.CLAIM`) is a finished span with `task.status = completed`, or an agent span
with status Ok, that is not itself an error.

- phantom_completion: the claim's own evidence says otherwise (a non-zero `evidence.exit_code`,
  `evidence.validation.passed = false`, a declared `evidence.test_command` that never ran, a
  confidence under `min_confidence`), or agents that did the same task on the same input disagree
  on the output (`output.hash`), within one run (else one trace).
- partial_failure: a claim whose descendant failed (status Error, timed out, task failed/abandoned)
  without being recovered by a later successful attempt of the same tool call, ended more than
  `end_slack_s` after it, or is still open: it finished on partial results.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from swarmscope import _conventions as c
from swarmscope.schema.params import array_of, fill, in_list, list_param
from swarmscope.schema.resolved_spans import resolved_spans
from swarmscope.schema.sql import first_of

from .model import Finding, common
from .outcomes import CLAIM, FAILED
from .sweep import REPEATED_INPUT, Sweep

# Claims with contradicting evidence (unresolved columns: the few rows found get their resolved agent
# and run).
CONTRADICTED = fill("""{claim}
  AND ((ExitCode IS NOT NULL AND ExitCode != 0) OR ValidationPassed = false
       OR (TestCommand != '' AND ExitCode IS NULL AND ValidationPassed IS NULL)
       OR Confidence < {max_min_confidence:Float64})""", claim=CLAIM)
PHANTOM_SQL = """
SELECT TraceId, SpanId, any(SpanName) AS name, any(AgentId) AS agent, any(RunId) AS run_id,
    any(TaskId) AS task_id, any(StatusCode) AS status, any(TaskStatus) AS task_status,
    any(ExitCode) AS exit_code, any(ValidationPassed) AS validation, any(TestCommand) AS test_command,
    any(Confidence) AS confidence
FROM {resolved}
GROUP BY TraceId, SpanId
"""

# Where a test command shows up as having run: a span recording it as its own evidence (with a
# result), or a process/tool span carrying it as its command line or arguments.
COMMAND_RAN_SQL = fill("""
SELECT TraceId, cmd, groupUniqArray(SpanId) AS span_ids
FROM spans
ARRAY JOIN [TestCommand, {command_line}, {command}, {tool_arguments}] AS cmd
WHERE Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64}) AND TraceId IN {traces}
  AND cmd != '' AND (cmd IN {cmds} OR multiSearchAny(cmd, {cmd_array}))
GROUP BY TraceId, cmd
""", traces=in_list("traces"), cmds=in_list("cmds"), cmd_array=array_of("cmds"),
    command_line=first_of("SpanAttributes", c.PROCESS_COMMAND_LINE),
    command=first_of("SpanAttributes", c.PROCESS_COMMAND),
    tool_arguments=first_of("SpanAttributes", c.TOOL_ARGUMENTS))

# Agents of one run (else one trace) that completed one task on one input with different outputs.
# Only inputs given more than once (Sweep.repeated_inputs) can have been given to two agents.
# Agents, runs and fingerprints resolved (framework agents are named by their ancestors).
DISAGREE_SQL = fill("""
SELECT if(RunId != '', RunId, TraceId) AS run, TaskId, InputHash,
    groupArray((AgentId, OutputHash, TraceId, SpanId, RunId)) AS runs
FROM {resolved}
WHERE InputHash != '' AND AgentId != '' AND {repeated_input}
GROUP BY run, TaskId, InputHash
HAVING uniqExact(AgentId) > 1 AND uniqExact(OutputHash) > 1
""", repeated_input=REPEATED_INPUT)
COMPLETED_TASKS = fill("{claim} AND TaskId != '' AND OutputHash != ''", claim=CLAIM)


def detect_phantom_completions(sweep: Sweep) -> list[Finding]:
    cfg = sweep.config
    resolved, params = sweep.resolved_scope(CONTRADICTED, selective=True)
    highest = cfg.most("phantom_completion", "min_confidence")
    rows = sweep.store.rows(fill(PHANTOM_SQL, resolved=resolved), {**params, "max_min_confidence": highest})
    # Which declared test commands never ran?
    unverified = [r for r in rows if r["test_command"] and r["exit_code"] is None and r["validation"] is None]
    ran: dict[tuple[str, str], set[str]] = defaultdict(set)
    if unverified:
        for r in sweep.store.rows(
            COMMAND_RAN_SQL,
            {
                "since_ms": sweep.since_ms,
                "traces": list_param(sorted({r["TraceId"] for r in unverified})),
                "cmds": list_param(sorted({r["test_command"] for r in unverified})),
            },
        ):
            for claim in unverified:
                if claim["TraceId"] == r["TraceId"] and claim["test_command"] in r["cmd"]:
                    ran[(claim["TraceId"], claim["test_command"])].update(r["span_ids"])

    findings = []
    for r in rows:
        reasons = []
        agent = r["agent"] or None
        if r["exit_code"] is not None and r["exit_code"] != 0:
            reasons.append({"check": "exit_code", "value": r["exit_code"], "expected": 0})
        if r["validation"] is False:
            reasons.append({"check": "validation.passed", "value": False, "expected": True})
        if r["test_command"] and r["exit_code"] is None and r["validation"] is None:
            others = ran.get((r["TraceId"], r["test_command"]), set()) - {r["SpanId"]}
            if not others:
                reasons.append(
                    {
                        "check": "test_command",
                        "value": r["test_command"],
                        "expected": "a span in the trace that ran it, or its exit code",
                    }
                )
        min_conf = cfg.get("phantom_completion", "min_confidence", agent=agent)
        if r["confidence"] is not None and r["confidence"] < min_conf:
            reasons.append({"check": "confidence", "value": r["confidence"], "threshold": min_conf})
        if not reasons:
            continue
        who = r["agent"] or r["name"]
        findings.append(
            Finding(
                kind="phantom_completion",
                key=f"{r['TraceId']}/{r['SpanId']}",
                severity="error" if any(x["check"] != "confidence" for x in reasons) else "warning",
                summary=f"{who} reported {r['task_status'] or r['status']} but "
                + "; ".join(_reason_text(x) for x in reasons),
                evidence={
                    "span": {
                        "trace_id": r["TraceId"],
                        "span_id": r["SpanId"],
                        "name": r["name"],
                        "agent_id": agent,
                        "task_id": r["task_id"] or None,
                        "status": r["status"],
                        "task_status": r["task_status"] or None,
                    },
                    "contradictions": reasons,
                },
                trace_id=r["TraceId"],
                run_id=r["run_id"],
                span_ids=[r["SpanId"]],
                agent_ids=[r["agent"]],
            )
        )
    findings.extend(_disagreements(sweep))
    return findings


def _reason_text(reason: dict) -> str:
    check = reason["check"]
    if check == "exit_code":
        return f"its exit code was {reason['value']}"
    if check == "validation.passed":
        return "its validation failed"
    if check == "test_command":
        return f"its test command {reason['value']!r} never ran"
    return f"its confidence {reason['value']:.2f} is under {reason['threshold']:.2f}"


class Agreement(NamedTuple):
    """One completion of DISAGREE_SQL's `runs` (its tuple order)."""

    agent_id: str
    output_hash: str
    trace_id: str
    span_id: str
    run_id: str


def _disagreements(sweep: Sweep) -> list[Finding]:
    repeated = sweep.repeated_inputs()
    if not repeated:
        return []
    resolved, params = sweep.resolved_run_scope(COMPLETED_TASKS)
    rows = sweep.store.rows(fill(DISAGREE_SQL, resolved=resolved), {**params, "repeated": repeated})
    findings = []
    for r in rows:
        runs = sorted({Agreement._make(x) for x in r["runs"]})
        by_output: dict[str, list[str]] = defaultdict(list)
        for x in runs:
            if x.agent_id not in by_output[x.output_hash]:
                by_output[x.output_hash].append(x.agent_id)
        findings.append(
            Finding(
                kind="phantom_completion",
                key=f"disagree/{r['run']}/{r['TaskId']}/{r['InputHash']}",
                severity="warning",
                summary=f"{len({x.agent_id for x in runs})} agents completed task {r['TaskId']} on the same "
                f"input with {len(by_output)} different outputs",
                evidence={
                    "check": "disagreement",
                    "task_id": r["TaskId"],
                    "input_hash": r["InputHash"],
                    "outputs": dict(by_output),
                    "spans": [x._asdict() for x in runs[:50]],
                },
                trace_id=common(x.trace_id for x in runs),
                run_id=common(x.run_id for x in runs),
                span_ids=[x.span_id for x in runs],
                agent_ids=[x.agent_id for x in runs],
            )
        )
    return findings


# ---- partial_failure ------------------------------------------------------------------------

# Per trace in scope that has a claim: the span tree as arrays of numbers (span ids hashed), kept only
# for the few traces that can hold a partial failure: a span failed and was not recovered by a later
# successful attempt of the same call under the same parent, or a span ended after its parent. Python
# then walks up from those spans to the claims among their ancestors (see _partial_pairs). Numbers only,
# because a cold sweep groups every trace: names are read afterwards for the traces found
# (PARTIAL_DETAILS_SQL). Measurements: docs/detectors.md, "Cost".
PARTIAL_SQL = fill("""
WITH {slack_ns:Int64} AS slack
SELECT TraceId, hids, hparents, ends, claims, unrecovered
FROM (
    SELECT TraceId, hids, hparents, ends, arrayMap(f -> toUInt8(bitAnd(f, 1)), flags) AS claims,
        -- failed spans without a later (higher attempt) successful span with the same retry key
        arrayFilter(i -> NOT arrayExists(j -> rkeys[j] = rkeys[i] AND NOT bitTest(flags[j], 1)
                                              AND bitShiftRight(flags[j], 2) > bitShiftRight(flags[i], 2),
                                         arrayEnumerate(hids)),
                    arrayFilter(i -> bitTest(flags[i], 1), arrayEnumerate(hids))) AS unrecovered,
        -- Does a span end after its parent? Asked without indexing (a lambda that indexes an array
        -- copies it for every element: n^2 per trace): every span as (id * 2, its end) and every
        -- parent reference as (parent id * 2 + 1, the child's end), sorted by that one number, put a
        -- parent's entry right before its children's, and arrayFill carries it to them. Sorting on one
        -- UInt64 is ~3x cheaper than on (id, role, end) tuples, but repeated rows of one span (an
        -- unmerged part) would then come in any order: a trace with any is looked at closely anyway.
        arraySort((x, key) -> key,
                  arrayZip(arrayConcat(arrayMap(h -> bitShiftLeft(h, 1), hids),
                                       arrayMap(h -> bitShiftLeft(h, 1) + 1, hparents)) AS keys,
                           arrayConcat(ends, ends)),
                  keys) AS tree,
        arrayExists((x, parent) -> bitTest(x.1, 0) AND x.1 != 1 AND parent.1 + 1 = x.1
                                   AND x.2 > parent.2 + slack,
                    tree, arrayFill(x -> NOT bitTest(x.1, 0), tree))
            OR arrayExists((x, previous) -> x.1 = previous.1 AND NOT bitTest(x.1, 0),
                           arrayPopFront(tree), arrayPopBack(tree)) AS look_closely
    FROM (
        SELECT TraceId,
            groupArray(cityHash64(SpanId)) AS hids,
            groupArray(if(ParentSpanId = '', 0, cityHash64(ParentSpanId))) AS hparents,
            groupArray(if({failed} OR Attempt > 0, cityHash64(ParentSpanId, ToolName, ToolCallId), 0))
                AS rkeys,
            groupArray(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS ends,
            -- bits: attempt << 2 | failed << 1 | claim
            groupArray(toUInt64(Attempt) * 4 + {failed} * 2 + {claim}) AS flags
        FROM spans
        WHERE {scope}
        GROUP BY TraceId
        HAVING max({claim}) = 1 AND count() > 1
    )
)
WHERE notEmpty(unrecovered) OR look_closely
-- Keep the filter after the arrays it needs and before the output: merged, the planner computed the
-- output arrays for every trace, not only the ~5% that pass.
SETTINGS query_plan_merge_expressions = 0, query_plan_filter_push_down = 0
""", failed=FAILED, claim=CLAIM)

MAX_DEPTH = 32  # levels walked up from a failed or late span


def _partial_pairs(row: dict, slack_ns: int) -> list[tuple[int, bool, int]]:
    """(span hash, failed unrecovered, claim hash) for each claim that a failed or late span of this
    trace contradicts. Of repeated rows of one span (an unmerged part), the first is its parent's."""
    hids, ends, claims = row["hids"], row["ends"], row["claims"]
    index: dict[int, int] = {}
    for i, h in enumerate(hids):
        index.setdefault(h, i)
    up = [index.get(p, -1) if p else -1 for p in row["hparents"]]
    unrecovered = {i - 1 for i in row["unrecovered"]}  # SQL indexes from 1
    late = [i for i, p in enumerate(up) if p >= 0 and ends[i] > ends[p] + slack_ns]
    pairs = []
    for bad in dict.fromkeys([*(i - 1 for i in row["unrecovered"]), *late]):
        failed = bad in unrecovered
        a = up[bad]
        for _ in range(MAX_DEPTH):
            if a < 0:
                break
            if claims[a] and (failed or ends[bad] > ends[a] + slack_ns):
                pairs.append((hids[bad], failed, hids[a]))
            a = up[a]
    return pairs


# Ids, names and (resolved) agents of the spans PARTIAL_SQL found (by hash), each trace's run (its one
# resolved RunId, if it has one), and its tool calls with an attempt number as (span hash, call key,
# attempt, failed): a framework retry has a derived attempt only (schema/resolve.py), so PARTIAL_SQL,
# reading `spans`, cannot see that it recovered a failed call; _recovered() does.
PARTIAL_DETAILS_SQL = fill("""
SELECT TraceId, groupUniqArrayIf(RunId, RunId != '') AS run_set,
    groupArrayIf((cityHash64(SpanId), SpanId, SpanName, AgentId),
                 cityHash64(SpanId) IN {hashes}) AS named,
    groupArrayIf((cityHash64(SpanId), cityHash64(AgentId, ToolName, InputHash), Attempt, {failed}),
                 ToolName != '' AND InputHash != '' AND Attempt > 0) AS attempts
FROM {resolved}
GROUP BY TraceId
""", hashes=in_list("hashes", "UInt64"), failed=FAILED)
OF_TRACES = fill("{scope} AND TraceId IN {traces}", traces=in_list("traces"))

TRACES_SINCE = fill("TraceId IN {traces} AND Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})",
                    traces=in_list("traces"))
# Finished spans of the traces where an open span's parent is not open (it may have ended).
TREE_SQL = fill("""
SELECT TraceId, SpanId, any(ParentSpanId) AS parent, any(SpanName) AS name, any(AgentId) AS agent,
    any(RunId) AS run_id,
    max({claim}) AS claim
FROM {resolved}
GROUP BY TraceId, SpanId
""", claim=CLAIM, resolved=resolved_spans(TRACES_SINCE, TRACES_SINCE))


def _recovered(attempts: list[tuple[int, int, int, int]]) -> set[int]:
    """Hashes of the failed tool calls that a later successful attempt of the same call recovered. The
    same call is the same agent, tool and arguments, as schema/resolve.py numbers attempts: in an
    agent loop each call has a turn span of its own as parent."""
    best: dict[int, int] = {}  # call key -> highest successful attempt
    for _, key, attempt, failed in attempts:
        if not failed:
            best[key] = max(best.get(key, 0), attempt)
    return {h for h, key, attempt, failed in attempts if failed and best.get(key, 0) > attempt}


def detect_partial_failures(sweep: Sweep) -> list[Finding]:
    slack_ns = int(sweep.config.get("partial_failure", "end_slack_s") * 1e9)
    scope, params = sweep.scope()
    # claim span -> {trace, failed descendants}
    per_trace: dict[str, dict] = {}
    found = []
    for r in sweep.store.rows(fill(PARTIAL_SQL, scope=scope), {**params, "slack_ns": slack_ns}):
        pairs = _partial_pairs(r, slack_ns)
        if pairs:
            found.append({"TraceId": r["TraceId"], "found": pairs})
    details: dict[str, dict] = {}
    of_traces = fill(OF_TRACES, scope=scope)  # on TraceId and Timestamp only: it bounds the resolution too
    if found:
        hashes = {h for r in found for bad, _, claim in r["found"] for h in (bad, claim)}
        details = {
            r["TraceId"]: r
            for r in sweep.store.rows(
                fill(PARTIAL_DETAILS_SQL, resolved=resolved_spans(of_traces, of_traces)),
                {
                    **params,
                    "traces": list_param(r["TraceId"] for r in found),
                    "hashes": list_param(hashes),
                },
            )
        }
    for r in found:
        detail = details.get(r["TraceId"], {"run_set": [], "named": [], "attempts": []})
        named = {h: (span_id, name, agent) for h, span_id, name, agent in detail["named"]}
        run = detail["run_set"][0] if len(detail["run_set"]) == 1 else ""
        entry = per_trace.setdefault(r["TraceId"], {"claims": {}, "bad": {}, "run": run})
        recovered = _recovered(detail["attempts"])
        for bad, unrecovered, claim in r["found"]:
            if unrecovered and bad in recovered:
                continue
            bad_id, bad_name, bad_agent = named.get(bad, (str(bad), "", ""))
            claim_id, claim_name, claim_agent = named.get(claim, (str(claim), "", ""))
            entry["claims"][claim_id] = (claim_name, claim_agent)
            entry["bad"][bad_id] = {
                "span_id": bad_id,
                "name": bad_name,
                "agent_id": bad_agent or None,
                "state": "failed" if unrecovered else "ended_after_it",
            }
    _open_descendants(sweep, per_trace)

    findings = []
    for trace_id, entry in per_trace.items():
        claims = entry["claims"]
        if not claims:
            continue
        bad = list(entry["bad"].values())
        claim_names = [name for name, _ in claims.values()]
        findings.append(
            Finding(
                kind="partial_failure",
                key=trace_id,
                severity="warning",
                summary=f"{', '.join(claim_names[:3])} ended successfully while {len(bad)} "
                f"of its descendant(s) "
                f"failed or had not finished ({', '.join(b['name'] for b in bad[:3])})",
                evidence={
                    "claims": [
                        {"span_id": s, "name": n, "agent_id": a or None} for s, (n, a) in claims.items()
                    ],
                    "descendants": bad[:50],
                    "descendant_count": len(bad),
                    "end_slack_ms": slack_ns // 1_000_000,
                },
                trace_id=trace_id,
                run_id=entry["run"],
                span_ids=[*claims, *(b["span_id"] for b in bad)],
                agent_ids=[*(a for _, a in claims.values()), *(b["agent_id"] or "" for b in bad)],
            )
        )
    return findings


def _open_descendants(sweep: Sweep, per_trace: dict[str, dict]) -> None:
    """Open spans whose parent is not open: if an ancestor already ended as a claim, it ended on them."""
    open_spans = sweep.open_spans()
    open_ids = {(s.trace_id, s.span_id) for s in open_spans}
    orphans = [s for s in open_spans if s.parent_span_id and (s.trace_id, s.parent_span_id) not in open_ids]
    in_scope = sweep.in_scope({s.trace_id for s in orphans})
    orphans = [s for s in orphans if s.trace_id in in_scope]
    if not orphans:
        return
    since = min(sweep.since_ms, min(s.start_ms for s in orphans) - 3_600_000)
    tree: dict[tuple[str, str], dict] = {}
    traces = list_param(sorted({s.trace_id for s in orphans}))
    for r in sweep.store.rows(TREE_SQL, {"traces": traces, "since_ms": since}):
        tree[(r["TraceId"], r["SpanId"])] = r
    for span in orphans:
        node = tree.get((span.trace_id, span.parent_span_id))
        for _ in range(64):
            if node is None:
                break
            if node["claim"]:
                entry = per_trace.setdefault(span.trace_id, {"claims": {}, "bad": {}, "run": node["run_id"]})
                entry["claims"][node["SpanId"]] = (node["name"], node["agent"])
                entry["bad"][span.span_id] = {
                    "span_id": span.span_id,
                    "name": span.name,
                    "agent_id": span.agent_id or None,
                    "state": "still_open",
                }
            node = tree.get((span.trace_id, node["parent"])) if node["parent"] else None
