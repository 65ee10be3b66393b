"""The spans agent code opens: ``agent``, ``tool`` and ``wait_for``.

Each is a context manager (``with`` and ``async with``) and a decorator. They start ordinary
OpenTelemetry spans with the GenAI attributes plus ours, and put the agent's identity and the run id
on every span so the backend never has to walk parents to know whose tool call or wait it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import inspect
import logging
import queue as queue_module
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from opentelemetry import baggage, context, trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from . import _conventions as c
from . import _state
from ._fingerprint import canonical_json, fingerprint
from ._propagation import LINK_KEY

logger = logging.getLogger("swarmscope")
T = TypeVar("T")
_AGENT_KEY = context.create_key("swarmscope.agent")
_SELF_NAMES = ("self", "cls")


def current_agent() -> agent | None:
    """The innermost ``agent`` open in this context, e.g. to record tokens from deep inside its code."""
    return context.get_value(_AGENT_KEY)  # type: ignore[return-value]


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its fully qualified class name (builtins unqualified)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _content(value: Any, attribute: str) -> str | None:
    """Raw content to record, or None: only with capture on, after the redaction hook, truncated."""
    settings = _state.settings
    if not settings.capture_content:
        return None
    if settings.redact is not None:
        try:
            value = settings.redact(value, attribute)
        except Exception:  # fail closed: a broken redactor must not leak what it was meant to hide
            logger.debug("swarmscope redact hook raised; content not recorded", exc_info=True)
            return None
        if value is None:
            return None
    text = value if isinstance(value, str) else canonical_json(value)
    limit = settings.max_content_chars
    return text if len(text) <= limit else text[:limit] + "...[truncated]"


def _call_arguments(signature: inspect.Signature | None, args: tuple, kwargs: dict) -> Any:
    # What a decorated function was called with, by parameter name, minus self/cls (not content).
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()  # f(4) and f(4, b=1) are the same input
            return {k: v for k, v in bound.arguments.items() if k not in _SELF_NAMES}
        except TypeError:
            pass
    return {"args": list(args), "kwargs": kwargs}


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


class _SpanScope:
    """One span for the duration of a ``with`` block; one instance per block (decorators copy it)."""

    span: trace.Span

    def _name(self) -> str:
        raise NotImplementedError

    def _attributes(self, ctx: Context, run_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def _scope_context(self, ctx: Context, run_id: str, new_run: bool) -> Context:
        return ctx

    def _succeeded(self) -> None:
        self.span.set_status(Status(StatusCode.OK))

    def _failed(self, exc: BaseException) -> None:
        span = self.span
        span.record_exception(exc, escaped=True)
        if not self._error_marked:
            span.set_attribute(c.ERROR_TYPE, error_type(exc))
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))

    # with / async with ---------------------------------------------------------------------------

    def __enter__(self):
        ctx = context.get_current()
        run_id = baggage.get_baggage(c.RUN_BAGGAGE_KEY, ctx)
        new_run = not run_id
        if new_run:
            run_id = _state.process_run_id()
        links = None
        remote = context.get_value(LINK_KEY, ctx)
        if remote is not None and not trace.get_current_span(ctx).get_span_context().is_valid:
            links = (trace.Link(remote),)  # first span of an asynchronous hand-off
        self._error_marked = False
        self.span = _state.tracer().start_span(
            self._name(), context=ctx, attributes=self._attributes(ctx, run_id), links=links
        )
        ctx = trace.set_span_in_context(self.span, ctx)
        self._token = context.attach(self._scope_context(ctx, run_id, new_run))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is None:
                self._succeeded()
            else:
                self._failed(exc)
            self.span.end()
        finally:
            context.detach(self._token)

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self.__exit__(exc_type, exc, tb)

    # decorator -----------------------------------------------------------------------------------

    def _fresh(self):
        return copy.copy(self)

    def _record_call(self, arguments: Any) -> None:
        """Before the span starts: what a decorated function was called with."""

    def _record_return(self, value: Any) -> None:
        """What a decorated function returned."""

    def __call__(self, fn: Callable[..., T]) -> Callable[..., T]:
        signature = _signature(fn)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                scope = self._fresh()
                scope._record_call(lambda: _call_arguments(signature, args, kwargs))
                async with scope:
                    value = await fn(*args, **kwargs)
                    scope._record_return(value)
                    return value

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            scope = self._fresh()
            scope._record_call(lambda: _call_arguments(signature, args, kwargs))
            with scope:
                value = fn(*args, **kwargs)
                scope._record_return(value)
                return value

        return wrapper

    # shared recorders ----------------------------------------------------------------------------

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def set_error(self, error_type: str, message: str | None = None) -> None:
        """Mark the span failed without raising (a tool that returned an error result, ...)."""
        self._error_marked = True
        self.span.set_attribute(c.ERROR_TYPE, error_type)
        self.span.set_status(Status(StatusCode.ERROR, message or error_type))


def _agent_attributes(attributes: dict[str, Any], ctx: Context) -> None:
    owner = context.get_value(_AGENT_KEY, ctx)
    if owner is not None:
        attributes[c.AGENT_ID] = owner.agent_id  # type: ignore[attr-defined]
        attributes[c.AGENT_NAME] = owner.name  # type: ignore[attr-defined]


class agent(_SpanScope):  # noqa: N801 - reads as a verb phrase: `with agent("coder"):`
    """An ``invoke_agent {name}`` span: one agent doing one piece of work.

    ``agent_id`` defaults to ``name``; it is what other agents' ``wait_for`` names, so give each
    instance its own id when several run under one name. ``input`` is fingerprinted (and recorded with
    content capture on). Exiting normally means the task completed unless ``set_task_status`` said
    otherwise; an exception marks the span Error with ``error.type`` and re-raises.
    """

    def __init__(
        self,
        name: str,
        role: str | None = None,
        task_id: str | None = None,
        input: Any = None,  # noqa: A002 - the issue's name; fingerprinted, never kept raw by default
        *,
        agent_id: str | None = None,
        model: str | None = None,
        budget_tokens: int | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.agent_id = agent_id or name
        self.role = role
        self.task_id = task_id
        self.input = input
        self.model = model
        self.budget_tokens = budget_tokens
        self.extra = attributes
        self._reset()

    def _reset(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.task_status: str | None = None

    def _fresh(self):
        scope = copy.copy(self)
        scope._reset()
        return scope

    def _name(self) -> str:
        return f"invoke_agent {self.name}"

    def _attributes(self, ctx: Context, run_id: str) -> dict[str, Any]:
        attributes: dict[str, Any] = dict(self.extra) if self.extra else {}
        attributes[c.OPERATION] = c.OP_AGENT
        attributes[c.AGENT_ID] = self.agent_id
        attributes[c.AGENT_NAME] = self.name
        attributes[c.RUN_ID] = run_id
        if self.role is not None:
            attributes[c.AGENT_ROLE] = self.role
        if self.task_id is not None:
            attributes[c.TASK_ID] = self.task_id
        if self.model is not None:
            attributes[c.REQUEST_MODEL] = self.model
        if self.budget_tokens is not None:
            attributes[c.CONTEXT_BUDGET] = self.budget_tokens
        if self.input is not None:
            attributes[c.INPUT_HASH] = fingerprint(self.input)
            content = _content(self.input, c.INPUT_CONTENT)
            if content is not None:
                attributes[c.INPUT_CONTENT] = content
        return attributes

    def _scope_context(self, ctx: Context, run_id: str, new_run: bool) -> Context:
        ctx = context.set_value(_AGENT_KEY, self, ctx)
        # The first agent of a run puts the run in baggage: children and other processes inherit it.
        return baggage.set_baggage(c.RUN_BAGGAGE_KEY, run_id, ctx) if new_run else ctx

    def _record_call(self, arguments: Callable[[], Any]) -> None:
        if self.input is None:
            self.input = arguments()

    def _record_return(self, value: Any) -> None:
        if value is not None:
            self.set_output(value)

    def _succeeded(self) -> None:
        status = self.task_status or "completed"
        if self.task_status is None:
            self.span.set_attribute(c.TASK_STATUS, status)
        if status == "completed":
            self.span.set_status(Status(StatusCode.OK))
        elif status in ("failed", "abandoned") and not self._error_marked:
            self.span.set_attribute(c.ERROR_TYPE, "task_" + status if status == "failed" else status)
            self.span.set_status(Status(StatusCode.ERROR, f"task {status}"))
        # "partial": neither a success nor an error; the backend judges it (partial_failure).

    def _failed(self, exc: BaseException) -> None:
        super()._failed(exc)
        self.span.set_attribute(c.TASK_STATUS, "failed")

    # recorders -----------------------------------------------------------------------------------

    def record_tokens(self, input_tokens: int = 0, output_tokens: int = 0, model: str | None = None) -> None:
        """Add one model call's usage; the span carries the running totals."""
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.span.set_attribute(c.INPUT_TOKENS, self.input_tokens)
        self.span.set_attribute(c.OUTPUT_TOKENS, self.output_tokens)
        if model is not None:
            self.span.set_attribute(c.REQUEST_MODEL, model)

    def set_confidence(self, confidence: float) -> None:
        """The agent's own confidence in its result, 0..1."""
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {confidence!r}")
        self.span.set_attribute(c.CONFIDENCE, float(confidence))

    def set_output(self, output: Any) -> None:
        """Fingerprint the result (and record it, with content capture on)."""
        self.span.set_attribute(c.OUTPUT_HASH, fingerprint(output))
        content = _content(output, c.OUTPUT_CONTENT)
        if content is not None:
            self.span.set_attribute(c.OUTPUT_CONTENT, content)

    def set_evidence(
        self,
        *,
        exit_code: int | None = None,
        test_command: str | None = None,
        files_changed: int | Sequence[str] | None = None,
        validated_by: str | None = None,
        validation_passed: bool | None = None,
    ) -> None:
        """What backs a claim of completion; the backend checks the claim against it.

        ``files_changed`` is a count or the list of paths.
        """
        span = self.span
        if exit_code is not None:
            span.set_attribute(c.EVIDENCE_EXIT_CODE, int(exit_code))
        if test_command is not None:
            span.set_attribute(c.EVIDENCE_TEST_COMMAND, test_command)
        if files_changed is not None:
            value = files_changed if isinstance(files_changed, int) else [str(f) for f in files_changed]
            span.set_attribute(c.EVIDENCE_FILES_CHANGED, value)
        if validated_by is not None:
            span.set_attribute(c.EVIDENCE_VALIDATED_BY, validated_by)
        if validation_passed is not None:
            span.set_attribute(c.EVIDENCE_VALIDATION_PASSED, bool(validation_passed))

    def set_task_status(self, status: str) -> None:
        """``completed``, ``failed``, ``partial`` or ``abandoned``; otherwise set from how the block exits."""
        if status not in c.TASK_STATUSES:
            raise ValueError(f"task status must be one of {c.TASK_STATUSES}, got {status!r}")
        self.task_status = status
        self.span.set_attribute(c.TASK_STATUS, status)

    def set_context_budget(self, tokens: int) -> None:
        self.span.set_attribute(c.CONTEXT_BUDGET, int(tokens))


def new_call_id() -> str:
    return f"call_{random.getrandbits(64):016x}"


class tool(_SpanScope):  # noqa: N801
    """An ``execute_tool {name}`` span: one attempt at one tool call.

    ``arguments`` are fingerprinted (recorded raw only with content capture on); so is the result
    given to ``set_result``. As a decorator it records the call's arguments and return value itself.
    """

    def __init__(
        self,
        name: str,
        arguments: Any = None,
        idempotency_key: str | None = None,
        *,
        attempt: int = 1,
        call_id: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.arguments = arguments
        self.idempotency_key = idempotency_key
        self.attempt = attempt
        self.call_id = call_id
        self.extra = attributes

    def _name(self) -> str:
        return f"execute_tool {self.name}"

    def _attributes(self, ctx: Context, run_id: str) -> dict[str, Any]:
        attributes: dict[str, Any] = dict(self.extra) if self.extra else {}
        attributes[c.OPERATION] = c.OP_TOOL
        attributes[c.TOOL_NAME] = self.name
        attributes[c.TOOL_CALL_ID] = self.call_id or new_call_id()
        attributes[c.RUN_ID] = run_id
        attributes[c.ATTEMPT] = self.attempt
        _agent_attributes(attributes, ctx)
        if self.idempotency_key is not None:
            attributes[c.IDEMPOTENCY_KEY] = self.idempotency_key
        if self.arguments is not None:
            attributes[c.INPUT_HASH] = fingerprint(self.arguments)
            content = _content(self.arguments, c.TOOL_ARGUMENTS)
            if content is not None:
                attributes[c.TOOL_ARGUMENTS] = content
        return attributes

    def _record_call(self, arguments: Callable[[], Any]) -> None:
        if self.arguments is None:
            self.arguments = arguments()

    def _record_return(self, value: Any) -> None:
        self.set_result(value)

    def _succeeded(self) -> None:
        if not self._error_marked:
            self.span.set_status(Status(StatusCode.OK))

    def set_result(self, result: Any) -> None:
        """Fingerprint the tool's result (and record it, with content capture on)."""
        self.span.set_attribute(c.OUTPUT_HASH, fingerprint(result))
        content = _content(result, c.TOOL_RESULT)
        if content is not None:
            self.span.set_attribute(c.TOOL_RESULT, content)


class WaitTimeout(TimeoutError):
    """A bounded wait passed its deadline. The wait span is marked timed out before this is raised."""

    def __init__(self, target: str, timeout: float, task_id: str | None = None) -> None:
        self.target, self.timeout, self.task_id = target, timeout, task_id
        task = f" (task {task_id})" if task_id else ""
        super().__init__(f"waited {timeout:g} s for {target!r}{task} and gave up: the deadline passed")


WaitTimeout.__module__ = "swarmscope"  # error.type reads "swarmscope.WaitTimeout"


class wait_for(_SpanScope):  # noqa: N801
    """A ``wait {target}`` span: the time an agent is blocked on another agent (or a resource).

    With ``timeout`` (seconds) the wait is bounded: ``result``, ``get``, ``wait_event`` and the async
    ``wait`` block at most until the deadline, then mark the span timed out and raise ``WaitTimeout``.
    """

    def __init__(
        self,
        target_agent: str,
        task_id: str | None = None,
        resource: str | None = None,
        timeout: float | None = None,
        *,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 seconds")
        self.target = target_agent
        self.task_id = task_id
        self.resource = resource
        self.timeout = timeout
        self.extra = attributes
        self.deadline: float | None = None
        self.timed_out = False

    def _name(self) -> str:
        return f"wait {self.target}"

    def _attributes(self, ctx: Context, run_id: str) -> dict[str, Any]:
        attributes: dict[str, Any] = dict(self.extra) if self.extra else {}
        attributes[c.OPERATION] = c.OP_WAIT
        attributes[c.WAIT_FOR] = self.target
        attributes[c.RUN_ID] = run_id
        _agent_attributes(attributes, ctx)
        if self.task_id is not None:
            attributes[c.WAIT_TASK_ID] = self.task_id
        if self.resource is not None:
            attributes[c.WAIT_RESOURCE] = self.resource
        if self.timeout is not None:
            attributes[c.WAIT_TIMEOUT_MS] = int(self.timeout * 1000)
        return attributes

    def __enter__(self):
        self.timed_out = False
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        return super().__enter__()

    def _succeeded(self) -> None:
        if not self._error_marked:
            self.span.set_status(Status(StatusCode.OK))

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None for an unbounded wait."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def expire(self) -> WaitTimeout:
        """Mark the span timed out and return the exception to raise."""
        self.timed_out = True
        self.set_error("timeout", f"wait for {self.target} timed out after {self.timeout:g} s")
        return WaitTimeout(self.target, self.timeout or 0.0, self.task_id)

    def result(self, future: concurrent.futures.Future[T]) -> T:
        """``future.result()``, bounded by the deadline."""
        try:
            return future.result(timeout=self.remaining())
        except concurrent.futures.TimeoutError:
            if future.done():  # the work itself raised a TimeoutError: not our deadline
                raise
            raise self.expire() from None

    def get(self, queue: Any) -> Any:
        """``queue.get()`` (queue.Queue, multiprocessing queues, ...), bounded by the deadline."""
        try:
            return queue.get(timeout=self.remaining())
        except queue_module.Empty:
            raise self.expire() from None

    def wait_event(self, event: threading.Event) -> None:
        """``event.wait()``, bounded by the deadline."""
        if not event.wait(self.remaining()):
            raise self.expire()

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """``await awaitable``, bounded by the deadline (the awaitable is cancelled when it passes)."""
        remaining = self.remaining()
        if remaining is None:
            return await awaitable
        timeout_cm = getattr(asyncio, "timeout", None)
        if timeout_cm is None:  # Python 3.10
            try:
                return await asyncio.wait_for(awaitable, remaining)
            except asyncio.TimeoutError:
                raise self.expire() from None
        cm = timeout_cm(remaining)
        try:
            async with cm:
                return await awaitable
        except TimeoutError:
            if cm.expired():
                raise self.expire() from None
            raise
