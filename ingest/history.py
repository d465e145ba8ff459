"""Historical data across the warm warehouse and the cold tier, as one time-ordered answer.

Callers ask for a symbol and a time range; where the rows live is this module's business:

* a day present in the warm table is read from DuckDB (fresh, and the warm copy wins: it is
  the one a reload or correction touched last);
* a day absent from warm but archived is read from the cold tier, and only from the objects
  its manifest lists, each checked for size and sha256 before use, so a missing, truncated
  or corrupted object is an error naming its key rather than silently missing rows;
* both parts go through one DuckDB query with the same column list and types, sorted by time,
  so the result is identical whichever tier served a day, each row appears once, and the
  boundary between tiers is invisible.

Values reach SQL only as bound parameters; symbols, exchanges, intervals and column names
are validated first. The warm warehouse is a DuckLake (ingest/lake.py), opened read-only per call:
a call sees the last committed snapshot, so it never waits for a load and never sees a day
half-replaced. `as_of=` (a snapshot id or a time) pins every call to one snapshot, so a backtest
reads exactly what the warehouse held then, however often it is rerun or the data corrected;
`pin()` returns a reader pinned to the current snapshot.

Numbers follow one policy (`numeric=`, ingest/numbers.py): exact decimals by default (the book's
DOUBLE levels and the VWAP included), float64 on request; the CLI prints them as shortest exact
decimals.

CLI: `tickwh history trades BTCUSDT --start 2024-03-01 --end 2024-03-02 [--csv] [--as-of N] [--numeric float]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ingest import args as rules
from ingest import numbers
from ingest.args import Parser
from ingest.cold.archive import relation_columns
from ingest.cold.config import ColdStoreConfig
from ingest.cold.layout import (
    DAILY_STATS,
    OHLCV_TABLES,
    RAW_BY_DATASET,
    ArchiveTable,
    ColdTier,
    Manifest,
    sql_type,
)
from ingest.cold.store import ColdObjectError, ColdStoreError
from ingest.datasets import DATASETS
from ingest.errors import UserError, run
from ingest.lake import ALIAS as LAKE_ALIAS
from ingest.lake import LakeConfig, LakeError, attach, current_snapshot
from ingest.names import InvalidNameError, validate_exchange, validate_symbol
from ingest.sql import quote_ident as _quote

if TYPE_CHECKING:
    import pandas as pd

INTERVALS = tuple(OHLCV_TABLES)  # 1m, 5m, 15m, 1h, 1d


class HistoryError(UserError, RuntimeError):
    """A request the API cannot answer (bad range, warehouse unavailable...): one line and exit 2 on the
    command line (ingest/errors.py); still a RuntimeError for callers that caught it as one."""


def validate_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise InvalidNameError(f"invalid interval {interval!r}: expected one of {', '.join(INTERVALS)}")
    return interval


@dataclass(frozen=True)
class _Dataset:
    table: ArchiveTable
    order_by: str  # total order: time first, then tie-breaks that make reruns identical
    time_is_date: bool = False


_RAW = {d.name: _Dataset(RAW_BY_DATASET[d.name], d.history_order) for d in DATASETS}  # ingest/datasets
_TRADES = _RAW["trades"]
_BOOK = _RAW["book_snapshots"]
_OHLCV = {i: _Dataset(t, "bucket_start, exchange") for i, t in OHLCV_TABLES.items()}
_DAILY = _Dataset(DAILY_STATS, "bar_date, exchange", time_is_date=True)
_BOOK_LEVEL_COLUMNS = ("bid_prices", "bid_amounts", "ask_prices", "ask_amounts")
_DATASETS = {**_RAW, **{f"ohlcv_{i}": d for i, d in _OHLCV.items()}}
Time = str | dt.date | dt.datetime  # a day, an ISO text, or a time (UTC when naive)
MAX_SHOWN = 100_000  # rows a table view prints; --csv writes any number
BATCH_ROWS = 1 << 17  # rows per Arrow batch of iter_batches: ~10 MB of trades


@dataclass
class ReadPlan:
    """Which tier served which day of the last request: for logs, tests and the curious."""

    table: str
    warm_days: list[dt.date] = field(default_factory=list)
    cold_days: list[dt.date] = field(default_factory=list)
    cold_keys: list[str] = field(default_factory=list)
    rows: int = 0


def to_timestamp(value: str | dt.date | dt.datetime) -> dt.datetime:
    """A naive UTC datetime (the warehouse's TIMESTAMP). Dates mean midnight; aware values are converted."""
    try:
        if isinstance(value, str):
            return rules.instant(value)
        if isinstance(value, dt.datetime):
            return rules.to_utc(value)
        if isinstance(value, dt.date):
            return rules.in_time_range(dt.datetime(value.year, value.month, value.day), value)
    except rules.Invalid as exc:
        raise HistoryError(f"invalid time: {exc}") from None
    raise HistoryError(f"invalid time {rules.shown(value)}")


def to_day(value: str | dt.date | dt.datetime) -> dt.date:
    ts = to_timestamp(value)
    if ts.time() != dt.time(0):
        raise HistoryError(f"expected a whole day, got {value!r}")
    return ts.date()


class HistoricalData:
    """Trades, book snapshots, OHLCV bars and daily stats over warm and cold storage.

    `warehouse`: the lake's `LakeConfig` (None: cold only). `cold_store`: a `ColdTier`, a
    `ColdStoreConfig`, or None (warm only). `numeric`: the type of every price, amount, volume and
    VWAP in the answers, "exact" (decimals) or "float" (float64), unless a call says otherwise
    (ingest/numbers.py, docs/history.md). `cache_dir`: keep verified cold downloads there
    (keyed by sha256, revalidated against the store on every use); without it, each call
    downloads into a temporary directory and deletes it afterwards. `as_of`: a lake snapshot id
    or a time (UTC when naive); every call then reads the warm tier as it was at that snapshot.
    """

    def __init__(
        self,
        warehouse: LakeConfig | None,
        cold_store: ColdTier | ColdStoreConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        as_of: int | str | dt.datetime | None = None,
        numeric: str = numbers.DEFAULT,
    ) -> None:
        self.numeric = numbers.check_mode(numeric)
        if warehouse is not None and not isinstance(warehouse, LakeConfig):
            raise HistoryError(f"warehouse must be a LakeConfig (ingest.lake), got {type(warehouse).__name__}")
        if warehouse is not None and not warehouse.exists():
            raise HistoryError(f"no warehouse at {warehouse.describe()}: load a day first")
        self.warehouse = warehouse
        self.as_of = parse_as_of(as_of)
        if isinstance(self.as_of, dt.datetime) and warehouse is not None:
            self.as_of = resolve_time_pin(warehouse, self.as_of)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self.cold = cold_store.open() if isinstance(cold_store, ColdStoreConfig) else cold_store
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.last_plan: ReadPlan | None = None

    def snapshot(self) -> int | None:
        """The lake snapshot this reader's calls see now (its pin, if pinned); None without a warm tier."""
        if self.warehouse is None:
            return None
        with self.connection() as con:
            return current_snapshot(con)

    def pin(self) -> HistoricalData:
        """A reader of the same stores pinned to the current snapshot: reruns read identical data."""
        return HistoricalData(self.warehouse, self.cold, cache_dir=self.cache_dir, as_of=self.snapshot(),
                              numeric=self.numeric)

    # -- public API ----------------------------------------------------------------------------

    def get_trades(
        self, symbol: str, start: Time, end: Time, exchange: str | None = None, *,
        columns: Sequence[str] | None = None, as_pandas: bool = False, numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Trades with `start <= ts < end` (UTC), ordered by (ts, exchange, trade_seq, trade_id)."""
        return self._answer(_TRADES, symbol, start, end, exchange, columns, as_pandas, numeric)

    def get_book_snapshots(
        self, symbol: str, start: Time, end: Time, exchange: str | None = None, *,
        levels: bool = True, columns: Sequence[str] | None = None, as_pandas: bool = False,
        numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Book snapshots with `start <= ts < end`; `levels=False` keeps only the top of book."""
        if not levels and columns is None:
            columns = ["snapshot_date", "exchange", "symbol", "ts", "local_ts", "depth",
                       "bid_price", "bid_amount", "ask_price", "ask_amount", "source_file"]
        return self._answer(_BOOK, symbol, start, end, exchange, columns, as_pandas, numeric)

    def get_quotes(
        self, symbol: str, start: Time, end: Time, exchange: str | None = None, *,
        columns: Sequence[str] | None = None, as_pandas: bool = False, numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Best bid/ask quotes with `start <= ts < end`, ordered by (ts, exchange, local_ts)."""
        return self._answer(_RAW["quotes"], symbol, start, end, exchange, columns, as_pandas, numeric)

    def get_derivative_ticker(
        self, symbol: str, start: Time, end: Time, exchange: str | None = None, *,
        columns: Sequence[str] | None = None, as_pandas: bool = False, numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Funding, open interest, mark/index/last price rows with `start <= ts < end` (empty fields null)."""
        return self._answer(_RAW["derivative_ticker"], symbol, start, end, exchange, columns, as_pandas, numeric)

    def get_liquidations(
        self, symbol: str, start: Time, end: Time, exchange: str | None = None, *,
        columns: Sequence[str] | None = None, as_pandas: bool = False, numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Liquidations with `start <= ts < end` (side buy: a short liquidated; sell: a long)."""
        return self._answer(_RAW["liquidations"], symbol, start, end, exchange, columns, as_pandas, numeric)

    def get_ohlcv(
        self, symbol: str, interval: str, start: Time, end: Time, exchange: str | None = None, *,
        columns: Sequence[str] | None = None, as_pandas: bool = False, numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Bars of `interval` (1m, 5m, 15m, 1h, 1d) with `start <= bucket_start < end`."""
        dataset = _OHLCV[validate_interval(interval)]
        return self._answer(dataset, symbol, start, end, exchange, columns, as_pandas, numeric)

    def get_daily_stats(
        self,
        symbol: str,
        days: int | None = None,
        *,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        exchange: str | None = None,
        columns: Sequence[str] | None = None,
        as_pandas: bool = False,
        numeric: str | None = None,
    ) -> pa.Table | pd.DataFrame:
        """Daily stats for `start <= bar_date < end`, or for the `days` most recent days the warehouse
        knows (warm or cold) when `days` is given instead."""
        if (days is None) == (start is None and end is None):
            raise HistoryError("give either days=N or start=/end=")
        if days is not None:
            if days < 1:
                raise HistoryError("days must be >= 1")
            known = self._known_days(_DAILY, validate_symbol(symbol), exchange)
            if not known:
                start_day = end_day = dt.date(1970, 1, 1)
            else:
                start_day, end_day = known[-days:][0], known[-1] + dt.timedelta(days=1)
        else:
            if start is None or end is None:
                raise HistoryError("start= and end= go together")
            start_day, end_day = to_day(start), to_day(end)
        return self._answer(_DAILY, symbol, start_day, end_day, exchange, columns, as_pandas, numeric)

    def iter_batches(
        self, dataset: str, symbols: Sequence[str], start: Time, end: Time, exchange: str | None = None, *,
        columns: Sequence[str] | None = None, ordered: bool = True, batch_rows: int = BATCH_ROWS,
        numeric: str | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Rows of `dataset` (a raw dataset of ingest/datasets or `ohlcv_<interval>`) of several symbols with
        `start <= time < end`, as Arrow record batches of at most `batch_rows` rows.

        Read one UTC day at a time (each day from the one tier that holds it, as `get_trades` decides),
        so memory is bounded by a day's sort and one batch whatever the range. `ordered`: each day
        sorted by the dataset's total order with symbol after exchange (days follow one another, so
        the whole answer is ordered); pass False when the consumer sorts anyway. At least one batch
        (maybe empty) is always yielded, so its schema is known. `numeric`: as every answer (the
        reader's policy unless given).
        """
        if batch_rows < 1:
            raise HistoryError("batch_rows must be >= 1")
        mode = numbers.check_mode(numeric or self.numeric)
        read_columns = _with_vwap_inputs(columns, mode)
        with self.connection() as con:
            schema: pa.Schema | None = None
            yielded = False
            for sql, params in self.day_queries(con, dataset, symbols, start, end, exchange, columns=read_columns,
                                                ordered=ordered):
                reader = con.execute(sql, params).to_arrow_reader(batch_rows)
                schema = schema or reader.schema
                for batch in reader:
                    if self.last_plan is not None:
                        self.last_plan.rows += batch.num_rows
                    yielded = True
                    yield _select(numbers.conform(batch, mode), columns)
            if not yielded and schema is not None:  # the schema, even for no rows
                yield _select(numbers.conform(pa.RecordBatch.from_pylist([], schema=schema), mode), columns)

    def day_queries(
        self, con: duckdb.DuckDBPyConnection, dataset: str, symbols: Sequence[str], start: Time, end: Time,
        exchange: str | None = None, *, columns: Sequence[str] | None = None, ordered: bool = True,
    ) -> Iterator[tuple[str, list[Any]]]:
        """The queries behind `iter_batches`, one per UTC day, as (sql, params) to run on `con` (a
        `connection()` of this reader) before asking for the next: a cold day's downloaded files are
        removed when the next query is asked for. Consumers that work inside DuckDB (the research
        API's joins and sorts) run them there, with no copy of the rows through Python. When no day
        of either tier holds rows in range, one query with no rows gives the columns."""
        ds = _DATASETS.get(dataset)
        if ds is None:
            raise HistoryError(f"unknown dataset {dataset!r}: expected one of {', '.join(_DATASETS)}")
        if isinstance(symbols, str) or not symbols:
            raise HistoryError("symbols must be a non-empty list of symbols")
        wanted_symbols = sorted({validate_symbol(s) for s in symbols})
        if exchange is not None:
            exchange = validate_exchange(exchange)
        lo, hi = to_timestamp(start), to_timestamp(end)
        if lo >= hi:
            raise HistoryError(f"empty range: start {lo} is not before end {hi}")
        first_day, last_day = lo.date(), (hi - dt.timedelta(microseconds=1)).date()
        table = ds.table
        plan = ReadPlan(table=table.name)
        self.last_plan = plan
        order_by = ds.order_by.replace("exchange", "exchange, symbol", 1)
        filters = (f"symbol IN ({', '.join('?' * len(wanted_symbols))}) "
                   f"AND {table.time_column} >= ? AND {table.time_column} < ?")
        params: list[Any] = [*wanted_symbols, lo, hi]
        if exchange is not None:
            filters += " AND exchange = ?"
            params.append(exchange)

        with tempfile.TemporaryDirectory(prefix="tickwh-history-") as tmp:
            schema, warm_days = self._warm_days(con, table, first_day, last_day)
            cold_days: list[dt.date] = []
            if self.cold is not None:
                cold_days = [d for d in self.cold.archived_days(table.name)
                             if first_day <= d <= last_day and d not in warm_days]
            plan.warm_days = sorted(warm_days)
            any_day = False
            for day in sorted(warm_days | set(cold_days)):
                if day in warm_days:
                    wanted = self._project(schema, columns)
                    select = ", ".join(_quote(c["name"]) for c in wanted)
                    sql = (f"SELECT {select} FROM {table.source} WHERE {table.date_column} = ? AND {filters}"
                           + (f" ORDER BY {order_by}" if ordered else ""))
                    day_params = [day, *params]
                else:
                    assert self.cold is not None
                    manifest = self.cold.read_manifest(table.name, day)
                    if manifest is None:  # a partition folder whose first archive run never finished
                        continue
                    scratch = Path(tmp) / day.isoformat()  # removed after the day: disk bounded by a day too
                    scratch.mkdir()
                    manifest, paths = self._fetch(manifest, scratch)
                    plan.cold_days.append(manifest.date)
                    plan.cold_keys += [o.key for o in manifest.objects]
                    reference = schema or manifest.schema
                    wanted = self._project(reference, columns)
                    present = set(manifest.columns)
                    select = _cold_select(wanted, present)
                    sql = (f"SELECT {select} FROM read_parquet(?, union_by_name = true) WHERE {filters}"
                           + (f" ORDER BY {order_by}" if ordered else ""))
                    day_params = [[str(p) for p in paths], *params]
                any_day = True
                yield sql, day_params
                shutil.rmtree(Path(tmp) / day.isoformat(), ignore_errors=True)
            if not any_day:  # nothing in range in either tier: no rows, with the right columns
                reference = schema or self._cold_schema(table)
                if not reference:
                    raise HistoryError(f"{table.source} exists in neither tier")
                wanted = self._project(reference, columns)
                yield f"SELECT {_cold_select(wanted, set())} WHERE false", []

    # -- internals -----------------------------------------------------------------------------

    def _answer(self, ds: _Dataset, symbol: str, start: Time, end: Time, exchange: str | None,
                columns: Sequence[str] | None, as_pandas: bool, numeric: str | None) -> pa.Table | pd.DataFrame:
        """A `_read` in the numeric policy's types (ingest/numbers.py), as Arrow or pandas."""
        mode = numbers.check_mode(numeric or self.numeric)
        table = _select(numbers.conform(self._read(ds, symbol, start, end, exchange, _with_vwap_inputs(columns, mode)),
                                        mode), columns)
        return table.to_pandas() if as_pandas else table

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on this reader's DuckDB, where the lake is attached once, read-only.

        Attaching once saves loading the extensions and opening the catalog on every call; each
        call is its own transaction, so an unpinned reader still sees the newest snapshot.
        """
        with self._lock:
            if self._con is None:
                con = duckdb.connect(":memory:")
                con.execute("SET enable_progress_bar = false")
                if self.warehouse is not None:
                    try:
                        attach(con, self.warehouse, read_only=True, as_of=self.as_of)
                    except LakeError as exc:
                        con.close()
                        raise HistoryError(str(exc)) from exc
                self._con = con
            cursor = self._con.cursor()
        if self.warehouse is not None:
            cursor.execute(f"USE {LAKE_ALIAS}")  # a cursor starts in the in-memory catalog
        try:
            yield cursor
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> HistoricalData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _known_days(self, ds: _Dataset, symbol: str, exchange: str | None) -> list[dt.date]:
        table = ds.table
        days: set[dt.date] = set()
        with self.connection() as con:
            if relation_columns(con, table.source):
                sql = f"SELECT DISTINCT {table.date_column} FROM {table.source} WHERE symbol = ?"
                params: list[Any] = [symbol]
                if exchange is not None:
                    sql += " AND exchange = ?"
                    params.append(validate_exchange(exchange))
                days |= {r[0] for r in con.execute(sql, params).fetchall()}
        if self.cold is not None:
            days |= set(self.cold.archived_days(table.name))
        return sorted(days)

    def data_span(
        self, dataset: str, symbols: Sequence[str], lo: dt.datetime, hi: dt.datetime, exchange: str | None = None
    ) -> tuple[dt.date, dt.date] | None:
        """The first and last day in [lo, hi) that either tier holds for any of `symbols` (None: no day).

        Work proportional to the range (a grid of buckets, one query per day) is bounded by this span,
        so a request over 200 years costs what its data costs. Cheap: the warm tier answers from its
        day column, the cold tier from its listing (a day archived for any symbol counts).
        """
        ds = _DATASETS.get(dataset)
        if ds is None:
            raise HistoryError(f"unknown dataset {dataset!r}")
        first_day, last_day = lo.date(), (hi - dt.timedelta(microseconds=1)).date()
        days: set[dt.date] = set()
        if self.warehouse is not None:
            with self.connection() as con:
                if relation_columns(con, ds.table.source):
                    col = ds.table.date_column
                    sql = (f"SELECT min({col}), max({col}) FROM {ds.table.source} "
                           f"WHERE {col} BETWEEN ? AND ? AND list_contains(?, symbol)")
                    params: list[Any] = [first_day, last_day, [validate_symbol(s) for s in symbols]]
                    if exchange is not None:
                        sql += " AND exchange = ?"
                        params.append(validate_exchange(exchange))
                    row = con.execute(sql, params).fetchone()
                    days |= {d for d in (row or ()) if d is not None}
        if self.cold is not None:
            days |= {d for d in self.cold.archived_days(ds.table.name) if first_day <= d <= last_day}
        return (min(days), max(days)) if days else None

    def held_days(self, dataset: str, symbol: str, exchange: str | None = None) -> dict[str, list[dt.date]]:
        """The days each tier this reader searches holds for `symbol` ("warm lake", "cold tier"):
        what an answer with no rows reports, so the user sees where the data is."""
        ds = _DAILY if dataset in ("daily_stats", "daily-stats") else _DATASETS.get(dataset)
        if ds is None:
            raise HistoryError(f"unknown dataset {dataset!r}")
        symbol = validate_symbol(symbol)
        held: dict[str, list[dt.date]] = {}
        if self.warehouse is not None:
            days: set[dt.date] = set()
            with self.connection() as con:
                if relation_columns(con, ds.table.source):
                    sql = f"SELECT DISTINCT {ds.table.date_column} FROM {ds.table.source} WHERE symbol = ?"
                    params: list[Any] = [symbol]
                    if exchange is not None:
                        sql += " AND exchange = ?"
                        params.append(validate_exchange(exchange))
                    days = {r[0] for r in con.execute(sql, params).fetchall()}
            held["warm lake"] = sorted(days)
        if self.cold is not None:
            cold_days = []
            for day in self.cold.archived_days(ds.table.name):
                manifest = self.cold.read_manifest(ds.table.name, day)
                if manifest is not None and (not manifest.symbols or symbol in manifest.symbols):
                    cold_days.append(day)
            held["cold tier"] = cold_days
        return held

    def _cold_schema(self, table: ArchiveTable) -> list[dict[str, str]]:
        """The column list of the newest archived day, for an answer when warm lacks the table."""
        if self.cold is None:
            return []
        for day in reversed(self.cold.archived_days(table.name)):
            manifest = self.cold.read_manifest(table.name, day)
            if manifest is not None:
                return manifest.schema
        return []

    def _fetch(self, manifest: Manifest, scratch: Path) -> tuple[Manifest, list[Path]]:
        """Verified local files of a manifest; retried once if a re-archive replaced it meanwhile."""
        assert self.cold is not None
        try:
            return manifest, self.cold.fetch_verified(manifest, scratch, self.cache_dir)
        except ColdObjectError:
            latest = self.cold.read_manifest(manifest.table, manifest.date)
            if latest is None or latest.run_id == manifest.run_id:
                raise
            return latest, self.cold.fetch_verified(latest, scratch, self.cache_dir)

    def _read(
        self,
        ds: _Dataset,
        symbol: str,
        start: str | dt.date | dt.datetime,
        end: str | dt.date | dt.datetime,
        exchange: str | None,
        columns: Sequence[str] | None,
    ) -> pa.Table:
        symbol = validate_symbol(symbol)
        if exchange is not None:
            exchange = validate_exchange(exchange)
        lo: dt.date | dt.datetime
        hi: dt.date | dt.datetime
        if ds.time_is_date:
            lo, hi = to_day(start), to_day(end)
            first_day, last_day = lo, hi - dt.timedelta(days=1)
        else:
            lo, hi = to_timestamp(start), to_timestamp(end)
            first_day, last_day = lo.date(), (hi - dt.timedelta(microseconds=1)).date()
        if lo >= hi:
            raise HistoryError(f"empty range: start {lo} is not before end {hi}")
        table = ds.table
        plan = ReadPlan(table=table.name)
        self.last_plan = plan

        with self.connection() as con, tempfile.TemporaryDirectory(prefix="tickwh-history-") as tmp:
            schema, warm_days = self._warm_days(con, table, first_day, last_day)
            manifests: list[Manifest] = []
            all_warm = len(warm_days) == (last_day - first_day).days + 1
            # A range the warm tier holds whole never asks the cold store: an S3 outage then
            # costs only the reads that need it.
            if self.cold is not None and not all_warm:
                for day in self.cold.archived_days(table.name):
                    if first_day <= day <= last_day and day not in warm_days:
                        manifest = self.cold.read_manifest(table.name, day)
                        if manifest is not None:
                            manifests.append(manifest)
            files: list[str] = []
            cold_columns: set[str] = set()
            for manifest in manifests:
                manifest, paths = self._fetch(manifest, Path(tmp))
                files += [str(p) for p in paths]
                cold_columns |= set(manifest.columns)
                plan.cold_days.append(manifest.date)
                plan.cold_keys += [o.key for o in manifest.objects]
                if not schema:
                    schema = manifest.schema
            plan.warm_days = sorted(warm_days)
            if not schema:
                return pa.table({})
            wanted = self._project(schema, columns)
            order_columns = {c.split()[0] for c in ds.order_by.split(", ")}
            # Sort keys travel through the union even when not asked for; the outer SELECT drops them.
            inner = [c for c in schema if c in wanted or c["name"] in order_columns]

            filters = f"symbol = ? AND {ds.table.time_column} >= ? AND {ds.table.time_column} < ?"
            params: list[Any] = [symbol, lo, hi]
            if exchange is not None:
                filters += " AND exchange = ?"
                params.append(exchange)
            parts, all_params = [], []
            if warm_days:
                select = ", ".join(_quote(c["name"]) for c in inner)
                parts.append(f"SELECT {select} FROM {table.source} WHERE {filters}")
                all_params += params
            if files:
                select = _cold_select(inner, cold_columns)
                parts.append(f"SELECT {select} FROM read_parquet(?, union_by_name = true) WHERE {filters}")
                all_params += [files, *params]
            if not parts:  # nothing in range in either tier: an empty table with the right columns
                parts.append(f"SELECT {_cold_select(inner, set())} WHERE false")
            outer = ", ".join(_quote(c["name"]) for c in wanted)
            sql = f"SELECT {outer} FROM ({' UNION ALL '.join(parts)}) ORDER BY {ds.order_by}"
            result = con.execute(sql, all_params).to_arrow_table()
        plan.rows = result.num_rows
        return result

    @staticmethod
    def _warm_days(
        con: duckdb.DuckDBPyConnection, table: ArchiveTable, first_day: dt.date, last_day: dt.date
    ) -> tuple[list[dict[str, str]], set[dt.date]]:
        """The warm table's columns (none when it does not exist) and its days in [first_day, last_day]."""
        schema = relation_columns(con, table.source)
        if not schema:
            return schema, set()
        rows = con.execute(
            f"SELECT DISTINCT {table.date_column} FROM {table.source} WHERE {table.date_column} BETWEEN ? AND ?",
            [first_day, last_day],
        ).fetchall()
        return schema, {r[0] for r in rows}

    @staticmethod
    def _project(schema: list[dict[str, str]], columns: Sequence[str] | None) -> list[dict[str, str]]:
        if columns is None:
            return schema
        by_name = {c["name"]: c for c in schema}
        unknown = [c for c in columns if c not in by_name]
        if unknown:
            raise InvalidNameError(f"unknown column(s) {unknown}; available: {list(by_name)}")
        return [by_name[c] for c in columns]


# ---------------------------------------------------------------------------------------------
# Command line


def parse_as_of(value: int | str | dt.datetime | None) -> int | dt.datetime | None:
    """A snapshot id (`42`) or a time (`2024-03-01T12:00`, UTC when naive) for `as_of`."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, bool):
        raise HistoryError("as_of must be a snapshot id or a time")
    if isinstance(value, int):
        if value < 0:
            raise HistoryError(f"as_of snapshot must be >= 0, got {value}")
        return value
    try:
        return rules.snapshot_or_time(str(value))
    except rules.Invalid as exc:
        raise HistoryError(f"invalid as_of: {exc}") from None


def resolve_time_pin(warehouse: LakeConfig, when: dt.datetime) -> int:
    """The snapshot a time pin reads: the newest one committed at or before `when` (UTC when naive).

    A pin must read the same rows on every rerun, so a time in the future is refused: the next
    load would commit a snapshot before it and the same command would then read more rows. A time
    between the newest snapshot and now is stable (a later commit gets a later time) and reads
    the newest snapshot. Callers print the id (`tickwh history` does, on stderr) so it can be reused.
    """
    from ingest.lake import connect, snapshots

    utc = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    try:
        with connect(warehouse, read_only=True) as con:
            kept = snapshots(con)
    except LakeError as exc:
        raise HistoryError(str(exc)) from exc
    if not kept:
        raise HistoryError("the warm lake has no snapshot yet: load a day first")
    newest = kept[-1]
    if utc > dt.datetime.now(dt.UTC):
        raise HistoryError(
            f"as_of {utc:%Y-%m-%dT%H:%M:%S}Z is in the future: not a pin (the next load would change what it "
            f"reads); the newest snapshot is {newest[0]} of {newest[1]:%Y-%m-%dT%H:%M:%S}Z: pass --as-of {newest[0]}")
    older = [sid for sid, at, _ in kept if at <= utc]
    if not older:
        raise HistoryError(f"as_of {utc:%Y-%m-%dT%H:%M:%S}Z is before the oldest snapshot kept ({kept[0][0]} of "
                           f"{kept[0][1]:%Y-%m-%dT%H:%M:%S}Z)")
    return older[-1]


def _with_vwap_inputs(columns: Sequence[str] | None, mode: str) -> Sequence[str] | None:
    """An exact VWAP is quote_volume / volume (ingest/numbers.py): read them too when only vwap is asked."""
    if mode != "exact" or columns is None or "vwap" not in columns:
        return columns
    return [*columns, *(c for c in ("quote_volume", "volume") if c not in columns)]


def _select(data: Any, columns: Sequence[str] | None) -> Any:
    """`data` with exactly `columns` (the extra ones `_with_vwap_inputs` read dropped)."""
    if columns is None or data.num_columns == 0 or list(data.schema.names) == list(columns):
        return data
    return data.select(list(columns))


def _cold_select(columns: list[dict[str, str]], present: set[str]) -> str:
    """Cold columns cast to the reference types, so a cold day is indistinguishable from a warm one;
    NULL for a column the archive lacks. Types pass the manifest allow-list before they reach SQL."""
    return ", ".join(
        f"CAST({_quote(c['name']) if c['name'] in present else 'NULL'} AS {sql_type(c['type'])}) AS {_quote(c['name'])}"
        for c in columns
    )


def describe_span(days: Sequence[dt.date]) -> str:
    """`2024-01-01..2024-01-03` (and how many days when some are missing in between), or `none`."""
    if not days:
        return "none"
    first, last = min(days), max(days)
    text = str(first) if first == last else f"{first}..{last}"
    gaps = (last - first).days + 1 != len(set(days))
    return f"{text} ({len(set(days))} days)" if gaps else text


def no_rows_message(symbols: Sequence[str], start: object, end: object, held: dict[str, dict[str, list[dt.date]]],
                    skipped: Sequence[str] = ()) -> str:
    """`no rows for BTCUSDT 2025-01-01..2025-01-02; warm lake holds 2024-01-01..2024-01-03, cold tier holds
    none`: which tiers were searched, and the days each holds for each symbol (held: symbol -> tier -> days)."""

    def when(value: object) -> str:
        text = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
        return text.removesuffix("T00:00:00")

    parts = []
    for symbol in symbols:
        tiers = held.get(symbol, {})
        found = ", ".join(f"{tier} holds {describe_span(days)}" for tier, days in tiers.items())
        parts.append((f"{symbol}: " if len(symbols) > 1 else "") + (found or "no tier searched"))
    line = f"no rows for {', '.join(symbols)} {when(start)}..{when(end)}; {'; '.join(parts)}"
    if skipped:
        line += f" ({' and '.join(skipped)} not searched)"
    return line


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which stores a command line reads and at which snapshot."""
    parser.add_argument("--as-of", type=rules.arg(rules.snapshot_or_time),
                        help="read the warm tier as of a lake snapshot id or an ISO time (UTC); a time after "
                        "the newest snapshot reads that snapshot, whose id is printed (docs/history.md)")
    parser.add_argument("--no-warm", action="store_true", help="read the cold tier only")
    parser.add_argument("--no-cold", action="store_true", help="read the warm warehouse only")
    parser.add_argument("--cold-endpoint", type=rules.arg(rules.url("http", "https")),
                        help="S3 endpoint URL (default $TICKWH_COLD_ENDPOINT)")
    parser.add_argument("--cold-local-root", type=rules.arg(rules.path_text),
                        help="cold tier in a local directory instead of S3")
    parser.add_argument("--bucket", type=rules.arg(rules.bucket),
                        help="S3 bucket (default $TICKWH_COLD_BUCKET or tickwh-cold)")
    parser.add_argument("--prefix", type=rules.arg(rules.prefix),
                        help="key prefix (default $TICKWH_COLD_PREFIX or warehouse)")
    parser.add_argument("--cache-dir", type=rules.arg(rules.existing_dir),
                        help="keep verified cold downloads in this existing directory")


def stores_from_args(args: argparse.Namespace) -> tuple[LakeConfig | None, ColdStoreConfig | None]:
    """The warm and cold stores `add_store_arguments` chose, the environment filling the rest."""
    cold: ColdStoreConfig | None = None
    if not args.no_cold:
        env = ColdStoreConfig.from_env()
        cold = ColdStoreConfig(
            endpoint_url=args.cold_endpoint or (None if args.cold_local_root else env.endpoint_url),
            bucket=args.bucket or env.bucket,
            prefix=args.prefix if args.prefix is not None else env.prefix,
            region=env.region,
            local_root=str(args.cold_local_root) if args.cold_local_root
            else (None if args.cold_endpoint else env.local_root),
        )
    return (None if args.no_warm else LakeConfig.from_env()), cold


@contextmanager
def store_errors(cold: ColdStoreConfig | None) -> Iterator[None]:
    """A store that cannot answer (cold endpoint down, bad credentials, a corrupt archive, the lake
    missing or locked) as one line naming it: the user's set-up, not a defect of ours."""
    try:
        yield
    except (ColdStoreError, LakeError) as exc:
        raise UserError(str(exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
            where = cold.describe() if cold is not None else "the cold tier"
            raise UserError(f"cold tier {where} did not answer ({type(exc).__name__}); check --cold-endpoint / "
                            "TICKWH_COLD_ENDPOINT, the bucket and the credentials") from exc
        raise


def main(argv: Sequence[str] | None = None) -> int:
    return run(lambda: _main(argv))


def reader_from_args(args: argparse.Namespace, warehouse: LakeConfig | None,
                     cold: ColdStoreConfig | None) -> HistoricalData:
    """The reader a command line asked for; a time pin is resolved to its snapshot, printed so a
    rerun can pin the id itself (the history and research commands)."""
    api = HistoricalData(warehouse, cold, cache_dir=args.cache_dir, as_of=args.as_of, numeric=args.numeric)
    if isinstance(args.as_of, dt.datetime) and api.as_of is not None:
        print(f"as of {args.as_of:%Y-%m-%dT%H:%M:%S}Z: snapshot {api.as_of} (pin it: --as-of {api.as_of})",
              file=sys.stderr)
    return api


def _main(argv: Sequence[str] | None) -> int:
    parser = Parser(
        prog="tickwh history",
        description="Read trades, book snapshots, quotes, the derivative ticker (funding, open interest, mark and "
        "index prices), liquidations, bars or daily stats across the warm and cold tiers.",
    )
    parser.add_argument("dataset", choices=["trades", "book", "quotes", "ticker", "liquidations", "ohlcv",
                                            "daily-stats"])
    parser.add_argument("symbol")
    parser.add_argument("--start", type=rules.arg(rules.instant), help="UTC start, inclusive (YYYY-MM-DD or ISO time)")
    parser.add_argument("--end", type=rules.arg(rules.instant), help="UTC end, exclusive")
    parser.add_argument("--days", type=rules.arg(rules.bounded_int(1, 36_500)),
                        help="daily-stats: the N most recent days")
    parser.add_argument("--interval", default="1m", choices=INTERVALS, help=f"ohlcv: one of {', '.join(INTERVALS)}")
    parser.add_argument("--exchange")
    parser.add_argument("--top", action="store_true", help="book: top of book only, no level arrays")
    parser.add_argument("--csv", action="store_true", help="write CSV to stdout")
    parser.add_argument("--limit", type=rules.arg(rules.bounded_int(1, MAX_SHOWN)), default=20,
                        help=f"rows shown without --csv (1 to {MAX_SHOWN})")
    parser.add_argument("--numeric", choices=numbers.MODES, default=numbers.DEFAULT,
                        help="exact: prices, amounts, volumes as exact decimals (default); float: float64")
    add_store_arguments(parser)
    args = parser.parse_args(argv)
    if args.dataset != "daily-stats" and (args.start is None or args.end is None):
        parser.error("--start and --end are required")

    cold: ColdStoreConfig | None = None
    with store_errors(cold):
        warehouse, cold = stores_from_args(args)
    with store_errors(cold):
        api = reader_from_args(args, warehouse, cold)
        dataset = {"daily-stats": "daily_stats", "book": "book_snapshots", "ticker": "derivative_ticker",
                   "ohlcv": f"ohlcv_{args.interval}"}.get(args.dataset, args.dataset)
        if args.dataset == "daily-stats":
            start = None if args.start is None else to_day(args.start)
            end = None if args.end is None else to_day(args.end)
            table = api.get_daily_stats(args.symbol, args.days, start=start, end=end, exchange=args.exchange)
        elif args.dataset == "trades":
            table = api.get_trades(args.symbol, args.start, args.end, args.exchange)
        elif args.dataset == "book":
            table = api.get_book_snapshots(args.symbol, args.start, args.end, args.exchange, levels=not args.top)
        elif dataset in _RAW:
            table = api._answer(_RAW[dataset], args.symbol, args.start, args.end, args.exchange, None, False, None)
        else:
            table = api.get_ohlcv(args.symbol, args.interval, args.start, args.end, args.exchange)
        assert isinstance(table, pa.Table)
        if table.num_rows == 0:
            held = {args.symbol: api.held_days(dataset, args.symbol, args.exchange)}
            skipped = [s for s, off in (("warm lake", args.no_warm), ("cold tier", args.no_cold)) if off]
            start_text = args.start if args.start is not None else f"the last {args.days} days"
            print(no_rows_message([args.symbol], start_text, args.end or "", held, skipped), file=sys.stderr)
            return 0
    plan = api.last_plan
    if args.csv:
        numbers.write_csv(table.to_batches(), table.schema, sys.stdout)
    else:
        print(numbers.table_text(table.slice(0, args.limit)))
    if plan is not None:
        print(
            f"{table.num_rows} rows; warm days: {[str(d) for d in plan.warm_days]}; "
            f"cold days: {[str(d) for d in plan.cold_days]}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
