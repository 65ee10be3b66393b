"""Process-wide SDK state, set by ``init`` and read on every span: kept tiny and import-cheap."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

__version__ = "0.1.0"


@dataclass(frozen=True)
class Settings:
    capture_content: bool = False
    # redact(value, attribute_name) -> value to record, or None to record nothing.
    redact: Callable[[Any, str], Any] | None = None
    max_content_chars: int = 4096


settings = Settings()
# Before init (or when init is never called) spans go to whatever global provider the application has.
_fallback_tracer = trace.get_tracer("swarmscope", __version__)
_tracer: trace.Tracer | None = None
_run_id: str | None = None
_run_lock = threading.Lock()


def tracer() -> trace.Tracer:
    return _tracer or _fallback_tracer


def configure(new_settings: Settings, new_tracer: trace.Tracer | None, run_id: str | None) -> None:
    global settings, _tracer, _run_id
    settings, _tracer = new_settings, new_tracer
    if run_id:
        _run_id = run_id


def new_run_id() -> str:
    return uuid.uuid4().hex


def process_run_id(create: bool = True) -> str | None:
    """The run of spans that carry no run in their baggage: given to init, else made at the first agent."""
    global _run_id
    if _run_id is None and create:
        with _run_lock:
            if _run_id is None:
                _run_id = new_run_id()
    return _run_id


def reset_run_id() -> None:
    global _run_id
    _run_id = None
