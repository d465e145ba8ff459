"""Figure 6: the research API (ingest.research) against its DuckDB floor and pandas.

Two warehouses, built once with the project's loader (and dbt for marts.ohlcv_1m) and cached:

* day:   one day of `--research-day-trades` trades (20 symbols, a 5-level snapshot a second per symbol);
* month: 30 days of `--research-month-trades` trades a day (20 symbols, a snapshot a minute), with 1m bars.

Figures, each in a fresh worker process (peak RSS of its tree), medians of `--reps`:

* as-of join of the day's trades with the book (tolerance 5 s): `asof_join` vs DuckDB's own
  ASOF JOIN on the warehouse tables with the same output and order (the floor), vs pandas
  merge_asof on frames already in memory (loading them is not timed);
* 4h bars (tz America/New_York) of 20 symbols over the 30 days: from the 1m mart vs from trades;
* replay of the day (trades + snapshots of 20 symbols): events/s as Arrow batches and as Python tuples;
* one symbol-hour of trades from the 30-day store (p50/p95 over 40 random hours), and one symbol's
  month of trades (`iter_batches`, ordered) vs one DuckDB query of the same rows (the floor).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Report, Row, Workload, bench_home, dbt_bin, ensure_workload, median, run_worker
from ingest import lake
from ingest.settings import DBT_PROJECT_DIR, PROJECT_ROOT

TOLERANCE_S = 5


def _store(w: Workload, marts: bool, log: Callable[[str], None]) -> Path:
    """The warehouse of `w` (raw tables, and marts.ohlcv_1m when `marts`), built once."""

    from ingest.loader import load_book_snapshots, load_trades

    # A home folder whose embedded lake (`<path>/lake`) holds the days.
    path = bench_home() / "research" / f"{w.name}_d{w.days}_{w.start}"
    marker = path / ".done"
    if marker.exists():
        return path
    ensure_workload(w, log)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    t0 = time.perf_counter()
    with lake.connect(lake.LakeConfig.embedded(path)) as con:
        for i in range(1, w.days + 1):
            load_trades(con, w.landing, w.day(i))
            load_book_snapshots(con, w.landing, w.day(i))
    log(f"  loaded {w.describe()} into {path.name} in {time.perf_counter() - t0:.0f}s")
    if marts:
        env = {**os.environ, **lake.LakeConfig.embedded(path).env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        subprocess.run([dbt_bin(), "run", "--select", "+ohlcv_1m", "--project-dir", str(DBT_PROJECT_DIR),
                        "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(path / "dbt_target")],
                       cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
        log(f"  built marts.ohlcv_1m in {time.perf_counter() - t0:.0f}s (with the load)")
    marker.write_text("ok")
    return path


# --------------------------------------------------------------------------------------------
# In the worker
# --------------------------------------------------------------------------------------------


def _symbols(con: Any) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT symbol FROM raw.trades ORDER BY 1").fetchall()]


def run_research_in_process(p: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from ingest.history import HistoricalData
    from ingest.research import asof_join, get_bars, replay

    path = Path(p["warehouse"])
    hist = HistoricalData(lake.LakeConfig.embedded(path))
    # DuckDB imports pyarrow and pandas lazily on its first Arrow answer (seconds on a busy machine): not timed.
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    with duckdb.connect() as warm:
        warm.execute("SELECT 1 AS x").to_arrow_reader(1).read_all().to_pandas()
    with lake.connect(lake.LakeConfig.embedded(path), read_only=True) as con:
        symbols = _symbols(con)
        first, last = con.execute("SELECT min(trade_date), max(trade_date) FROM raw.trades").fetchone()
    lo, hi = dt.datetime.combine(first, dt.time()), dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    what = p["what"]
    out: dict[str, Any] = {"_ready_at": time.perf_counter()}
    t0 = time.perf_counter()
    rows = 0
    if what == "asof":
        for b in asof_join(hist, symbols, lo, hi, tolerance=f"{TOLERANCE_S}s").batches():
            rows += b.num_rows
    elif what == "asof_floor":
        rows = _asof_floor(path, lo, hi)
    elif what == "asof_pandas":
        left, right = _pandas_frames(hist, symbols, lo, hi)
        out["_ready_at"] = t0 = time.perf_counter()
        import pandas as pd

        rows = len(pd.merge_asof(left, right, on="ts", by=["exchange", "symbol"],
                                 tolerance=pd.Timedelta(seconds=TOLERANCE_S)))
    elif what in ("bars_1m", "bars_trades"):
        table = get_bars(hist, symbols, "4h", lo, hi, tz="America/New_York",
                         source="1m" if what == "bars_1m" else "trades").to_arrow()
        rows = table.num_rows
        out["checksum"] = str(sum(table.column("volume").to_pylist()))
    elif what == "replay_batches":
        for b in replay(hist, symbols, lo, hi).batches():
            rows += b.num_rows
    elif what == "replay_events":
        for _ in replay(hist, symbols, lo, hi).events():
            rows += 1
    elif what == "hour":
        rng = random.Random(7)
        times = []
        for _ in range(40):
            start = lo + dt.timedelta(hours=rng.randrange(int((hi - lo).total_seconds() // 3600)))
            t = time.perf_counter()
            n = sum(b.num_rows for b in hist.iter_batches("trades", [symbols[0]], start, start + dt.timedelta(hours=1)))
            times.append(time.perf_counter() - t)
            rows += n
        out["times"] = times
    elif what == "month":
        for b in hist.iter_batches("trades", [symbols[0]], lo, hi, batch_rows=p.get("batch_rows", 1 << 17)):
            rows += b.num_rows
    elif what == "month_floor":
        with lake.connect(lake.LakeConfig.embedded(path), read_only=True) as con:
            rows = con.execute(
                "SELECT * FROM raw.trades WHERE symbol = ? AND ts >= ? AND ts < ? "
                "ORDER BY ts, exchange, symbol, trade_seq NULLS LAST, trade_id", [symbols[0], lo, hi]
            ).to_arrow_table().num_rows
    else:
        raise ValueError(what)
    out["seconds"] = time.perf_counter() - t0
    out["rows"] = rows
    return out


def _asof_floor(path: Path, lo: dt.datetime, hi: dt.datetime) -> int:
    """DuckDB's ASOF JOIN on the warehouse tables: same columns, tolerance rule and order as asof_join."""

    book = ["ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount"]
    cols = ", ".join(f"CASE WHEN t.ts - b.ts <= INTERVAL {TOLERANCE_S} SECOND THEN b.{c} END AS "
                     f"{'book_' + c if c in ('ts', 'local_ts') else c}" for c in book)
    sql = f"""SELECT t.exchange, t.symbol, t.ts, t.local_ts, t.trade_id, t.trade_seq, t.side, t.price, t.amount, {cols}
        FROM raw.trades t ASOF LEFT JOIN raw.book_snapshots b
          ON t.exchange = b.exchange AND t.symbol = b.symbol AND t.ts >= b.ts
        WHERE t.ts >= ? AND t.ts < ?
        ORDER BY t.ts, t.exchange, t.symbol, coalesce(t.trade_seq, 0), t.trade_id"""
    rows = 0
    with lake.connect(lake.LakeConfig.embedded(path), read_only=True) as con:
        for b in con.execute(sql, [lo, hi]).to_arrow_reader(1 << 17):
            rows += b.num_rows
    return rows


def _pandas_frames(hist: Any, symbols: list[str], lo: dt.datetime, hi: dt.datetime) -> tuple[Any, Any]:
    import pandas as pd

    from ingest.research.columns import BOOK_TOP_COLUMNS, TRADE_COLUMNS

    def frame(dataset: str, cols: list[str], lo_: dt.datetime) -> pd.DataFrame:
        import pyarrow as pa

        return pa.Table.from_batches(list(hist.iter_batches(dataset, symbols, lo_, hi, columns=cols))).to_pandas()

    left = frame("trades", TRADE_COLUMNS, lo)
    left["_seq"] = left["trade_seq"].fillna(0)
    left = left.sort_values(["ts", "exchange", "symbol", "_seq", "trade_id"], kind="stable").drop(columns="_seq")
    right = frame("book_snapshots", BOOK_TOP_COLUMNS, lo - dt.timedelta(seconds=TOLERANCE_S))
    right = right.sort_values(["ts", "local_ts", "depth"], kind="stable").rename(columns={"local_ts": "book_local_ts"})
    right["book_ts"] = right["ts"]
    return left, right


# --------------------------------------------------------------------------------------------
# In the parent
# --------------------------------------------------------------------------------------------


def bench_research(day: Workload, month: Workload, reps: int, report: Report,
                   log: Callable[[str], None] = print) -> None:
    day_db = _store(day, marts=False, log=log)
    month_db = _store(month, marts=True, log=log)
    logs = bench_home() / "logs"

    def measure(what: str, db: Path, n: int = reps, **extra: Any) -> tuple[list[float], list[float], dict]:
        secs, peaks, last = [], [], {}
        for _ in range(n):
            r = run_worker("research", {"warehouse": str(db), "what": what, **extra}, logs)
            secs.append(r.data["seconds"])
            peaks.append(r.peak_rss / 2**20)
            last = r.data
        log(f"   {what}: {[round(s, 2) for s in secs]} s, peak {max(peaks):.0f} MB, {last['rows']} rows")
        return secs, peaks, last

    sec = "6 research"
    # As-of join: ours, the DuckDB floor, pandas (interleaved so load drifts hit all alike)
    ours, floor, pandas_ = [], [], []
    peaks: dict[str, list[float]] = {"ours": [], "floor": [], "pandas": []}
    rows = {}
    for _ in range(reps):
        for name, what, acc in (("ours", "asof", ours), ("floor", "asof_floor", floor),
                                ("pandas", "asof_pandas", pandas_)):
            s, pk, d = measure(what, day_db, 1)
            acc += s
            peaks[name] += pk
            rows[name] = d["rows"]
    agree = len(set(rows.values())) == 1
    n = human_count_rows(rows["ours"])
    report.add(Row(sec, f"asof_join, {n} trades x book, tolerance {TOLERANCE_S}s (peak {max(peaks['ours']):.0f} MB)",
                   median(ours), reference=f"DuckDB ASOF JOIN floor (peak {max(peaks['floor']):.0f} MB)",
                   ref_value=median(floor), target="<= 1.5x", ok=median(ours) <= 1.5 * median(floor),
                   samples=ours, ref_samples=floor))
    report.add(Row(sec, f"pandas merge_asof on frames in memory (peak {max(peaks['pandas']):.0f} MB); rows agree: "
                   f"{'yes' if agree else 'NO'}", median(pandas_), reference="asof_join", ref_value=median(ours),
                   samples=pandas_, ref_samples=ours))

    # 4h New York bars over the month: from 1m bars vs from trades
    b1, _, d1 = measure("bars_1m", month_db)
    bt, _, dt_ = measure("bars_trades", month_db)
    same = d1["checksum"] == dt_["checksum"] and d1["rows"] == dt_["rows"]
    report.add(Row(sec, f"4h bars (New York), 20 symbols x 30 days, from marts.ohlcv_1m ({d1['rows']} bars)",
                   median(b1), reference="the same bars from trades", ref_value=median(bt),
                   ok=same, target="equal bars", samples=b1, ref_samples=bt))

    # Replay throughput
    rb, pb, drb = measure("replay_batches", day_db)
    re_, pe, _ = measure("replay_events", day_db)
    eps_b, eps_e = drb["rows"] / median(rb), drb["rows"] / median(re_)
    report.add(Row(sec, f"replay {human_count_rows(drb['rows'])} events as Arrow batches (peak {max(pb):.0f} MB)",
                   round(eps_b / 1e6, 2), unit="M events/s", target=">= 1M events/s", ok=eps_b >= 1e6,
                   samples=[drb["rows"] / s / 1e6 for s in rb]))
    report.add(Row(sec, f"replay as Python Event tuples (peak {max(pe):.0f} MB)", round(eps_e / 1e6, 2),
                   unit="M events/s", target=">= 1M events/s", ok=eps_e >= 1e6,
                   samples=[drb["rows"] / s / 1e6 for s in re_]))

    # One symbol-hour from the month; one symbol's month vs its floor
    _, _, dh = measure("hour", month_db, 1)
    times = sorted(dh["times"])
    p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95) - 1]
    report.add(Row(sec, f"one symbol-hour of trades from the 30-day store, p50 (p95 {p95 * 1000:.0f} ms)",
                   round(p50 * 1000, 1), unit="ms", samples=[t * 1000 for t in dh["times"]]))
    mo, pm, dm = measure("month", month_db)
    mf, pf, _ = measure("month_floor", month_db)
    report.add(Row(sec, f"one symbol's month ({human_count_rows(dm['rows'])} trades) in 128k-row batches "
                   f"(peak {max(pm):.0f} MB)", median(mo), reference=f"one DuckDB query, whole table "
                   f"(peak {max(pf):.0f} MB)", ref_value=median(mf), target="< 2x", ok=median(mo) < 2 * median(mf),
                   samples=mo, ref_samples=mf))
    report.detail(f"research: day store {day.describe()}; month store {month.describe()}; "
                  f"as-of rows {rows}")


def human_count_rows(n: float) -> str:
    from bench.common import human_count

    return human_count(n)


if __name__ == "__main__":  # python -m bench.research_bench: a quick standalone run
    from bench.common import render_table

    r = Report()
    bench_research(Workload(200_000), Workload(20_000, days=30, snapshot_interval_ms=60_000), 1, r)
    print(render_table(r.rows))
    sys.exit(0)
