"""Detector thresholds: documented defaults, a config file (TOML or JSON), per-tool and per-agent overrides.

A config file mirrors DEFAULTS; every key is optional:

    [stalled_wait]
    default_timeout_s = 120

    [tools.web_search.stalled_wait]      # this tool only
    timeout_s = 900

    [agents.coder.phantom_completion]    # this agent only
    min_confidence = 0.7

A per-tool or per-agent table may set any parameter of the detector section it names. Lookup order:
tool override, agent override, the section's value, the default. docs/detectors.md lists every
parameter and what it means.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Every threshold with its default. Durations are in seconds (`_s`), ratios are plain numbers.
DEFAULTS: dict[str, dict[str, Any]] = {
    "sweep": {
        # Finished-span detectors look this far back on a full sweep (`swarmscope detect --since`
        # overrides it); continuous sweeps only revisit traces that received spans since the last one.
        "lookback_s": 3600.0,
        # Re-read this much ingest history on every incremental sweep (late, out-of-order inserts).
        "overlap_s": 10.0,
        # Open spans whose last heartbeat is older than this are no longer tracked.
        "open_horizon_s": 86400.0,
        # An unchanged open finding is rewritten (last_seen) at most this often.
        "touch_interval_s": 30.0,
    },
    "stalled_wait": {
        "enabled": True,
        # A wait without swarmscope.wait.timeout_ms, or a tool call, is stalled past this.
        "default_timeout_s": 120.0,
        # Per tool/agent: a fixed stall threshold that wins over the declared timeout and the learned one.
        "timeout_s": 0.0,
        # Tool calls: the threshold follows the tool's own latency, factor x its p99 ...
        "tool_p99_factor": 3.0,
        # ... once it has at least this many calls in the history window.
        "tool_min_calls": 20.0,
        "tool_history_s": 86400.0,
    },
    "deadlock": {
        "enabled": True,
    },
    "lost_heartbeat": {
        "enabled": True,
        # Dead when the last heartbeat is older than this many declared intervals.
        "missed_intervals": 3.0,
    },
    "phantom_completion": {
        "enabled": True,
        # A completion with swarmscope.confidence under this contradicts itself.
        "min_confidence": 0.5,
    },
    "partial_failure": {
        "enabled": True,
        # A descendant that ended more than this after its ancestor was still open when it ended.
        "end_slack_s": 1.0,
    },
    "retry_storm": {
        "enabled": True,
        # At least min_retries retries (attempt > 1) of one tool from at least min_agents agents
        # within window_s.
        "window_s": 10.0,
        "min_retries": 10.0,
        "min_agents": 3.0,
        # Storms are looked for in this recent window; a storm that left it is resolved.
        "lookback_s": 300.0,
    },
    "duplicate_execution": {
        "enabled": True,
        # Completions of one idempotency key are compared over this window.
        "lookback_s": 21600.0,
    },
    "context_bloat": {
        "enabled": True,
        # Input tokens growing along consecutive agents of a trace (hand-off order) by this factor ...
        "growth_factor": 3.0,
        # ... over at least this many agents ...
        "min_chain": 3.0,
        # ... ending above this many tokens.
        "min_tokens": 8000.0,
    },
    "loop": {
        "enabled": True,
        # Fires when one agent received the same input this many times in one run.
        "max_repeats": 3.0,
    },
    "drift": {
        "enabled": True,
        # Runs at most this often (it reads hours of data).
        "every_s": 60.0,
        "recent_s": 900.0,
        "baseline_s": 21600.0,
        "min_recent": 20.0,
        "min_baseline": 50.0,
        # Error rate up by at least this much (absolute) and at least doubled.
        "error_rate_delta": 0.2,
        # Mean confidence down by at least this much (absolute).
        "confidence_drop": 0.2,
        # Mean input tokens or p95 latency multiplied by at least this factor.
        "tokens_factor": 2.0,
        "latency_factor": 2.0,
    },
}

DETECTOR_SECTIONS = [name for name in DEFAULTS if name != "sweep"]


class ConfigError(ValueError):
    """A config file that names an unknown section or parameter, or gives a value of the wrong type."""


@dataclass
class DetectorConfig:
    sections: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    tools: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    agents: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def get(self, section: str, name: str, *, tool: str | None = None, agent: str | None = None) -> Any:
        """The value of `section.name`, with the tool's then the agent's override first."""
        if tool and name in self.tools.get(tool, {}).get(section, {}):
            return self.tools[tool][section][name]
        if agent and name in self.agents.get(agent, {}).get(section, {}):
            return self.agents[agent][section][name]
        return self.sections[section][name]

    def enabled(self, section: str) -> bool:
        return bool(self.sections[section].get("enabled", True))

    def overrides(self, section: str, name: str, scope: str) -> dict[str, Any]:
        """{tool or agent: value} for every override of `section.name` (scope: "tools" or "agents")."""
        table = self.tools if scope == "tools" else self.agents
        return {
            who: values[section][name] for who, values in table.items() if name in values.get(section, {})
        }

    def least(self, section: str, name: str) -> Any:
        """The smallest value of `section.name` that any tool or agent gets: a query prefilters with it,
        then each candidate is held to its own value (`get`)."""
        return min(self._all_values(section, name))

    def most(self, section: str, name: str) -> Any:
        """The largest value of `section.name` that any tool or agent gets (see `least`)."""
        return max(self._all_values(section, name))

    def _all_values(self, section: str, name: str) -> list[Any]:
        return [
            self.sections[section][name],
            *self.overrides(section, name, "tools").values(),
            *self.overrides(section, name, "agents").values(),
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        config = cls()
        if not isinstance(data, dict):
            raise ConfigError("detector config must be a table/object at the top level")
        for key, value in data.items():
            if key in ("tools", "agents"):
                if not isinstance(value, dict):
                    raise ConfigError(f"[{key}] must be a table of names")
                target = config.tools if key == "tools" else config.agents
                for who, sections in value.items():
                    if not isinstance(sections, dict):
                        raise ConfigError(f"[{key}.{who}] must be a table of detector sections")
                    target[str(who)] = {
                        section: _check_section(section, params, f"{key}.{who}.{section}")
                        for section, params in sections.items()
                    }
            else:
                checked = _check_section(key, value, key)
                config.sections[key].update(checked)
        return config


def _check_section(section: str, params: Any, where: str) -> dict[str, Any]:
    if section not in DEFAULTS:
        raise ConfigError(f"unknown detector section [{where}]; known: {', '.join(DEFAULTS)}")
    if not isinstance(params, dict):
        raise ConfigError(f"[{where}] must be a table of parameters")
    checked = {}
    for name, value in params.items():
        if name not in DEFAULTS[section]:
            raise ConfigError(f"unknown parameter {where}.{name}; known: {', '.join(DEFAULTS[section])}")
        default = DEFAULTS[section][name]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{name} must be true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}.{name} must be a non-negative number, got {value!r}")
        else:
            value = float(value)
        checked[name] = value
    return checked


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config PATH`: the one flag naming this file, for every command that reads it."""
    parser.add_argument("--config", help="detector thresholds (TOML or JSON; see docs/detectors.md)")


def load_config(path: str | None) -> DetectorConfig:
    """The defaults, or the defaults updated from a TOML (`.toml`) or JSON file."""
    if not path:
        return DetectorConfig()
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read detector config {path}: {exc}") from exc
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            try:
                import tomli as tomllib
            except ImportError as exc:
                raise ConfigError(
                    "TOML config on Python 3.10 needs `pip install tomli` (or use JSON)"
                ) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return DetectorConfig.from_dict(data)
