"""Retries done right by default: capped exponential backoff with full jitter, every attempt a span.

Full jitter (sleep a uniform random time in [0, min(cap, base * 2**n)]) spreads the retries of many
agents hitting one failing tool, instead of synchronizing them into a retry storm. Each attempt is its
own ``execute_tool`` span with ``swarmscope.attempt`` (1 = first); all attempts of one call share the
tool call id and idempotency key, so the backend can tell retries from duplicates.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._spans import _call_arguments, _signature, new_call_id, tool

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.2  # seconds; the cap of the first backoff
    max_delay: float = 10.0  # seconds; no backoff is longer
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("max_attempts must be >= 1 and delays >= 0")

    def backoff(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt ``attempt`` (1-based): full jitter."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def retry(
    name: str | Callable | None = None,
    *,
    max_attempts: int = 3,
    base_delay: float = 0.2,
    max_delay: float = 10.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    idempotency_key: str | Callable[..., str] | None = None,
    policy: RetryPolicy | None = None,
) -> Any:
    """Decorate a tool function (sync or async) so each call is retried with backoff and traced.

        @swarmscope.retry("web_search", max_attempts=4, retry_on=(TimeoutError, ConnectionError))
        def web_search(query: str) -> list[str]: ...

    ``idempotency_key`` is a fixed key or a function of the call's arguments. The last error is
    re-raised when the attempts run out or an error is not in ``retry_on``.
    """
    if callable(name):  # bare @retry
        return retry()(name)
    policy = policy or RetryPolicy(max_attempts, base_delay, max_delay, tuple(retry_on))

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        tool_name = name or fn.__name__
        signature = _signature(fn)

        def start(args: tuple, kwargs: dict) -> tuple[Any, str | None, str]:
            key = idempotency_key(*args, **kwargs) if callable(idempotency_key) else idempotency_key
            return _call_arguments(signature, args, kwargs), key, new_call_id()

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                arguments, key, call_id = start(args, kwargs)
                for attempt in range(1, policy.max_attempts + 1):
                    try:
                        async with tool(tool_name, arguments, key, attempt=attempt, call_id=call_id) as t:
                            result = await fn(*args, **kwargs)
                            t.set_result(result)
                            return result
                    except policy.retry_on:
                        if attempt == policy.max_attempts:
                            raise
                    await asyncio.sleep(policy.backoff(attempt))
                raise AssertionError("unreachable")

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            arguments, key, call_id = start(args, kwargs)
            for attempt in range(1, policy.max_attempts + 1):
                try:
                    with tool(tool_name, arguments, key, attempt=attempt, call_id=call_id) as t:
                        result = fn(*args, **kwargs)
                        t.set_result(result)
                        return result
                except policy.retry_on:
                    if attempt == policy.max_attempts:
                        raise
                time.sleep(policy.backoff(attempt))
            raise AssertionError("unreachable")

        return wrapper

    return decorate
