"""Shared machinery of the benchmarks: cached workloads, isolated worker runs, memory, results.

Every timed thing runs in a fresh worker process (``python -m bench.worker``), so one figure
cannot warm or pollute another, and the parent can watch the worker's whole process tree
(dbt runs in a subprocess of the Dagster worker) for its peak resident memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.settings import DBT_PROJECT_DIR, PROJECT_ROOT, dbt_executable, tickwh_home

BENCH_START = dt.date(2024, 1, 1)
N_SYMBOLS = 20


def bench_home() -> Path:
    """Cache of generated data and scratch space: ``$TICKWH_HOME/bench`` (git-ignored)."""
    return Path(os.environ.get("TICKWH_BENCH_HOME", tickwh_home() / "bench"))


# --------------------------------------------------------------------------------------------
# Workloads: simulated landing files, generated once and reused
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Consecutive simulated days written into one landing folder."""

    trades_per_day: int
    days: int = 1
    start: dt.date = BENCH_START
    symbols: int = N_SYMBOLS
    snapshot_interval_ms: int = 1000
    seed: int = 7

    @property
    def name(self) -> str:
        return f"t{self.trades_per_day}_s{self.symbols}_i{self.snapshot_interval_ms}_seed{self.seed}"

    @property
    def landing(self) -> Path:
        return bench_home() / "data" / self.name

    @property
    def last(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)

    def day(self, i: int) -> dt.date:
        """The ``i``-th day, 1-based (day 1 is ``start``)."""
        return self.start + dt.timedelta(days=i - 1)

    def describe(self) -> str:
        snaps = 86_400_000 // self.snapshot_interval_ms * self.symbols
        return (
            f"{self.days} day(s) x {human_count(self.trades_per_day)} trades, {self.symbols} symbols, "
            f"snapshots every {self.snapshot_interval_ms / 1000:g} s ({human_count(snaps)}/day)"
        )


def human_count(n: float) -> str:
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return f"{n:g}"


def ensure_workload(w: Workload, log: Callable[[str], None] = print) -> Path:
    """Simulate the missing days of ``w`` into its cache folder; a marker per day makes reuse safe."""
    from ingest.simulator import default_symbols, simulate_day

    w.landing.mkdir(parents=True, exist_ok=True)
    specs = default_symbols(w.symbols)
    for i in range(1, w.days + 1):
        day = w.day(i)
        marker = w.landing / f".done-{day.isoformat()}"
        if marker.exists():
            continue
        t0 = time.perf_counter()
        r = simulate_day(
            day,
            w.landing,
            symbols=specs,
            trades_per_day=w.trades_per_day,
            snapshot_interval_ms=w.snapshot_interval_ms,
            seed=w.seed,
        )
        marker.write_text(json.dumps({"trades": r.trades, "snapshots": r.snapshots}))
        log(f"  simulated {w.name} {day}: {r.trades} trades, {r.snapshots} snapshots "
            f"in {time.perf_counter() - t0:.1f}s")
    return w.landing


# --------------------------------------------------------------------------------------------
# Process-tree memory and worker runs
# --------------------------------------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _tree_rss_proc(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may contain spaces or parentheses: split after the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except OSError:
            pass
        stack.extend(children.get(pid, []))
    return total


def tree_rss(pid: int) -> int:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
            total = 0
            for p in procs:
                with suppress(psutil.Error):
                    total += p.memory_info().rss
            return total
        except psutil.Error:
            return 0
    if os.path.isdir("/proc"):
        return _tree_rss_proc(pid)
    return 0


def memory_method() -> str:
    try:
        import psutil  # type: ignore[import-untyped]  # noqa: F401

        return "psutil process-tree RSS, sampled every 50 ms"
    except ImportError:
        pass
    if os.path.isdir("/proc"):
        return "process-tree RSS from /proc, sampled every 50 ms (psutil not installed)"
    return "getrusage max RSS of the worker and its largest child"


class PeakSampler(threading.Thread):
    """Samples the RSS of a process tree until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


class WorkerError(RuntimeError):
    pass


@dataclass
class WorkerResult:
    data: dict[str, Any]
    peak_rss: int  # bytes, whole process tree, sampled
    wall: float  # seconds, process start to exit (imports included)


def run_worker(task: str, params: dict[str, Any], log_dir: Path, timeout: float = 7200.0) -> WorkerResult:
    """Run ``bench.worker <task>`` in a fresh interpreter; its JSON result comes back through a file.

    The page cache's dirty pages are flushed first. Why: set-up copies gigabytes (the 29-day
    history warehouse is 6.5 GB); written back during the timed run, they slowed its own writes
    and its commit's fsync by ~3 s (measured on day 30's snapshot load), which is the bench's
    set-up, not the pipeline's cost."""
    os.sync()
    log_dir.mkdir(parents=True, exist_ok=True)
    fd, out_name = tempfile.mkstemp(prefix=f"{task}-", suffix=".json", dir=log_dir)
    os.close(fd)
    out = Path(out_name)
    log_path = out.with_suffix(".log")
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "bench.worker", task, json.dumps(params, default=str), str(out)]
    t0 = time.perf_counter()
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT)
        sampler = PeakSampler(proc.pid)
        sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise WorkerError(f"{task} timed out after {timeout:.0f}s; log: {log_path}") from None
        finally:
            peak = sampler.stop()
    wall = time.perf_counter() - t0
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise WorkerError(f"{task} failed (exit {rc}); log: {log_path}\n{tail}")
    data = json.loads(out.read_text())
    out.unlink()
    log_path.unlink()
    return WorkerResult(data=data, peak_rss=peak, wall=wall)


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A scratch folder under the bench home (same disk as the cache), removed afterwards."""
    root = bench_home() / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def deployment() -> Iterator[Path]:
    """An empty home for a pipeline run, at the same path every time, removed afterwards.

    Why the same path: a deployment keeps its warehouse at one path, and dbt's partial parse
    (orchestration/lib/dbt_cli.py) is only valid for the profile it was parsed with, which
    includes that path. A fresh random path per repetition would make every run re-parse the
    whole project, which no deployment does day to day.
    """
    path = bench_home() / "scratch" / "deployment"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# dbt: compile the project's SQL once per window
# --------------------------------------------------------------------------------------------


dbt_bin = dbt_executable  # the venv's dbt (ingest/settings.py)


@dataclass(frozen=True)
class CompiledModel:
    name: str
    schema: str
    materialized: str
    sql: str


def compile_models(first: dt.date, end: dt.date, work: Path) -> list[CompiledModel]:
    """``dbt compile`` the daily models for the window [first, end) against an empty warehouse.

    The warehouse is an empty embedded lake under ``<work>/lake/``, so the compiled SQL names the
    catalog `lake`, as it does in the pipeline.

    Returns staging views and incremental marts in dependency order, as dbt would run them on a
    first build (no delete pre-hook, since the tables do not exist yet). Output goes to a private
    target folder so the project's own ``target/`` (read by the Dagster code location) is untouched.
    """
    from ingest import lake
    from ingest.warehouse import ensure_raw_schema

    work.mkdir(parents=True, exist_ok=True)
    config = lake.LakeConfig.embedded(work)
    with lake.connect(config) as con:
        ensure_raw_schema(con)  # a no-op when the raw tables exist
    target = work / "target"
    env = {**os.environ, **config.env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    window = json.dumps({"min_date": first.isoformat(), "max_date": end.isoformat()})
    subprocess.run(
        [dbt_bin(), "compile", "--quiet", "--select", "config.materialized:incremental staging",
         "--vars", window, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(work / "logs")],
        check=True, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.DEVNULL,
    )
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model" and v.get("compiled_code")}
    order: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for dep in nodes[key]["depends_on"]["nodes"]:
            if dep in nodes:
                visit(dep)
        order.append(key)

    for key in sorted(nodes):
        visit(key)
    return [
        CompiledModel(
            name=nodes[k]["name"],
            schema=nodes[k]["schema"],
            materialized=nodes[k]["config"]["materialized"],
            sql=nodes[k]["compiled_code"],
        )
        for k in order
    ]


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclass
class Row:
    """One line of the results table: a figure, what it is compared with, and the ratio."""

    section: str
    what: str
    value: float
    unit: str = "s"
    reference: str = ""
    ref_value: float | None = None
    target: str = ""
    ok: bool | None = None
    samples: list[float] = field(default_factory=list)
    ref_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.ref_value in (None, 0):
            return None
        return self.value / self.ref_value

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)

    def detail(self, text: str) -> None:
        self.details.append(text)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:g} {unit}".strip()


def render_table(rows: Sequence[Row]) -> str:
    header = ["section", "figure (median)", "value", "reference (median)", "ref", "ratio", "target", "ok"]
    body = []
    for r in rows:
        ratio = r.ratio
        body.append([
            r.section,
            r.what,
            fmt_value(r.value, r.unit),
            r.reference or "-",
            fmt_value(r.ref_value, r.unit) if r.ref_value is not None else "-",
            f"{ratio:.2f}x" if ratio is not None else "-",
            r.target or "-",
            {True: "yes", False: "NO", None: "-"}[r.ok],
        ])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [line, sep]
    for b in body:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |")
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine_description() -> dict[str, str]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _mem_total(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "dbt-core": _version("dbt-core"),
        "dbt-duckdb": _version("dbt-duckdb"),
        "dagster": _version("dagster"),
        "dagster-dbt": _version("dagster-dbt"),
        "pandas": _version("pandas"),
        "polars": _version("polars"),
        "chdb": _version("chdb"),
        "pyarrow": _version("pyarrow"),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "",
    }
