"""Alert rules from the shared config file: parsing, defaults, clear errors, and the sql guard that
refuses anything but one read-only SELECT when the config is loaded."""

from __future__ import annotations

import pytest
from swarmscope.alerts.rules import load_rules
from swarmscope.alerts.sql_guard import UnsafeQuery, check_select
from swarmscope.detectors.config import ConfigError, load_config

CONFIG = """
[stalled_wait]
default_timeout_s = 60

[alerting]
interval = "15s"
repeat_interval = "2h"
external_url = "http://swarmscope.test:4318/"

[[alerting.receivers]]
name = "oncall"
type = "webhook"
url = "http://127.0.0.1:9/hook"

[[alerting.receivers]]
name = "chat"
type = "slack"
url = "https://hooks.slack.test/services/x"

[[alerts]]
name = "SwarmDeadlocked"
kind = "finding"
finding_kind = "deadlock"
min_severity = "error"
keep_firing_for = "1m"
receivers = ["oncall"]
labels = { severity = "critical", team = "agents" }
annotations = { summary = "Deadlock in {run_id}" }

[[alerts]]
name = "RunStuck"
kind = "stuck"
silent_for = "30m"
for = "5m"

[[alerts]]
name = "ToolErrors"
kind = "rate"
measure = "tool_error_rate"
window = "10m"
min_samples = 5
threshold = 0.5
"""


def write(tmp_path, text: str, name: str = "swarmscope.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_one_file_holds_detector_thresholds_and_alert_rules(tmp_path):
    path = write(tmp_path, CONFIG)
    assert load_config(path).get("stalled_wait", "default_timeout_s") == 60  # the detectors ignore alerts
    config = load_rules(path)
    assert (config.interval_s, config.repeat_interval_s) == (15, 7200)
    assert config.external_url == "http://swarmscope.test:4318"
    deadlock, stuck, errors = config.rules
    assert deadlock.params == {"finding_kind": "deadlock", "min_severity": "error", "agent": "", "tool": "",
                               "service": ""}
    assert (deadlock.for_s, deadlock.keep_firing_for_s) == (0, 60)
    assert deadlock.labels == {"severity": "critical", "team": "agents"}
    assert [r.name for r in config.receivers_for(deadlock)] == ["oncall"]
    assert [r.name for r in config.receivers_for(stuck)] == ["oncall", "chat"]  # no list: every receiver
    assert (stuck.params["silent_for"], stuck.for_s) == (1800, 300)
    assert errors.params["min_samples"] == 5 and errors.params["op"] == ">"


@pytest.mark.parametrize("rule, message", [
    ('name = "x"\nkind = "nope"', "`kind` must be one of"),
    ('name = "x"\nkind = "rate"\nthreshold = 1', "`measure` is required"),
    ('name = "x"\nkind = "rate"\nmeasure = "tool_error_rate"\nthreshold = "high"', "must be a number"),
    ('name = "x"\nkind = "stuck"\nsilent_for = "forever"', "must be a duration"),
    ('name = "x"\nkind = "finding"\nfinding_kind = "deadlok"', "finding_kind must be one of"),
    ('name = "x"\nkind = "finding"\nsilent_for = "5m"', "unknown key(s) silent_for"),
    ('name = "x"\nkind = "finding"\nreceivers = ["pager"]', "unknown receiver(s): pager"),
    ('name = "two words"\nkind = "finding"', "plain name"),
    ('name = "x"\nkind = "stuck"\nsilent_for = "5m"\ntool_p99_factor = 3', "two forms of stuck"),
    ('name = "x"\nkind = "stuck"\nmin_calls = 5', "min_calls only apply with `tool_p99_factor`"),
    ('name = "x"\nkind = "stuck"\ntool_p99_factor = -1', "must not be negative"),
    ('name = "x"\nkind = "drift"\nmeasure = "tool_calls"\nbaseline = "same_day"',
     'be "same_hour" or a duration'),
    ('name = "x"\nkind = "drift"\nmeasure = "tool_calls"\nbaseline_days = 3', "only applies with baseline"),
    ('name = "x"\nkind = "drift"\nmeasure = "tool_calls"\nbaseline = "same_hour"\nwindow = "2d"',
     "at most 1d"),
    ('name = "x"\nkind = "drift"\nmeasure = "tool_calls"\nbaseline = "same_hour"\nbaseline_days = 1.5',
     "whole number"),
])
def test_bad_rules_are_clear_errors_naming_the_rule(tmp_path, rule, message):
    with pytest.raises(ConfigError) as err:
        load_rules(write(tmp_path, f"[[alerts]]\n{rule}\n"))
    assert message in str(err.value)


def test_the_two_stuck_forms_and_the_two_drift_baselines_parse(tmp_path):
    from swarmscope.alerts.conditions import baseline_windows

    config = load_rules(write(tmp_path, """
[[alerts]]
name = "ToolCallStuck"
kind = "stuck"
tool_p99_factor = 3
min_age = "5m"

[[alerts]]
name = "SameHour"
kind = "drift"
measure = "agent_tokens_per_run"
window = "1h"
baseline = "same_hour"
baseline_days = 3
"""))
    stuck, drift = config.rules
    assert stuck.params == {"silent_for": 1800, "service": "", "tool_p99_factor": 3, "min_calls": 20,
                            "min_age": 300, "history": 7 * 86400, "tool": ""}
    assert (drift.params["baseline"], drift.params["baseline_days"]) == ("same_hour", 3)
    day, hour = 86_400_000, 3_600_000
    now = 10 * day
    assert baseline_windows(drift.params, now) == [(now - d * day - hour, now - d * day) for d in (1, 2, 3)]
    assert baseline_windows({"window": 3600, "baseline": 6 * 3600}, now) == [(now - 7 * hour, now - hour)]


def test_duplicate_names_and_bad_receivers(tmp_path):
    twice = '[[alerts]]\nname = "a"\nkind = "finding"\n' * 2
    with pytest.raises(ConfigError, match="unique"):
        load_rules(write(tmp_path, twice))
    with pytest.raises(ConfigError, match="http"):
        load_rules(write(tmp_path, '[[alerting.receivers]]\nname = "r"\nurl = "file:///etc/passwd"\n'))


@pytest.mark.parametrize("query", [
    "INSERT INTO findings SELECT * FROM findings",
    "SELECT 1; DROP TABLE spans",
    "DROP TABLE spans",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://169.254.169.254/latest', 'LineAsString')",
    "SELECT * FROM URL ('http://x', CSV)",
    "select * from remote('host', system.users)",
    "SELECT * FROM s3('https://bucket/x.csv')",
    "SELECT * FROM input('a String')",
    "WITH x AS (SELECT 1) SELECT * FROM x SETTINGS readonly = 0",
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    "ALTER TABLE spans DELETE WHERE 1",
    "SYSTEM SHUTDOWN",
    "SELECT 1 /* hidden */ ; /* then */ CREATE TABLE t (a Int8) ENGINE = Memory",
    "SELECT 'unterminated",
])
def test_sql_rules_that_write_or_read_outside_the_store_are_refused_at_load(tmp_path, query):
    with pytest.raises(UnsafeQuery):
        check_select(query)
    escaped = query.replace("\\", "\\\\").replace('"', '\\"')
    with pytest.raises(ConfigError, match="is refused"):
        load_rules(write(tmp_path, f'[[alerts]]\nname = "q"\nkind = "sql"\nquery = "{escaped}"\n'))


def test_keywords_inside_strings_and_comments_are_text():
    query = "SELECT RunId AS run_id FROM spans WHERE StatusMessage = 'DROP TABLE; file(x)' -- insert\n"
    assert check_select(query + ";") == query.strip()
    assert check_select("WITH 1 AS one SELECT one, fileSize FROM (SELECT 2 AS fileSize)")


def test_the_documented_rules_load(tmp_path):
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "alerts.md").read_text()
    blocks = [b.split("```", 1)[0] for b in doc.split("```toml\n")[1:]]
    assert len(blocks) >= 3
    for i, block in enumerate(blocks):
        load_rules(write(tmp_path, block, f"doc-{i}.toml"))  # each block alone is a valid config
    ready = load_rules(write(tmp_path, blocks[1]))
    assert {r.kind for r in ready.rules} == {"stuck", "finding", "rate", "drift", "sql"}
