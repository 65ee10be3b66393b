"""Reads for comparing two runs: a run's spans (its traces' outline) and the previous run of the same
name (same root span name and service, started earlier, within the last `WINDOW_MS`)."""

from __future__ import annotations

import re
from typing import Any

from swarmscope.schema.queries import spans as span_queries
from swarmscope.schema.queries.runs import run_traces
from swarmscope.schema.store import Store

WINDOW_MS = 30 * 86_400_000
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

RUN_ROOT = """
SELECT max(RootName) AS root, max(RootService) AS service, toUnixTimestamp64Milli(min(Start)) AS start_ms
FROM traces WHERE has(RunIds, {id:String}) OR TraceId = {id:String}
HAVING count() > 0
"""

PREVIOUS = """
SELECT run_key, min(start_ms) AS first_ms
FROM (
    SELECT TraceId, toUnixTimestamp64Milli(min(Start)) AS start_ms, max(RootName) AS root,
        max(RootService) AS service, groupUniqArrayArray(RunIds) AS runs
    FROM traces
    WHERE Start >= fromUnixTimestamp64Milli({since_ms:Int64})
      AND Start < fromUnixTimestamp64Milli({before_ms:Int64})
    GROUP BY TraceId
)
ARRAY JOIN if(empty(runs), [TraceId], runs) AS run_key
WHERE root = {root:String} AND service = {service:String} AND run_key != {id:String}
GROUP BY run_key
ORDER BY first_ms DESC
LIMIT 1
"""


def run_spans(store: Store, run: str) -> list[dict[str, Any]] | None:
    """The outline of every span of a run (a run id, else a trace id); None if unknown."""
    trace_ids = run_traces(store, run)
    if not trace_ids and _TRACE_ID.match(run):
        trace_ids = [run]
    return span_queries.outline(store, trace_ids) if trace_ids else None


def previous_run(store: Store, run: str) -> str | None:
    """The latest run before `run` with the same root span name and service, or None."""
    rows = store.rows(RUN_ROOT, {"id": run})
    if not rows:
        return None
    me = rows[0]
    found = store.rows(PREVIOUS, {"id": run, "root": me["root"], "service": me["service"],
                                  "before_ms": me["start_ms"], "since_ms": me["start_ms"] - WINDOW_MS})
    return found[0]["run_key"] if found else None
