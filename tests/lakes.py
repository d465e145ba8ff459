"""Test helpers for the warm warehouse: an embedded DuckLake under a test's home folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ingest import lake


def lake_at(home: str | Path) -> lake.LakeConfig:
    """The embedded lake of a TICKWH_HOME-like folder: `<home>/lake/catalog.sqlite` + `<home>/lake/data/`."""
    return lake.LakeConfig.embedded(home)


@contextmanager
def connect(home: str | Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    with lake.connect(lake_at(home), read_only=read_only) as con:
        yield con


def copy_home_lake(src_home: str | Path, dst_home: str | Path) -> lake.LakeConfig:
    """Fork a test's warehouse: the copy has the same tables and snapshots, and diverges from here."""
    return lake.copy_embedded(lake_at(src_home), dst_home)
