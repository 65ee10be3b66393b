"""``swarmscope.instrument()``: switch on the agent frameworks' own tracing, whichever are installed.

Frameworks with OpenInference instrumentors get them (``pip install "swarmscope[langgraph]"`` and the
like install both); frameworks that emit OpenTelemetry natively are switched on the way their docs say
(Pydantic AI: ``Agent.instrument_all``). Nothing is imported unless it is installed, so the base SDK
stays OpenTelemetry only. The spans go through the same provider as the SDK's own, so both land in one
trace and the framework's open agent and tool spans get pending records and heartbeats too.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from opentelemetry import trace

from . import _conventions as c

logger = logging.getLogger("swarmscope")

# (framework module that must be installed, instrumentor module, instrumentor class)
OPENINFERENCE_INSTRUMENTORS = [
    ("agents", "openinference.instrumentation.openai_agents", "OpenAIAgentsInstrumentor"),
    ("langchain_core", "openinference.instrumentation.langchain", "LangChainInstrumentor"),
    ("crewai", "openinference.instrumentation.crewai", "CrewAIInstrumentor"),
    ("smolagents", "openinference.instrumentation.smolagents", "SmolagentsInstrumentor"),
    ("llama_index", "openinference.instrumentation.llama_index", "LlamaIndexInstrumentor"),
    ("autogen_agentchat", "openinference.instrumentation.autogen_agentchat", "AutogenAgentChatInstrumentor"),
    ("google.adk", "openinference.instrumentation.google_adk", "GoogleADKInstrumentor"),
    ("mcp", "openinference.instrumentation.mcp", "MCPInstrumentor"),
]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a half-installed one
        return False


def _options(framework: str, module: str) -> dict[str, Any]:
    """Instrumentor options beyond the provider. CrewAI's instrumentor has two modes: by default it
    wraps methods and opens no model-call spans (no tokens; and CrewAI 1.x runs text-format tool calls
    past the wrapped methods); its event-listener mode follows CrewAI's own events: agents, every tool
    call and model calls with their token counts."""
    if framework == "crewai" and _installed(module + "._event_listener"):
        return {"use_event_listener": True}
    return {}


def _openinference(framework: str, module: str, cls: str, provider: Any) -> bool:
    if not (_installed(framework) and _installed(module)):
        return False
    instrumentor = getattr(importlib.import_module(module), cls)()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider, **_options(framework, module))
    return True


def langchain_watch(run: Any, parent: Any = None) -> dict[str, str] | None:
    """What a LangChain run will be as an OpenInference span, known at its start, if it is one to watch
    open: a tool call; an agent (a run named like one, which OpenInference makes an AGENT span); a node
    of a LangGraph outer graph (in a graph of agents, the agent: named by the node; once, not again for
    the subgraph of the same name the node runs). None otherwise. `parent`: the parent run, if known."""
    metadata = run.metadata or {}
    namespace = metadata.get(c.LANGGRAPH_CHECKPOINT_NS, "")
    if run.run_type == "tool":
        known = {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: run.name}
        agent = c.langgraph_agent(namespace)
    elif "agent" in run.name.lower():
        known, agent = {c.OI_SPAN_KIND: "AGENT"}, c.langgraph_agent(namespace)
    elif (metadata.get(c.LANGGRAPH_NODE) == run.name and isinstance(namespace, str) and "|" not in namespace
          and getattr(parent, "name", None) != run.name):
        known, agent = {c.OI_SPAN_KIND: "CHAIN"}, c.langgraph_agent(namespace, is_agent_span=True)
    else:
        return None
    if agent:
        known[c.AGENT_NAME] = agent
    return known


def _watch_langchain_runs() -> None:
    """OpenInference's LangChain tracer sets a span's attributes only when the run ends, so an open
    tool call or agent would look like any span and get no pending records. Have the pending processor
    watch those runs' spans from their start, with what the run says (`langchain_watch`) on their
    pending records. Relies on the tracer's private run -> span map; if that moves, these runs simply
    go unwatched while open."""
    from openinference.instrumentation.langchain._tracer import OpenInferenceTracer

    from ._config import get_runtime

    original = OpenInferenceTracer._start_trace
    if getattr(original, "_swarmscope_watch", False):
        return

    def start_trace(self: Any, run: Any) -> None:
        original(self, run)
        runtime = get_runtime()
        span = getattr(self, "_spans_by_run", {}).get(run.id)
        parent = getattr(self, "run_map", {}).get(str(run.parent_run_id))
        if runtime is not None and span is not None and (known := langchain_watch(run, parent)) is not None:
            runtime.pending.watch(span, known)

    start_trace._swarmscope_watch = True  # type: ignore[attr-defined]
    OpenInferenceTracer._start_trace = start_trace  # type: ignore[method-assign]


def _pydantic_ai(provider: Any) -> bool:
    if not _installed("pydantic_ai"):
        return False
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    return True


def instrument(tracer_provider: Any = None) -> list[str]:
    """Turn on the tracing of every supported framework that is installed; returns their names.

    Call after ``swarmscope.init()`` (or use ``init(..., instrument=True)``). Safe to call twice. A
    framework whose instrumentation fails to start is logged and skipped: tracing never breaks the app.
    """
    provider = tracer_provider or trace.get_tracer_provider()
    switched = []
    for framework, module, cls in OPENINFERENCE_INSTRUMENTORS:
        try:
            if _openinference(framework, module, cls, provider):
                switched.append(module.rsplit(".", 1)[-1])
                if framework == "langchain_core":
                    _watch_langchain_runs()
        except Exception:
            logger.warning("swarmscope: could not instrument %s", framework, exc_info=True)
    try:
        if _pydantic_ai(provider):
            switched.append("pydantic_ai")
    except Exception:
        logger.warning("swarmscope: could not instrument pydantic_ai", exc_info=True)
    return switched
