"""What a finished span's outcome is, as SQL conditions on `spans` rows: each defined once, used by
every detector that asks."""

from __future__ import annotations

# It failed: status Error, timed out, or its task failed, was abandoned or timed out.
FAILED = "(StatusCode = 'Error' OR TimedOut = 1 OR TaskStatus IN ('failed', 'abandoned', 'timeout'))"

# It completed: it did not fail (the complement of FAILED) and did not report only part of its task
# done: a side effect ran. Spelled out as a conjunction, the form duplicate_execution was measured with.
COMPLETED = (
    "(StatusCode != 'Error' AND TimedOut = 0 "
    "AND TaskStatus NOT IN ('failed', 'abandoned', 'timeout', 'partial'))"
)

# It claims success: its task is reported completed, or it is an agent span with status Ok; and it is
# not itself an error. What phantom_completion and partial_failure check against the trace.
CLAIM = (
    "(StatusCode != 'Error' AND "
    "(TaskStatus = 'completed' OR (Operation = 'invoke_agent' AND StatusCode = 'Ok')))"
)
