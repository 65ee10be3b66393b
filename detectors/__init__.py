"""Detectors: SQL over the store (and small graph algorithms) that find the failures of agent swarms.

One module per kind or family:

- liveness.py       stalled_wait, lost_heartbeat (open spans)
- waitgraph.py      deadlock (cycles in the wait-for graph of open waits)
- completion.py     phantom_completion, partial_failure (outcomes.py: what failed/completed/claim mean)
- retries.py        retry_storm, duplicate_execution
- context_bloat.py  context_bloat
- loops.py          loop
- drift.py          drift

runner.py sweeps them (once, or continuously in DetectionLoop), persist.py keeps findings
deduplicated in the `findings` table, views.py is their read side for the API (findings, waits,
agents). See docs/detectors.md.
"""
