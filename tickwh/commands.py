"""Commands whose own modules are slow to import: their arguments are parsed here, the work imported after."""

from __future__ import annotations

from collections.abc import Sequence

from ingest import args as rules
from ingest.args import Parser
from ingest.logs import setup_logging


def catchup(argv: Sequence[str]) -> int:
    parser = Parser(
        prog="tickwh catchup",
        description="Load the days between the first loaded day and yesterday (UTC) that are missing, one run "
        "per gap. Days without landing files are listed and skipped, never run.",
    )
    parser.add_argument("--from", dest="first", type=rules.arg(rules.day),
                        help="first day, YYYY-MM-DD UTC (default: first loaded day, or on a fresh home the first "
                        "day with landing files)")
    parser.add_argument("--to", dest="last", type=rules.arg(rules.day),
                        help="last day, YYYY-MM-DD UTC (default: yesterday)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, start none")
    args = parser.parse_args(argv)
    if args.first and args.last and args.first > args.last:
        parser.error(f"--from {args.first} is after --to {args.last}")
    setup_logging()
    from tickwh.catchup import run_catchup

    return run_catchup(args.first, args.last, args.dry_run)


def _cold(action: str, argv: Sequence[str], description: str) -> int:
    Parser(prog=f"tickwh cold {action}", description=description).parse_args(argv)
    from ingest.cold.seaweed import main

    return main([{"up": "start", "down": "stop"}.get(action, action)])


def cold_up(argv: Sequence[str]) -> int:
    return _cold("up", argv, "Start a SeaweedFS S3 server for the cold tier in the background (or reuse the running "
                 "one); `eval $(python -m ingest.cold.seaweed env)` points the tools at it.")


def cold_down(argv: Sequence[str]) -> int:
    return _cold("down", argv, "Stop the background SeaweedFS server started by `tickwh cold up`.")


def cold_status(argv: Sequence[str]) -> int:
    return _cold("status", argv, "Print the background SeaweedFS server's state.")


def cold_env(argv: Sequence[str]) -> int:
    return _cold("env", argv, "Print `export` lines (endpoint, credentials) for the running SeaweedFS server.")


def cold_run(argv: Sequence[str]) -> int:
    from ingest.cold.seaweed import main

    return main(["run", *argv])
