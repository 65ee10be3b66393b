"""One Store over clickhouse-connect: embedded chDB (`chdb:///path`) or a ClickHouse server (`http(s)://`).

The same SQL runs on both. Every query binds its parameters server-side (`{name:Type}`); span content
never reaches SQL text.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from . import migrations as migrations_pkg
from .framing import frame
from .normalize import STREAM_COLUMNS, flatten_select
from .sql import OTLP_REQUEST_COLUMNS

DEFAULT_DATABASE = "swarmscope"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROTO_SCHEMA = (Path(__file__).parent / "otlp.proto").read_text()

# Inserting length-delimited ExportTraceServiceRequest messages; the schema travels with the insert, so
# this works the same embedded and against a server.
OTLP_INSERT_SETTINGS = {
    "format_schema": PROTO_SCHEMA,
    "format_schema_source": "string",
    "format_schema_message_name": "ExportTraceServiceRequest",
    "input_format_protobuf_oneof_presence": 1,
    "optimize_on_insert": 0,  # dedup is left to merges and FINAL reads: cheaper inserts
}

# A log segment goes from its file straight into span_stream through the flattening SELECT, planned
# once per insert instead of once per block by a view (docs/ingest.md, "Segment insert settings").
INSERT_SEGMENT = (
    f"INSERT INTO span_stream ({', '.join(name for name, _ in STREAM_COLUMNS)}) "
    + flatten_select("file({path:String}, Protobuf, {columns:String})")
)
# Each one measured in docs/ingest.md, "Segment insert settings".
SEGMENT_INSERT_SETTINGS = {
    **OTLP_INSERT_SETTINGS,
    "input_format_max_block_size_bytes": 8 * 1024 * 1024,  # memory follows the block, not the segment
    "min_compress_block_size": 64 * 1024,  # smaller buffers per column stream, same compression
    "max_compress_block_size": 256 * 1024,
    "short_circuit_function_evaluation": "disable",  # every branch is cheap and cannot throw
    "parallel_view_processing": 1,  # the four views of span_stream fed in parallel
    "query_plan_enable_optimizations": 0,  # nothing to optimize on this pipeline; planning costs
}

# Background merges at nice 10: an ingest burst gets the cores first, merges catch up after it.
EMBEDDED_ENGINE_OPTIONS = {"os_threads_nice_value_merge_mutate": 10}

# Freed pages kept 30 s in one arena, so bursts seconds apart reuse them (docs/ingest.md, "Allocator").
# jemalloc reads this once, when chDB loads; a JE_MALLOC_CONF set by the user wins.
EMBEDDED_ALLOCATOR_CONF = "percpu_arena:disabled,narenas:1,dirty_decay_ms:30000"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Sequence[str]
    ttl_tables: dict[str, str]  # table -> the time expression its TTL counts from


def discover_migrations() -> list[Migration]:
    """Every module `mNNN_name` in schema/migrations, in version order."""
    found = []
    for info in pkgutil.iter_modules(migrations_pkg.__path__):
        if not re.match(r"^m\d{3}_", info.name):
            continue
        module = importlib.import_module(f"{migrations_pkg.__name__}.{info.name}")
        found.append(Migration(module.VERSION, info.name, module.STATEMENTS,
                               getattr(module, "TTL_TABLES", {})))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _file_pattern(paths: Sequence[str | Path]) -> str:
    """One file() path naming every file: `dir/{a,b,c}` (ClickHouse's glob alternatives)."""
    resolved = [Path(p).resolve() for p in paths]
    directory = resolved[0].parent
    if any(p.parent != directory or not _PLAIN_NAME.match(p.name) for p in resolved):
        raise ValueError("segment files must share a directory and have plain names")
    if len(resolved) == 1:
        return str(resolved[0])
    return f"{directory}/{{{','.join(p.name for p in resolved)}}}"


def embedded_url(data_dir: str | Path) -> str:
    return f"chdb://{Path(data_dir).resolve()}"


class Store:
    """Connection to the swarmscope database, one clickhouse-connect client per thread.

    chDB serializes calls on one handle, so an ingest insert would block API reads; separate
    handles onto the one embedded engine (and separate HTTP sessions on a server) run in parallel.
    """

    def __init__(self, url: str, database: str = DEFAULT_DATABASE) -> None:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"invalid database name: {database!r}")
        parsed = urlparse(url)
        if parsed.scheme not in ("chdb", "http", "https"):
            raise ValueError(f"store URL must be chdb:///path or http(s)://host:port, got {url!r}")
        self.url = url
        self.database = database
        self.embedded = parsed.scheme == "chdb"
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()
        self._segment_client: Client | None = None
        if self.embedded:
            os.environ.setdefault("JE_MALLOC_CONF", EMBEDDED_ALLOCATOR_CONF)
            if parsed.path:
                Path(parsed.path).mkdir(parents=True, exist_ok=True)
        bootstrap = self._connect(database=None)
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {database}")

    def _connect(self, database: str | None) -> Client:
        if self.embedded:
            client = clickhouse_connect.get_client(dsn=self.url, database=database or "default",
                                                   chdb_options=EMBEDDED_ENGINE_OPTIONS)
        else:
            client = clickhouse_connect.get_client(
                dsn=self.url, database=database or "default", send_receive_timeout=60
            )
        with self._lock:
            self._clients.append(client)
        return client

    @property
    def client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._connect(self.database)
            self._local.client = client
        return client

    # ---- queries ---------------------------------------------------------------------------

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.client.command(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self.client.query(sql, parameters=parameters)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        result = self.client.query(sql, parameters=parameters)
        return result.result_rows[0][0] if result.result_rows else None

    # ---- ingest ----------------------------------------------------------------------------

    def insert_requests(self, requests: Iterable[bytes]) -> None:
        """Insert serialized ExportTraceServiceRequest messages (tests, tools, the baseline)."""
        self.insert_otlp(b"".join(frame(r) for r in requests))

    def insert_otlp(self, length_delimited: bytes | Iterable[bytes]) -> None:
        """Insert varint-length-delimited ExportTraceServiceRequest messages; ClickHouse parses them."""
        self.client.raw_insert("otlp_ingest", None, length_delimited, fmt="Protobuf",
                               settings=OTLP_INSERT_SETTINGS)

    def insert_otlp_files(self, paths: Sequence[str | Path]) -> None:
        """Insert files of length-delimited requests (ingest log segments) in one insert. Embedded,
        ClickHouse reads the files itself, in parallel; a server is sent their bytes. One caller at a
        time (the collector's normalizer)."""
        if not self.embedded:
            self.insert_otlp(b"".join(Path(p).read_bytes() for p in paths))
            return
        if self._segment_client is None:
            # Session settings: per-call settings cost a SET and a restore each on chDB.
            client = self._connect(self.database)
            for name, value in SEGMENT_INSERT_SETTINGS.items():
                client.command(f"SET {name} = {{value:String}}", parameters={"value": str(value)})
            self._segment_client = client
        self._segment_client.command(INSERT_SEGMENT, parameters={"path": _file_pattern(paths),
                                                                 "columns": OTLP_REQUEST_COLUMNS})

    def ping(self) -> bool:
        try:
            return self.client.command("SELECT 1") == 1
        except Exception:
            return False

    # ---- schema ----------------------------------------------------------------------------

    def migrate(self, upto: int | None = None) -> list[str]:
        """Apply migrations not applied yet (up to version `upto`); safe to run on every start."""
        self.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (Version UInt32, Name String, "
            "AppliedAt DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY Version"
        )
        applied = {row["Version"] for row in self.rows("SELECT Version FROM schema_migrations")}
        done = []
        for migration in discover_migrations():
            if migration.version in applied or (upto is not None and migration.version > upto):
                continue
            for statement in migration.statements:
                self.command(statement)
            self.command(
                "INSERT INTO schema_migrations (Version, Name) VALUES ({v:UInt32}, {n:String})",
                {"v": migration.version, "n": migration.name},
            )
            done.append(migration.name)
        return done

    def set_retention(self, days: int) -> None:
        """Make every table keep `days` days of data (ALTER ... MODIFY TTL is cheap when unchanged)."""
        if days <= 0:
            raise ValueError("retention must be a positive number of days")
        ttl_tables = {t: e for m in discover_migrations() for t, e in m.ttl_tables.items()}
        for table, expr in ttl_tables.items():
            self.command(f"ALTER TABLE {table} MODIFY TTL {expr} + toIntervalDay({int(days)})")

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
            self._segment_client = None
        for client in clients:
            with contextlib.suppress(Exception):  # closing is best effort at shutdown
                client.close()
        self._local = threading.local()
