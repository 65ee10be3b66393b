"""`swarmscope serve` and `swarmscope detect`."""

from __future__ import annotations

import argparse
import logging
import sys

from swarmscope.detectors.config import ConfigError, add_config_argument, load_config
from swarmscope.schema.location import add_store_arguments, store_url


def default_wal(args: argparse.Namespace) -> str:
    from pathlib import Path

    return "./swarmscope-wal" if args.store else str(Path(args.data) / "ingest-wal")


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="swarmscope serve", description="Run the swarmscope backend.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318, help="OTLP/HTTP and the JSON API (default 4318)")
    parser.add_argument("--grpc-port", type=int, default=4317, help="OTLP/gRPC (default 4317; 0 disables)")
    add_store_arguments(parser)
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' for ingest and API")
    parser.add_argument("--retention-days", type=int, help="keep this many days of data (TTL)")
    parser.add_argument("--max-body-mb", type=float, default=16, help="largest request body accepted")
    parser.add_argument("--max-queue-mb", type=float, default=256,
                        help="group-commit budget; past it ingest answers 429/RESOURCE_EXHAUSTED")
    parser.add_argument("--wal", help="directory of the ingest write-ahead log "
                        "(default: ingest-wal inside --data, or ./swarmscope-wal with --store)")
    parser.add_argument("--wal-fsync", action="store_true",
                        help="fsync each log append: acknowledged spans survive power loss, not only a crash")
    parser.add_argument("--segment-mb", type=float, default=16, help="log segment size")
    parser.add_argument("--insert-mb", type=float, default=48,
                        help="the most log bytes one store insert normalizes (several segments at once)")
    parser.add_argument("--detect-interval", type=float, default=5.0,
                        help="seconds between detection sweeps (0 disables)")
    add_config_argument(parser)
    parser.add_argument("--detect-config", dest="config", help=argparse.SUPPRESS)  # its former name
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        import uvicorn
        from swarmscope.collector.otlp import Limits
        from swarmscope.schema.store import Store
        from swarmscope.ui.app import ServeOptions, create_app
    except ImportError as exc:
        print(f"swarmscope serve needs the server extra: pip install 'swarmscope[server]' ({exc})",
              file=sys.stderr)
        return 2


    try:
        load_config(args.config)  # fail now, with a clear message, not inside the server's startup
    except (ConfigError, OSError) as exc:
        print(f"swarmscope serve: bad --config: {exc}", file=sys.stderr)
        return 2
    url, database = store_url(args)
    store = Store(url, database=database)
    applied = store.migrate()
    if applied:
        logging.getLogger("swarmscope").info("applied migrations: %s", ", ".join(applied))
    if args.retention_days:
        store.set_retention(args.retention_days)
    mb = 1024 * 1024
    options = ServeOptions(
        host=args.host, grpc_port=args.grpc_port or None, api_key=args.api_key,
        limits=Limits(max_body_bytes=int(args.max_body_mb * mb)),
        max_pending_bytes=int(args.max_queue_mb * mb), wal_dir=args.wal or default_wal(args),
        wal_fsync=args.wal_fsync,
        segment_bytes=int(args.segment_mb * mb), insert_bytes=int(args.insert_mb * mb),
        detect_interval=args.detect_interval, config_path=args.config,
    )
    app = create_app(store, options)
    logging.getLogger("swarmscope").info(
        "serving OTLP/HTTP and the API on http://%s:%d, OTLP/gRPC on %s, store %s", args.host, args.port,
        args.grpc_port or "off", url)
    # Bounded concurrency: past it uvicorn answers 503 instead of buffering more request bodies.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", limit_concurrency=256,
                timeout_keep_alive=30)
    store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"serve": serve, "detect": _detect}
    if not argv or argv[0] not in commands:
        print("usage: swarmscope {serve,detect} [options]  (swarmscope serve --help)", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:]) or 0


def _detect(argv: list[str]) -> int:
    from swarmscope.detectors import cli

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
