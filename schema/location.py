"""Where the store is, for every command: `--data DIR` (embedded chDB) or `--store URL` (a server)."""

from __future__ import annotations

import argparse
from urllib.parse import urlparse

DEFAULT_DATA = "./swarmscope-data"


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", default=DEFAULT_DATA,
                       help=f"directory of the embedded store (default {DEFAULT_DATA})")
    where.add_argument("--store", help="ClickHouse URL instead, e.g. http://user:pass@host:8123/swarmscope")


def store_url(args: argparse.Namespace) -> tuple[str, str]:
    """(url, database) for the parsed --data/--store options: a server URL's path names the database."""
    from .store import DEFAULT_DATABASE, embedded_url

    if args.store:
        parsed = urlparse(args.store)
        return parsed._replace(path="").geturl(), parsed.path.strip("/") or DEFAULT_DATABASE
    return embedded_url(args.data), DEFAULT_DATABASE
