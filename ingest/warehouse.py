"""DDL of the warm warehouse's `raw` schema (see docs/contracts.md; numeric types: ingest/numeric.py)."""

from __future__ import annotations

import duckdb

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
"""


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_DDL)
