"""`swarmscope alerts check` and `swarmscope alerts test`.

    swarmscope alerts check [--config FILE] [--data DIR | --store URL] [--json] [--detect]
        Evaluates every rule once, now, and prints each with its state. A rule whose condition holds
        is reported firing (one evaluation cannot wait out `for`). Exit 1 when any fires, 2 on a bad
        config, for cron and CI. Finding rules read the findings `serve` stored (or, with --detect,
        those of a detection sweep run first).
    swarmscope alerts test NAME [--config FILE]
        Sends a test notification for rule NAME to its receivers; exit 1 if one of them fails.
"""

from __future__ import annotations

import argparse
import json
import sys

from swarmscope.detectors.config import ConfigError, add_config_argument
from swarmscope.schema.location import add_store_arguments

from .notify import Notification, Notifier, RetryPolicy, fingerprint
from .rules import load_rules
from .state import ERROR, FIRING, NODATA, OK, Instance


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from swarmscope.schema.location import store_url
    from swarmscope.schema.store import Store
    from swarmscope.schema.times import now_ms

    from .conditions import Conditions

    config = load_rules(args.config)
    if not args.store and not Path(args.data).exists():
        print(f"swarmscope alerts check: no store at {args.data} (use --data DIR or --store URL)",
              file=sys.stderr)
        return 2
    url, database = store_url(args)
    store = Store(url, database=database)
    conditions = Conditions(store)
    results = []
    try:
        store.migrate()
        if args.detect:  # fresh findings for `finding` rules when no serve keeps them current
            from swarmscope.detectors.config import load_config
            from swarmscope.detectors.runner import run_sweep

            run_sweep(store, load_config(args.config))
        now = now_ms()
        for rule in config.rules:
            try:
                evaluation = conditions.evaluate(rule, now)
            except Exception as exc:  # reported as the rule's state, the other rules still run
                results.append({"rule": rule.name, "kind": rule.kind, "state": ERROR,
                                "error": f"{type(exc).__name__}: {exc}", "instances": []})
                continue
            state = FIRING if evaluation.samples else (OK if evaluation.has_data else NODATA)
            results.append({"rule": rule.name, "kind": rule.kind, "state": state, "error": "",
                            "instances": [{"labels": s.labels, "value": s.value, "annotations": s.annotations,
                                           "link": s.link} for s in evaluation.samples]})
    finally:
        conditions.close()
        store.close()
    if args.json:
        print(json.dumps({"rules": results}, indent=2, default=str))
    else:
        if not results:
            print("no alert rules configured")
        for r in results:
            error = f": {r['error']}" if r["error"] else ""
            print(f"{r['state'].upper():8} {r['rule']} ({r['kind']}){error}")
            for i in r["instances"]:
                labels = ", ".join(f"{k}={v}" for k, v in i["labels"].items() if k != "alertname")
                summary = i["annotations"].get("summary", "")
                print(f"         {labels}{'  ' + summary if summary else ''}")
    return 1 if any(r["state"] == FIRING for r in results) else 0


def _test(args: argparse.Namespace) -> int:
    from swarmscope.schema.times import now_ms

    config = load_rules(args.config)
    rule = config.rule(args.name)
    if rule is None:
        known = ", ".join(r.name for r in config.rules) or "none"
        print(f"swarmscope alerts test: no rule named {args.name!r} (rules: {known})", file=sys.stderr)
        return 2
    receivers = config.receivers_for(rule)
    if not receivers:
        print(f"swarmscope alerts test: rule {rule.name!r} has no receivers", file=sys.stderr)
        return 2
    now = now_ms()
    labels = {"alertname": rule.name, **rule.labels, "test": "true"}
    summary = f"Test notification for alert rule {rule.name} from swarmscope"
    annotations = {**rule.annotations, "summary": summary}
    instance = Instance(rule.name, fingerprint(labels), labels, annotations, state=FIRING, active_at_ms=now,
                        fired_at_ms=now)
    notifier = Notifier(retry=RetryPolicy(attempts=1))
    failed = 0
    for receiver in receivers:
        delivery = notifier.deliver(Notification(receiver, rule.name, FIRING, [instance], config.external_url,
                                                 now, resend_s=config.repeat_interval_s))
        failed += delivery.result != "ok"
        print(f"{receiver.name} ({receiver.type}): {delivery.result}"
              f"{' ' + delivery.error if delivery.error else ''}")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="swarmscope alerts", description="Check and test alert rules.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="evaluate every rule once; exit 1 when any fires")
    add_config_argument(check)
    add_store_arguments(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.add_argument("--detect", action="store_true",
                       help="run one detection sweep first (and store its findings), as `swarmscope detect`")
    test = commands.add_parser("test", help="send a test notification for one rule")
    test.add_argument("name", help="the rule's name")
    add_config_argument(test)
    args = parser.parse_args(argv)
    try:
        return _check(args) if args.command == "check" else _test(args)
    except ConfigError as exc:
        print(f"swarmscope alerts: {exc}", file=sys.stderr)
        return 2
