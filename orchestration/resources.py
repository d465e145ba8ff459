"""Dagster resources: the warm DuckDB warehouse and the landing zone of vendor files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from ingest.books import BOOK_EXCHANGES_ENV, BookExpectation
from orchestration.settings import default_landing_root, default_warehouse_path


class WarehouseResource(ConfigurableResource):
    """The warm warehouse: one DuckDB file, one writer at a time (see dagster.yaml)."""

    path: str = Field(default_factory=default_warehouse_path, description="DuckDB database file")

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    def export_for_dbt(self) -> None:
        """dbt's profile reads the file path from the environment; point it at this resource's file."""
        os.environ["TICKWH_DUCKDB_PATH"] = str(Path(self.path).resolve())


class LandingZoneResource(ConfigurableResource):
    """Folder holding vendor files in the Tardis layout (`<exchange>_<type>_<day>_<symbols>.csv.gz`)."""

    root: str = Field(default_factory=default_landing_root, description="landing folder")
    book_exchanges: str = Field(
        default_factory=lambda: os.environ.get(BOOK_EXCHANGES_ENV, "auto"),
        description="exchanges expected to deliver book files: auto, all, none or a,b (ingest/books.py)",
    )

    @property
    def books(self) -> BookExpectation:
        return BookExpectation.parse(self.book_exchanges)

    @property
    def path(self) -> Path:
        return Path(self.root)
