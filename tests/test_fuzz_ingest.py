"""Mutated OTLP bodies against a real `swarmscope serve`: no 5xx, no dropped connection, and every
span of every body answered 200 is in the store afterwards (acknowledged means stored)."""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import sys
import time

from harness import Server
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otlp_payloads import kv, request, span

BODIES = 2500
SEED = 14
DAY_NS = 86_400 * 10**9


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def base_body(rng: random.Random, now_ns: int) -> bytes:
    spans = [span(trace_id=rng.randbytes(16), span_id=rng.randbytes(8),
                  start_ns=now_ns - rng.randrange(DAY_NS), status=rng.randrange(3),
                  name=rng.choice(["chat gpt-x", "execute_tool search", "invoke_agent planner"]),
                  attrs={"gen_ai.agent.id": rng.choice("abc"), "gen_ai.usage.input_tokens": rng.randrange(99),
                         "score": rng.random(), "ok": rng.random() < 0.5, "text": "x" * rng.randrange(120)})
             for _ in range(rng.randint(1, 5))]
    req = request(*spans, service=f"fuzz-{rng.randrange(3)}")
    first = req.resource_spans[0].scope_spans[0].spans[0]
    event = first.events.add(name="retry", time_unix_nano=now_ns)
    event.attributes.append(kv("n", 1))
    first.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
    return req.SerializeToString()


def mutate(rng: random.Random, body: bytes, other: bytes) -> bytes:
    """Byte flips, truncation, splices, random inserts, padded varints, wire-type changes, groups."""
    b = bytearray(body)
    kind = rng.randrange(7)
    i = rng.randrange(len(b))
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del b[i:]
    elif kind == 2:
        j = rng.randrange(len(other))
        b[i:i] = other[j:j + rng.randint(1, 60)]
    elif kind == 3:
        b[i:i] = rng.randbytes(rng.randint(1, 8))
    elif kind == 4:
        b[i:i] = b"\xff" * rng.randint(1, 11)  # long and overlong varints
    elif kind == 5:
        b[i] = (b[i] & ~7) | rng.randrange(6)  # the same field number, another wire type
    else:
        field = rng.randrange(1, 40)
        b[i:i] = varint(field << 3 | 3) + varint(1 << 3) + varint(7) + varint(field << 3 | 4)  # a group
    return bytes(b)


def expected_spans(body: bytes, since_ns: int) -> tuple[set[tuple[str, str]], int]:
    """The span ids a 200 promises (valid ids, inside the retention window), and how many spans had
    valid ids at all."""
    req = ExportTraceServiceRequest.FromString(body)
    keep, valid = set(), 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                if len(s.trace_id) == 16 and any(s.trace_id) and len(s.span_id) == 8 and any(s.span_id) \
                        and len(s.parent_span_id) in (0, 8):
                    valid += 1
                    if since_ns <= s.start_time_unix_nano <= since_ns + 60 * DAY_NS:
                        keep.add((s.trace_id.hex(), s.span_id.hex()))
    return keep, valid


STORED_SPANS = """
import json, sys
from swarmscope.schema.store import Store, embedded_url
store = Store(embedded_url(sys.argv[1]))
rows = store.rows("SELECT DISTINCT TraceId, SpanId FROM spans")
print(json.dumps([[r["TraceId"], r["SpanId"]] for r in rows]))
"""


def test_mutated_bodies_are_refused_or_stored(tmp_path):
    rng = random.Random(SEED)
    now_ns = time.time_ns()
    # Spans older than the 30-day TTL may be dropped by a merge: only younger ones must be stored.
    since_ns = now_ns - 25 * DAY_NS
    srv = Server(data_dir=tmp_path / "data", extra_args=["--detect-interval", "0"]).start()
    promised: set[tuple[str, str]] = set()
    statuses: dict[int, int] = {}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        bases = [base_body(rng, now_ns) for _ in range(50)]
        for n in range(BODIES):
            body = mutate(rng, rng.choice(bases), rng.choice(bases)) if n % 10 else base_body(rng, now_ns)
            conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            resp = conn.getresponse()  # a dropped connection raises here
            answer = resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            assert resp.status in (200, 400), (resp.status, answer, body.hex())
            if resp.status == 200:
                keep, valid = expected_spans(body, since_ns)
                rejected = ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans
                assert valid + rejected == sum(len(ss.spans) for rs in ExportTraceServiceRequest.FromString(
                    body).resource_spans for ss in rs.scope_spans)
                promised |= keep
        conn.close()
        assert statuses.get(200, 0) > BODIES // 5 and statuses.get(400, 0) > BODIES // 5, statuses

        def drained():
            health = srv.get("/healthz")
            idle = health["ingest_queue_bytes"] == 0 and health["ingest"]["normalize_lag_bytes"] == 0
            return health if idle else None
        health = srv.wait_for(drained, timeout=120)
        assert health["ingest"]["failed_requests"] == 0, srv.log()
    finally:
        srv.stop()
    out = subprocess.run([sys.executable, "-c", STORED_SPANS, str(srv.data_dir)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    stored = {tuple(pair) for pair in json.loads(out)}
    assert promised - stored == set()
