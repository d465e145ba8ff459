"""`tickwh ui`: the Dagster webserver and daemon over one code server, as `dagster dev` did.

`dagster dev` is superseded by `dg dev` (dagster-dg-cli, not a dependency here), so the three
processes it ran are started directly: `dagster code-server start` loads the code location once,
and `dagster-webserver` and `dagster-daemon run` both talk to it over gRPC on loopback. The
instance is $DAGSTER_HOME (default $TICKWH_HOME/dagster_home), where the project's dagster.yaml
is linked, so runs, schedules and sensors are the ones `tickwh demo` recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ingest import args as rules
from ingest.args import Parser

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "tickwarehouse"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    last_note = t0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"tickwh ui: the code server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() - last_note >= 5:
            print(f"tickwh ui: loading the code location ({time.monotonic() - t0:.0f}s)", flush=True)
            last_note = time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"tickwh ui: the code server did not listen on {port} within {timeout:.0f}s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="tickwh ui", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", type=rules.arg(rules.host), default="127.0.0.1",
                        help="webserver address (default: loopback only)")
    parser.add_argument("--port", type=rules.arg(rules.bounded_int(1, 65535)), default=3000,
                        help="webserver port (default 3000)")
    parser.add_argument("--no-daemon", action="store_true", help="UI only: no schedules, sensors or queued runs")
    args = parser.parse_args(argv)

    from tickwh.home import ensure_dagster_home, prepare_manifest

    home = ensure_dagster_home()
    prepare_manifest()  # before the code server loads: it needs the manifest, and dbt parses once here
    grpc_port = _free_port()
    log_level = "debug" if os.environ.get("TICKWH_VERBOSE") else "warning"
    grpc = ["--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port)]
    commands = [
        [str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port),
         "-m", "orchestration.definitions", "-a", "defs", "--location-name", LOCATION, "--log-level", log_level],
        [str(BIN / "dagster-webserver"), "-h", args.host, "-p", str(args.port), *grpc,
         "--dagster-log-level", log_level],
    ]
    if not args.no_daemon:
        commands.append([str(BIN / "dagster-daemon"), "run", *grpc, "--log-level", log_level])
    # The three processes share the instance; runs inherit the rest (no dbt colour codes in piped logs).
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    if not sys.stdout.isatty():
        env.setdefault("DBT_USE_COLORS", "false")
    print(f"tickwh ui: instance {home}", flush=True)
    procs: list[subprocess.Popen[bytes]] = []
    # SIGTERM (a supervisor, `kill`) stops the children like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        procs.append(subprocess.Popen(commands[0], cwd=REPO, env=env, start_new_session=True))
        _wait_port(grpc_port, procs[0], timeout=300)
        for cmd in commands[1:]:
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True))
        print(f"tickwh ui: Dagster UI at http://{args.host}:{args.port}"
              f"{'' if args.no_daemon else ' (daemon running: schedules and sensors are live)'}; Ctrl-C stops it",
              flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        dead = next(p for p in procs if p.poll() is not None)
        print(f"tickwh ui: {Path(str(dead.args[0])).name} exited with {dead.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)
