"""The command line every framework app shares: `python APP.py URL RUN_ID MODE`."""

from __future__ import annotations

import sys
from collections.abc import Callable

import swarmscope


def main(service: str, modes: dict[str, Callable[[], None]]) -> None:
    """Export to URL with the framework instrumented, run MODE inside run RUN_ID (`swarm` twice: two
    traces of one run), then flush. Pending records after 0.1 s, heartbeats every 0.5 s."""
    url, run_id, mode = sys.argv[1:4]
    swarmscope.init(service, endpoint=url, instrument=True, pending_delay=0.1, heartbeat_interval=0.5)
    with swarmscope.run(run_id):
        modes[mode]()
        if mode == "swarm":
            modes[mode]()
    swarmscope.shutdown()
