"""Figure 4: 1-minute OHLCV bars of one day, the project's SQL on DuckDB vs pandas, polars and ClickHouse.

Every engine starts from the same trades (the project's ``raw.trades`` rows of the day, as loaded
by ``ingest.loader``, exported once to Parquet) already in its own memory/storage, and computes
the same bars with the same definitions:

* bucket ``[minute, minute + 1)`` UTC; minutes without trades have no bar;
* open/close = price of the first/last trade ordered by (ts, order_seq, trade_id), with
  ``order_seq = coalesce(trade_seq, 0)``;
* volume, buy/sell volume and quote volume (sum of price x amount) as exact decimals in every
  engine (pandas through pyarrow-backed decimals, polars ``Decimal(38, 12)`` operands, ClickHouse
  ``Decimal128``); vwap = quote volume / volume as a double.

Only the bar computation is timed, not loading. All bars of every engine are compared with
DuckDB's (counts, every exact column, vwap to 1e-9 relative).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.common import CompiledModel, Report, Row, Workload, bench_home, median, run_worker
from ingest.hot.tier import duckdb_double, minute_bar_columns

ENGINES = ("duckdb", "pandas", "polars", "clickhouse")
EXACT_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count", "buy_volume",
                 "sell_volume", "first_trade_ts", "last_trade_ts")
VWAP_RTOL = 1e-9

# --------------------------------------------------------------------------------------------
# Input: the project's raw.trades rows of one day, as Parquet
# --------------------------------------------------------------------------------------------


def trades_parquet(w: Workload, log: Callable[[str], None] = print) -> Path:
    """Load day 1 of ``w`` with the project's loader and export ``raw.trades`` to Parquet (cached)."""
    import duckdb

    from ingest.loader import load_day

    out = bench_home() / "ohlcv" / f"{w.name}_{w.start}.parquet"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect()
    load_day(con, w.landing, w.start, "trades")
    tmp = out.with_suffix(".tmp")
    con.execute(f"COPY (SELECT * FROM raw.trades) TO '{tmp}' (FORMAT parquet)")
    con.close()
    tmp.rename(out)
    log(f"  exported {w.name} {w.start} trades to {out.name} in {time.perf_counter() - t0:.1f}s")
    return out


# --------------------------------------------------------------------------------------------
# The engines. Each has a setup (untimed: data into the engine) and a run (timed: the bars).
# --------------------------------------------------------------------------------------------


class DuckDBEngine:
    """The project's compiled ``stg_trades`` view and ``ohlcv_1m`` model on an in-memory raw.trades."""

    def __init__(self, parquet: Path, models: list[CompiledModel]) -> None:
        import duckdb

        from ingest.warehouse import ensure_raw_schema

        by_name = {m.name: m for m in models}
        self.ohlcv_sql = by_name["ohlcv_1m"].sql
        self.con = duckdb.connect()
        # The compiled SQL names its catalog `lake` (the pipeline's DuckLake); here a native in-memory
        # DuckDB database takes that name, so only the bar computation is measured, not the lake's I/O.
        self.con.execute("ATTACH ':memory:' AS lake; USE lake; SET enable_progress_bar = false")
        ensure_raw_schema(self.con)
        self.con.execute(f"INSERT INTO raw.trades SELECT * FROM read_parquet('{parquet}')")
        self.con.execute("CREATE SCHEMA staging")
        self.con.execute(f"CREATE VIEW staging.stg_trades AS {by_name['stg_trades'].sql}")

    def run(self) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE bars AS {self.ohlcv_sql}")

    def result(self) -> pa.Table:
        return _arrow(self.con.execute(
            "SELECT exchange, symbol, bucket_start, open, high, low, close, volume, quote_volume, trade_count, vwap, "
            "buy_volume, sell_volume, first_trade_ts, last_trade_ts FROM bars"
        ))

    def close(self) -> None:
        self.con.close()


def _arrow(rel: Any) -> pa.Table:
    t = rel.arrow()
    return t.read_all() if hasattr(t, "read_all") else t


class PandasEngine:
    """pandas: sort by the tie-break, then groupby (exchange, symbol, 1-minute Grouper), named aggregations.

    Prices and amounts are pyarrow-backed decimal256 so the products and sums are exact.
    """

    def __init__(self, parquet: Path) -> None:
        import pandas as pd
        import pyarrow.parquet as pq

        t = pq.read_table(parquet, columns=["exchange", "symbol", "ts", "trade_id", "trade_seq", "side", "price",
                                            "amount"])
        # decimal128(22,12) x decimal128(28,12) needs 51 digits in pyarrow: widen to decimal256.
        for name, typ in (("price", pa.decimal256(22, 12)), ("amount", pa.decimal256(28, 12))):
            t = t.set_column(t.schema.get_field_index(name), name, t.column(name).cast(typ))
        self.df = t.to_pandas(types_mapper=lambda typ: pd.ArrowDtype(typ) if pa.types.is_decimal(typ) else None)
        self.bars: Any = None

    def run(self) -> None:
        import pandas as pd

        df = self.df
        d = pd.DataFrame({
            "exchange": df["exchange"],
            "symbol": df["symbol"],
            "ts": df["ts"],
            "order_seq": df["trade_seq"].fillna(0).astype("int64"),
            "trade_id": df["trade_id"],
            "price": df["price"],
            "amount": df["amount"],
            # decimal256(22,12) x decimal256(28,12) in pyarrow: decimal256(51,24), exact.
            "quote": df["price"] * df["amount"],
            "buy": df["amount"].where(df["side"] == "buy"),
            "sell": df["amount"].where(df["side"] == "sell"),
        })
        d = d.sort_values(["exchange", "symbol", "ts", "order_seq", "trade_id"], kind="stable")
        g = d.groupby(["exchange", "symbol", pd.Grouper(key="ts", freq="1min")], sort=True, observed=True)
        bars = g.agg(
            open=("price", "first"),
            high=("price", "max"),
            low=("price", "min"),
            close=("price", "last"),
            volume=("amount", "sum"),
            quote_volume=("quote", "sum"),
            trade_count=("price", "size"),
            buy_volume=("buy", "sum"),
            sell_volume=("sell", "sum"),
            first_trade_ts=("ts", "min"),
            last_trade_ts=("ts", "max"),
        )
        bars = bars[bars["trade_count"] > 0]
        bars["vwap"] = bars["quote_volume"].astype("float64") / bars["volume"].astype("float64")
        self.bars = bars.reset_index().rename(columns={"ts": "bucket_start"})

    def result(self) -> pa.Table:
        return pa.Table.from_pandas(self.bars, preserve_index=False)

    def close(self) -> None:
        self.df = self.bars = None


class PolarsEngine:
    """polars: sort by the tie-break, then ``group_by_dynamic`` every 1m per (exchange, symbol)."""

    def __init__(self, parquet: Path) -> None:
        import polars as pl

        self.df = pl.read_parquet(parquet, columns=["exchange", "symbol", "ts", "trade_id", "trade_seq", "side",
                                                    "price", "amount"])
        self.bars: Any = None

    def run(self) -> None:
        import polars as pl

        price, amount = pl.col("price"), pl.col("amount")
        self.bars = (
            self.df.lazy()
            .with_columns(
                order_seq=pl.col("trade_seq").fill_null(0),
                # Decimal(38,12) x Decimal(28,12): scale 24, exact below 1e14 (the contract's notional).
                quote=price.cast(pl.Decimal(38, 12)) * amount,
            )
            .sort(["exchange", "symbol", "ts", "order_seq", "trade_id"])
            .group_by_dynamic("ts", every="1m", group_by=["exchange", "symbol"], closed="left", label="left",
                              start_by="window")
            .agg(
                open=price.first(),
                high=price.max(),
                low=price.min(),
                close=price.last(),
                volume=amount.sum(),
                quote_volume=pl.col("quote").sum(),
                trade_count=pl.len(),
                buy_volume=amount.filter(pl.col("side") == "buy").sum(),
                sell_volume=amount.filter(pl.col("side") == "sell").sum(),
                first_trade_ts=pl.col("ts").min(),
                last_trade_ts=pl.col("ts").max(),
            )
            .filter(pl.col("trade_count") > 0)
            .with_columns(vwap=pl.col("quote_volume").cast(pl.Float64) / pl.col("volume").cast(pl.Float64))
            .rename({"ts": "bucket_start"})
            .collect()
        )

    def result(self) -> pa.Table:
        return self.bars.to_arrow()

    def close(self) -> None:
        self.df = self.bars = None


# The hot tier's own 1m bar (ingest/hot/tier.py), finished in one GROUP BY.
CLICKHOUSE_BARS = """
SELECT{bar},
    {vwap} AS vwap
FROM bench.trades
GROUP BY exchange, symbol, bucket_start
""".format(
    bar=minute_bar_columns(),
    # DuckDB's decimal -> double conversion (as the hot tier's view does), so vwap agrees to the bit.
    vwap=f"{duckdb_double('quote_volume', 20)} / {duckdb_double('volume', 12)}",
)


class ClickHouseEngine:
    """ClickHouse (embedded, chdb): a MergeTree table ordered by (exchange, symbol, ts), one GROUP BY."""

    def __init__(self, parquet: Path, path: Path) -> None:
        from chdb import session

        self.sess = session.Session(str(path))
        self.q("CREATE DATABASE IF NOT EXISTS bench")
        self.q("DROP TABLE IF EXISTS bench.trades")
        self.q(
            """CREATE TABLE bench.trades (
                trade_date Date, exchange LowCardinality(String), symbol LowCardinality(String),
                ts DateTime64(6, 'UTC'), local_ts Nullable(DateTime64(6, 'UTC')), trade_id String,
                trade_seq Nullable(Int64), side LowCardinality(String), price Decimal(22, 12),
                amount Decimal(28, 12), source_file LowCardinality(String)
            ) ENGINE = MergeTree ORDER BY (exchange, symbol, ts)"""
        )
        self.q(f"INSERT INTO bench.trades SELECT * FROM file('{parquet}', Parquet)")
        self.q("OPTIMIZE TABLE bench.trades FINAL")
        self.bars: pa.Table | None = None

    def q(self, sql: str, fmt: str = "CSV") -> Any:
        return self.sess.query(sql + " SETTINGS session_timezone = 'UTC'", fmt)

    def run(self) -> None:
        self.bars = self.q(CLICKHOUSE_BARS, "ArrowTable")

    def result(self) -> pa.Table:
        assert self.bars is not None
        return self.bars

    def close(self) -> None:
        self.q("DROP DATABASE IF EXISTS bench")
        self.sess.close()


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _us(v: Any) -> int:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return (v - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
    if hasattr(v, "value"):  # pandas Timestamp
        return int(v.value) // 1000
    raise TypeError(f"not a timestamp: {v!r}")


def canonical(t: pa.Table) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Bars keyed by (exchange, symbol, bucket_start in us); decimals as Decimal, timestamps as us."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in t.to_pylist():
        key = (str(r["exchange"]), str(r["symbol"]), _us(r["bucket_start"]))
        bar = {}
        for c in EXACT_COLUMNS:
            v = r[c]
            if c.endswith("_ts"):
                v = _us(v)
            elif c == "trade_count":
                v = int(v)
            else:
                v = Decimal(0) if v is None else Decimal(v)  # a side with no trades sums to 0
            bar[c] = v
        bar["vwap"] = float(r["vwap"])
        out[key] = bar
    return out


def compare(ref: dict[tuple[str, str, int], dict[str, Any]],
            got: dict[tuple[str, str, int], dict[str, Any]]) -> dict[str, Any]:
    """Mismatches of ``got`` against ``ref``: missing/extra bars and differing values, with examples."""
    missing = [k for k in ref if k not in got]
    extra = [k for k in got if k not in ref]
    diffs: list[str] = []
    n_diff = 0
    for k, a in ref.items():
        b = got.get(k)
        if b is None:
            continue
        bad = [c for c in EXACT_COLUMNS if a[c] != b[c]]
        if not math.isclose(a["vwap"], b["vwap"], rel_tol=VWAP_RTOL):
            bad.append("vwap")
        if bad:
            n_diff += 1
            if len(diffs) < 5:
                diffs.append(f"{k}: " + ", ".join(f"{c} {a[c]} != {b[c]}" for c in bad))
    return {"bars": len(got), "missing": len(missing), "extra": len(extra), "differing": n_diff,
            "examples": diffs + [f"missing {k}" for k in missing[:3]] + [f"extra {k}" for k in extra[:3]]}


# --------------------------------------------------------------------------------------------
# Worker entry and the figure
# --------------------------------------------------------------------------------------------


def run_ohlcv_in_process(p: dict[str, Any]) -> dict[str, Any]:
    """Time each engine ``reps`` times, interleaved; compare every engine's bars with DuckDB's."""
    parquet = Path(p["parquet"])
    models = [CompiledModel(**m) for m in json.loads(Path(p["models"]).read_text())]
    work = Path(p["work"])
    engines: list[str] = p.get("engines", list(ENGINES))
    reps = int(p["reps"])
    ready = time.perf_counter()

    def make(name: str) -> Any:
        if name == "duckdb":
            return DuckDBEngine(parquet, models)
        if name == "pandas":
            return PandasEngine(parquet)
        if name == "polars":
            return PolarsEngine(parquet)
        if name == "clickhouse":
            return ClickHouseEngine(parquet, work / "chdb")
        raise ValueError(name)

    times: dict[str, list[float]] = {e: [] for e in engines}
    results: dict[str, dict[tuple[str, str, int], dict[str, Any]]] = {}
    setup: dict[str, float] = {}
    # Every engine holds the day at once (a few GB at 10M trades) so that the rounds can interleave
    # the engines: noise from the (shared) machine then falls on all of them alike.
    live: dict[str, Any] = {}
    for name in engines:
        t0 = time.perf_counter()
        live[name] = make(name)
        setup[name] = time.perf_counter() - t0
    for _ in range(reps):
        for name in engines:
            gc.collect()
            t0 = time.perf_counter()
            live[name].run()
            times[name].append(time.perf_counter() - t0)
    for name in engines:
        results[name] = canonical(live[name].result())
        live[name].close()
    ref = results["duckdb"]
    checks = {name: compare(ref, results[name]) for name in engines if name != "duckdb"}
    sample_key = sorted(ref)[len(ref) // 2] if ref else None
    # Decimals by value: the engines keep quote volume at scale 24 or 20, both exact.
    sample = {name: {k: format(v.normalize(), "f") if isinstance(v, Decimal) else str(v)
                     for k, v in results[name].get(sample_key, {}).items()} for name in engines}
    return {"_ready_at": ready, "times": times, "setup_seconds": setup, "bars": len(ref), "checks": checks,
            "sample_key": list(sample_key) if sample_key else None, "sample": sample}


def ohlcv_params(w: Workload, reps: int, work: Path, engines: list[str] | None = None,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    from bench.common import ensure_workload
    from bench.pipeline_bench import models_for

    ensure_workload(w, log)
    params: dict[str, Any] = {"parquet": str(trades_parquet(w, log)), "models": str(models_for(w.start)),
                              "work": str(work), "reps": reps}
    if engines:
        params["engines"] = engines
    return params


def bench_ohlcv(w: Workload, reps: int, report: Report, log: Callable[[str], None] = print) -> None:
    from bench.common import scratch

    with scratch("ohlcv-") as work:
        params = ohlcv_params(w, reps, work, log=log)
        res = run_worker("ohlcv", params, bench_home() / "logs").data
    ref = median(res["times"]["duckdb"])
    for name in ENGINES:
        value = median(res["times"][name])
        if name == "duckdb":
            report.add(Row("4 ohlcv_1m", f"DuckDB, project ohlcv_1m SQL ({w.describe().split(', ')[0]}, "
                           f"{res['bars']} bars)", value, samples=res["times"][name]))
            continue
        c = res["checks"][name]
        agree = c["missing"] == 0 and c["extra"] == 0 and c["differing"] == 0
        label = {"pandas": "pandas groupby/Grouper(1min)", "polars": "polars group_by_dynamic",
                 "clickhouse": "ClickHouse (chdb) MergeTree"}[name]
        report.add(Row("4 ohlcv_1m", f"{label}; bars agree: {'yes' if agree else 'NO'}", value,
                       reference="DuckDB ohlcv_1m", ref_value=ref, ok=agree, samples=res["times"][name],
                       ref_samples=res["times"]["duckdb"]))
        if not agree:
            report.detail(f"ohlcv {name} mismatches: {c}")
    report.detail(
        f"ohlcv: all {res['bars']} bars compared per engine (counts, open/high/low/close, exact volume, quote "
        f"volume, buy/sell volume, trade count, first/last ts; vwap to {VWAP_RTOL:g} relative). Sample bar "
        f"{res['sample_key']}: " + json.dumps(res["sample"]["duckdb"])
    )
    report.detail("ohlcv: load into each engine (untimed): "
                  + ", ".join(f"{k} {v:.1f}s" for k, v in res["setup_seconds"].items()))
