"""Each rule kind against a real embedded store, on a simulated clock: stuck runs judged on their last
activity, tool calls open far past their tool's own p99, tool error rates with a minimum sample,
tokens-per-run drift against the agent's own baseline (the window before, or the same hour of previous
days), and sql rules run read-only."""

from __future__ import annotations

import time

from alerts_helpers import MIN, Clock, config, evaluator, plant_deadlock, states
from scenarios import Scenario, detect
from swarmscope.alerts.conditions import Conditions
from swarmscope.alerts.rules import Rule


def test_stuck_fires_on_a_run_silent_for_40_minutes_not_on_one_that_keeps_progressing(store):
    start_ms = time.time_ns() // 1_000_000 - 60 * MIN  # simulated time, in the past of the wall clock
    silent, busy = Scenario(run_id="run-silent", now_ns=start_ms * 1_000_000), \
        Scenario(run_id="run-busy", now_ns=start_ms * 1_000_000)
    silent_agent = silent.agent("coder", start=0, dur=None)
    silent.tool("run_tests", parent=silent_agent, start=1, dur=60)  # its last progress: 61 s in
    busy_agent = busy.agent("coder", start=0, dur=None)
    clock = Clock(start_ms)
    rule = {"name": "RunStuck", "kind": "stuck", "silent_for": "40m", "annotations": {"summary": "{summary}"}}
    ev = evaluator(store, config(None, rule), clock)
    fired_at = {}
    for minute in range(5, 50, 5):
        now_s = minute * 60
        # both processes stay alive (heartbeats); only the busy run gets anything done
        silent.heartbeat(silent_agent, at=now_s)
        busy.heartbeat(busy_agent, at=now_s)
        busy.tool("web_search", parent=busy_agent, start=now_s - 20, dur=10)
        silent.insert(store)
        busy.insert(store)
        ev.step(clock.advance(5 * MIN))
        assert clock.now == start_ms + minute * MIN
        for run, state in states(ev, "RunStuck").items():
            fired_at.setdefault(run, minute) if state == "firing" else None
    # silent 39 min at minute 40 (2339 s), 44 min at minute 45
    assert fired_at == {"run-silent": 45}
    [instance] = ev.instances.values()
    assert instance.value == 45 * 60 - 61
    assert instance.link == "/runs/run-silent"
    assert instance.annotations["summary"] == "run run-silent has 1 open span(s) and no progress for 44 min"
    # it ends: the run finishes
    silent.finish(silent_agent, end=46 * 60)
    silent.insert(store)
    ev.step(clock.advance(2 * MIN))
    assert states(ev, "RunStuck") == {"run-silent": "resolved"}


def test_stuck_tool_call_fires_past_its_tools_own_p99_not_under_it_nor_without_history(store):
    now_ms = time.time_ns() // 1_000_000
    history = Scenario(run_id="run-history", now_ns=(now_ms - 3 * 3600_000) * 1_000_000)
    worker = history.agent("coder", start=-7200, dur=7000)
    # web_search: p99 2 min, over enough calls that the long calls finishing below stay outside its p99
    for i in range(300):
        history.tool("web_search", parent=worker, start=-7000 + i * 20, dur=120)
    for i in range(30):
        history.tool("read_file", parent=worker, start=-7000 + i * 150, dur=0.1)  # p99 100 ms
    for i in range(5):  # under min_calls: its p99 says nothing yet
        history.tool("crawl", parent=worker, start=-2000 + i * 150, dur=60)
    history.insert(store)

    open_calls: dict[str, list] = {}
    for run, tool, open_s in (
        ("run-hung", "web_search", 1200),  # 10 x p99 ...
        ("run-hung", "web_search", 960),  # ... and 8 x in the same run: one alert, about the first
        ("run-slow", "web_search", 180),  # 1.5 x
        ("run-new", "crawl", 1200),  # 20 x a p99 of too few calls
        ("run-fast", "read_file", 100),  # 1000 x its p99, but younger than min_age
        ("run-done", "web_search", 1800),  # long, but it finished
    ):
        sc = Scenario(run_id=run, now_ns=now_ms * 1_000_000)
        agent = sc.agent("coder", start=-open_s - 5, dur=None)
        call = sc.tool(tool, parent=agent, start=-open_s, dur=None)
        sc.heartbeat(call, at=-5)
        if run == "run-done":
            sc.finish(call, end=-10)
        sc.insert(store)
        open_calls.setdefault(run, []).append((sc, call))

    rule = {"name": "ToolCallStuck", "kind": "stuck", "tool_p99_factor": 3, "min_calls": 20, "min_age": "2m",
            "annotations": {"summary": "{summary}"}}
    new_tool = {"name": "NewToolStuck", "kind": "stuck", "tool_p99_factor": 3, "tool": "crawl"}
    clock = Clock(now_ms)
    ev = evaluator(store, config(None, rule, new_tool), clock)
    ev.step()
    assert states(ev, "ToolCallStuck") == {"run-hung": "firing"}
    [instance] = [i for (name, _), i in ev.instances.items() if name == "ToolCallStuck"]
    assert instance.labels == {"alertname": "ToolCallStuck", "run_id": "run-hung", "tool": "web_search",
                               "agent": "coder"}
    assert instance.value == 10.0 and instance.link == "/runs/run-hung"
    assert instance.annotations["summary"] == \
        "run run-hung: web_search call open for 20 min, 10 x its p99 of 120 s"
    assert ev.health["ToolCallStuck"].health == "ok"
    assert ev.health["NewToolStuck"].health == "nodata"  # an open call it cannot judge yet

    # Judged on the clock passed in: 10 minutes later the slow call is 6.5 x its p99 and the fast one
    # is past min_age; the call of a tool with too little history still says nothing.
    ev.step(clock.advance(10 * MIN))
    assert states(ev, "ToolCallStuck") == {"run-hung": "firing", "run-slow": "firing", "run-fast": "firing"}
    # The hung calls end: the run's alert resolves.
    for sc, call in open_calls["run-hung"]:
        sc.finish(call, end=10 * 60)
        sc.insert(store)
    ev.step(clock.advance(MIN))
    assert states(ev, "ToolCallStuck") == {"run-hung": "resolved", "run-slow": "firing", "run-fast": "firing"}


def test_tool_error_rate_fires_on_a_burst_not_on_one_failure_under_the_minimum(store):
    now_ms = time.time_ns() // 1_000_000
    sc = Scenario(now_ns=now_ms * 1_000_000)
    agent = sc.agent("coder", start=-300, dur=290)
    for i in range(8):  # a burst: 6 of 8 calls fail
        sc.tool("web_search", parent=agent, start=-200 + i, dur=0.5, error="UpstreamError" if i < 6 else None)
    sc.tool("read_file", parent=agent, start=-100, dur=0.1, error="NotFound")  # 1 call, 100% failed
    for i in range(10):
        sc.tool("write_file", parent=agent, start=-90 + i, dur=0.1, error="Disk" if i == 0 else None)
    sc.insert(store)
    rule = {"name": "ToolErrors", "kind": "rate", "measure": "tool_error_rate", "window": "10m",
            "min_samples": 5, "threshold": 0.5, "annotations": {"summary": "{tool}: {value} errors"}}
    ev = evaluator(store, config(None, rule), Clock(now_ms))
    ev.step()
    assert states(ev, "ToolErrors") == {"web_search": "firing"}
    [instance] = ev.instances.values()
    assert instance.value == 0.75 and instance.annotations["summary"] == "web_search: 0.75 errors"
    assert ev.health["ToolErrors"].health == "ok"
    ev.step(now_ms + 30 * MIN)  # the window has moved past the burst: nothing to judge
    assert states(ev, "ToolErrors") == {"web_search": "resolved"}
    assert ev.health["ToolErrors"].health == "nodata"


def test_tokens_per_run_drift_fires_when_they_triple_not_on_noise(store):
    now_ms = time.time_ns() // 1_000_000
    noise = [0.9, 1.1, 0.95, 1.05, 1.0, 0.92, 1.08]
    requests = []
    for agent, recent_factor in (("coder", 3.0), ("tester", 1.15)):
        for i in range(24):  # baseline: one run every 15 min over the 6 hours before the last hour
            sc = Scenario(now_ns=(now_ms - 3600_000 - (i + 1) * 15 * MIN) * 1_000_000)
            sc.agent(agent, start=-30, dur=20, input_tokens=int(1000 * noise[i % 7]), output_tokens=200)
            requests += sc.requests()
        for i in range(10):  # the last hour
            sc = Scenario(now_ns=(now_ms - (i + 1) * 5 * MIN) * 1_000_000)
            tokens = int(1000 * recent_factor * noise[i % 7])
            sc.agent(agent, start=-30, dur=20, input_tokens=tokens, output_tokens=int(200 * recent_factor))
            requests += sc.requests()
    store.insert_requests(requests)
    rule = {"name": "TokenDrift", "kind": "drift", "measure": "agent_tokens_per_run", "window": "1h",
            "baseline": "6h", "factor": 2.0, "min_samples": 5, "min_baseline_samples": 10,
            "annotations": {"summary": "{agent}: {recent} tokens per run, baseline {baseline} (x{ratio})"}}
    ev = evaluator(store, config(None, rule), Clock(now_ms))
    ev.step()
    assert states(ev, "TokenDrift") == {"coder": "firing"}
    [instance] = ev.instances.values()
    assert 2.8 < instance.value < 3.2
    assert instance.annotations["summary"].startswith("coder: ")
    assert instance.labels == {"alertname": "TokenDrift", "agent": "coder", "measure": "agent_tokens_per_run"}


def test_same_hour_drift_compares_with_the_same_hours_of_previous_days_not_the_hour_before(store):
    now_ms = time.time_ns() // 1_000_000
    day_ms = 86_400_000
    requests = []

    def runs(agent: str, tokens: int, ends_ms: list[int]) -> None:
        for end_ms in ends_ms:
            sc = Scenario(now_ns=end_ms * 1_000_000)
            sc.agent(agent, start=-30, dur=20, input_tokens=tokens, output_tokens=0)
            requests.extend(sc.requests())

    # Tokens per run, by hour: coder triples against the same hour of the past week (its level today
    # has been high since the hour before); tester's recent hour is its usual level at that hour,
    # three times the hour before. Other hours of the past days run at the opposite levels, so a
    # baseline that read the whole week would not see this.
    for agent, same_hour_before, recent, hour_before, other_hours in (
        ("coder", 1000, 3000, 3000, 3000),
        ("tester", 3000, 3000, 1000, 1000),
    ):
        for day in range(1, 8):
            runs(agent, same_hour_before, [now_ms - day * day_ms - k * 20 * MIN for k in (1, 2)])
            runs(agent, other_hours, [now_ms - day * day_ms - 4 * 60 * MIN - k * 20 * MIN for k in (1, 2)])
        runs(agent, recent, [now_ms - k * 12 * MIN for k in (1, 2, 3, 4)])
        runs(agent, hour_before, [now_ms - 60 * MIN - k * 12 * MIN for k in (1, 2, 3, 4)])
    store.insert_requests(requests)

    common = {"kind": "drift", "measure": "agent_tokens_per_run", "window": "1h", "factor": 2.0,
              "min_samples": 3, "min_baseline_samples": 4}
    seasonal = {"name": "SameHourDrift", "baseline": "same_hour", "baseline_days": 7, **common}
    just_before = {"name": "HourBeforeDrift", "baseline": "1h", **common}
    ev = evaluator(store, config(None, seasonal, just_before), Clock(now_ms))
    ev.step()
    assert states(ev, "SameHourDrift") == {"coder": "firing"}
    assert states(ev, "HourBeforeDrift") == {"tester": "firing"}
    values = {(name, i.labels["agent"]): i.value for (name, _), i in ev.instances.items()}
    assert values == {("SameHourDrift", "coder"): 3.0, ("HourBeforeDrift", "tester"): 3.0}
    assert ev.health["SameHourDrift"].health == "ok"


def test_sql_rule_rows_are_instances_and_run_read_only(store):
    sc = Scenario(run_id="run-failing")
    agent = sc.agent("coder")
    for _ in range(3):
        sc.tool("deploy", parent=agent, error="Boom")
    sc.insert(store)
    query = ("SELECT RunId AS run_id, ToolName AS tool, count() AS value FROM spans "
             "WHERE StatusCode = 'Error' AND Timestamp <= fromUnixTimestamp64Milli({now_ms:Int64}) "
             "GROUP BY run_id, tool HAVING value >= 3")
    rule = {"name": "Failing", "kind": "sql", "query": query}
    ev = evaluator(store, config(None, rule), Clock(time.time_ns() // 1_000_000))
    ev.step()
    [instance] = ev.instances.values()
    assert instance.labels == {"alertname": "Failing", "run_id": "run-failing", "tool": "deploy"}
    assert instance.value == 3 and instance.link == "/runs/run-failing"
    assert instance.state == "firing"

    # The guard refuses writes at load; were one to get past it, the session is read-only anyway.
    conditions = Conditions(store)
    sneaky = Rule("Sneaky", "sql", {"query": "CREATE TABLE sneaky (a Int8) ENGINE = Memory"})
    try:
        conditions.evaluate(sneaky, 0)
        raise AssertionError("a write ran on the read-only client")
    except Exception as exc:
        assert "readonly" in str(exc).lower()
    finally:
        conditions.close()
    assert store.scalar("SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'sneaky'",
                        {"db": store.database}) == 0


def test_a_rule_that_fails_to_evaluate_is_in_error_and_others_still_run(store):
    broken = {"name": "Broken", "kind": "sql", "query": "SELECT no_such_column FROM spans"}
    fine = {"name": "Stuck", "kind": "stuck"}
    ev = evaluator(store, config(None, broken, fine), Clock(time.time_ns() // 1_000_000))
    ev.step()
    assert ev.health["Broken"].health == "error" and "no_such_column" in ev.health["Broken"].error
    assert ev.health["Stuck"].health == "ok"
    snapshot = {r["name"]: r for r in ev.snapshot()["rules"]}
    assert snapshot["Broken"]["health"] == "error" and snapshot["Stuck"]["state"] == "inactive"



def test_finding_rules_narrow_to_an_agent_a_service_and_a_severity(store):
    from swarmscope.alerts.rules import parse_rule

    plant_deadlock(store)
    assert [f.kind for f in detect(store)] == ["deadlock"]
    conditions = Conditions(store)

    def fires(**params) -> int:
        rule = parse_rule({"name": "r", "kind": "finding", **params}, 0)
        return len(conditions.evaluate(rule, 0).samples)

    try:
        assert fires(finding_kind="deadlock") == 1
        assert fires(finding_kind="deadlock", agent="coder") == 1
        assert fires(finding_kind="deadlock", agent="reviewer") == 0
        assert fires(finding_kind="deadlock", service="swarm") == 1
        assert fires(finding_kind="deadlock", service="billing") == 0
        assert fires(min_severity="critical") == 1
        assert fires(finding_kind="loop") == 0
        assert fires(finding_kind="deadlock", tool="web_search") == 0
    finally:
        conditions.close()
