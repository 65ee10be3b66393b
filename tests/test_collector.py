"""OTLP ingest end to end: real exporters in, the API out, and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import os
import signal
import zlib
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.rpc import status_pb2
from harness import Server
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otlp_payloads import json_request, post, request, span


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(data_dir=tmp_path_factory.mktemp("collector") / "data",
                    extra_args=["--max-body-mb", "1", "--detect-interval", "0"]).start()
    yield server
    server.stop()


def trace_spans(server: Server, trace_id: str, count: int) -> list[dict]:
    def ready():
        try:
            spans = server.get(f"/api/traces/{trace_id}")["spans"]
        except Exception:
            return None
        return spans if len(spans) >= count else None
    return server.wait_for(ready)


def export_with(exporter, service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("invoke_agent planner", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "planner", "gen_ai.agent.name": "planner",
        "gen_ai.usage.input_tokens": 1200, "swarmscope.confidence": 0.75, "swarmscope.run.id": "run-7",
        "swarmscope.evidence.validation.passed": False, "files": ["a.py", "b.py"],
    }) as root, tracer.start_as_current_span("execute_tool web_search", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "web_search",
            "swarmscope.attempt": 2}):
        pass
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_real_exporters_deliver_spans_with_attributes(srv, transport):
    exporter = HttpExporter(endpoint=srv.url + "/v1/traces") if transport == "http" \
        else GrpcExporter(endpoint=srv.grpc_endpoint, insecure=True)
    trace_id = export_with(exporter, f"svc-{transport}")
    spans = {s["name"]: s for s in trace_spans(srv, trace_id, 2)}
    agent, tool = spans["invoke_agent planner"], spans["execute_tool web_search"]
    assert agent["service_name"] == f"svc-{transport}"
    assert agent["agent_id"] == "planner" and agent["operation"] == "invoke_agent"
    assert agent["input_tokens"] == 1200 and agent["confidence"] == pytest.approx(0.75)
    assert agent["run_id"] == "run-7"
    assert agent["attributes"]["files"] == '["a.py","b.py"]'
    assert agent["attributes"]["swarmscope.evidence.validation.passed"] == "false"
    assert tool["tool_name"] == "web_search" and tool["attempt"] == 2
    assert tool["parent_span_id"] == agent["span_id"]
    listed = srv.get("/api/traces", run_id="run-7")["traces"]
    assert trace_id in [t["trace_id"] for t in listed]


def test_same_request_twice_is_stored_once(srv):
    req = request(*(span(trace_id=b"\x11" * 16) for _ in range(3)))
    body = req.SerializeToString()
    for _ in range(2):
        assert post(srv.url, body)[0] == 200
    spans = trace_spans(srv, "11" * 16, 3)
    assert len(spans) == 3
    trace = srv.get("/api/traces", limit=1000)["traces"]
    assert [t["span_count"] for t in trace if t["trace_id"] == "11" * 16] == [3]


def test_json_with_hex_ids_and_string_int64(srv):
    trace_id, span_id = "ab" * 16, "cd" * 8
    status, headers, body = post(srv.url, json_request(trace_id, span_id, attrs={
        "gen_ai.usage.input_tokens": {"intValue": "9007199254740993"}}), "application/json")
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    [stored] = trace_spans(srv, trace_id, 1)
    assert stored["span_id"] == span_id and stored["status_code"] == "Error"
    assert stored["attributes"]["gen_ai.usage.input_tokens"] == "9007199254740993"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(srv, encoding):
    trace_id = os.urandom(16)
    body = request(span(trace_id=trace_id)).SerializeToString()
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    assert post(srv.url, packed, headers={"Content-Encoding": encoding})[0] == 200
    assert trace_spans(srv, trace_id.hex(), 1)


def test_openinference_and_genai_aliases_are_normalized(srv):
    trace_id = os.urandom(16)
    body = request(span(trace_id=trace_id, name="ChatCompletion", attrs={
        "openinference.span.kind": "LLM", "llm.token_count.prompt": 321, "llm.token_count.completion": 12,
        "llm.model_name": "gpt-x", "session.id": "sess-1", "agent.name": "researcher",
    }), span(trace_id=trace_id, name="tool", attrs={
        "openinference.span.kind": "TOOL", "tool.name": "calculator",
        "gen_ai.usage.prompt_tokens": 5})).SerializeToString()
    assert post(srv.url, body)[0] == 200
    spans = {s["name"]: s for s in trace_spans(srv, trace_id.hex(), 2)}
    llm, tool = spans["ChatCompletion"], spans["tool"]
    assert (llm["operation"], llm["input_tokens"], llm["output_tokens"]) == ("chat", 321, 12)
    assert (llm["model"], llm["run_id"], llm["agent_name"]) == ("gpt-x", "sess-1", "researcher")
    assert (tool["operation"], tool["tool_name"], tool["input_tokens"]) == ("execute_tool", "calculator", 5)


@pytest.mark.parametrize("flavour", ["swarmscope", "logfire"])
def test_pending_spans_are_open_until_the_span_ends(srv, flavour):
    trace_id, real_id, parent = os.urandom(16), os.urandom(8), os.urandom(8)
    type_key, type_value, parent_key = (
        ("swarmscope.span_type", "pending", "swarmscope.pending_parent_id") if flavour == "swarmscope"
        else ("logfire.span_type", "pending_span", "logfire.pending_parent_id"))
    pending = span(trace_id=trace_id, parent=real_id, name="wait coder", attrs={
        type_key: type_value, parent_key: parent.hex(), "swarmscope.heartbeat.interval_ms": 10000,
        "swarmscope.wait.for": "coder", "gen_ai.agent.id": "planner"})
    assert post(srv.url, request(pending).SerializeToString())[0] == 200
    [open_span] = trace_spans(srv, trace_id.hex(), 1)
    assert open_span["open"] is True and open_span["span_id"] == real_id.hex()
    assert open_span["parent_span_id"] == parent.hex() and open_span["wait_for"] == "coder"
    assert open_span["last_seen"] and open_span["end_time"] is None
    assert open_span["heartbeat_interval_ms"] == 10000
    listed = [t for t in srv.get("/api/traces", status="open", limit=1000)["traces"]
              if t["trace_id"] == trace_id.hex()]
    assert listed and listed[0]["open_span_count"] == 1
    finished = span(trace_id=trace_id, span_id=real_id, parent=parent, name="wait coder")
    assert post(srv.url, request(finished).SerializeToString())[0] == 200

    def closed():
        spans = srv.get(f"/api/traces/{trace_id.hex()}")["spans"]
        return spans if len(spans) == 1 and spans[0]["open"] is False else None
    assert srv.wait_for(closed)[0]["end_time"]


def test_invalid_span_ids_are_dropped_and_reported(srv):
    good = span(trace_id=os.urandom(16))
    bad = [span(trace_id=b"\0" * 16), span(trace_id=b"short"), span(span_id=b"\0" * 8),
           span(span_id=b"123"), span(parent=b"xyz")]
    status, _, body = post(srv.url, request(good, *bad).SerializeToString())
    assert status == 200
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 5
    assert "span_id" in response.partial_success.error_message
    assert trace_spans(srv, good.trace_id.hex(), 1)


def test_huge_attribute_is_truncated_not_refused(srv):
    trace_id = os.urandom(16)
    body = request(span(trace_id=trace_id, attrs={"llm.output": "x" * 500_000})).SerializeToString()
    packed = gzip.compress(body)  # under the 1 MiB body limit once compressed
    assert post(srv.url, packed, headers={"Content-Encoding": "gzip"})[0] == 200
    [stored] = trace_spans(srv, trace_id.hex(), 1)
    assert len(stored["attributes"]["llm.output"]) == 65536


def rpc_status(body: bytes, content_type: str) -> status_pb2.Status:
    if content_type.startswith("application/x-protobuf"):
        return status_pb2.Status.FromString(body)
    doc = json.loads(body)
    return status_pb2.Status(code=doc["code"], message=doc["message"])


@pytest.mark.parametrize("body, content_type, headers, status, phrase", [
    (b"\xff\xff\xff garbage", "application/x-protobuf", {}, 400, "malformed protobuf"),
    (b"{not json", "application/json", {}, 400, "malformed JSON"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "application/json", {}, 400,
     "ExportTraceServiceRequest"),
    (b'["a"]', "application/json", {}, 400, "object"),
    (b"\xc3\x28 not utf-8", "application/json", {}, 400, "UTF-8"),
    (b"hello", "text/plain", {}, 415, "Content-Type"),
    (b"hello", "application/x-protobuf", {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    (b"not gzip at all", "application/x-protobuf", {"Content-Encoding": "gzip"}, 400, "gzip"),
    (gzip.compress(b"\0" * 1000)[:-8], "application/x-protobuf", {"Content-Encoding": "gzip"}, 400,
     "truncated"),
    (b"\0" * (2 * 1024 * 1024), "application/x-protobuf", {}, 413, "limit"),
    (gzip.compress(b"\0" * (80 * 1024 * 1024)), "application/x-protobuf", {"Content-Encoding": "gzip"}, 413,
     "decompressed"),
])
def test_bad_requests_get_a_clear_status(srv, body, content_type, headers, status, phrase):
    got, response_headers, response = post(srv.url, body, content_type, headers)
    assert got == status
    message = rpc_status(response, response_headers["content-type"]).message
    assert phrase in message


def test_invalid_utf8_in_protobuf_string_is_refused_without_losing_others(srv):
    bad = request(span(name="ok")).SerializeToString().replace(b"ok", b"\xc3\x28")
    status, headers, body = post(srv.url, bad)
    assert status == 400 and "malformed protobuf" in rpc_status(body, headers["content-type"]).message
    trace_id = os.urandom(16)
    assert post(srv.url, request(span(trace_id=trace_id)).SerializeToString())[0] == 200
    assert trace_spans(srv, trace_id.hex(), 1)


def test_read_api_rejects_bad_parameters(srv):
    import urllib.error

    for path, code in [("/api/traces/not-a-trace", 400), ("/api/traces/" + "0" * 32, 404),
                       ("/api/traces?limit=0", 422), ("/api/traces?limit=abc", 422),
                       ("/api/traces?status=bogus", 422), ("/api/traces?since=yesterday-ish", 400)]:
        with pytest.raises(urllib.error.HTTPError) as err:
            srv.get(path)
        assert err.value.code == code, path
        assert json.loads(err.value.read())["detail"]


def test_grpc_rejects_malformed_request(srv):
    with grpc.insecure_channel(srv.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as err:
            export(b"\xff\xff\xff garbage", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed protobuf" in err.value.details()


def test_stats_counts_from_the_store(srv):
    trace_id = os.urandom(16)
    assert post(srv.url, request(span(trace_id=trace_id)).SerializeToString())[0] == 200
    trace_spans(srv, trace_id.hex(), 1)
    stats = srv.get("/api/stats")
    assert set(stats) >= {"spans", "traces", "pending_spans"}
    assert stats["spans"] > 0 and stats["traces"] > 0
    ingest = srv.get("/healthz")["ingest"]
    assert ingest["requests"] > 0 and ingest["spans"] > 0


# ---- durability, restart, auth, overload: servers of their own --------------------------------------


def test_restart_keeps_spans(server_factory, tmp_path):
    data = tmp_path / "data"
    first = server_factory(data_dir=data, extra_args=["--detect-interval", "0"])
    trace_id = export_with(HttpExporter(endpoint=first.url + "/v1/traces"), "restart")
    trace_spans(first, trace_id, 2)
    first.stop()
    second = server_factory(data_dir=data, extra_args=["--detect-interval", "0"])
    assert len(second.get(f"/api/traces/{trace_id}")["spans"]) == 2


def test_kill_9_right_after_acks_loses_no_acknowledged_span(server_factory, tmp_path):
    data = tmp_path / "data"
    first = server_factory(data_dir=data, extra_args=["--detect-interval", "0"])
    trace_id = os.urandom(16)
    bodies = [request(*(span(trace_id=trace_id) for _ in range(50))).SerializeToString() for _ in range(40)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda b: post(first.url, b)[0], bodies))
    acknowledged = 50 * statuses.count(200)
    assert acknowledged > 0
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    second = server_factory(data_dir=data, extra_args=["--detect-interval", "0"])
    assert len(second.get(f"/api/traces/{trace_id.hex()}")["spans"]) >= acknowledged


def test_api_key_guards_ingest_and_api(server_factory):
    srv = server_factory(api_key="s3cret", extra_args=["--detect-interval", "0"])
    body = request(span()).SerializeToString()
    status, _, response = post(srv.url, body)
    assert status == 401 and b"bearer" in response
    assert post(srv.url, body, headers={"Authorization": "Bearer wrong"})[0] == 401
    assert post(srv.url, body, headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert srv.get("/api/stats")["spans"] >= 0  # srv.get sends the key
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(srv.url + "/api/stats")
    assert err.value.code == 401
    with grpc.insecure_channel(srv.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as rpc_err:
            export(body, timeout=10)
        assert rpc_err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(body, timeout=10, metadata=(("authorization", "Bearer s3cret"),))


def test_overload_answers_429_with_retry_after_and_retries_store_each_span_once(server_factory):
    # A 1 MiB group-commit budget against 16 concurrent senders of ~300 KB requests.
    srv = server_factory(extra_args=["--max-queue-mb", "1", "--detect-interval", "0"])
    trace_id = os.urandom(16)
    bodies = [request(*(span(trace_id=trace_id, attrs={"pad": "p" * 2000}) for _ in range(150)))
              .SerializeToString() for _ in range(48)]
    refusals = []

    def send(body: bytes) -> None:
        import time

        while True:
            status, headers, _ = post(srv.url, body)
            if status == 200:
                return
            assert status in (429, 503), status
            refusals.append(headers.get("Retry-After"))
            time.sleep(0.05)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, bodies))
    assert refusals and all(r is not None for r in refusals)
    spans = trace_spans(srv, trace_id.hex(), 48 * 150)
    assert len(spans) == 48 * 150
    assert len({s["span_id"] for s in spans}) == 48 * 150


def test_grpc_overload_is_resource_exhausted(server_factory):
    srv = server_factory(extra_args=["--max-queue-mb", "0.5", "--detect-interval", "0"])
    bodies = [request(*(span(attrs={"pad": "p" * 2000}) for _ in range(150))).SerializeToString()
              for _ in range(24)]
    with grpc.insecure_channel(srv.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        futures = [export.future(body, timeout=30) for body in bodies]
        codes = []
        for future in futures:
            try:
                future.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as err:
                codes.append(err.code())
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert grpc.StatusCode.OK in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
