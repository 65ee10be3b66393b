"""Lists bound as query parameters.

A list of ids goes to ClickHouse as one String parameter holding a JSON array, which the query unpacks
in a subquery (`IN (SELECT arrayJoin(...))`), never as an `Array(String)` parameter. Measured on the
detection bench store (1M spans, chDB 4.4 / ClickHouse 26.9): `TraceId IN {x:Array(String)}` with
20,000 trace ids took 0.18 s, with 29,000 it took 76-100 s (whatever the index and prewhere settings),
while the JSON-string subquery took 0.16-0.25 s. An incremental sweep after a burst of traffic has
scopes that large. JSON, not a separator, because run ids and task ids are free text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def in_list(name: str, element_type: str = "String") -> str:
    """SQL for `x IN <this>`: the elements of the list bound as `name` (see `list_param`)."""
    return f"(SELECT arrayJoin(JSONExtract({{{name}:String}}, 'Array({element_type})')))"


def list_param(values: Iterable[str | int]) -> str:
    """The value to bind for an `in_list` parameter."""
    return json.dumps(list(values))
