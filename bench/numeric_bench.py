"""Issue 18: the cost of the exact numeric contract, before (DECIMAL(18,8)) and after, on one simulated day.

* load: ``load_trades`` as it is now vs the same loader with the previous numeric parts put back
  (typed ``read_csv`` to DECIMAL(18,8), the old rules, a DECIMAL(18,8) ``raw.trades``): everything
  else (reject store, rules, transaction, quarantine) is the same code.
* bars: the 1-minute bars of the day with the old expressions (operands widened to DECIMAL(38,8))
  vs the current ones (``price * amount`` as DECIMAL(38,24), narrowed to scale 20 per minute).
* the new loader on a day of the wide-range instruments (12-decimal prices, 1e11-unit amounts).

Each figure is the median of ``reps`` interleaved runs in this process, on a fresh warehouse file:
wall time with DuckDB's default threads, and the process's CPU time (user + system, all threads),
which a machine shared with other work disturbs far less than wall time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import resource
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from bench.common import Report, Row, Workload, bench_home, ensure_workload, median, scratch

_OLD_RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE raw.trades (
    trade_date DATE NOT NULL, exchange VARCHAR NOT NULL, symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL,
    local_ts TIMESTAMP, trade_id VARCHAR NOT NULL, trade_seq BIGINT, side VARCHAR NOT NULL,
    price DECIMAL(18, 8) NOT NULL, amount DECIMAL(18, 8) NOT NULL, source_file VARCHAR NOT NULL
);
"""

_BARS_SQL = """
SELECT exchange, symbol, date_trunc('minute', ts) AS bucket_start,
    arg_min(price, struct_pack(ts := ts, s := coalesce(trade_seq, 0), id := trade_id)) AS open,
    max(price) AS high, min(price) AS low,
    arg_max(price, struct_pack(ts := ts, s := coalesce(trade_seq, 0), id := trade_id)) AS close,
    cast(sum(amount) AS decimal(38, {vscale})) AS volume, {quote} AS quote_volume, count(*) AS trade_count,
    cast(coalesce(sum(amount) FILTER (WHERE side = 'buy'), 0) AS decimal(38, {vscale})) AS buy_volume,
    cast(coalesce(sum(amount) FILTER (WHERE side = 'sell'), 0) AS decimal(38, {vscale})) AS sell_volume
FROM raw.trades GROUP BY ALL
"""
OLD_BARS = _BARS_SQL.format(
    vscale=8, quote="cast(sum(cast(price AS decimal(38, 8)) * cast(amount AS decimal(38, 8))) AS decimal(38, 16))"
)
NEW_BARS = _BARS_SQL.format(vscale=12, quote="cast(sum(price * amount) AS decimal(38, 20))")


def _old_trades_dataset():  # noqa: ANN202 - a loader-private dataclass
    from ingest.datasets import dataset
    from ingest.datasets.spec import fields_line

    def types(header: list[str]) -> dict[str, str]:
        known = {"timestamp": "BIGINT", "local_timestamp": "BIGINT", "price": "DECIMAL(18,8)",
                 "amount": "DECIMAL(18,8)"}
        return {name: known.get(name, "VARCHAR") for name in header}

    rule_case = dataset("trades").rule_case
    start, end = rule_case.index("    WHEN price IS NULL THEN"), rule_case.index("    WHEN exchange || '|'")
    rule_case = rule_case[:start] + rule_case[end:]
    start, end = rule_case.index("    WHEN amount > 10000"), rule_case.index("    WHEN ts_us < $1")
    rule_case = (rule_case[:start] + rule_case[end:]).replace(
        "(price IS NULL AND price_text IS NULL) OR (amount IS NULL AND amount_text IS NULL)",
        "price IS NULL OR amount IS NULL")
    return dataclasses.replace(
        dataset("trades"),
        csv_types=types,
        staged_select=lambda header: ("exchange, symbol, timestamp AS ts_us, local_timestamp AS local_us, "
                                      "id AS trade_id, lower(side) AS side, price, amount"),
        wrap=lambda inner, numbered: inner,
        rule_case=rule_case,
        raw_line_expr=fields_line("exchange", "symbol", "ts_us", "local_us", "trade_id", "side", "price",
                                          "amount"),
    )


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load(landing: Path, day: dt.date, work: Path, old: bool) -> tuple[float, float, Path]:
    from ingest import datasets, loader

    db = work / ("old.duckdb" if old else "new.duckdb")
    con = duckdb.connect(str(db))
    saved = datasets.dataset("trades")
    try:
        if old:  # the old declaration stands in for the registry's for this one load
            con.execute(_OLD_RAW_DDL)
            datasets._BY_NAME["trades"] = _old_trades_dataset()
        t0, c0 = time.perf_counter(), _cpu()
        report = loader.load_trades(con, landing, day)
        con.execute("CHECKPOINT")
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        datasets._BY_NAME["trades"] = saved
        con.close()
    if report.rows_quarantined:
        raise RuntimeError(f"numeric bench: {report.quarantine_by_rule} quarantined on a clean day")
    return seconds, cpu, db


def _bars(db: Path, sql: str) -> tuple[float, float, int]:
    with duckdb.connect(str(db)) as con:
        t0, c0 = time.perf_counter(), _cpu()
        n = con.execute(f"CREATE OR REPLACE TEMP TABLE bars AS {sql}").fetchone()[0]
        return time.perf_counter() - t0, _cpu() - c0, int(n)


def _wide_landing(trades: int, log: Callable[[str], None]) -> tuple[Path, dt.date]:
    from ingest.simulator import simulate_day, wide_range_symbols

    day = dt.date(2024, 1, 2)
    landing = bench_home() / "data" / f"numeric-wide-{trades}"
    marker = landing / f".done-{day}"
    if not marker.exists():
        t0 = time.perf_counter()
        simulate_day(day, landing, symbols=wide_range_symbols(), exchange="simdex", trades_per_day=trades,
                     snapshot_interval_ms=86_400_000)
        marker.write_text("ok")
        log(f"  simulated the wide-range day ({trades} trades) in {time.perf_counter() - t0:.1f}s")
    return landing, day


def bench_numeric(trades: int, reps: int, report: Report, log: Callable[[str], None] = print) -> None:
    w = Workload(trades, snapshot_interval_ms=86_400_000)
    landing = ensure_workload(w, log)
    wide, wide_day = _wide_landing(trades, log)
    keys = ("old_load", "new_load", "old_bars", "new_bars", "wide_load")
    wall: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    for rep in range(reps):
        with scratch("numeric-") as work:
            runs = {"old_load": _load(landing, w.start, work, old=True),
                    "new_load": _load(landing, w.start, work, old=False)}
            runs["old_bars"] = _bars(runs["old_load"][2], OLD_BARS)
            runs["new_bars"] = _bars(runs["new_load"][2], NEW_BARS)
            (work / "wide").mkdir()
            runs["wide_load"] = _load(wide, wide_day, work / "wide", old=False)
        for k in keys:
            wall[k].append(runs[k][0])
            cpu[k].append(runs[k][1])
        log(f"  numeric rep {rep + 1}: load {wall['old_load'][-1]:.2f}s -> {wall['new_load'][-1]:.2f}s "
            f"(cpu {cpu['old_load'][-1]:.2f}s -> {cpu['new_load'][-1]:.2f}s), bars {wall['old_bars'][-1]:.3f}s -> "
            f"{wall['new_bars'][-1]:.3f}s ({runs['old_bars'][2]}/{runs['new_bars'][2]} bars), wide-range day load "
            f"{wall['wide_load'][-1]:.2f}s (cpu {cpu['wide_load'][-1]:.2f}s)")
    size = f"{w.describe().split(', ')[0]}"
    for kind, data in (("wall", wall), ("cpu", cpu)):
        new, old = median(data["new_load"]), median(data["old_load"])
        report.add(Row("numeric", f"load_trades, exact contract, {kind} ({size})", new,
                       reference="same loader, DECIMAL(18,8)", ref_value=old, target="<= 1.2x", ok=new <= 1.2 * old,
                       samples=data["new_load"], ref_samples=data["old_load"]))
        report.add(Row("numeric", f"1m bars, DECIMAL(22,12)/(38,20), {kind} ({size})", median(data["new_bars"]),
                       reference="DECIMAL(18,8)/(38,16)", ref_value=median(data["old_bars"]),
                       samples=data["new_bars"], ref_samples=data["old_bars"]))
        report.add(Row("numeric", f"load_trades, wide-range instruments, {kind} ({size})", median(data["wide_load"]),
                       reference="default universe", ref_value=new, samples=data["wide_load"],
                       ref_samples=data["new_load"]))
