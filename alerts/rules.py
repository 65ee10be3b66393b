"""Alert rules and receivers, read from the config file the detector thresholds live in.

    [alerting]
    interval = "30s"                 # how often every rule is evaluated inside `swarmscope serve`
    repeat_interval = "4h"           # a firing alert is sent again this often
    external_url = "http://swarmscope.example:4318"   # links in notifications point here

    [[alerting.receivers]]
    name = "oncall"
    type = "webhook"                 # webhook (Alertmanager's webhook body) | slack | alertmanager
    url = "http://127.0.0.1:9093/hook"

    [[alerts]]
    name = "SwarmDeadlocked"
    kind = "finding"                 # finding | stuck | rate | drift | sql
    finding_kind = "deadlock"
    for = "0s"
    keep_firing_for = "1m"
    labels = { severity = "critical", team = "agents" }
    annotations = { summary = "Deadlock in run {run_id}", runbook_url = "https://..." }

docs/alerts.md lists every kind's parameters. Everything is checked at load: a bad rule is a clear
ConfigError naming the rule, never a rule that silently never fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from swarmscope.detectors.config import ConfigError, read_config_file
from swarmscope.detectors.model import KINDS, SEVERITIES

from .sql_guard import UnsafeQuery, check_select

RULE_KINDS = ("finding", "stuck", "rate", "drift", "sql")
RECEIVER_TYPES = ("webhook", "slack", "alertmanager")
COMPARISONS = (">", ">=", "<", "<=")
# Measures a `rate` or `drift` rule can watch; each is computed per tool or per agent (conditions.py).
MEASURES = (
    "tool_error_rate", "tool_errors", "tool_calls", "tool_latency_p95_ms",
    "agent_tokens_per_run", "agent_latency_p95_ms", "agent_confidence", "agent_error_rate",
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.-]*$")


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number of seconds or a string like `90s`, `5m`, `2h`, `7d`."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a duration like '5m', got {value!r}")
    if isinstance(value, (int, float)) and value >= 0:
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return float(match.group(1)) * _UNIT_S[match.group(2)]
    raise ConfigError(f"{where} must be a duration like '30s', '5m', '2h' or '7d', got {value!r}")


@dataclass(frozen=True)
class Receiver:
    name: str
    type: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    params: dict[str, Any]  # the kind's own parameters, checked and with defaults filled in
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    receivers: tuple[str, ...] = ()  # empty: every receiver
    repeat_interval_s: float | None = None  # None: [alerting].repeat_interval

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": self.params, "labels": self.labels,
                "annotations": self.annotations, "for_s": self.for_s,
                "keep_firing_for_s": self.keep_firing_for_s, "receivers": list(self.receivers)}


@dataclass(frozen=True)
class AlertConfig:
    rules: tuple[Rule, ...] = ()
    receivers: tuple[Receiver, ...] = ()
    interval_s: float = 30.0
    repeat_interval_s: float = 4 * 3600.0
    external_url: str = "http://127.0.0.1:4318"

    def receivers_for(self, rule: Rule) -> list[Receiver]:
        return [r for r in self.receivers if not rule.receivers or r.name in rule.receivers]

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


# Each kind's parameters: name -> (default, checker). A default of None means "required".
def _str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{where} must be a string, got {v!r}")
    return v


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where} must be a number, got {v!r}")
    return float(v)


def _choice(options: tuple[str, ...]):
    def check(v: Any, where: str) -> str:
        if v not in options:
            raise ConfigError(f"{where} must be one of {', '.join(options)}, got {v!r}")
        return v
    return check


def _finding_kind(v: Any, where: str) -> str:
    return "" if v == "" else _choice(KINDS)(v, where)


def _positive_int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1:
        raise ConfigError(f"{where} must be a whole number of at least 1, got {v!r}")
    return int(v)


SAME_HOUR = "same_hour"


def _baseline(v: Any, where: str) -> str | float:
    """`same_hour` (the recent window's clock time on each of the previous days) or a duration (the
    window just before the recent one)."""
    if v == SAME_HOUR:
        return v
    try:
        return parse_duration(v, where)
    except ConfigError:
        raise ConfigError(f"{where} must be \"{SAME_HOUR}\" or a duration like '6h' or '7d', "
                          f"got {v!r}") from None


def _sql(v: Any, where: str) -> str:
    try:
        return check_select(_str(v, where))
    except UnsafeQuery as exc:
        raise ConfigError(f"{where} is refused: {exc}") from exc


_OPTIONAL = ""
KIND_PARAMS: dict[str, dict[str, tuple[Any, Any]]] = {
    "finding": {
        "finding_kind": (_OPTIONAL, _finding_kind),
        "min_severity": ("warning", _choice(SEVERITIES)),
        "agent": (_OPTIONAL, _str), "tool": (_OPTIONAL, _str), "service": (_OPTIONAL, _str),
    },
    "stuck": {
        "silent_for": (1800.0, parse_duration),  # no new span and no span ending for this long
        "service": (_OPTIONAL, _str),
        # The second form, on when tool_p99_factor > 0: an open tool span older than factor x its
        # tool's own p99 over `history`, once the tool has `min_calls` calls there, and past `min_age`.
        "tool_p99_factor": (0.0, _number),
        "min_calls": (20.0, _number),
        "min_age": (120.0, parse_duration),
        "history": (7 * 86400.0, parse_duration),
        "tool": (_OPTIONAL, _str),
    },
    "rate": {
        "measure": (None, _choice(MEASURES)),
        "window": (600.0, parse_duration),
        "min_samples": (20.0, _number),
        "op": (">", _choice(COMPARISONS)),
        "threshold": (None, _number),
        "tool": (_OPTIONAL, _str), "agent": (_OPTIONAL, _str),
    },
    "drift": {
        "measure": (None, _choice(MEASURES)),
        "window": (3600.0, parse_duration),  # the recent window ...
        "baseline": (7 * 86400.0, _baseline),  # ... against the one just before it, or "same_hour"
        "baseline_days": (7, _positive_int),  # same_hour: the same clock window on this many days
        "factor": (2.0, _number),  # fires when recent / baseline moves past this (or under 1/factor)
        "direction": ("up", _choice(("up", "down", "both"))),
        "min_samples": (10.0, _number),
        "min_baseline_samples": (20.0, _number),
        "tool": (_OPTIONAL, _str), "agent": (_OPTIONAL, _str),
    },
    "sql": {
        "query": (None, _sql),
    },
}
TOOL_P99_ONLY = {"min_calls", "min_age", "history", "tool"}  # keys of stuck's tool_p99_factor form


def _check_stuck(params: dict[str, Any], given: set[str], where: str) -> None:
    """The two forms of `stuck` take different keys: a key of the other form would be ignored."""
    if params["tool_p99_factor"] < 0:
        raise ConfigError(f"{where}.tool_p99_factor must not be negative")
    if params["tool_p99_factor"] and "silent_for" in given:
        raise ConfigError(f"{where}: `silent_for` and `tool_p99_factor` are two forms of stuck; "
                          "write two rules")
    if not params["tool_p99_factor"] and given & TOOL_P99_ONLY:
        raise ConfigError(f"{where}: {', '.join(sorted(given & TOOL_P99_ONLY))} only apply "
                          "with `tool_p99_factor`")


def _check_drift(params: dict[str, Any], given: set[str], where: str) -> None:
    if params["baseline"] != SAME_HOUR:
        if "baseline_days" in given:
            raise ConfigError(f"{where}: `baseline_days` only applies with baseline = \"{SAME_HOUR}\"")
    elif params["window"] > 86400:
        raise ConfigError(f"{where}: with baseline = \"{SAME_HOUR}\" the window must be at most 1d, "
                          f"got {params['window']:g} s")


KIND_CHECKS = {"stuck": _check_stuck, "drift": _check_drift}
COMMON_KEYS = {"name", "kind", "labels", "annotations", "for", "keep_firing_for", "receivers",
               "repeat_interval"}


def _string_table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
        raise ConfigError(f"{where} must be a table of strings")
    for key in value:
        if not _NAME.match(str(key)):
            raise ConfigError(f"{where}: invalid name {key!r}")
    return {str(k): str(v) for k, v in value.items()}


def parse_rule(table: Any, index: int) -> Rule:
    where = f"[[alerts]] #{index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: `name` must be a plain name (letters, digits, _ : . -), got {name!r}")
    where = f"alert {name!r}"
    kind = table.get("kind")
    if kind not in RULE_KINDS:
        raise ConfigError(f"{where}: `kind` must be one of {', '.join(RULE_KINDS)}, got {kind!r}")
    spec = KIND_PARAMS[kind]
    unknown = set(table) - COMMON_KEYS - set(spec)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} for kind {kind!r}; "
                          f"known: {', '.join(sorted(COMMON_KEYS | set(spec)))}")
    params = {}
    for key, (default, check) in spec.items():
        if key in table:
            params[key] = check(table[key], f"{where}.{key}")
        elif default is None:
            raise ConfigError(f"{where}: `{key}` is required for kind {kind!r}")
        else:
            params[key] = default
    if kind in KIND_CHECKS:
        KIND_CHECKS[kind](params, set(table), where)
    receivers = table.get("receivers", [])
    if not isinstance(receivers, list) or not all(isinstance(r, str) for r in receivers):
        raise ConfigError(f"{where}.receivers must be a list of receiver names")
    repeat = table.get("repeat_interval")
    return Rule(
        name=name, kind=kind, params=params,
        labels=_string_table(table.get("labels", {}), f"{where}.labels"),
        annotations=_string_table(table.get("annotations", {}), f"{where}.annotations"),
        for_s=parse_duration(table.get("for", 0), f"{where}.for"),
        keep_firing_for_s=parse_duration(table.get("keep_firing_for", 0), f"{where}.keep_firing_for"),
        receivers=tuple(receivers),
        repeat_interval_s=None if repeat is None else parse_duration(repeat, f"{where}.repeat_interval"),
    )


def parse_receiver(table: Any, index: int) -> Receiver:
    where = f"[[alerting.receivers]] #{index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - {"name", "type", "url", "headers"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name, kind, url = table.get("name"), table.get("type", "webhook"), table.get("url")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: `name` must be a plain name, got {name!r}")
    if kind not in RECEIVER_TYPES:
        raise ConfigError(f"receiver {name!r}: `type` must be one of {', '.join(RECEIVER_TYPES)}")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        raise ConfigError(f"receiver {name!r}: `url` must be an http(s) URL, got {url!r}")
    return Receiver(name, kind, url, _string_table(table.get("headers", {}), f"receiver {name!r}.headers"))


def from_dict(data: dict[str, Any]) -> AlertConfig:
    """The alerts part of a parsed config file (the keys `alerts` and `alerting`; others are ignored)."""
    rules_data = data.get("alerts", [])
    if not isinstance(rules_data, list):
        raise ConfigError("`alerts` must be an array of tables: write each rule as [[alerts]]")
    rules = tuple(parse_rule(t, i) for i, t in enumerate(rules_data))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ConfigError(f"alert names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
    settings = data.get("alerting", {})
    if not isinstance(settings, dict):
        raise ConfigError("[alerting] must be a table")
    unknown = set(settings) - {"interval", "repeat_interval", "external_url", "receivers"}
    if unknown:
        raise ConfigError(f"[alerting]: unknown key(s) {', '.join(sorted(unknown))}")
    receivers = tuple(parse_receiver(t, i) for i, t in enumerate(settings.get("receivers", [])))
    known = {r.name for r in receivers}
    for rule in rules:
        missing = [r for r in rule.receivers if r not in known]
        if missing:
            raise ConfigError(f"alert {rule.name!r} names unknown receiver(s): {', '.join(missing)}")
    external = settings.get("external_url", AlertConfig.external_url)
    if not isinstance(external, str) or not re.match(r"^https?://", external):
        raise ConfigError(f"[alerting].external_url must be an http(s) URL, got {external!r}")
    interval = parse_duration(settings.get("interval", AlertConfig.interval_s), "[alerting].interval")
    if interval <= 0:
        raise ConfigError("[alerting].interval must be positive")
    return AlertConfig(
        rules=rules, receivers=receivers, interval_s=interval,
        repeat_interval_s=parse_duration(settings.get("repeat_interval", AlertConfig.repeat_interval_s),
                                         "[alerting].repeat_interval"),
        external_url=external.rstrip("/"),
    )


def load_rules(path: str | None) -> AlertConfig:
    """The alert rules of a TOML or JSON config file (no file: no rules)."""
    return from_dict(read_config_file(path)) if path else AlertConfig()
