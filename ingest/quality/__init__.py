"""Data-quality gates: Great Expectations suites (`catalog`: where their rules live) over warehouse slices.

Plain Python (no Dagster): `orchestration.defs.quality.checks` wraps `validate_window` in blocking asset checks,
`ingest.quality.docs` renders the same suites into GE Data Docs, and anything else (a notebook,
a CLI) can call it directly:

    with ingest.lake.connect(read_only=True) as con:
        result = validate(con, "raw_trades", day)
    result.blocking, result.failed_errors, result.outcome("trade_id_contiguous").examples
"""

from __future__ import annotations

import datetime as dt

import duckdb

from ingest.quality.catalog import describe_rules, expectations_dir, load_suite, suite_names, suite_source
from ingest.quality.prep import prepare, prepare_window, table_name
from ingest.quality.spec import ExpectationOutcome, SuiteDefinitionError, SuiteResult, SuiteSpec, jsonable
from ingest.quality.sql_eval import SqlFrame, ident
from ingest.quality.suites import run_suite, run_window

__all__ = [
    "ExpectationOutcome",
    "SqlFrame",
    "SuiteDefinitionError",
    "SuiteResult",
    "describe_rules",
    "expectations_dir",
    "jsonable",
    "load_suite",
    "prepare",
    "prepare_window",
    "run_suite",
    "run_window",
    "suite_names",
    "suite_source",
    "validate",
    "validate_window",
]


def validate(
    con: duckdb.DuckDBPyConnection,
    suite: str,
    day: dt.date | None = None,
    *,
    now: dt.datetime | None = None,
) -> SuiteResult:
    """Read the slice `suite` covers (one UTC day, or the whole table for rollups) and validate it."""
    spec = load_suite(suite)
    if spec.meta.get("partitioned", True):
        if day is None:
            raise ValueError(f"suite {suite} validates one day at a time; pass day")
        return validate_window(con, suite, [day], now=now)[0]
    return run_suite(suite, prepare_window(con, spec, None, now))


def validate_window(
    con: duckdb.DuckDBPyConnection,
    suite: str,
    days: list[dt.date],
    *,
    now: dt.datetime | None = None,
) -> list[SuiteResult]:
    """`validate` for each day of a window (a backfill's run), in one pass over the window's rows."""
    spec = load_suite(suite)
    if not spec.meta.get("partitioned", True):
        raise ValueError(f"suite {suite} checks a whole table, not days")
    return [r for chunk in _chunks(con, spec, days)
            for r in run_window(suite, prepare_window(con, spec, chunk, now), chunk)]


# A window is validated in chunks of days holding at most this many rows of the suite's table.
# Why: the trades suite keeps per-trade derived columns in memory for its window (~40 bytes a
# trade), and the snapshots' per-symbol medians sort the window; a 30-day backfill of 10M-trade
# days must not need 30 days of them at once.
WINDOW_ROWS = 20_000_000


def _chunks(con: duckdb.DuckDBPyConnection, spec: SuiteSpec, days: list[dt.date]) -> list[list[dt.date]]:
    days = sorted(days)
    table, column = spec.meta.get("table"), spec.meta.get("partition_column")
    if len(days) < 2 or not table or not column:
        return [days]
    counts = dict(con.execute(
        f"SELECT {ident(column)}, count(*) FROM {table_name(table)} WHERE {ident(column)} BETWEEN ? AND ? GROUP BY 1",
        [days[0], days[-1]]).fetchall())
    chunks: list[list[dt.date]] = [[]]
    rows = 0
    for day in days:
        if chunks[-1] and rows + counts.get(day, 0) > WINDOW_ROWS:
            chunks.append([])
            rows = 0
        chunks[-1].append(day)
        rows += counts.get(day, 0)
    return chunks
