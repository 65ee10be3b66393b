"""swarmscope SDK: thin OpenTelemetry instrumentation for agent swarms.

    import swarmscope
    swarmscope.init("my-swarm")                  # OTLP/HTTP to $OTEL_EXPORTER_OTLP_ENDPOINT or :4318
    swarmscope.instrument()                      # and the installed agent frameworks' own spans

    with swarmscope.agent("coder", role="worker", task_id="T-1", input=task) as a:
        with swarmscope.tool("run_tests", arguments={"path": "tests"}) as t:
            t.set_result(run_tests())
        a.set_evidence(exit_code=0, test_command="pytest -q")

Depends on OpenTelemetry only (api, sdk, OTLP/HTTP exporter); never on the server's packages.
"""

from ._config import Runtime, flush, get_runtime, init, shutdown, stats, traces_url
from ._fingerprint import canonical_json, fingerprint
from ._instrument import instrument
from ._propagation import continue_from, extract, inject, run
from ._propagation import run_id as current_run_id
from ._retry import RetryPolicy, retry
from ._spans import WaitTimeout, agent, current_agent, tool, wait_for
from ._state import __version__

__all__ = [
    "RetryPolicy",
    "Runtime",
    "WaitTimeout",
    "__version__",
    "agent",
    "canonical_json",
    "continue_from",
    "current_agent",
    "current_run_id",
    "extract",
    "fingerprint",
    "flush",
    "get_runtime",
    "init",
    "inject",
    "instrument",
    "retry",
    "run",
    "shutdown",
    "stats",
    "tool",
    "traces_url",
    "wait_for",
]
