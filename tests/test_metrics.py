"""`GET /metrics` of a real `swarmscope serve`, parsed with prometheus_client's own text parser."""

from __future__ import annotations

import urllib.request

from otlp_payloads import post, request, span
from prometheus_client.parser import text_string_to_metric_families


def scrape(server) -> dict:
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families: dict, name: str, sample: str | None = None, **labels: str) -> float:
    family = families[name]
    matches = [s.value for s in family.samples
               if s.name == (sample or name) and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (name, labels, family.samples)
    return matches[0]


def test_metrics_parse_and_count_what_the_server_did(server):
    for _ in range(3):
        status, _, _ = post(server.url, request(span(), span()).SerializeToString())
        assert status == 200
    assert post(server.url, b"\x0a\xff garbage")[0] == 400
    assert post(server.url, b"{}", content_type="text/csv")[0] == 415
    server.wait_for(lambda: server.get("/healthz")["ingest"]["spans"] == 6)

    families = scrape(server)
    assert value(families, "swarmscope_build_info", version="0.1.0") == 1
    assert families["swarmscope_spans_received"].type == "counter"
    assert value(families, "swarmscope_spans_received", "swarmscope_spans_received_total") == 6
    assert value(families, "swarmscope_spans_stored", "swarmscope_spans_stored_total") == 6
    rejected = "swarmscope_ingest_requests_rejected"
    assert value(families, rejected, rejected + "_total", reason="invalid") == 1
    assert value(families, rejected, rejected + "_total", reason="unsupported_media_type") == 1
    assert value(families, rejected, rejected + "_total", reason="overload") == 0
    insert = families["swarmscope_store_insert_duration_seconds"]
    assert insert.type == "histogram"
    batches = server.get("/healthz")["ingest"]["batches"]
    assert value(families, insert.name, insert.name + "_count") == batches >= 1
    assert value(families, insert.name, insert.name + "_bucket", le="+Inf") == batches
    assert value(families, "swarmscope_ingest_log_bytes") == 0
    assert value(families, "swarmscope_open_spans") == 0 and value(families, "swarmscope_runs_active") == 0
    assert value(families, "swarmscope_findings", kind="deadlock", severity="critical", status="open") == 0
    assert families["swarmscope_detector_sweeps"].type == "counter"
    # No trace, run or span ids as labels: label sets are small and closed.
    names = {name for f in families.values() for s in f.samples for name in s.labels}
    assert names <= {"version", "python", "reason", "le", "detector", "kind", "severity", "status", "state",
                     "health", "receiver", "result"}, names
