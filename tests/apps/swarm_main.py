"""The command line every framework app shares: `python APP.py URL RUN_ID MODE`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import swarmscope
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from swarmscope import _conventions as c
from swarmscope._config import get_runtime
from swarmscope._pending import own_agent

# What the hanging tool does once it runs: tell the test, then block until stdin closes.
_on_hang: list[Callable[[], None]] = []


def hang_here() -> None:
    """Called inside each app's hanging tool call (`hang` mode), with the framework's spans open."""
    for step in _on_hang:
        step()
    if not _on_hang:
        print("hanging", flush=True)
        sys.stdin.read()  # until the test closes stdin


def print_watched() -> None:
    """`watched` mode: print, as one JSON line, each open span the pending processor watches, with what
    its pending record would say: [name, agent, operation kind], sorted."""
    pending = get_runtime().pending
    rows = []
    for span in pending.open_spans():
        record = pending.pending_record(span).attributes
        kind = record.get(c.OPERATION) or record.get(c.OI_SPAN_KIND) or record.get(c.TRACELOOP_SPAN_KIND, "")
        rows.append([span.name, own_agent(record), kind])
    print(json.dumps(sorted(rows)), flush=True)


def main(service: str, modes: dict[str, Callable[[], None]]) -> None:
    """Export to URL with the framework instrumented, run MODE inside run RUN_ID (`swarm` twice: two
    traces of one run), then flush. Pending records after 0.1 s, heartbeats every 0.5 s. `watched`:
    the `hang` scenario in memory, printing what is watched while the tool call hangs (no server)."""
    url, run_id, mode = sys.argv[1:4]
    if mode == "watched":
        swarmscope.init(service, exporter=InMemorySpanExporter(), instrument=True)
        _on_hang.append(print_watched)
        mode = "hang"
    else:
        swarmscope.init(service, endpoint=url, instrument=True, pending_delay=0.1, heartbeat_interval=0.5)
    with swarmscope.run(run_id):
        modes[mode]()
        if mode == "swarm":
            modes[mode]()
    swarmscope.shutdown()
