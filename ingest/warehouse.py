"""DDL of the warm warehouse's `raw` schema (see docs/contracts.md; numeric types: ingest/numeric.py),
created in the lake (ingest/lake.py)."""

from __future__ import annotations

import duckdb

from ingest.lake import rollback, with_conflict_retry
from ingest.sql import qualified, quote_ident

RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.trades (
    trade_date DATE NOT NULL,
    exchange VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    local_ts TIMESTAMP,
    trade_id VARCHAR NOT NULL,
    trade_seq BIGINT,
    side VARCHAR NOT NULL,
    price DECIMAL(22, 12) NOT NULL,
    amount DECIMAL(28, 12) NOT NULL,
    source_file VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.book_snapshots (
    snapshot_date DATE NOT NULL,
    exchange VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    local_ts TIMESTAMP,
    depth INTEGER NOT NULL,
    bid_price DOUBLE NOT NULL,
    bid_amount DOUBLE NOT NULL,
    ask_price DOUBLE NOT NULL,
    ask_amount DOUBLE NOT NULL,
    bid_prices DOUBLE[],
    bid_amounts DOUBLE[],
    ask_prices DOUBLE[],
    ask_amounts DOUBLE[],
    source_file VARCHAR NOT NULL
);
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
"""

# A day's rows sit in files of their own, so reloading, archiving or dropping one day never
# rewrites another's files, and compaction merges only within a day.
PARTITIONING = {"raw.trades": "trade_date", "raw.book_snapshots": "snapshot_date", "raw.quarantine": "partition_date"}
DATASETS = ("trades", "book_snapshots")


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables once; a no-op (and no new snapshot) when they exist."""
    if _raw_ready(con):
        return
    with_conflict_retry(lambda: _create_raw(con), what="creating the raw schema")


def _raw_ready(con: duckdb.DuckDBPyConnection) -> bool:
    n = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'raw' AND table_name IN ('trades', 'book_snapshots', 'quarantine', 'load_fence')"
    ).fetchone()[0]
    if n < 4:
        return False
    return con.execute("SELECT count(*) FROM raw.load_fence").fetchone()[0] == len(DATASETS)


def _create_raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(RAW_DDL)
        if is_ducklake(con):  # a plain DuckDB file (a benchmark floor, a migration source) has no partitioning
            for table, column in PARTITIONING.items():
                con.execute(f"ALTER TABLE {qualified(*table.split('.'))} SET PARTITIONED BY ({quote_ident(column)})")
        for name in DATASETS:
            con.execute(
                "INSERT INTO raw.load_fence SELECT ?, 0 "
                "WHERE NOT EXISTS (SELECT 1 FROM raw.load_fence WHERE dataset = ?)",
                [name, name],
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
