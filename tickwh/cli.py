"""`tickwh <command> [args]`: the project's tools behind one command.

Each command is a registry entry naming the function that runs it (`module:function`, called with
the remaining arguments). Nothing is imported until a command is chosen, so `tickwh --help` and
`tickwh <command> --help` answer in well under a second even though the pipeline itself loads
Dagster, dbt and friends. A command of two words (`cold up`) is a group; `tickwh cold --help`
lists its members. New commands (the `lake ...` group) are one `register(...)` line each.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.errors import run


@dataclass(frozen=True)
class Command:
    name: str  # "demo", or "cold up" for a member of a group
    target: str  # "package.module:function", called with the remaining argv
    help: str


COMMANDS: dict[str, Command] = {}


def register(name: str, target: str, help: str) -> None:
    COMMANDS[name] = Command(name, target, help)


register("demo", "tickwh.demo:main", "simulate a few days, run the pipeline end to end, print a summary")
register("simulate", "ingest.simulator:main", "write simulated trade and book files into the landing folder")
register("history", "ingest.history:main", "read trades, book snapshots or bars from the warm and cold tiers")
register("research asof", "ingest.research.cli:asof",
         "trades with the book, quote or derivative ticker in force at their time (as-of join)")
register("research bars", "ingest.research.cli:bars", "OHLCV bars of any interval in any time zone, gap fill")
register("research infobars", "ingest.research.cli:infobars", "tick, volume or dollar bars from trades")
register("research replay", "ingest.research.cli:replay_events", "trades and book snapshots in exchange-time order")
register("research funding", "ingest.research.cli:funding", "funding paid or received by a position, event by event")
register("catchup", "tickwh.commands:catchup", "load the days the daily schedule missed (only days with data)")
register("docs", "tickwh.docs:main", "build the dbt and Great Expectations docs sites under $TICKWH_HOME/docs")
register("feed", "ingest.feed.__main__:main", "run the live feed handler (exchange -> NATS JetStream)")
register("hot-loader", "ingest.hot.loop:main", "a long-lived hot loader (stream -> hot tier) with /metrics")
register("ui", "tickwh.ui:main", "start the Dagster UI (webserver) and daemon on this project")
register("worker", "tickwh.worker:main", "a Celery worker of distributed runs (TICKWH_EXECUTOR=celery, docs/deploy.md)")
register("status", "tickwh.status:main", "freshness, last runs, live lag per dataset and tier; exit 1 if late/failing")
register("lake snapshots", "ingest.lake_admin:snapshots_main", "list the warm lake's snapshots (pin: history --as-of)")
register("lake maintain", "ingest.lake_admin:maintain_main", "merge small files, expire old snapshots, drop old files")
register("lake migrate", "ingest.lake_admin:migrate_main", "copy a single-file warehouse.duckdb into the lake, checked")
register("cold up", "tickwh.commands:cold_up", "start the local SeaweedFS S3 server of the cold tier (background)")
register("cold down", "tickwh.commands:cold_down", "stop the local SeaweedFS S3 server")
register("cold status", "tickwh.commands:cold_status", "print the local SeaweedFS server's state")
register("cold env", "tickwh.commands:cold_env", "print `export` lines that point a shell at the running server")
register("cold run", "tickwh.commands:cold_run", "run a command against a SeaweedFS server (started if needed)")


def _usage(prefix: str = "") -> str:
    names = sorted(n for n in COMMANDS if n.startswith(prefix))
    width = max(len(n) for n in names)
    lines = [f"usage: tickwh [-v] {prefix or ''}<command> [args]  (tickwh <command> --help for its options)", "",
             "commands:"]
    lines += [f"  {n:<{width}}  {COMMANDS[n].help}" for n in names]
    lines += ["", "  -v, --verbose  also show third-party INFO logs (Dagster storage, matplotlib, ...)"]
    return "\n".join(lines)


def _resolve(target: str) -> Callable[[list[str]], int | None]:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    while args and args[0] in ("-v", "--verbose"):
        args.pop(0)
        from ingest.logs import setup_logging

        setup_logging(True)  # the one log set-up; it also tells the processes started from here
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    two, one = " ".join(args[:2]), args[0]
    if two in COMMANDS:
        command, rest = COMMANDS[two], args[2:]
    elif one in COMMANDS:
        command, rest = COMMANDS[one], args[1:]
    elif any(n.startswith(one + " ") for n in COMMANDS):  # a group without (or with an unknown) member
        if len(args) < 2 or args[1] in ("-h", "--help"):
            print(_usage(one + " "))
            return 0
        members = ", ".join(sorted(n.split(" ", 1)[1] for n in COMMANDS if n.startswith(one + " ")))
        return _refuse(f"tickwh {one}: unknown command {args[1]!r}: expected one of {members}")
    else:
        return _refuse(f"tickwh: unknown command {one!r} (tickwh --help lists the commands)")
    # argparse takes its program name from argv[0]: help then reads `usage: tickwh demo ...`.
    sys.argv = [f"tickwh {command.name}", *rest]
    return run(lambda: _resolve(command.target)(rest))  # the error contract (ingest/errors.py)


def _refuse(message: str) -> int:
    """A command line that names no command: the contract's one line and exit 2, no usage block."""
    from ingest.redact import redact

    print(f"error: {' '.join(redact(message).split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
