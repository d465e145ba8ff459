"""An order-independent checksum of a day's rows, computed the same way over warm rows and Parquet.

Counts and min/max time catch a missing day, not a changed price or a row swapped for another.
The checksum is `sum(hash(col1, ..., colN))` over every row, in DuckDB: a sum (not an XOR) so
duplicated rows count, and order-independent so a re-sorted file gives the same value. Both
sides cast to the warm table's own column types first, so a Parquet round trip of the same
values hashes equal. DuckDB's `hash` is not promised stable across versions, which is why
retention recomputes both sides with the running engine rather than trusting a stored value
when it can (deep verification); the value kept in the manifest records the archiving engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb

from ingest.sql import quote_ident

METHOD = "duckdb-sum-hash-v1"


def _hash_expr(columns: Sequence[dict[str, str]], cast: bool) -> str:
    if not columns:
        raise ValueError("a content checksum needs at least one column")
    # Types come from the warm catalog (information_schema), never from a manifest.
    parts = [f"CAST({quote_ident(c['name'])} AS {c['type']})" if cast else quote_ident(c["name"]) for c in columns]
    return f"coalesce(sum(hash({', '.join(parts)})), 0)::VARCHAR"


def warm_content(
    con: duckdb.DuckDBPyConnection, source: str, date_column: str, day: dt.date, columns: Sequence[dict[str, str]]
) -> tuple[int, str]:
    """(rows, checksum) of one day of a warm relation. `source`/`date_column` come from the fixed table registry."""
    n, digest = con.execute(
        f"SELECT count(*), {_hash_expr(columns, cast=False)} FROM {source} WHERE {date_column} = ?", [day]
    ).fetchone()  # type: ignore[misc]
    return int(n), str(digest)


def parquet_content(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], columns: Sequence[dict[str, str]]
) -> tuple[int, str]:
    """(rows, checksum) of Parquet files, read as the warm table's columns and types."""
    n, digest = con.execute(
        f"SELECT count(*), {_hash_expr(columns, cast=True)} FROM read_parquet(?, union_by_name = true)",
        [[str(f) for f in files]],
    ).fetchone()  # type: ignore[misc]
    return int(n), str(digest)
