"""`tickwh worker`: a Celery worker of distributed runs (TICKWH_EXECUTOR=celery, docs/deploy.md).

It runs `celery -A orchestration.lib.celery_app worker` on the queue the executor submits to, with the
settings of this machine: its own $TICKWH_HOME (landing files fetched from TICKWH_LANDING_S3, dbt target
and scratch local), the shared lake (TICKWH_LAKE_*), Dagster's storage (DAGSTER_HOME's dagster.yaml on
PostgreSQL) and the broker (TICKWH_CELERY_BROKER). One step at a time per process (`--concurrency`).
"""

from __future__ import annotations

import os
import socket
import sys

from ingest import args
from ingest.args import Parser
from ingest.settings import Settings

CONCURRENCY = args.bounded_int(1, 64)


def command(argv: list[str]) -> list[str]:
    parser = Parser(prog="tickwh worker", description=__doc__.splitlines()[0])
    parser.add_argument("--name", type=args.arg(args.host), default=socket.gethostname().split(".")[0],
                        help="the worker's name (recorded beside each step it runs); default: this host")
    parser.add_argument("--concurrency", type=args.arg(CONCURRENCY), default=1,
                        help="steps this worker runs at once (default 1)")
    parser.add_argument("--loglevel", type=args.arg(args.one_of("DEBUG", "INFO", "WARNING", "ERROR")),
                        default="INFO")
    opts = parser.parse_args(argv)
    Settings.from_env()  # every setting checked now: a bad one is one line, before Celery starts
    from orchestration.lib.execution import QUEUE

    return [sys.executable, "-m", "celery", "-A", "orchestration.lib.celery_app", "worker", "-Q", QUEUE,
            "-n", f"{opts.name}@%h", "--concurrency", str(opts.concurrency), "--prefetch-multiplier=1",
            "--pool", "prefork", "--without-gossip", "--without-mingle", "--loglevel", opts.loglevel]


def main(argv: list[str] | None = None) -> int:
    cmd = command(list(sys.argv[1:] if argv is None else argv))
    os.execv(cmd[0], cmd)  # the worker replaces this process: a signal to it reaches Celery
    return 0
