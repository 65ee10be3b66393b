"""Fingerprints of inputs and outputs: sha256 of a canonical JSON form.

Equal values must give equal hashes in every process (so loops and disagreeing agents can be found
from hashes alone), whatever the key order of dicts or the order of sets.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from typing import Any


def _default(value: Any) -> Any:
    # Called by json for anything it cannot encode itself.
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=canonical_json)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)  # pydantic v2, without importing it
    if callable(dump):
        return dump(mode="json")
    isoformat = getattr(value, "isoformat", None)  # datetime, date, time
    if callable(isoformat):
        return isoformat()
    return str(value)  # UUID, Decimal, Path, ...


def _string_keys(value: Any) -> Any:
    # sort_keys fails on dicts that mix key types (1 and "1"); json would turn them into strings anyway.
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys; the form that is hashed and, with capture on, recorded."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
    except TypeError:
        return json.dumps(
            _string_keys(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
        )


def fingerprint(value: Any) -> str:
    """sha256 hex of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8", "surrogatepass")).hexdigest()
