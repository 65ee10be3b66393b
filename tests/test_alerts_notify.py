"""Notification bodies as received by a real HTTP server: Alertmanager's webhook format (version 4)
field by field, posting to an Alertmanager's /api/v2/alerts, and Slack messages with span content
escaped."""

from __future__ import annotations

from datetime import datetime

import pytest
from alerts_helpers import Receiver
from swarmscope.alerts.notify import Notification, Notifier, fingerprint
from swarmscope.alerts.rules import Receiver as ReceiverConfig
from swarmscope.alerts.state import FIRING, RESOLVED, Instance

T0 = 1_800_000_000_000


def instance(run: str, state: str = FIRING, summary: str = "Deadlock") -> Instance:
    labels = {"alertname": "SwarmDeadlocked", "severity": "page", "run_id": run}
    return Instance("SwarmDeadlocked", fingerprint(labels), labels, {"summary": summary, "runbook_url": "u"},
                    state=state, active_at_ms=T0, fired_at_ms=T0 + 30_000,
                    resolved_at_ms=T0 + 90_000 if state == RESOLVED else None, link=f"/runs/{run}")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def send(receiver: Receiver, kind: str, alerts: list[Instance], status: str = FIRING):
    config = ReceiverConfig("team", kind, receiver.url + ("" if kind == "alertmanager" else "/hook"))
    delivery = Notifier().deliver(Notification(config, "SwarmDeadlocked", status, alerts,
                                               "http://swarmscope.test:4318", T0 + 60_000, resend_s=60))
    assert delivery.result == "ok", delivery
    [received] = receiver.received
    return received


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_webhook_body_is_alertmanager_webhook_version_4(receiver):
    received = send(receiver, "webhook", [instance("run-a"), instance("run-b", RESOLVED)])
    assert received.path == "/hook" and received.headers["Content-Type"] == "application/json"
    body = received.body
    # The documented top-level fields, no more and no fewer.
    assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                         "commonLabels", "commonAnnotations", "externalURL", "alerts"}
    assert body["version"] == "4"
    assert body["groupKey"] == '{}:{alertname="SwarmDeadlocked"}'
    assert body["truncatedAlerts"] == 0
    assert body["status"] == "firing"  # firing while any alert of the group fires
    assert body["receiver"] == "team"
    assert body["groupLabels"] == {"alertname": "SwarmDeadlocked"}
    assert body["commonLabels"] == {"alertname": "SwarmDeadlocked", "severity": "page"}
    assert body["commonAnnotations"] == {"summary": "Deadlock", "runbook_url": "u"}
    assert body["externalURL"] == "http://swarmscope.test:4318"
    firing, resolved = body["alerts"]
    for alert in (firing, resolved):
        assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                              "fingerprint"}
        assert all(isinstance(v, str) for v in (*alert["labels"].values(), *alert["annotations"].values()))
        assert len(alert["fingerprint"]) == 16 and int(alert["fingerprint"], 16) >= 0
        assert alert["fingerprint"] == fingerprint(alert["labels"])
    assert firing["status"] == "firing" and resolved["status"] == "resolved"
    assert rfc3339(firing["startsAt"]).timestamp() * 1000 == T0 + 30_000
    assert firing["endsAt"] == "0001-01-01T00:00:00Z"  # what Alertmanager sends while an alert fires
    assert rfc3339(resolved["endsAt"]).timestamp() * 1000 == T0 + 90_000
    assert firing["generatorURL"] == "http://swarmscope.test:4318/runs/run-a"
    assert firing["labels"] == {"alertname": "SwarmDeadlocked", "severity": "page", "run_id": "run-a"}


def test_webhook_truncates_past_the_limit_and_says_so(receiver):
    body = send(receiver, "webhook", [instance(f"run-{i}") for i in range(130)]).body
    assert len(body["alerts"]) == 100 and body["truncatedAlerts"] == 30


def test_resolved_group_status(receiver):
    body = send(receiver, "webhook", [instance("run-a", RESOLVED)], RESOLVED).body
    assert body["status"] == "resolved" and body["alerts"][0]["status"] == "resolved"


def test_alertmanager_receiver_posts_postable_alerts(receiver):
    received = send(receiver, "alertmanager", [instance("run-a"), instance("run-b", RESOLVED)])
    assert received.path == "/api/v2/alerts"
    firing, resolved = received.body
    assert set(firing) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    # still firing: ends by itself four resend intervals ahead unless sent again
    assert rfc3339(firing["endsAt"]).timestamp() * 1000 == T0 + 60_000 + 4 * 60_000
    assert rfc3339(resolved["endsAt"]).timestamp() * 1000 == T0 + 90_000
    assert firing["generatorURL"] == "http://swarmscope.test:4318/runs/run-a"


def test_slack_message_escapes_span_content(receiver):
    hostile = instance("run-a", summary="<!channel> ping & <http://evil|click>")
    body = send(receiver, "slack", [hostile]).body
    assert body["text"] == "[FIRING:1] SwarmDeadlocked"
    [attachment] = body["attachments"]
    assert attachment["color"] == "danger"
    assert "&lt;!channel&gt; ping &amp; &lt;http://evil|click&gt;" in attachment["text"]
    assert "<!channel>" not in attachment["text"]
    assert "<http://swarmscope.test:4318/runs/run-a|open>" in attachment["text"]
