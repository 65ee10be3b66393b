"""Migrations are history: frozen SQL, applied step by step to the same shape as a fresh store."""

from __future__ import annotations

import ast
import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from swarmscope.schema import migrations as migrations_pkg
from swarmscope.schema.normalize import flatten_select
from swarmscope.schema.store import Store, discover_migrations, embedded_url


def definitions(store: Store) -> dict[str, str]:
    """Every table and view of the store's database as ClickHouse states it, database name removed."""
    rows = store.rows("SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
                      {"db": store.database})
    return {r["name"]: r["create_table_query"].replace(f"{store.database}.", "DB.") for r in rows
            if r["name"] != "schema_migrations"}


@pytest.fixture
def bare_store(chdb_dir: Path) -> Iterator[Store]:
    """A store with no migration applied, on the shared engine, dropped afterwards."""
    s = Store(embedded_url(chdb_dir), database=f"m_{uuid.uuid4().hex[:12]}")
    try:
        yield s
    finally:
        s.command(f"DROP DATABASE IF EXISTS {s.database}")
        s.close()


def test_step_by_step_from_m001_matches_a_fresh_store(store, bare_store):
    versions = [m.version for m in discover_migrations()]
    assert bare_store.migrate(upto=1) == ["m001_core"]
    assert "findings" not in definitions(bare_store)
    for version in versions[1:]:
        [applied] = bare_store.migrate(upto=version)
        assert applied.startswith(f"m{version:03d}_")
    assert bare_store.migrate() == []
    assert definitions(bare_store) == definitions(store)


def test_a_store_from_before_the_freeze_gets_the_fresh_shape(store, bare_store):
    # What stores created by earlier, edited-in-place versions of m001 and m003 have (git history).
    bare_store.migrate(upto=9)
    for statement in (
        "ALTER TABLE spans ADD INDEX idx_run_id RunId TYPE bloom_filter(0.01) GRANULARITY 1",
        "ALTER TABLE spans ADD INDEX idx_agent AgentId TYPE bloom_filter(0.01) GRANULARITY 1",
        "ALTER TABLE pending_spans ADD INDEX idx_inserted_at InsertedAt TYPE minmax GRANULARITY 1",
        "DROP VIEW span_stream_mv",
        "CREATE MATERIALIZED VIEW span_stream_mv TO span_stream AS "
        + flatten_select("otlp_ingest").replace("lower(hex(trace_id)) AS", "hex(trace_id) AS"),
    ):
        bare_store.command(statement)
    assert definitions(bare_store) != definitions(store)
    assert bare_store.migrate() == [m.name for m in discover_migrations() if m.version > 9]
    assert definitions(bare_store) == definitions(store)


def test_the_ingest_view_selects_what_normalize_says(store):
    """Whoever changes schema/normalize.py adds a migration recreating span_stream_mv with the new SQL:
    segments are normalized by the live SELECT, requests through otlp_ingest by this view."""
    store.command("CREATE MATERIALIZED VIEW live_probe_mv TO span_stream AS " + flatten_select("otlp_ingest"))
    views = definitions(store)
    assert views["span_stream_mv"].replace("span_stream_mv", "VIEW") \
        == views["live_probe_mv"].replace("live_probe_mv", "VIEW")


def test_migrations_are_frozen_text():
    """No migration builds SQL from live code: it imports at most another (frozen) migration."""
    for migration in discover_migrations():
        module = __import__(f"{migrations_pkg.__name__}.{migration.name}", fromlist=["VERSION"])
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                assert node.level == 1 and (node.module or "").startswith("m0"), (migration.name, node.module)
            assert not isinstance(node, ast.JoinedStr), f"{migration.name}: f-string"
        assert all(isinstance(s, str) for s in migration.statements)
