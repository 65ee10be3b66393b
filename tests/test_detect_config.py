"""Detector config: documented defaults, TOML and JSON files, per-tool and per-agent overrides, clear
errors."""

from __future__ import annotations

import json

import pytest
from swarmscope.detectors.config import DEFAULTS, ConfigError, DetectorConfig, load_config


def test_defaults_without_a_file():
    config = load_config(None)
    assert config.get("stalled_wait", "default_timeout_s") == 120.0
    assert config.get("lost_heartbeat", "missed_intervals") == 3.0
    assert config.get("stalled_wait", "tool_p99_factor") == 3.0
    assert all(config.enabled(section) for section in DEFAULTS if section != "sweep")


def test_toml_with_tool_and_agent_overrides(tmp_path):
    path = tmp_path / "detect.toml"
    path.write_text("""
[stalled_wait]
default_timeout_s = 60

[retry_storm]
enabled = false

[tools.web_search.stalled_wait]
timeout_s = 900

[agents.coder.stalled_wait]
timeout_s = 300
default_timeout_s = 30

[agents.coder.phantom_completion]
min_confidence = 0.7
""")
    config = load_config(str(path))
    assert config.get("stalled_wait", "default_timeout_s") == 60
    assert config.get("stalled_wait", "default_timeout_s", agent="coder") == 30
    assert config.get("stalled_wait", "timeout_s", tool="web_search", agent="coder") == 900  # tool first
    assert config.get("stalled_wait", "timeout_s", agent="coder") == 300
    assert config.get("stalled_wait", "timeout_s", agent="planner") == 0
    assert config.get("phantom_completion", "min_confidence", agent="coder") == 0.7
    assert config.get("phantom_completion", "min_confidence") == 0.5
    assert not config.enabled("retry_storm")
    assert config.overrides("stalled_wait", "timeout_s", "agents") == {"coder": 300}
    # the bounds a query prefilters with: over the section's value and every tool and agent override
    assert config.least("stalled_wait", "timeout_s") == 0
    assert config.most("stalled_wait", "timeout_s") == 900
    assert config.most("phantom_completion", "min_confidence") == 0.7
    assert config.least("phantom_completion", "min_confidence") == 0.5


def test_json_file(tmp_path):
    path = tmp_path / "detect.json"
    path.write_text(
        json.dumps({"loop": {"max_repeats": 5}, "tools": {"http_get": {"retry_storm": {"min_agents": 2}}}})
    )
    config = load_config(str(path))
    assert config.get("loop", "max_repeats") == 5
    assert config.get("retry_storm", "min_agents", tool="http_get") == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stalled_waits": {}}, "unknown detector section [stalled_waits]"),
        ({"stalled_wait": {"timeout": 1}}, "unknown parameter stalled_wait.timeout"),
        ({"stalled_wait": {"default_timeout_s": "2m"}}, "must be a non-negative number"),
        ({"stalled_wait": {"default_timeout_s": -1}}, "must be a non-negative number"),
        ({"loop": {"enabled": "yes"}}, "must be true or false"),
        ({"agents": {"coder": {"lopp": {"max_repeats": 2}}}}, "unknown detector section [agents.coder.lopp]"),
        ({"tools": ["x"]}, "[tools] must be a table"),
    ],
)
def test_bad_config_is_a_clear_error(data, message):
    with pytest.raises(ConfigError) as err:
        DetectorConfig.from_dict(data)
    assert message in str(err.value)


def test_unreadable_or_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[stalled_wait\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(str(bad))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_config(str(bad_json))


def test_every_default_is_documented():
    doc = (__import__("pathlib").Path(__file__).parents[1] / "docs" / "detectors.md").read_text()
    for section, params in DEFAULTS.items():
        for name in params:
            if name != "enabled":
                assert f"`{name}`" in doc, f"{section}.{name} is not in docs/detectors.md"
