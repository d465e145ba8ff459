"""Warm retention: drop old days from the raw tables, but only days whose cold archive checks out.

The warm DuckDB file grows by the raw tables (millions of rows a day); the marts are small and
stay. A day older than `warm_days` (counted back from `as_of`, which itself stays warm) is
deleted from `raw.trades` and `raw.book_snapshots` only if, for both tables, the archive
manifest exists, its row count and time range equal the warm rows of that day, every object
it lists is present with the right size (and, with `deep=True`, the right sha256 after a
download), and the archived rows have the same content as the warm rows: an order-independent
checksum (`ingest.cold.content`) recomputed over the downloaded Parquet with `deep=True`, or
the one the manifest recorded at archive time otherwise. Any doubt keeps the day warm and says
why: losing ticks is not recoverable, keeping a day too long costs disk.

A cold store that is a local directory (the default `var/cold`, on the warehouse's own disk and
deleted by `make clean`) is no second copy: retention drops nothing into it unless the caller
passes `allow_local_store=True` (`TICKWH_RETENTION_ALLOW_LOCAL_COLD=1`, see docs/cold.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.args import flag, setting
from ingest.cold.archive import relation_columns
from ingest.cold.content import parquet_content, warm_content
from ingest.cold.layout import RAW_TABLES, ArchiveTable, ColdTier
from ingest.cold.store import ColdStoreError

log = logging.getLogger(__name__)

ALLOW_LOCAL_ENV = "TICKWH_RETENTION_ALLOW_LOCAL_COLD"


def allow_local_from_env() -> bool:
    """The documented switch: retention may drop warm rows into a local-directory cold store."""
    return setting(os.environ, ALLOW_LOCAL_ENV, flag, None) is True  # `maybe` is an error, not "no"


@dataclass
class DayVerdict:
    day: dt.date
    dropped: bool
    rows: dict[str, int]
    reason: str


@dataclass
class RetentionReport:
    as_of: dt.date
    warm_days: int
    cutoff: dt.date  # days on or before this are eligible to leave the warm tier
    dropped: list[DayVerdict] = field(default_factory=list)
    kept: list[DayVerdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_dropped(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for v in self.dropped:
            for table, n in v.rows.items():
                totals[table] = totals.get(table, 0) + n
        return totals


def _warm_stats(
    con: duckdb.DuckDBPyConnection, table: ArchiveTable, day: dt.date
) -> tuple[int, str | None, str | None]:
    n, lo, hi = con.execute(
        f"SELECT count(*), min({table.time_column}), max({table.time_column}) FROM {table.source} "
        f"WHERE {table.date_column} = ?",
        [day],
    ).fetchone()  # type: ignore[misc]
    return int(n), (lo.isoformat() if lo is not None else None), (hi.isoformat() if hi is not None else None)


def verify_archive(
    con: duckdb.DuckDBPyConnection, tier: ColdTier, table: ArchiveTable, day: dt.date, *, deep: bool, scratch: Path
) -> tuple[bool, str, int]:
    """(ok, reason, warm rows) for one table and day: does the cold archive hold exactly the warm rows?"""
    rows, lo, hi = _warm_stats(con, table, day)
    try:
        manifest = tier.read_manifest(table.name, day)
        if manifest is None:
            return False, f"{table.name}: no archive manifest at {tier.uri(tier.manifest_key(table.name, day))}", rows
        if manifest.row_count != rows:
            reason = f"archive has {manifest.row_count} rows, warm has {rows} (re-archive the day)"
            return False, f"{table.name}: {reason}", rows
        if (manifest.min_time, manifest.max_time) != (lo, hi):
            return False, f"{table.name}: archive spans {manifest.min_time}..{manifest.max_time}, warm {lo}..{hi}", rows
        schema = relation_columns(con, table.source)
        _, warm_hash = warm_content(con, table.source, table.date_column, day, schema)
        if deep:
            paths = tier.fetch_verified(manifest, scratch)
            try:
                cold_rows, cold_hash = parquet_content(con, paths, schema)
            finally:
                for path in paths:
                    if path.parent == scratch:
                        path.unlink(missing_ok=True)
            if (cold_rows, cold_hash) != (rows, warm_hash):
                reason = f"archived rows differ in content from the warm rows ({cold_rows} vs {rows} rows)"
                return False, f"{table.name}: {reason} (re-archive the day)", rows
        else:
            tier.check_objects(manifest)
            if manifest.content_hash is None:
                reason = "the manifest has no content checksum (re-archive the day, or verify deep)"
                return False, f"{table.name}: {reason}", rows
            if manifest.content_hash != warm_hash:
                reason = "the manifest's content checksum differs from the warm rows' (re-archive the day)"
                return False, f"{table.name}: {reason}", rows
    except ColdStoreError as exc:
        return False, f"{table.name}: {exc}", rows
    return True, "archive verified (rows, time range, objects, content)", rows


def warm_days_on_or_before(con: duckdb.DuckDBPyConnection, cutoff: dt.date) -> list[dt.date]:
    days: set[dt.date] = set()
    for table in RAW_TABLES:
        if not relation_columns(con, table.source):  # nothing loaded yet: nothing to drop
            continue
        rows = con.execute(
            f"SELECT DISTINCT {table.date_column} FROM {table.source} WHERE {table.date_column} <= ?", [cutoff]
        ).fetchall()
        days |= {r[0] for r in rows}
    return sorted(days)


def enforce_retention(
    con: duckdb.DuckDBPyConnection,
    tier: ColdTier,
    *,
    as_of: dt.date,
    warm_days: int,
    deep: bool = True,
    dry_run: bool = False,
    allow_local_store: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> RetentionReport:
    """Drop raw days on or before `as_of - warm_days` whose archives verify; `con` must be writable."""
    if warm_days < 1:
        raise ValueError("warm_days must be >= 1: the day being processed always stays warm")
    started = time.perf_counter()
    say = on_progress or log.info
    report = RetentionReport(as_of=as_of, warm_days=warm_days, cutoff=as_of - dt.timedelta(days=warm_days))
    local_refusal = None
    if getattr(tier.store, "is_local", False) and not allow_local_store:
        local_refusal = (
            f"the cold store {tier.describe()} is a local directory, not a second copy: warm rows are only "
            f"dropped into it with {ALLOW_LOCAL_ENV}=1 (or allow_local_store) — see docs/cold.md"
        )
    with tempfile.TemporaryDirectory(prefix="tickwh-retention-") as tmp:
        for day in warm_days_on_or_before(con, report.cutoff):
            rows: dict[str, int] = {}
            reasons = [local_refusal] if local_refusal else []
            for table in RAW_TABLES:
                if local_refusal:
                    rows[table.name] = _warm_stats(con, table, day)[0]
                    continue
                ok, reason, n = verify_archive(con, tier, table, day, deep=deep, scratch=Path(tmp))
                rows[table.name] = n
                if not ok:
                    reasons.append(reason)
            if reasons:
                verdict = DayVerdict(day, False, rows, "; ".join(reasons))
                report.kept.append(verdict)
                say(f"keeping {day} warm: {verdict.reason}")
                continue
            if not dry_run:
                con.execute("BEGIN TRANSACTION")
                try:
                    for table in RAW_TABLES:
                        con.execute(f"DELETE FROM {table.source} WHERE {table.date_column} = ?", [day])
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            note = "archive verified" + (" (dry run)" if dry_run else "")
            report.dropped.append(DayVerdict(day, not dry_run, rows, note))
            say(f"{'would drop' if dry_run else 'dropped'} {day} from the warm raw tables: {rows}")
    report.seconds = time.perf_counter() - started
    return report
