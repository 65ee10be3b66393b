"""`swarmscope detect`: one detection sweep from the command line (filled in by the detectors work)."""

from __future__ import annotations


def main(argv: list[str]) -> int:
    raise SystemExit("swarmscope detect is not implemented yet")
