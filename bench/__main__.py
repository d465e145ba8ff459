"""`make bench` / `python -m bench`: the pipeline against its engine floor and against other tools.

Sections (``--only`` takes one or more, comma separated):

  partition    figures 1 and 5: a 10M- and a 3M-trade day through daily_pipeline vs the DuckDB floor; fixed
               overhead; peak RSS
  launch       issue 26: a one-trade day launched as a real run (`dagster job execute`, process start to exit)
  incremental  figure 2: day 30 on a warehouse with 29 days vs day 1 on an empty one
  backfill     figure 3: 30 days of 1M trades as one ranged run vs 30 runs, and vs the DuckDB floor of the 30 days
  backfill_small  figure 3 on 100k-trade days with a snapshot a minute: where per-run fixed cost dominates
  ohlcv        figure 4: 1m bars, project SQL on DuckDB vs pandas, polars, ClickHouse (chdb)
  numeric      issue 18: load and 1m bars with the exact numeric contract vs DECIMAL(18,8) (3M-trade day)
  research     figure 6: as-of join vs DuckDB ASOF and pandas; 4h bars from 1m vs trades; replay; symbol-hour reads
  lake         issue 13: read latency p50/p95 on the DuckLake vs the single DuckDB file, quiet and during a backfill
  derivatives  issue 23: a quotes day (load_day + dbt quotes_1m) vs the DuckDB floor; asof_join on quotes vs DuckDB ASOF
  live, cold   other benches (bench/live_bench.py, bench/cold_bench.py), only when named and present
  distributed  issue 25: 2-16 concurrent writers on a PostgreSQL-catalog lake; a backfill on 1 vs 2 Celery workers
               (bench/distributed_bench.py, only when named)

The pipeline writes the warm warehouse, a DuckLake (SQLite catalog + Parquet files under the run's
home); the DuckDB floor is DuckDB alone on a plain native DuckDB file, the baseline the lake is
measured against.

Every figure is measured in the same invocation as its reference, ``--reps`` times (interleaved),
and the median is reported. Data is simulated once into ``$TICKWH_HOME/bench/data`` and reused.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.common import Report, Workload, bench_home, machine_description, memory_method, render_table

SECTIONS = ("partition", "launch", "incremental", "backfill", "backfill_small", "ohlcv", "numeric", "research", "lake",
            "derivatives")
OPTIONAL = ("live", "cold", "distributed")
RESULTS = Path(__file__).resolve().parent / "results"

DAY_MS = 86_400_000


def workloads(args: argparse.Namespace) -> dict[str, Workload]:
    if args.quick:
        small = Workload(100_000, snapshot_interval_ms=60_000)
        hist = Workload(20_000, days=3, snapshot_interval_ms=60_000)
        return {"partition": small, "partition_mid": Workload(30_000, snapshot_interval_ms=60_000),
                "fixed": Workload(1, snapshot_interval_ms=DAY_MS), "incremental": hist,
                "backfill": hist, "backfill_small": hist, "ohlcv": small, "numeric": small, "research": small,
                "research_month": Workload(20_000, days=30, snapshot_interval_ms=60_000),
                "lake": Workload(20_000, days=2, snapshot_interval_ms=60_000)}
    return {
        "partition": Workload(args.partition_trades),
        **({"partition_mid": Workload(args.partition_mid_trades)} if args.partition_mid_trades else {}),
        "fixed": Workload(1, snapshot_interval_ms=DAY_MS),
        "incremental": Workload(args.incremental_trades, days=30),
        "backfill": Workload(args.backfill_trades, days=30, snapshot_interval_ms=args.backfill_snapshot_ms),
        "backfill_small": Workload(100_000, days=30, snapshot_interval_ms=60_000),
        "ohlcv": Workload(args.ohlcv_trades),
        "numeric": Workload(args.numeric_trades, snapshot_interval_ms=DAY_MS),
        "research": Workload(args.research_day_trades),
        "research_month": Workload(args.research_month_trades, days=30, snapshot_interval_ms=60_000),
        "lake": Workload(args.lake_trades, days=2, snapshot_interval_ms=10_000),
    }


def derivative_sizes(args: argparse.Namespace) -> tuple[int, int]:
    """Quotes and trades of the derivatives day (issue 23: 20M quotes, 10M trades)."""
    return (200_000, 100_000) if args.quick else (args.derivatives_quotes, args.derivatives_trades)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_optional(name: str, extra: str, report: Report) -> None:
    module = f"bench.{name}_bench"
    if importlib.util.find_spec(module) is None:
        report.note(f"--only {name}: {module} does not exist; skipped")
        return
    cmd = [sys.executable, "-m", module, *extra.split()]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    print(proc.stdout)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        report.note(f"{module} failed with exit code {proc.returncode}")
    report.detail(f"{module} output:\n\n```\n{proc.stdout.strip()}\n```")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repetition: a smoke run of a few minutes")
    p.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS + OPTIONAL)}")
    p.add_argument("--reps", type=int, default=None, help="repetitions per figure (default 3, --quick 1)")
    p.add_argument("--save", action="store_true", help="write bench/results/latest.md")
    p.add_argument("--partition-trades", type=int, default=10_000_000)
    p.add_argument("--partition-mid-trades", type=int, default=3_000_000,
                   help="trades of the partition section's second, smaller day (issue 26's 3M-trade day; 0: none)")
    p.add_argument("--incremental-trades", type=int, default=1_000_000)
    p.add_argument("--backfill-trades", type=int, default=1_000_000, help="trades per day of the 30-day backfill")
    p.add_argument("--backfill-snapshot-ms", type=int, default=1000,
                   help="snapshot interval of the backfill days")
    p.add_argument("--backfill-reps", type=int, default=None,
                   help="repetitions of the backfill pair (default 1: each is already 30 runs vs a 30-day run)")
    p.add_argument("--ohlcv-trades", type=int, default=10_000_000)
    p.add_argument("--numeric-trades", type=int, default=3_000_000)
    p.add_argument("--lake-trades", type=int, default=1_000_000, help="trades per day of the lake read-latency store")
    p.add_argument("--lake-backfill-seconds", type=float, default=90.0,
                   help="how long the backfill beside the lake readers runs")
    p.add_argument("--research-day-trades", type=int, default=10_000_000, help="trades of the as-of/replay day")
    p.add_argument("--research-month-trades", type=int, default=1_000_000,
                   help="trades per day of the research section's 30-day store")
    p.add_argument("--derivatives-quotes", type=int, default=20_000_000, help="quotes of the derivatives day")
    p.add_argument("--derivatives-trades", type=int, default=10_000_000,
                   help="trades of the derivatives day (the as-of join's left side)")
    p.add_argument("--section-args", default="", help="arguments passed to the live/cold benches")
    args = p.parse_args(argv)
    args.sections = [s for s in args.only.split(",") if s] if args.only else list(SECTIONS)
    unknown = set(args.sections) - set(SECTIONS + OPTIONAL)
    if unknown:
        p.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS + OPTIONAL}")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.backfill_reps is None:
        args.backfill_reps = 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench.derivatives_bench import bench_derivatives
    from bench.lake_bench import bench_lake
    from bench.launch_bench import bench_launch
    from bench.numeric_bench import bench_numeric
    from bench.ohlcv_bench import bench_ohlcv
    from bench.pipeline_bench import PipelineConfig, bench_backfill, bench_incremental, bench_partition
    from bench.research_bench import bench_research

    def log(msg: str) -> None:
        print(msg, flush=True)

    machine = machine_description()
    w = workloads(args)
    report = Report()
    cfg = PipelineConfig(reps=args.reps, partition=w["partition"], fixed=w["fixed"], incremental=w["incremental"],
                         backfill_reps=args.backfill_reps, log=log, partition_mid=w.get("partition_mid"))
    log(f"bench: sections {', '.join(args.sections)}; {args.reps} repetition(s), medians; cache {bench_home()}")
    started = time.perf_counter()
    runners = {
        "partition": lambda: bench_partition(cfg, report),
        "launch": lambda: bench_launch(cfg, report),
        "incremental": lambda: bench_incremental(cfg, report),
        "backfill": lambda: bench_backfill(cfg, report, w["backfill"], "3 backfill"),
        "backfill_small": lambda: bench_backfill(cfg, report, w["backfill_small"], "3 backfill, small days"),
        "ohlcv": lambda: bench_ohlcv(w["ohlcv"], args.reps, report, log),
        "numeric": lambda: bench_numeric(w["numeric"].trades_per_day, args.reps, report, log),
        "research": lambda: bench_research(w["research"], w["research_month"], args.reps, report, log),
        "lake": lambda: bench_lake(w["lake"], 10 if args.quick else 30,
                                   15.0 if args.quick else args.lake_backfill_seconds, report, log),
        "derivatives": lambda: bench_derivatives(*derivative_sizes(args), args.reps, report, log),
    }
    failed: list[str] = []
    for i, section in enumerate(args.sections):
        t0, load0 = time.perf_counter(), _load()
        log(f"== {section} (load average {load0})")
        try:
            if section in OPTIONAL:
                run_optional(section, args.section_args, report)
            else:
                runners[section]()
        except Exception as exc:  # one section's failure must not lose the others' figures
            failed.append(section)
            report.note(f"section {section} FAILED: {type(exc).__name__}: {str(exc)[-500:]}")
            traceback.print_exc()
        took = time.perf_counter() - t0
        log(f"   {section} done in {took:.0f}s (load average {_load()})")
        # A figure measured under someone else's load is re-run, so each section states the load it ran under.
        report.detail(f"{section}: {took:.0f}s; load average (1, 5, 15 min) {load0} at its start, {_load()} at its end")
        if args.save and i + 1 < len(args.sections):  # a long run stopped midway still leaves what it measured
            rest = ", ".join(args.sections[i + 1:])
            save(report, render_table(report.rows), machine, args, w, time.perf_counter() - started,
                 progress=f"in progress: {i + 1} of {len(args.sections)} sections done ({rest} still to run)")
    _final_notes(args, w, report)
    elapsed = time.perf_counter() - started

    table = render_table(report.rows)
    print()
    print(table)
    print()
    for n in report.notes:
        print(f"note: {n}")
    for d in report.details:
        print(f"- {d}")
    print(f"\nbench took {elapsed / 60:.1f} min")
    if args.save:
        path = save(report, table, machine, args, w, elapsed)
        print(f"saved {path}")
    return 1 if failed else 0


def _final_notes(args: argparse.Namespace, w: dict[str, Workload], report: Report) -> None:
    if args.quick:
        report.note("--quick: small workloads and 1 repetition; a smoke run, not figures to quote")
    full_size = w["backfill"].trades_per_day == 1_000_000 and w["backfill"].snapshot_interval_ms == 1000
    if "backfill" in args.sections and not args.quick and not full_size:
        report.note(f"backfill uses {w['backfill'].describe()}, not the figure's 1M-trade days")
    report.note(f"memory: {memory_method()}")


def save(report: Report, table: str, machine: dict[str, str], args: argparse.Namespace,
         w: dict[str, Workload], elapsed: float, progress: str = "") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.md"
    lines = [
        "# Benchmark results (latest `python -m bench --save`)",
        "",
        f"Command: `python -m bench {' '.join(sys.argv[1:])}`; {args.reps} repetition(s) per figure, medians; "
        f"reference and project measured in the same invocation, interleaved. Took {elapsed / 60:.1f} min.",
        *(["", f"**{progress}**"] if progress else []),
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine.items()],
        "",
        "## Workloads",
        "",
        *[f"- {k}: {v.describe()} (seed {v.seed}, from {v.start})" for k, v in w.items()
          if k in args.sections or (k in ("fixed", "partition_mid") and "partition" in args.sections)
          or (k == "research_month" and "research" in args.sections)],
        *([f"- derivatives: 1 day x {derivative_sizes(args)[0]:,} quotes and {derivative_sizes(args)[1]:,} trades, "
           "20 symbols, a book snapshot a day per symbol (seed 7, from 2024-01-01)"]
          if "derivatives" in args.sections else []),
        "",
        "## Results",
        "",
        table,
        "",
        *[f"- note: {n}" for n in report.notes],
        "",
        "## Details",
        "",
        *[f"- {d}" for d in report.details],
        "",
        "## Samples (seconds or MB, in run order)",
        "",
        *[f"- {r.section} / {r.what}: {[round(x, 2) for x in r.samples]}"
          + (f" vs {[round(x, 2) for x in r.ref_samples]}" if r.ref_samples else "") for r in report.rows],
        "",
    ]
    extra = RESULTS / "history.md"
    if extra.exists():
        lines += ["## Earlier runs (bench/results/history.md)", "", extra.read_text().strip(), ""]
    path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    raise SystemExit(main())
