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


def _openinference(framework: str, module: str, cls: str, provider: Any) -> bool:
    if not (_installed(framework) and _installed(module)):
        return False
    instrumentor = getattr(importlib.import_module(module), cls)()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return True


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
        except Exception:
            logger.warning("swarmscope: could not instrument %s", framework, exc_info=True)
    try:
        if _pydantic_ai(provider):
            switched.append("pydantic_ai")
    except Exception:
        logger.warning("swarmscope: could not instrument pydantic_ai", exc_info=True)
    return switched
