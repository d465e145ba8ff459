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
are validated first. The warehouse is opened read-only and per call, so the pipeline can write
between calls (DuckDB lets no reader in while another process writes: such a call fails with
`WarehouseBusyError` and can be retried).

CLI: `python -m ingest.history trades BTCUSDT --start 2024-03-01 --end 2024-03-02 [--csv]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ingest.cold.archive import relation_columns
from ingest.cold.config import ColdStoreConfig
from ingest.cold.layout import (
    DAILY_STATS,
    OHLCV_TABLES,
    RAW_BOOK_SNAPSHOTS,
    RAW_TRADES,
    ArchiveTable,
    ColdTier,
    Manifest,
)
from ingest.cold.store import ColdObjectError
from ingest.names import InvalidNameError, validate_exchange, validate_symbol

if TYPE_CHECKING:
    import pandas as pd

INTERVALS = tuple(OHLCV_TABLES)  # 1m, 5m, 15m, 1h, 1d


class HistoryError(RuntimeError):
    """A request the API cannot answer (bad range, warehouse unavailable...)."""


class WarehouseBusyError(HistoryError):
    """Another process holds the DuckDB file for writing; retry after its run."""


def validate_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise InvalidNameError(f"invalid interval {interval!r}: expected one of {', '.join(INTERVALS)}")
    return interval


@dataclass(frozen=True)
class _Dataset:
    table: ArchiveTable
    order_by: str  # total order: time first, then tie-breaks that make reruns identical
    time_is_date: bool = False


_TRADES = _Dataset(RAW_TRADES, "ts, exchange, trade_seq NULLS LAST, trade_id")
_BOOK = _Dataset(RAW_BOOK_SNAPSHOTS, "ts, exchange, local_ts")
_OHLCV = {i: _Dataset(t, "bucket_start, exchange") for i, t in OHLCV_TABLES.items()}
_DAILY = _Dataset(DAILY_STATS, "bar_date, exchange", time_is_date=True)
_BOOK_LEVEL_COLUMNS = ("bid_prices", "bid_amounts", "ask_prices", "ask_amounts")


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
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise HistoryError(f"invalid time {value!r}: expected ISO 8601, e.g. 2024-03-01T12:00") from exc
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise HistoryError(f"invalid time {value!r}")


def to_day(value: str | dt.date | dt.datetime) -> dt.date:
    ts = to_timestamp(value)
    if ts.time() != dt.time(0):
        raise HistoryError(f"expected a whole day, got {value!r}")
    return ts.date()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class HistoricalData:
    """Trades, book snapshots, OHLCV bars and daily stats over warm and cold storage.

    `warehouse_path`: the DuckDB file (None: cold only). `cold_store`: a `ColdTier`, a
    `ColdStoreConfig`, or None (warm only). `cache_dir`: keep verified cold downloads there
    (keyed by sha256, revalidated against the store on every use); without it, each call
    downloads into a temporary directory and deletes it afterwards.
    """

    def __init__(
        self,
        warehouse_path: str | Path | None,
        cold_store: ColdTier | ColdStoreConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.warehouse_path = Path(warehouse_path) if warehouse_path is not None else None
        if self.warehouse_path is not None and not self.warehouse_path.exists():
            raise HistoryError(f"warehouse file not found: {self.warehouse_path}")
        self.cold = cold_store.open() if isinstance(cold_store, ColdStoreConfig) else cold_store
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.last_plan: ReadPlan | None = None

    # -- public API ----------------------------------------------------------------------------

    def get_trades(
        self,
        symbol: str,
        start: str | dt.date | dt.datetime,
        end: str | dt.date | dt.datetime,
        exchange: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        as_pandas: bool = False,
    ) -> pa.Table | pd.DataFrame:
        """Trades with `start <= ts < end` (UTC), ordered by (ts, exchange, trade_seq, trade_id)."""
        return self._finish(self._read(_TRADES, symbol, start, end, exchange, columns), as_pandas)

    def get_book_snapshots(
        self,
        symbol: str,
        start: str | dt.date | dt.datetime,
        end: str | dt.date | dt.datetime,
        exchange: str | None = None,
        *,
        levels: bool = True,
        columns: Sequence[str] | None = None,
        as_pandas: bool = False,
    ) -> pa.Table | pd.DataFrame:
        """Book snapshots with `start <= ts < end`; `levels=False` keeps only the top of book."""
        if not levels and columns is None:
            columns = ["snapshot_date", "exchange", "symbol", "ts", "local_ts", "depth",
                       "bid_price", "bid_amount", "ask_price", "ask_amount", "source_file"]
        return self._finish(self._read(_BOOK, symbol, start, end, exchange, columns), as_pandas)

    def get_ohlcv(
        self,
        symbol: str,
        interval: str,
        start: str | dt.date | dt.datetime,
        end: str | dt.date | dt.datetime,
        exchange: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        as_pandas: bool = False,
    ) -> pa.Table | pd.DataFrame:
        """Bars of `interval` (1m, 5m, 15m, 1h, 1d) with `start <= bucket_start < end`."""
        dataset = _OHLCV[validate_interval(interval)]
        return self._finish(self._read(dataset, symbol, start, end, exchange, columns), as_pandas)

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
        return self._finish(self._read(_DAILY, symbol, start_day, end_day, exchange, columns), as_pandas)

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _finish(table: pa.Table, as_pandas: bool) -> pa.Table | pd.DataFrame:
        return table.to_pandas() if as_pandas else table

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            if self.warehouse_path is None:
                con = duckdb.connect(":memory:")
            else:
                con = duckdb.connect(str(self.warehouse_path), read_only=True)
        except duckdb.IOException as exc:
            raise WarehouseBusyError(f"{self.warehouse_path}: cannot open read-only ({exc})") from exc
        try:
            yield con
        finally:
            con.close()

    def _known_days(self, ds: _Dataset, symbol: str, exchange: str | None) -> list[dt.date]:
        table = ds.table
        days: set[dt.date] = set()
        with self._connect() as con:
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

        with self._connect() as con, tempfile.TemporaryDirectory(prefix="tickwh-history-") as tmp:
            schema = relation_columns(con, table.source)
            warm_days: set[dt.date] = set()
            if schema:
                rows = con.execute(
                    f"SELECT DISTINCT {table.date_column} FROM {table.source} "
                    f"WHERE {table.date_column} BETWEEN ? AND ?",
                    [first_day, last_day],
                ).fetchall()
                warm_days = {r[0] for r in rows}
            manifests: list[Manifest] = []
            if self.cold is not None:
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
                # Cast to the reference types so a cold day is indistinguishable from a warm one.
                select = ", ".join(
                    f"CAST({_quote(c['name']) if c['name'] in cold_columns else 'NULL'} AS {c['type']}) "
                    f"AS {_quote(c['name'])}"
                    for c in inner
                )
                parts.append(f"SELECT {select} FROM read_parquet(?, union_by_name = true) WHERE {filters}")
                all_params += [files, *params]
            if not parts:  # nothing in range in either tier: an empty table with the right columns
                select = ", ".join(f"CAST(NULL AS {c['type']}) AS {_quote(c['name'])}" for c in inner)
                parts.append(f"SELECT {select} WHERE false")
            outer = ", ".join(_quote(c["name"]) for c in wanted)
            sql = f"SELECT {outer} FROM ({' UNION ALL '.join(parts)}) ORDER BY {ds.order_by}"
            result = con.execute(sql, all_params).to_arrow_table()
        plan.rows = result.num_rows
        return result

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


def _default_warehouse() -> Path:
    home = Path(os.environ.get("TICKWH_HOME", Path(__file__).resolve().parents[1] / "var"))
    return Path(os.environ.get("TICKWH_DUCKDB_PATH", home / "warehouse.duckdb"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tickwh history",
        description="Read trades, book snapshots, bars or daily stats across the warm and cold tiers.",
    )
    parser.add_argument("dataset", choices=["trades", "book", "ohlcv", "daily-stats"])
    parser.add_argument("symbol")
    parser.add_argument("--start", help="UTC start, inclusive (YYYY-MM-DD or ISO time)")
    parser.add_argument("--end", help="UTC end, exclusive")
    parser.add_argument("--days", type=int, help="daily-stats: the N most recent days")
    parser.add_argument("--interval", default="1m", help=f"ohlcv: one of {', '.join(INTERVALS)}")
    parser.add_argument("--exchange")
    parser.add_argument("--top", action="store_true", help="book: top of book only, no level arrays")
    parser.add_argument("--csv", action="store_true", help="write CSV to stdout")
    parser.add_argument("--limit", type=int, default=20, help="rows shown without --csv")
    parser.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default var/warehouse.duckdb)")
    parser.add_argument("--no-warm", action="store_true", help="read the cold tier only")
    parser.add_argument("--no-cold", action="store_true", help="read the warm warehouse only")
    parser.add_argument("--cold-endpoint", help="S3 endpoint URL (default $TICKWH_COLD_ENDPOINT)")
    parser.add_argument("--cold-local-root", help="cold tier in a local directory instead of S3")
    parser.add_argument("--bucket", help="S3 bucket (default $TICKWH_COLD_BUCKET or tickwh-cold)")
    parser.add_argument("--prefix", help="key prefix (default $TICKWH_COLD_PREFIX or warehouse)")
    parser.add_argument("--cache-dir", type=Path, help="keep verified cold downloads here")
    args = parser.parse_args(argv)

    cold: ColdStoreConfig | None = None
    if not args.no_cold:
        env = ColdStoreConfig.from_env()
        cold = ColdStoreConfig(
            endpoint_url=args.cold_endpoint or (None if args.cold_local_root else env.endpoint_url),
            bucket=args.bucket or env.bucket,
            prefix=args.prefix if args.prefix is not None else env.prefix,
            region=env.region,
            local_root=args.cold_local_root or (None if args.cold_endpoint else env.local_root),
        )
    warehouse = None if args.no_warm else (args.warehouse or _default_warehouse())
    try:
        api = HistoricalData(warehouse, cold, cache_dir=args.cache_dir)
        if args.dataset == "daily-stats":
            table = api.get_daily_stats(args.symbol, args.days, start=args.start, end=args.end,
                                        exchange=args.exchange)
        else:
            if not args.start or not args.end:
                parser.error("--start and --end are required")
            if args.dataset == "trades":
                table = api.get_trades(args.symbol, args.start, args.end, args.exchange)
            elif args.dataset == "book":
                table = api.get_book_snapshots(args.symbol, args.start, args.end, args.exchange, levels=not args.top)
            else:
                table = api.get_ohlcv(args.symbol, args.interval, args.start, args.end, args.exchange)
    except (HistoryError, InvalidNameError, ColdObjectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    assert isinstance(table, pa.Table)
    plan = api.last_plan
    if table.num_rows == 0:
        looked = [f"warm {warehouse}"] if warehouse is not None else []
        looked += [f"cold {cold.describe()}"] if cold is not None else []
        print(f"no rows found; looked in: {'; '.join(looked) or 'nothing (--no-warm and --no-cold)'}", file=sys.stderr)
        if cold is not None and cold.is_local and not args.cold_local_root:
            print("(`tickwh demo` archives to SeaweedFS: prefix this command with `tickwh cold run --`)",
                  file=sys.stderr)
        return 0
    if args.csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
    else:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.slice(0, args.limit).to_pandas().to_string())
    if plan is not None:
        print(
            f"{table.num_rows} rows; warm days: {[str(d) for d in plan.warm_days]}; "
            f"cold days: {[str(d) for d in plan.cold_days]}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
