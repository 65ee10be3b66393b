"""The `sql` alert kind runs a user's SELECT: refuse anything that is not one read-only SELECT at load.

The check tokenizes the statement the way ClickHouse's lexer does (quoted strings, quoted identifiers,
comments), so a keyword inside a string literal is text, and a keyword hidden after a comment or in
another statement is still found. It is the first line; the query also runs with `readonly = 1` and
time, memory and result limits (`RUN_SETTINGS`), on a client of its own.
"""

from __future__ import annotations

import re

# Statements that change data, schema, settings or the server; any of them anywhere refuses the rule.
FORBIDDEN_KEYWORDS = frozenset({
    "INSERT", "DROP", "ALTER", "CREATE", "SYSTEM", "TRUNCATE", "RENAME", "ATTACH", "DETACH", "OPTIMIZE",
    "KILL", "GRANT", "REVOKE", "SET", "USE", "DELETE", "UPDATE", "EXCHANGE", "MOVE", "BACKUP", "RESTORE",
    "OUTFILE", "SETTINGS", "UNDROP",
})
# Table functions and functions that read or write outside the store (files, network, processes).
FORBIDDEN_FUNCTIONS = frozenset(name.lower() for name in {
    "file", "fileCluster", "url", "urlCluster", "remote", "remoteSecure", "cluster", "clusterAllReplicas",
    "s3", "s3Cluster", "gcs", "oss", "cosn", "azureBlobStorage", "azureBlobStorageCluster", "hdfs",
    "hdfsCluster", "input", "mysql", "postgresql", "jdbc", "odbc", "sqlite", "mongodb", "redis",
    "executable", "executablePool", "iceberg", "icebergS3", "icebergAzure", "icebergHDFS", "icebergLocal",
    "deltaLake", "deltaLakeS3", "deltaLakeAzure", "deltaLakeLocal", "hudi", "paimon", "dictionary",
    "dictGet", "dictGetOrDefault", "loop", "mergeTreeIndex", "mergeTreeProjection", "ytsaurus",
    "arrowFlight", "arrowflight", "fuzzJSON", "fuzzQuery", "prometheusQuery", "timeSeriesData",
    "view", "merge", "filesystem",
})

# In this order: once a session is read-only it cannot change settings, so readonly comes last.
RUN_SETTINGS = {
    "max_execution_time": 10,
    "max_memory_usage": 512 * 1024 * 1024,
    "max_result_rows": 1000,
    "result_overflow_mode": "break",
    "readonly": 1,
}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<quoted>"(?:[^"\\]|\\.|"")*"|`(?:[^`\\]|\\.|``)*`)
  | (?P<param>\{[A-Za-z_][A-Za-z0-9_]*:[^{}]+\})
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class UnsafeQuery(ValueError):
    """An `sql` rule's statement is not a single read-only SELECT."""


def tokens(sql: str) -> list[tuple[str, str]]:
    """(kind, text) for every token but spaces and comments. An unterminated comment or quote is an
    error: what follows it cannot be checked."""
    out = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "punct"
        text = match.group()
        if kind in ("space", "comment"):
            continue
        if kind == "punct" and text in ("'", '"', "`") or text.startswith("/*"):
            raise UnsafeQuery(f"unterminated {text!r} at character {match.start()}")
        out.append((kind, text))
    return out


def check_select(sql: str) -> str:
    """The statement without a trailing `;`, or UnsafeQuery saying what is refused."""
    if not sql or not sql.strip():
        raise UnsafeQuery("the query is empty")
    toks = tokens(sql)
    while toks and toks[-1] == ("punct", ";"):
        toks.pop()
    if not toks:
        raise UnsafeQuery("the query is empty")
    if ("punct", ";") in toks:
        raise UnsafeQuery("only one statement is allowed (found ';' between statements)")
    first = toks[0][1].upper() if toks[0][0] == "word" else toks[0][1]
    if first not in ("SELECT", "WITH", "("):
        raise UnsafeQuery(f"the query must be a SELECT (or WITH ... SELECT), not {toks[0][1]!r}")
    for i, (kind, text) in enumerate(toks):
        if kind != "word":
            continue
        if text.upper() in FORBIDDEN_KEYWORDS:
            raise UnsafeQuery(f"{text.upper()} is not allowed: an sql rule is a read-only SELECT")
        if text.lower() in FORBIDDEN_FUNCTIONS and i + 1 < len(toks) and toks[i + 1] == ("punct", "("):
            raise UnsafeQuery(f"{text}() is not allowed: an sql rule reads only the swarmscope tables")
        if text.upper() == "INTO":
            raise UnsafeQuery("INTO is not allowed: an sql rule only reads")
    return sql.strip().rstrip(";").strip()
