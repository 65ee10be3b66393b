"""The /alerts page of a real `swarmscope serve`: rules, instances linked to their run, history and
deliveries; label values from span content are escaped."""

from __future__ import annotations

import urllib.request

import pytest
from alerts_helpers import Receiver, write_config
from otlp_payloads import post, request, span


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def page(server) -> str:
    with urllib.request.urlopen(server.url + "/alerts", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        return resp.read().decode()


def test_alerts_page_lists_rules_instances_and_deliveries(server_factory, tmp_path, receiver):
    hostile = "<script>alert(1)</script>"
    config = write_config(tmp_path, receiver, """
[[alerts]]
name = "FailingTools"
kind = "sql"
query = "SELECT RunId AS run_id, count() AS value FROM spans WHERE StatusCode = 'Error' GROUP BY run_id"
annotations = { summary = "run {run_id} has failures" }

[[alerts]]
name = "Broken"
kind = "sql"
query = "SELECT no_such_column FROM spans"
""")
    server = server_factory(extra_args=["--config", config])
    failing = span(attrs={"swarmscope.run.id": hostile}, status=2)
    assert post(server.url, request(failing).SerializeToString())[0] == 200
    server.wait_for(lambda: receiver.received, timeout=60)
    server.wait_for(lambda: server.get("/api/alerts/deliveries")["deliveries"])
    html = page(server)
    assert 'id="rule-FailingTools"' in html and 'id="rule-Broken"' in html
    assert "no_such_column" in html  # the broken rule's error is shown
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in html
    assert "inactive → firing" in html
    assert ">ok</td>" in html  # the delivery


def test_alerts_page_without_rules_says_how_to_add_them(server):
    assert "No alert rules are configured" in page(server)
