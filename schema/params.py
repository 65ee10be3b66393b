"""How read SQL is composed: one rule for every query of the server.

- SQL text is a plain string constant. A part chosen at run time (a sweep's scope, a filter) is a
  `{fragment}` marker filled by `fill()` with another constant or with a fragment built by these
  rules; a fragment never holds a value.
- Every value is bound server-side as a `{name:Type}` parameter.
- A list of values is ONE String parameter holding a JSON array (`list_param`), unpacked in SQL by
  `in_list` (for `x IN ...`) or `array_of` (where a function wants an array). Never an `Array(...)`
  parameter: on the detection bench store (1M spans, chDB 4.4 / ClickHouse 26.9),
  `TraceId IN {x:Array(String)}` with 20,000 trace ids took 0.18 s and with 29,000 took 76-100 s
  (whatever the index and prewhere settings), while the JSON-string subquery took 0.16-0.25 s; an
  incremental sweep after a burst of traffic has scopes that large. JSON, not a separator, because
  run ids and task ids are free text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

_MARKER = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, **fragments: str) -> str:
    """`template` with each `{name}` marker replaced by the SQL fragment given for it (markers not
    named stay, for a later `fill`). A fragment whose marker is not in the template is a mistake."""
    missing = [name for name in fragments if "{" + name + "}" not in template]
    if missing:
        raise KeyError(f"no marker for SQL fragment(s) {missing}")
    return _MARKER.sub(lambda m: fragments.get(m.group(1), m.group(0)), template)


def array_of(name: str, element_type: str = "String") -> str:
    """SQL for the list bound as `name` (see `list_param`) as an array."""
    return f"JSONExtract({{{name}:String}}, 'Array({element_type})')"


def in_list(name: str, element_type: str = "String") -> str:
    """SQL for `x IN <this>`: the elements of the list bound as `name` (see `list_param`)."""
    return f"(SELECT arrayJoin({array_of(name, element_type)}))"


def list_param(values: Iterable[str | int]) -> str:
    """The value to bind for an `in_list` / `array_of` parameter."""
    return json.dumps(list(values))
