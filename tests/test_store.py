"""The store: migrations, retention, connection URLs."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
from swarmscope.schema.store import Store, discover_migrations, frame


def test_migrations_are_versioned_and_idempotent(store):
    versions = [m.version for m in discover_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert store.migrate() == []  # the fixture applied them already
    rows = store.rows("SELECT Version FROM schema_migrations FINAL ORDER BY Version")
    applied = [r["Version"] for r in rows]
    assert applied == versions
    tables = {r["name"] for r in store.rows("SELECT name FROM system.tables WHERE database = {db:String}",
                                            {"db": store.database})}
    assert {"spans", "pending_spans", "traces", "tool_minutes", "otlp_ingest"} <= tables


def test_retention_sets_every_ttl(store):
    store.set_retention(7)
    for table in ("spans", "pending_spans", "traces", "tool_minutes", "findings"):
        ddl = store.scalar(f"SHOW CREATE TABLE {table}")
        assert "toIntervalDay(7)" in ddl, table
    with pytest.raises(ValueError):
        store.set_retention(0)


def test_spans_merge_less_eagerly_than_the_default(store):
    # m009: fewer rewrites of each span (see the migration); retention changes must not drop it.
    store.set_retention(7)
    ddl = store.scalar("SHOW CREATE TABLE spans")
    assert "merge_selector_base = 10" in ddl and "min_bytes_for_wide_part = 134217728" in ddl


def test_bad_urls_and_database_names_are_refused():
    with pytest.raises(ValueError, match="store URL"):
        Store("postgres://localhost/x")
    with pytest.raises(ValueError, match="database"):
        Store("chdb:///tmp/never-created", database="x; DROP TABLE spans")


def test_store_flag_splits_url_and_database():
    from swarmscope.schema.location import store_url

    url, database = store_url(argparse.Namespace(store="http://u:p@clickhouse:8123/prod", data=None))
    assert (url, database) == ("http://u:p@clickhouse:8123", "prod")
    url, database = store_url(argparse.Namespace(store="https://host:8443", data=None))
    assert (url, database) == ("https://host:8443", "swarmscope")


_LOAD_EMBEDDED = """
import os, sys
from swarmscope.schema.store import Store
assert "chdb" not in sys.modules  # jemalloc reads its options when chDB loads: they must be set first
Store("chdb://" + sys.argv[1])
assert "chdb" in sys.modules
print(os.environ["JE_MALLOC_CONF"])
"""


@pytest.mark.parametrize("user_conf", [None, "dirty_decay_ms:1000"])
def test_embedded_store_tunes_the_allocator_before_chdb_loads_unless_the_user_did(tmp_path, user_conf):
    from swarmscope.schema.store import EMBEDDED_ALLOCATOR_CONF

    env = {k: v for k, v in os.environ.items() if k != "JE_MALLOC_CONF"}
    if user_conf:
        env["JE_MALLOC_CONF"] = user_conf
    out = subprocess.run([sys.executable, "-c", _LOAD_EMBEDDED, str(tmp_path / "db")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (user_conf or EMBEDDED_ALLOCATOR_CONF)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16384, 2_000_000])
def test_frame_is_a_varint_length_prefix(size):
    from google.protobuf.internal.decoder import _DecodeVarint

    framed = frame(b"x" * size)
    length, offset = _DecodeVarint(framed, 0)
    assert length == size and len(framed) - offset == size


def test_list_parameters_come_back_exactly_whatever_their_text(store):
    from swarmscope.schema.params import in_list, list_param

    # Run and task ids are free text (LLM output): separators, quotes, escapes, non-ASCII, empty.
    values = ["run-1", "a,b", "it's", 'say "hi"', "back\\slash", "tab\there\nnewline", "🤖 agent", "",
              "[1, 2]", "null"]
    got = store.client.query(f"SELECT * FROM {in_list('xs')}", parameters={"xs": list_param(values)})
    assert [row[0] for row in got.result_rows] == values
    assert store.scalar(f"SELECT count() FROM numbers(10) WHERE toString(number) IN {in_list('xs')}",
                        {"xs": list_param(["3", "7", "a,7"])}) == 2
    assert store.scalar(f"SELECT count() FROM numbers(10) WHERE number IN {in_list('hs', 'UInt64')}",
                        {"hs": list_param([2**64 - 1, 0, 9])}) == 2
    assert store.scalar(f"SELECT count() FROM numbers(10) WHERE toString(number) IN {in_list('xs')}",
                        {"xs": list_param([])}) == 0


def test_stats_count_spans_traces_and_open_spans_exactly(store):
    from otlp_payloads import request, span
    from swarmscope.schema.queries.traces import stats

    assert stats(store) == {"spans": 0, "traces": 0, "pending_spans": 0, "open_spans": 0}
    first, second, closed_id, open_id = os.urandom(16), os.urandom(16), os.urandom(8), os.urandom(8)
    pending = {"swarmscope.span_type": "pending"}
    store.insert_requests([
        request(span(trace_id=first), span(trace_id=first), span(trace_id=second)).SerializeToString(),
        # Two open-span records; the first one's span has since ended, the second is still open.
        request(span(trace_id=second, parent=closed_id, attrs=pending),
                span(trace_id=second, parent=open_id, attrs=pending)).SerializeToString(),
        request(span(trace_id=second, span_id=closed_id)).SerializeToString(),
    ])
    assert stats(store) == {"spans": 4, "traces": 2, "pending_spans": 2, "open_spans": 1}
