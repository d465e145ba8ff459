"""Issue 23: the derivatives data set against its DuckDB floor, on one simulated day of N quotes and M trades.

* quotes day: ``ingest.loader.load_day(con, landing, day, "quotes")`` into a fresh embedded DuckLake,
  then ``dbt build --select stg_quotes quotes_1m`` for that day (the model and its schema tests, the
  window passed as the Dagster runs pass it, TICKWH_DBT_MIN_DATE/MAX_DATE; a parse state kept between
  runs, as a deployment keeps it), vs the floor: DuckDB alone on a plain native DuckDB file,
  ``read_csv`` of the same gzip into ``raw.quotes`` with the same exact decimal types by the loader's
  own text -> DECIMAL(22,12)/(28,12) cast (``ingest.numeric.parse_sql``), then the compiled SQL of
  ``stg_quotes`` and ``quotes_1m`` (``dbt compile`` of the same window), no tests. Both sides count
  the mart's rows; they must agree.
* as-of join: ``ingest.research.asof_join(hist, symbols, start, end, right="quotes")`` over the day's
  M trades and N quotes in a DuckLake vs DuckDB's own ``ASOF LEFT JOIN`` of the same two tables copied
  into a plain DuckDB file, same columns and order, rows counted on both sides.

``TICKWH_BENCH_DERIVATIVES=asof`` (or ``quotes``) runs only that part of the section (~2 min for the as-of
pair at full size, against ~5 min for both); unset or ``all``, both.

Each timed thing runs in a fresh worker process (``bench.worker``); the pairs are interleaved and the
medians of ``reps`` are reported, as wall time and as CPU time (user + system of the worker and of its
children, dbt included), which a shared machine disturbs far less than wall time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_START,
    N_SYMBOLS,
    Report,
    Row,
    bench_home,
    dbt_bin,
    deployment,
    human_count,
    median,
    run_worker,
    scratch,
)
from ingest.sql import qualified, quote_ident, sql_literal

SECTION = "derivatives"
FLOOR_LABEL = "DuckDB floor (native DuckDB file)"
DAY = BENCH_START
SEED = 7
MODELS = ("stg_quotes", "quotes_1m")
PARTS_ENV = "TICKWH_BENCH_DERIVATIVES"  # "asof", "quotes" or "all" (the default): which pairs to run
PARTS = ("quotes", "asof")


def parts() -> tuple[str, ...]:
    """The section's parts to run, from TICKWH_BENCH_DERIVATIVES (a typo fails, not a silent full run)."""
    value = os.environ.get(PARTS_ENV, "all").strip() or "all"
    if value == "all":
        return PARTS
    if value not in PARTS:
        raise ValueError(f"{PARTS_ENV}={value!r}: expected one of {', '.join(PARTS)} or all")
    return (value,)


def _cpu() -> float:
    """User + system CPU seconds of this process (all threads) and of its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# --------------------------------------------------------------------------------------------
# Data: one simulated day, reused
# --------------------------------------------------------------------------------------------


def landing_of(quotes: int, trades: int) -> Path:
    return bench_home() / "data" / f"deriv_q{quotes}_t{trades}_s{N_SYMBOLS}_seed{SEED}"


def ensure_day(quotes: int, trades: int, log: Callable[[str], None]) -> Path:
    """The day's quotes and trades files (a book snapshot a day per symbol, no ticker or liquidations)."""
    from ingest.simulator import default_symbols, simulate_day

    landing = landing_of(quotes, trades)
    marker = landing / f".done-{DAY}"
    if marker.exists():
        return landing
    t0 = time.perf_counter()
    r = simulate_day(DAY, landing, symbols=default_symbols(N_SYMBOLS), trades_per_day=trades, quotes_per_day=quotes,
                     snapshot_interval_ms=86_400_000, seed=SEED, derivative_ticker=False, liquidations=False)
    marker.write_text(json.dumps({"trades": r.trades, "quotes": r.quotes}))
    log(f"  simulated {landing.name} {DAY}: {r.trades} trades, {r.quotes} quotes in {time.perf_counter() - t0:.1f}s")
    return landing


def ensure_store(quotes: int, trades: int, log: Callable[[str], None]) -> Path:
    """The as-of join's two stores, built once: the day's trades and quotes loaded by the project's
    loader into a DuckLake (``<path>/lake``), and the same two tables copied into a plain DuckDB file
    (``<path>/plain.duckdb``)."""
    from ingest import lake
    from ingest.loader import load_day

    landing = ensure_day(quotes, trades, log)
    path = bench_home() / "derivatives" / f"store_{landing.name}"
    if (path / ".done").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    t0 = time.perf_counter()
    with lake.connect(lake.LakeConfig.embedded(path)) as con:
        for dataset in ("trades", "quotes"):
            r = load_day(con, landing, DAY, dataset)
            if r.rows_quarantined:
                raise RuntimeError(f"derivatives bench: {r.quarantine_by_rule} quarantined on a clean day")
        con.execute(f"ATTACH {sql_literal(str(path / 'plain.duckdb'))} AS plain")
        con.execute("CREATE SCHEMA plain.raw")
        for table in ("trades", "quotes"):
            con.execute(f"CREATE TABLE plain.raw.{table} AS SELECT * FROM raw.{table}")
        con.execute("DETACH plain")
    (path / ".done").write_text("ok")
    log(f"  as-of stores (lake + plain DuckDB file) built in {time.perf_counter() - t0:.0f}s")
    return path


# --------------------------------------------------------------------------------------------
# dbt: parse state and compiled SQL, once per invocation
# --------------------------------------------------------------------------------------------


def dbt_target() -> Path:
    return bench_home() / "derivatives" / "dbt_target"


def window_env() -> dict[str, str]:
    """The day's window the way Dagster runs pass it to dbt (orchestration/lib/dbt.py: env, not --vars)."""
    from orchestration.lib.dbt import WINDOW_ENV

    return {WINDOW_ENV["min_date"]: DAY.isoformat(), WINDOW_ENV["max_date"]: (DAY + dt.timedelta(days=1)).isoformat()}


def dbt_cmd(verb: str, *args: str) -> list[str]:
    from ingest.settings import DBT_PROJECT_DIR

    return [dbt_bin(), verb, "--quiet", *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
            str(DBT_PROJECT_DIR), "--target-path", str(dbt_target()), "--log-path", str(dbt_target() / "logs")]


def prepare_dbt(log: Callable[[str], None]) -> Path:
    """Parse the project into the bench's target (the parse state the timed builds reuse, as a
    deployment's runs reuse theirs) and return the compiled SQL of the two models for the day."""
    from ingest import lake
    from ingest.settings import DBT_PROJECT_DIR, PROJECT_ROOT
    from ingest.warehouse import ensure_raw_schema

    out = bench_home() / "derivatives" / "models.json"
    shutil.rmtree(dbt_target(), ignore_errors=True)
    t0 = time.perf_counter()
    with deployment() as home:
        config = lake.LakeConfig.embedded(home)
        with lake.connect(config) as con:
            ensure_raw_schema(con)
        env = {**os.environ, **config.env(), **window_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        subprocess.run(dbt_cmd("compile", "--select", *MODELS), cwd=PROJECT_ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    manifest = json.loads((dbt_target() / "manifest.json").read_text())
    models = {n["name"]: {"name": n["name"], "schema": n["schema"], "materialized": n["config"]["materialized"],
                          "sql": n["compiled_code"]}
              for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] in MODELS}
    out.write_text(json.dumps([models[m] for m in MODELS]))
    log(f"  dbt parse + compile of {', '.join(MODELS)} in {time.perf_counter() - t0:.1f}s ({DBT_PROJECT_DIR.name})")
    return out


# --------------------------------------------------------------------------------------------
# In the worker
# --------------------------------------------------------------------------------------------


def _floor_quotes_sql(path: Path) -> str:
    from ingest import numeric
    from ingest.datasets.quotes import HEADER

    types = {n: ("BIGINT" if n.endswith("timestamp") else "VARCHAR") for n in HEADER}
    cols = "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(t)}" for n, t in types.items()) + "}"
    kinds = {"bid_price": numeric.PRICE_SQL, "bid_amount": numeric.AMOUNT_SQL, "ask_price": numeric.PRICE_SQL,
             "ask_amount": numeric.AMOUNT_SQL}
    values = ", ".join(numeric.parse_sql(c, t) for c, t in kinds.items())
    return f"""INSERT INTO raw.quotes SELECT DATE {sql_literal(DAY.isoformat())}, exchange, symbol,
        make_timestamp(timestamp), make_timestamp(local_timestamp), {values}, {sql_literal(path.name)}
        FROM read_csv({sql_literal(str(path))}, header = true, columns = {cols}, auto_detect = false,
                      delim = ',', quote = '"')"""


def run_quotes_floor(p: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from ingest.landing import find_landing_files
    from ingest.warehouse import ensure_raw_schema

    models = json.loads(Path(p["models"]).read_text())
    files = [lf.path for lf in find_landing_files(Path(p["landing"]), "quotes", DAY)]
    ready, c0 = time.perf_counter(), _cpu()
    con = duckdb.connect(p["db"])  # lake.duckdb: the compiled SQL names the catalog `lake`
    con.execute("SET enable_progress_bar = false")
    ensure_raw_schema(con)
    for f in files:
        con.execute(_floor_quotes_sql(f))
    t_load = time.perf_counter()
    con.execute("CREATE SCHEMA IF NOT EXISTS staging; CREATE SCHEMA IF NOT EXISTS marts")
    for m in models:
        kind = "VIEW" if m["materialized"] == "view" else "TABLE"
        con.execute(f'CREATE {kind} {qualified(m["schema"], m["name"])} AS {m["sql"]}')
    con.close()  # the checkpoint, as the pipeline's connections do
    end, cpu = time.perf_counter(), _cpu() - c0
    with duckdb.connect(p["db"], read_only=True) as con:
        mart_rows = con.execute('SELECT count(*) FROM marts."quotes_1m"').fetchone()[0]
        quotes = con.execute("SELECT count(*) FROM raw.quotes").fetchone()[0]
    return {"_ready_at": ready, "seconds": end - ready, "cpu": cpu, "load_seconds": t_load - ready,
            "sql_seconds": end - t_load, "mart_rows": mart_rows, "quotes": quotes}


def run_quotes_pipeline(p: dict[str, Any]) -> dict[str, Any]:
    from ingest import lake
    from ingest.loader import load_day
    from ingest.settings import PROJECT_ROOT

    home, landing = Path(p["home"]), Path(p["landing"])
    config = lake.LakeConfig.embedded(home)
    env = {**os.environ, **config.env(), **window_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    ready, c0 = time.perf_counter(), _cpu()
    with lake.connect(config) as con:
        report = load_day(con, landing, DAY, "quotes")
    t_load, c_load = time.perf_counter(), _cpu()
    subprocess.run(dbt_cmd("build", "--select", *MODELS, "--exclude", "source:raw"), cwd=PROJECT_ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    end, cpu = time.perf_counter(), _cpu() - c0
    results = json.loads((dbt_target() / "run_results.json").read_text())["results"]
    nodes = {r["unique_id"].split(".")[-1] if r["unique_id"].startswith("model.") else "tests": 0.0 for r in results}
    for r in results:
        key = r["unique_id"].split(".")[-1] if r["unique_id"].startswith("model.") else "tests"
        nodes[key] += r["execution_time"]
    with lake.connect(config, read_only=True) as con:
        mart_rows = con.execute("SELECT count(*) FROM marts.quotes_1m").fetchone()[0]
    if report.rows_quarantined:
        raise RuntimeError(f"derivatives bench: {report.quarantine_by_rule} quarantined on a clean day")
    return {"_ready_at": ready, "seconds": end - ready, "cpu": cpu, "load_seconds": t_load - ready,
            "load_cpu": c_load - c0, "dbt_seconds": end - t_load, "dbt_cpu": cpu - (c_load - c0),
            "dbt_nodes": nodes, "tests": sum(1 for r in results if not r["unique_id"].startswith("model.")),
            "mart_rows": mart_rows, "quotes": report.rows_loaded}


def _asof_floor_sql() -> str:
    """DuckDB's ASOF LEFT JOIN: asof_join's columns (quotes, no tolerance) and order."""
    from ingest.research.columns import TRADE_COLUMNS

    quote = ", ".join(f"q.{c} AS {'quote_' + c if c in ('ts', 'local_ts') else c}"
                      for c in ("ts", "local_ts", "bid_price", "bid_amount", "ask_price", "ask_amount"))
    return f"""SELECT {', '.join(f't.{quote_ident(c)}' for c in TRADE_COLUMNS)}, {quote}
        FROM raw.trades t ASOF LEFT JOIN raw.quotes q
          ON t.exchange = q.exchange AND t.symbol = q.symbol AND t.ts >= q.ts
        WHERE t.ts >= ? AND t.ts < ?
        ORDER BY t.ts, t.exchange, t.symbol, coalesce(t.trade_seq, 0), t.trade_id"""


def run_asof(p: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from ingest import lake

    path = Path(p["store"])
    lo = dt.datetime.combine(DAY, dt.time())
    hi = lo + dt.timedelta(days=1)
    # DuckDB imports pyarrow and pandas lazily on its first Arrow answer: not timed (as in research_bench).
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    with duckdb.connect() as warm:
        warm.execute("SELECT 1 AS x").to_arrow_reader(1).read_all()
    rows = 0
    if p["what"] == "asof":
        from ingest.history import HistoricalData
        from ingest.research import asof_join

        hist = HistoricalData(lake.LakeConfig.embedded(path))
        with lake.connect(lake.LakeConfig.embedded(path), read_only=True) as con:
            symbols = [r[0] for r in con.execute("SELECT DISTINCT symbol FROM raw.trades ORDER BY 1").fetchall()]
            quotes = con.execute("SELECT count(*) FROM raw.quotes").fetchone()[0]
        ready, c0 = time.perf_counter(), _cpu()
        for b in asof_join(hist, symbols, lo, hi, right="quotes").batches():
            rows += b.num_rows
    else:
        with duckdb.connect(str(path / "plain.duckdb"), read_only=True) as con:
            quotes = con.execute("SELECT count(*) FROM raw.quotes").fetchone()[0]
        ready, c0 = time.perf_counter(), _cpu()
        with duckdb.connect(str(path / "plain.duckdb"), read_only=True) as con:
            for b in con.execute(_asof_floor_sql(), [lo, hi]).to_arrow_reader(1 << 17):
                rows += b.num_rows
    return {"_ready_at": ready, "seconds": time.perf_counter() - ready, "cpu": _cpu() - c0, "rows": rows,
            "quotes": quotes}


def run_derivatives_in_process(p: dict[str, Any]) -> dict[str, Any]:
    what = p["what"]
    if what == "quotes_pipeline":
        return run_quotes_pipeline(p)
    if what == "quotes_floor":
        return run_quotes_floor(p)
    if what in ("asof", "asof_floor"):
        return run_asof(p)
    raise ValueError(what)


# --------------------------------------------------------------------------------------------
# In the parent
# --------------------------------------------------------------------------------------------


def _pair_rows(what: str, reference: str, target: str, limit: float, ours: list[dict[str, Any]],
               floor: list[dict[str, Any]], report: Report, ok_extra: bool = True) -> list[Row]:
    rows = []
    for kind, key in (("wall", "seconds"), ("cpu", "cpu")):
        a, b = [r[key] for r in ours], [r[key] for r in floor]
        rows.append(report.add(Row(SECTION, f"{what}, {kind}", median(a), reference=reference, ref_value=median(b),
                                   target=target, ok=ok_extra and median(a) <= limit * median(b),
                                   samples=a, ref_samples=b)))
    return rows


def bench_derivatives(quotes: int, trades: int, reps: int, report: Report,
                      log: Callable[[str], None] = print) -> None:
    landing = ensure_day(quotes, trades, log)
    run = parts()
    load = os.getloadavg()
    if "quotes" in run:
        _bench_quotes_day(landing, quotes, trades, reps, report, load, log)
    if "asof" in run:
        _bench_asof(ensure_store(quotes, trades, log), reps, report, load, log)


def _bench_quotes_day(landing: Path, quotes: int, trades: int, reps: int, report: Report,
                      load: tuple[float, float, float], log: Callable[[str], None]) -> None:
    """A quotes day through the loader and dbt vs DuckDB alone: interleaved."""
    models = prepare_dbt(log)
    logs = bench_home() / "logs"
    pipe, floor = [], []
    for rep in range(reps):
        with scratch("deriv-floor-") as work:
            floor.append(run_worker("derivatives", {"what": "quotes_floor", "db": str(work / "lake.duckdb"),
                                                    "landing": str(landing), "models": str(models)}, logs).data)
        with deployment() as home:
            pipe.append(run_worker("derivatives", {"what": "quotes_pipeline", "home": str(home),
                                                   "landing": str(landing)}, logs).data)
        log(f"  quotes rep {rep + 1}: pipeline {pipe[-1]['seconds']:.2f}s (cpu {pipe[-1]['cpu']:.2f}s; load "
            f"{pipe[-1]['load_seconds']:.2f}s, dbt {pipe[-1]['dbt_seconds']:.2f}s), floor {floor[-1]['seconds']:.2f}s "
            f"(cpu {floor[-1]['cpu']:.2f}s; load {floor[-1]['load_seconds']:.2f}s, SQL {floor[-1]['sql_seconds']:.2f}s)"
            f"; mart rows {pipe[-1]['mart_rows']} / {floor[-1]['mart_rows']}")
    same = len({r["mart_rows"] for r in pipe + floor}) == 1
    n = human_count(pipe[0]["quotes"])
    _pair_rows(f"quotes day ({n} quotes): load_day + dbt build stg_quotes quotes_1m; mart rows agree: "
               f"{'yes' if same else 'NO'}", FLOOR_LABEL, "<= 2x floor", 2.0, pipe, floor, report, same)

    def med(rs: list[dict[str, Any]], key: str) -> float:
        return median([r[key] for r in rs])

    nodes = sorted({k for r in pipe for k in r["dbt_nodes"]})
    report.detail(
        f"derivatives ({n} quotes, {human_count(trades)} trades, {N_SYMBOLS} symbols, {DAY}; load average at the "
        f"section's start {' '.join(f'{x:.2f}' for x in load)}): quotes pipeline (median) load_day "
        f"{med(pipe, 'load_seconds'):.2f}s (cpu {med(pipe, 'load_cpu'):.2f}s), dbt build "
        f"{med(pipe, 'dbt_seconds'):.2f}s (cpu {med(pipe, 'dbt_cpu'):.2f}s; dbt's own node times: "
        + ", ".join(f"{k} {median([r['dbt_nodes'].get(k, 0.0) for r in pipe]):.2f}s" for k in nodes)
        + f", {pipe[0]['tests']} tests); floor read_csv + exact cast {med(floor, 'load_seconds'):.2f}s, "
        f"compiled SQL {med(floor, 'sql_seconds'):.2f}s; quotes_1m rows {pipe[0]['mart_rows']}"
    )


def _bench_asof(store: Path, reps: int, report: Report, load: tuple[float, float, float],
                log: Callable[[str], None]) -> None:
    """asof_join over the day's trades with the quotes in force vs DuckDB's ASOF JOIN: interleaved."""
    logs = bench_home() / "logs"
    ours, fl = [], []
    for rep in range(reps):
        ours.append(run_worker("derivatives", {"what": "asof", "store": str(store)}, logs).data)
        fl.append(run_worker("derivatives", {"what": "asof_floor", "store": str(store)}, logs).data)
        log(f"  asof rep {rep + 1}: asof_join {ours[-1]['seconds']:.2f}s (cpu {ours[-1]['cpu']:.2f}s, "
            f"{ours[-1]['rows']} rows), DuckDB ASOF {fl[-1]['seconds']:.2f}s (cpu {fl[-1]['cpu']:.2f}s, "
            f"{fl[-1]['rows']} rows); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    agree = len({r["rows"] for r in ours + fl}) == 1
    _pair_rows(f"asof_join right=quotes, {human_count(ours[0]['rows'])} trades x {human_count(ours[0]['quotes'])} "
               f"quotes; rows agree: {'yes' if agree else 'NO'}", "DuckDB ASOF JOIN, plain DuckDB file", "<= 1.5x",
               1.5, ours, fl, report, agree)
    report.detail(f"derivatives: as-of rows {ours[0]['rows']} (asof_join) vs {fl[0]['rows']} (DuckDB's as-of join); "
                  "no tolerance; the floor reads the same two tables copied from the lake into a plain DuckDB file; "
                  f"load average at the section's start {' '.join(f'{x:.2f}' for x in load)}")


if __name__ == "__main__":  # python -m bench.derivatives_bench: a quick standalone run
    from bench.common import render_table

    r = Report()
    bench_derivatives(200_000, 100_000, 1, r)
    print(render_table(r.rows))
    for d in r.details:
        print(f"- {d}")
