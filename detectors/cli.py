"""`swarmscope detect`: one full detection sweep from the command line.

    swarmscope detect [--since 1h] [--json] [--data DIR | --store URL] [--config PATH]
                      [--kind KIND ...] [--no-store] [--fail-on SEVERITY]

Prints the conditions present now (and those that cleared in this sweep) and stores them as findings
unless --no-store. Exit status 0, or 1 with --fail-on when a finding at or above that severity is open.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swarmscope.schema.location import add_store_arguments, store_url
from swarmscope.schema.times import iso_ms, now_ms, parse_time

from .config import ConfigError, add_config_argument, load_config
from .model import KINDS, SEVERITIES


def _store(args: argparse.Namespace):
    from swarmscope.schema.store import Store

    if not args.store and not Path(args.data).exists():
        raise SystemExit(f"swarmscope detect: no store at {args.data} (use --data DIR or --store URL)")
    url, database = store_url(args)
    return Store(url, database=database)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="swarmscope detect", description="Run one detection sweep.")
    parser.add_argument(
        "--since",
        default=None,
        help="look at finished spans since: 15m, 2h, 7d, unix seconds or ISO 8601 "
        "(default: the config's sweep.lookback_s, 1h); open spans are always all looked at",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_store_arguments(parser)
    add_config_argument(parser)
    parser.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    parser.add_argument("--no-store", action="store_true", help="do not record the findings")
    parser.add_argument(
        "--fail-on", choices=SEVERITIES, help="exit 1 if a finding of this severity or worse is open"
    )
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
        now = now_ms()
        since = parse_time(args.since, now) if args.since else None
    except (ConfigError, ValueError) as exc:
        print(f"swarmscope detect: {exc}", file=sys.stderr)
        return 2

    from .runner import run_sweep

    store = _store(args)
    try:
        store.migrate()
        result = run_sweep(
            store,
            config,
            now=now,
            since_ms=since,
            kinds=set(args.kind) if args.kind else None,
            persist_findings=not args.no_store,
        )
    finally:
        store.close()

    findings = sorted(result.findings, key=lambda f: (-SEVERITIES.index(f.severity), f.kind, f.id))
    if args.json:
        print(
            json.dumps(
                {
                    "as_of": iso_ms(now),
                    "since": iso_ms(
                        since if since is not None else now - int(config.get("sweep", "lookback_s") * 1000)
                    ),
                    "findings": [f.to_dict() for f in findings],
                    "resolved": [f.to_dict() for f in result.resolved],
                    "errors": result.errors,
                    "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
                },
                indent=2,
                default=str,
            )
        )
    else:
        if not findings:
            print("no findings")
        for f in findings:
            where = f" trace {f.trace_id}" if f.trace_id else (f" run {f.run_id}" if f.run_id else "")
            print(f"{f.severity.upper():8} {f.kind:20} {f.summary}{where}")
        for f in result.resolved:
            print(f"{'RESOLVED':8} {f.kind:20} {f.summary}")
        for kind, error in result.errors.items():
            print(f"detector {kind} failed: {error}", file=sys.stderr)
    if args.fail_on:
        floor = SEVERITIES.index(args.fail_on)
        if any(SEVERITIES.index(f.severity) >= floor for f in findings):
            return 1
    return 0
