"""Scenarios driven through the swarmscope SDK in their own interpreter (the SDK's state is per process):

    python tests/scenarios_sdk.py deadlock ENDPOINT RUN_ID SECONDS

`deadlock`: four agents in four threads (planner -> coder -> tester -> docs -> planner), each inside its
agent span waiting on the next with a wait_for(timeout=...) that never completes, heartbeating every
second, for SECONDS; then the event is set and everything ends normally.
"""

from __future__ import annotations

import sys
import threading

import swarmscope


def deadlock(endpoint: str, run_id: str, seconds: float) -> None:
    swarmscope.init(
        "deadlock-swarm",
        endpoint=endpoint,
        run_id=run_id,
        pending_delay=0.2,
        heartbeat_interval=1.0,
        schedule_delay=0.2,
    )
    ring = ["planner", "coder", "tester", "docs"]
    release = threading.Event()
    entered = threading.Barrier(len(ring) + 1)

    def run(i: int) -> None:
        with (
            swarmscope.agent(ring[i], task_id=f"{run_id}/{ring[i]}"),
            swarmscope.wait_for(ring[(i + 1) % len(ring)], timeout=seconds + 60) as w,
        ):
            entered.wait()
            w.wait_event(release)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ring))]
    for t in threads:
        t.start()
    entered.wait()
    print("WAITING", flush=True)
    release.wait(seconds)
    release.set()
    for t in threads:
        t.join()
    swarmscope.flush(5.0)
    print("DONE", flush=True)


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    if name == "deadlock":
        deadlock(args[0], args[1], float(args[2]))
    else:
        raise SystemExit(f"unknown scenario {name}")
