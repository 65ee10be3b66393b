"""`swarmscope.instrument()`: frameworks only when installed and asked for; each subprocess has a
fresh OpenTelemetry global state."""

from __future__ import annotations

import json
import subprocess
import sys

FRAMEWORK_MODULES = ["pydantic_ai", "agents", "langchain_core", "langgraph", "openinference"]


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_sdk_imports_no_framework() -> None:
    loaded = python(f"import sys, json, swarmscope; print(json.dumps([m for m in {FRAMEWORK_MODULES!r} "
                    "if m in sys.modules]))")
    assert json.loads(loaded) == []


def test_instrument_switches_on_the_installed_frameworks_once() -> None:
    out = python(
        "import json, swarmscope\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "swarmscope.init('t', exporter=InMemorySpanExporter())\n"
        "first = swarmscope.instrument()\n"
        "print(json.dumps([first, swarmscope.instrument()]))\n"
    )
    first, second = json.loads(out)
    assert {"openai_agents", "langchain", "pydantic_ai"} <= set(first)
    assert second == first
