"""Shared pieces of the research API: argument checks, the answer type, reading through HistoricalData.

Every capability reads the warehouse only through `HistoricalData` (`iter_batches` to stream,
`day_queries` to work inside DuckDB; warm and cold as one, one UTC day at a time, whatever snapshot
the `HistoricalData` is pinned to) and does its work in temp tables of the reader's own in-memory
DuckDB, one chunk (a UTC day) at a time, so memory is bounded by a day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ingest import args as rules
from ingest import numbers
from ingest.history import HistoricalData, HistoryError, Time, to_timestamp
from ingest.names import validate_exchange, validate_symbol
from ingest.numeric import MAX_NOTIONAL_SUM, NOTIONAL_SCALE

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

DAY = dt.timedelta(days=1)


class ResearchError(HistoryError):
    """A research request with a bad argument (interval, threshold, time zone, range...)."""


def check_symbols(symbols: str | Sequence[str]) -> list[str]:
    """One symbol or a list; validated, duplicates removed, in the caller's order."""
    if isinstance(symbols, str):
        symbols = [symbols]
    if not symbols:
        raise ResearchError("give at least one symbol")
    out: list[str] = []
    for s in symbols:
        if validate_symbol(s) not in out:
            out.append(s)
    return out


def check_exchange(exchange: str | None) -> str | None:
    return None if exchange is None else validate_exchange(exchange)


def check_tz(tz: str) -> zoneinfo.ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise ResearchError(f"unknown time zone {tz!r}: expected an IANA name such as America/New_York")
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ResearchError(f"unknown time zone {tz!r}: expected an IANA name such as America/New_York") from exc


def utc_range(start: Time, end: Time, tz: zoneinfo.ZoneInfo | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Naive UTC bounds. Naive inputs are wall-clock times in `tz` (UTC when None); aware ones are instants."""

    def one(value: Time) -> dt.datetime:
        if tz is not None and not (isinstance(value, dt.datetime) and value.tzinfo is not None):
            local = to_timestamp(value)  # parses and turns a date into midnight
            return local.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
        return to_timestamp(value)

    try:
        lo, hi = one(start), one(end)
    except HistoryError as exc:  # a bad or out-of-range time: the research API's own error type
        raise ResearchError(str(exc)) from None
    if hi < lo:
        raise ResearchError(f"end {hi} is before start {lo} (UTC)")
    if hi == lo:
        raise ResearchError(f"empty range: start {lo} equals end (UTC)")
    return lo, hi


def span(
    symbols: str | Sequence[str], start: Time, end: Time, exchange: str | None, tz: zoneinfo.ZoneInfo | None = None
) -> tuple[list[str], str | None, dt.datetime, dt.datetime]:
    """Every request's checked arguments: (symbols, exchange, UTC start, UTC end)."""
    syms = check_symbols(symbols)
    exchange = check_exchange(exchange)
    lo, hi = utc_range(start, end, tz)
    return syms, exchange, lo, hi


MAX_TOLERANCE = dt.timedelta(days=3660)  # ten years: older than any book worth joining
# The largest threshold of an information bar: the numeric contract's largest sum (MAX_NOTIONAL_SUM);
# its unit scale (12 or 20 decimals) keeps the scaled threshold inside a HUGEINT.
MAX_THRESHOLD = MAX_NOTIONAL_SUM
_TOLERANCE = rules.duration(dt.timedelta(0), MAX_TOLERANCE)
_THRESHOLD = rules.positive_decimal(MAX_THRESHOLD, NOTIONAL_SCALE)


def duration(value: str | dt.timedelta | None, what: str) -> dt.timedelta | None:
    """A tolerance such as '500ms', '2s', '1m', '1h' or a timedelta, up to MAX_TOLERANCE; None stays None."""
    if value is None or isinstance(value, dt.timedelta):
        if isinstance(value, dt.timedelta) and not dt.timedelta(0) <= value <= MAX_TOLERANCE:
            raise ResearchError(f"{what} must be from 0 to {MAX_TOLERANCE.days} days")
        return value
    try:
        return _TOLERANCE(str(value))
    except rules.Invalid as exc:
        raise ResearchError(f"invalid {what}: {exc}") from None


def positive_decimal(value: Any, what: str) -> Decimal:
    """A threshold: an exact number > 0, at most MAX_THRESHOLD (finite: no nan, inf or 1e400)."""
    if isinstance(value, bool):
        raise ResearchError(f"invalid {what} {value!r}: expected a number")
    try:
        return _THRESHOLD(str(value))
    except rules.Invalid as exc:
        raise ResearchError(f"invalid {what}: {exc}") from None


def day_chunks(lo: dt.datetime, hi: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """[lo, hi) cut at UTC midnights: the warehouse's partitions, so each chunk reads one day."""
    cur = lo
    while cur < hi:
        nxt = min(hi, dt.datetime.combine(cur.date() + DAY, dt.time()))
        yield cur, nxt
        cur = nxt


def work_connection() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for answers that stream a whole range through (bars, information
    bars); UTC so TIMESTAMPTZ casts mean what the warehouse means."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    return con


@contextmanager
def lake_connection(hist: HistoricalData) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of `hist`'s DuckDB (the lake attached, at its pin) for one answer's work, in UTC so
    TIMESTAMPTZ casts mean what the warehouse means. Its temp tables live in memory and end with it."""
    with hist.connection() as con:
        con.execute("SET TimeZone = 'UTC'")
        yield con


def materialize(con: duckdb.DuckDBPyConnection, name: str, queries: Iterable[tuple[str, list[Any]]]) -> None:
    """The rows of `queries` (`HistoricalData.day_queries` on `con`, a `lake_connection`) as temp table
    `name`, read where they are, warm or cold, with no copy through Python: DuckDB's ASOF join and
    sorts run far faster over a table than over a streamed source."""
    verb = f"CREATE OR REPLACE TEMP TABLE {name} AS"
    for sql, params in queries:
        con.execute(f"{verb} {sql}", params)
        verb = f"INSERT INTO {name} BY NAME"


def read(
    hist: HistoricalData,
    dataset: str,
    symbols: Sequence[str],
    lo: dt.datetime,
    hi: dt.datetime,
    exchange: str | None,
    columns: Sequence[str],
    *,
    ordered: bool = False,
) -> pa.RecordBatchReader:
    """A stream over HistoricalData for DuckDB to scan once (schema known before the first row)."""
    # The stored types, whatever the caller's numeric policy: the answer converts at its end.
    batches = hist.iter_batches(dataset, symbols, lo, hi, exchange, columns=columns, ordered=ordered,
                                numeric="exact")
    first = next(batches)

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from batches

    return pa.RecordBatchReader.from_batches(first.schema, chain())


class Result:
    """One answer, produced lazily as Arrow record batches. Read it once, in one of these ways:
    `batches()` (bounded memory), `to_arrow()`, `to_pandas()`, `to_polars()`. Its numbers follow
    `numeric` ("exact" decimals or "float" float64: ingest/numbers.py, the one policy)."""

    def __init__(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch], numeric: str = numbers.DEFAULT) -> None:
        self.numeric = numbers.check_mode(numeric)
        self.schema = numbers.conform_schema(schema, numeric)
        self._batches: Iterable[pa.RecordBatch] | None = batches

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._batches is None:
            raise ResearchError("this answer was already read; ask again for a fresh one")
        batches, self._batches = self._batches, None
        for batch in batches:
            if batch.num_rows:
                yield numbers.conform(batch, self.numeric)

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches()), schema=self.schema)

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def to_polars(self) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)
        return frame


def result_of(batches: Iterator[pa.RecordBatch], numeric: str = numbers.DEFAULT) -> Result:
    """A Result over a generator that yields at least one (maybe empty) batch first, fixing the schema."""
    numbers.check_mode(numeric)
    first = next(batches)
    schema = first.schema

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        for batch in batches:
            yield batch if batch.schema.equals(schema) else batch.cast(schema)

    return Result(schema, chain(), numeric)
