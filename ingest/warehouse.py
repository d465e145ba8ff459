"""DDL of the warm warehouse's `raw` schema (see docs/contracts.md; numeric types: ingest/numeric.py),
created in the lake (ingest/lake.py)."""

from __future__ import annotations

import weakref

import duckdb

from ingest.datasets import DATASETS, NAMES
from ingest.lake import rollback, with_conflict_retry
from ingest.sql import qualified, quote_ident

# The dataset tables come from their declarations (ingest/datasets); these two serve them all.
_SHARED_DDL = """
CREATE TABLE IF NOT EXISTS raw.quarantine (
    dataset VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    source_line BIGINT,
    rule VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw_line VARCHAR,
    quarantined_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
-- One row per dataset, updated by every load's transaction. DuckLake only sees a conflict between
-- two writers when one deletes from a table the other writes; without this row, two first loads
-- of the same new day would both commit and double the day. With it, the later commit fails and
-- its load retries from a fresh snapshot (ingest/lake.py with_conflict_retry).
CREATE TABLE IF NOT EXISTS raw.load_fence (
    dataset VARCHAR NOT NULL,
    loads BIGINT NOT NULL
);
-- The same for dbt models whose window build also writes outside its window (daily_stats refreshes
-- the next day's prev_close: dbt_project/macros/next_day_prev_close.sql). A table of its own, because
-- DuckLake sees any two updates of one table as a conflict: builds must not conflict with loads.
CREATE TABLE IF NOT EXISTS raw.build_fence (
    model VARCHAR NOT NULL,
    builds BIGINT NOT NULL
);
"""
# The lake's bookkeeping of concurrent writers, not data: never copied, compared or archived.
FENCES = ("raw.load_fence", "raw.build_fence")
FENCED_MODELS = ("daily_stats",)

RAW_DDL = "\n".join(["CREATE SCHEMA IF NOT EXISTS raw;", *(d.ddl for d in DATASETS), _SHARED_DDL])
# A day's rows sit in files of their own, so reloading, archiving or dropping one day never
# rewrites another's files, and compaction merges only within a day.
PARTITIONING = {**{d.table: d.date_column for d in DATASETS}, "raw.quarantine": "partition_date"}
_RAW_TABLES = (*(d.table.removeprefix("raw.") for d in DATASETS), "quarantine", "load_fence", "build_fence")


# Connections that have seen the raw tables: a ranged load asks once per day and dataset, and each
# look at the lake's catalog is a round trip to it (10-70 ms); the tables are never dropped.
_READY: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables once; a no-op (and no new snapshot) when they exist."""
    if con in _READY:
        return
    if not _raw_ready(con):
        with_conflict_retry(lambda: _create_raw(con), what="creating the raw schema")
    _READY.add(con)


def _raw_ready(con: duckdb.DuckDBPyConnection) -> bool:
    n = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'raw' AND list_contains(?, table_name)",
        [list(_RAW_TABLES)],
    ).fetchone()[0]
    if n < len(_RAW_TABLES):
        return False
    return con.execute("SELECT (SELECT count(*) FROM raw.load_fence), (SELECT count(*) FROM raw.build_fence)"
                       ).fetchone() == (len(NAMES), len(FENCED_MODELS))


def _create_raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(RAW_DDL)
        if is_ducklake(con):  # a plain DuckDB file (a benchmark floor, a migration source) has no partitioning
            for table, column in PARTITIONING.items():
                con.execute(f"ALTER TABLE {qualified(*table.split('.'))} SET PARTITIONED BY ({quote_ident(column)})")
        for name in NAMES:
            con.execute(
                "INSERT INTO raw.load_fence SELECT ?, 0 "
                "WHERE NOT EXISTS (SELECT 1 FROM raw.load_fence WHERE dataset = ?)",
                [name, name],
            )
        for model in FENCED_MODELS:
            con.execute(
                "INSERT INTO raw.build_fence SELECT ?, 0 "
                "WHERE NOT EXISTS (SELECT 1 FROM raw.build_fence WHERE model = ?)",
                [model, model],
            )
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def is_ducklake(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(row) and row[0] == "ducklake"


def fence(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    """Inside a load's transaction: make any concurrent load of `dataset` conflict with this one."""
    con.execute("UPDATE raw.load_fence SET loads = loads + 1 WHERE dataset = ?", [dataset])
