"""Great Expectations Data Docs: the suites and their latest results as a static site.

Why a throw-away file context: Data Docs are rendered from a context's stores, and the ephemeral
context the checks use has none on disk. So this builds a FileDataContext in a temporary
directory, registers every suite (`catalog.suite_names`), validates the chosen days of the
warehouse through the same `run_suite` path the Dagster checks use (results land in the file
stores under the day as run name), renders the site and copies it to `out_dir`. The temporary
project is then deleted: the suites' sources (`catalog`) stay their only home.

Here every frame goes through GE (the checks evaluate them inside DuckDB): big frames are read
into pandas, which is fine for Data Docs, built offline over demo-sized days.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from ingest.lake import LakeConfig
from ingest.lake import connect as lake_connect
from ingest.quality.catalog import load_suite, suite_names
from ingest.quality.prep import Frames, prepare
from ingest.quality.spec import SuiteResult
from ingest.quality.sql_eval import SqlFrame
from ingest.quality.suites import GXRunner, _quiet_ge, run_suite

log = logging.getLogger(__name__)


def _file_runner(root: Path) -> GXRunner:
    _quiet_ge()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.enable_analytics(False)
    return GXRunner(context)


WHOLE_TABLE = "whole_table"
_STATUS_STYLE = {"pass": "#1a7f37", "warn": "#9a6700", "FAIL": "#cf222e"}


def _write_overview(site: Path, names: Sequence[str], results: Sequence[SuiteResult]) -> None:
    """A plain page of every suite, slice and status, linking GE's pages.

    GE's own index builds its lists with JavaScript and CSS from public CDNs, so offline it shows
    nothing; this page needs neither, and it shows our severities, which GE does not know.
    """

    def link(href: str, text: str) -> str:
        return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'

    rows = []
    for name in names:
        spec = load_suite(name)
        frames = [f for f in spec.frames if spec.frame_expectations(f)]
        suite_links = " ".join(link(f"expectations/{name}/{f}.html", f) for f in frames)
        mine = [r for r in results if r.suite == name]
        if not mine:
            rows.append(f"<tr><td>{html.escape(name)}</td><td>-</td><td>no data</td><td></td><td></td>"
                        f"<td>{suite_links}</td></tr>")
        for r in mine:
            status = "FAIL" if r.blocking else ("warn" if not r.success else "pass")
            pages = []
            for f in frames:
                found = sorted((site / "validations" / name / f / str(r.partition)).glob("*/*.html"))
                if found:
                    pages.append(link(found[-1].relative_to(site).as_posix(), f))
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(r.partition))}</td>"
                f'<td style="color:{_STATUS_STYLE[status]};font-weight:bold">{status}</td>'
                f"<td>{html.escape(', '.join(r.failed_errors))}</td>"
                f"<td>{html.escape(', '.join(r.failed_warnings))}</td>"
                f"<td>{' '.join(pages)} &middot; suite: {suite_links}</td></tr>"
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Data quality overview</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style></head><body>"
        "<h1>Data quality overview</h1><p>One Great Expectations suite per dataset (ingest/quality/catalog.py). "
        "FAIL: an error rule failed and what depends on the slice was stopped; warn: only warnings failed. "
        f'GE\'s own site: {link("index.html", "index.html")} (needs internet for its scripts).</p>'
        "<table><tr><th>suite</th><th>slice</th><th>status</th><th>failed errors</th><th>failed warnings</th>"
        "<th>pages</th></tr>" + "".join(rows) + "</table></body></html>"
    )
    (site / "overview.html").write_text(page)
    index = site / "index.html"
    text = index.read_text()
    banner = link("overview.html", "Plain overview of suites and results (works offline)")
    banner = f'<p style="margin:1em">{banner}</p>'
    index.write_text(text.replace("<body>", "<body>" + banner, 1) if "<body>" in text else banner + text)


def _in_pandas(frames: Frames) -> Frames:
    return {name: f.to_df() if isinstance(f, SqlFrame) else f for name, f in frames.items()}


def latest_days(con: duckdb.DuckDBPyConnection, limit: int) -> list[dt.date]:
    """The most recent days that have raw trades or snapshots, oldest first."""
    try:
        rows = con.execute(
            """SELECT d FROM (SELECT DISTINCT trade_date AS d FROM raw.trades
                              UNION SELECT DISTINCT snapshot_date FROM raw.book_snapshots)
            ORDER BY d DESC LIMIT ?""",
            [limit],
        ).fetchall()
    except duckdb.CatalogException:
        return []
    return sorted(r[0] for r in rows)


def build_ge_docs(
    lake_config: LakeConfig | None,
    out_dir: Path,
    *,
    days: Sequence[dt.date] | None = None,
    max_days: int = 3,
    suites: Sequence[str] | None = None,
) -> Path:
    """Render Data Docs for `suites` (default: all) over `days` (default: the latest `max_days`
    days in the warehouse) into `out_dir`; returns the site's index.html.

    Without a warehouse the site still shows every suite's expectations. A suite whose table
    does not exist yet (marts before the first dbt build) is listed without results.
    """
    names = list(suites or suite_names())
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="tickwh_gx_") as tmp:
        runner = _file_runner(Path(tmp))
        for name in names:  # expectation pages for every suite, with or without results
            spec = load_suite(name)
            for frame in spec.frames:
                if spec.frame_expectations(frame):
                    runner.definition(spec, frame)
        results: list[SuiteResult] = []
        if lake_config is not None and lake_config.exists():
            with lake_connect(lake_config, read_only=True) as con:
                chosen = list(days) if days is not None else latest_days(con, max_days)
                for name in names:
                    spec = load_suite(name)
                    slices: list[dt.date | None] = chosen if spec.meta.get("partitioned", True) else [None]
                    for day in slices:
                        try:
                            frames = _in_pandas(prepare(con, spec, day))
                        except duckdb.CatalogException as exc:
                            log.info("GE docs: %s has no table yet (%s)", name, exc)
                            break
                        results.append(run_suite(name, frames, partition=day.isoformat() if day else WHOLE_TABLE,
                                                 runner=runner, use_ge=True))
        runner.context.build_data_docs()
        site = Path(tmp) / "gx" / "uncommitted" / "data_docs" / "local_site"
        _write_overview(site, names, results)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(site, out_dir)
    log.info("GE Data Docs written to %s", out_dir / "index.html")
    return out_dir / "index.html"
