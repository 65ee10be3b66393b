"""The trace list API and its filters over an in-process store (the router alone, no serve)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from harness import api_client
from scenarios import Scenario
from swarmscope.ui import api


@pytest.fixture
def client(store):
    return api_client(store, api.router)


@pytest.fixture
def three_traces(store) -> dict[str, Scenario]:
    """old: alpha/planner, ok, 10 min ago; failed: beta/coder with a failed tool, 2 min ago;
    running: gamma/tester, ok so far with a wait still open, 1 min ago."""
    old = Scenario(service="alpha")
    old.agent("planner", start=-600, dur=5)
    failed = Scenario(service="beta")
    coder = failed.agent("coder", start=-120, dur=5)
    failed.tool("deploy", parent=coder, start=-119, dur=1, error="DeployFailed")
    running = Scenario(service="gamma")
    tester = running.agent("tester", start=-60, dur=None)
    running.heartbeat(tester, at=-1)
    running.agent("helper", parent=tester, start=-59, dur=1)
    for sc in (old, failed, running):
        sc.insert(store)
    return {"old": old, "failed": failed, "running": running}


def _ids(client, **params) -> list[str]:
    response = client.get("/api/traces", params=params)
    assert response.status_code == 200, response.text
    return [t["trace_id"] for t in response.json()["traces"]]


def test_each_filter_selects_its_traces(client, three_traces):
    old, failed, running = (three_traces[k].trace_id.hex() for k in ("old", "failed", "running"))
    assert _ids(client) == [running, failed, old]  # newest first
    assert _ids(client, service="alpha") == [old]
    assert _ids(client, service="beta") == [failed]
    assert _ids(client, service="nobody") == []
    assert _ids(client, agent="coder") == [failed]
    assert _ids(client, agent="tester") == [running]
    assert _ids(client, status="error") == [failed]
    assert _ids(client, status="ok") == [running, old]
    assert _ids(client, status="open") == [running]
    assert _ids(client, run_id=three_traces["old"].run_id) == [old]
    assert _ids(client, since="5m") == [running, failed]
    assert _ids(client, until="5m") == [old]
    assert _ids(client, since="3m", until="90s") == [failed]
    assert _ids(client, service="beta", status="ok") == []
    assert _ids(client, limit=1) == [running]


def test_until_takes_every_time_form(client, three_traces):
    old = three_traces["old"]
    old_id = old.trace_id.hex()
    cut_s = old.now_ns / 1e9 - 300  # between the old trace and the others
    cut = datetime.fromtimestamp(cut_s, timezone.utc)
    for form in (f"{cut_s:.3f}", cut.isoformat(), cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 cut.replace(tzinfo=None).isoformat()):
        assert _ids(client, until=form) == [old_id], form


def test_the_trace_list_item_shape(client, three_traces):
    [item] = client.get("/api/traces", params={"service": "gamma"}).json()["traces"]
    assert item["open_span_count"] == 1 and item["span_count"] == 1 and item["error_count"] == 0
    assert item["services"] == ["gamma"] and item["agents"] == ["helper", "tester"]  # open ones too
    assert item["start_time"].endswith("Z")
    assert item["duration_ms"] == 59_000.0  # from the open agent's start to its last heartbeat


@pytest.mark.parametrize(("param", "value"), [
    ("since", "yesterday"), ("since", "15 minutes"), ("until", "-5m"), ("until", "1e9"),
    ("since", "2026-13-01"), ("until", "99999999999999"),
])
def test_a_bad_time_is_a_400_naming_the_accepted_forms(client, param, value):
    response = client.get("/api/traces", params={param: value})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith(f"invalid {param}: {value!r}") and "unix seconds or ISO 8601" in detail


def test_bad_status_and_limit_are_refused(client):
    assert client.get("/api/traces", params={"status": "bogus"}).status_code == 422
    assert client.get("/api/traces", params={"limit": 0}).status_code == 422
