"""Archive one UTC day of warm tables to Parquet in the cold tier, replacing any earlier archive whole.

Order of operations per (table, day), chosen so that no reader can ever see a partial day:

1. export the day with DuckDB `COPY (... ORDER BY symbol, time) TO parquet (zstd)` into a temp dir,
   and read the file back for its row count, time range and per-symbol counts (the manifest
   describes the file, not what we meant to write);
2. upload it under a key unique to this run (`.../date=D/run=<run_id>/part-0.parquet`);
3. verify the upload: HEAD size + ETag (= MD5 for single-part uploads), or a re-download and
   sha256 if the store has no usable ETag (local directory, SSE-KMS buckets);
4. publish `_manifest.json` (a single PUT: atomic for readers), then read it back;
5. only then delete objects of earlier runs of the same day.

A crash before 4 leaves orphans under a `run=` key no manifest names (the next run deletes
them); a crash after 4 leaves a complete new archive plus old objects that are never read.

Safety rule: a day whose warm rows were already dropped (retention) is not re-archived as
empty over an existing non-empty archive; the table is reported as `kept_existing`.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from ingest.cold.content import parquet_content, warm_content
from ingest.cold.layout import ALL_TABLES, ArchiveTable, ColdTier, Manifest, ManifestObject, new_run_id
from ingest.cold.store import ColdObjectError, ColdStoreError, file_digests, sha256_of
from ingest.sql import sql_literal

log = logging.getLogger(__name__)

VerifyMode = Literal["auto", "download"]


class ColdArchiveError(RuntimeError):
    """The archive of a day could not be written or verified; the previous archive stays in force."""


@dataclass
class TableArchive:
    """Outcome for one (table, day)."""

    table: str
    day: dt.date
    status: Literal["archived", "kept_existing"]
    manifest_key: str
    manifest: Manifest
    deleted_keys: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    @property
    def rows(self) -> int:
        return self.manifest.row_count

    @property
    def bytes(self) -> int:
        return self.manifest.total_bytes

    @property
    def keys(self) -> list[str]:
        return [o.key for o in self.manifest.objects]


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".", 1)
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
    ).fetchone()
    return bool(row and row[0])


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict[str, str]]:
    schema, name = relation.split(".", 1)
    rows = con.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position""",
        [schema, name],
    ).fetchall()
    return [{"name": r[0], "type": r[1]} for r in rows]


def _iso(value: object) -> str | None:
    return None if value is None else value.isoformat()  # type: ignore[attr-defined]


def _export(con: duckdb.DuckDBPyConnection, table: ArchiveTable, day: dt.date, target: Path) -> None:
    # Identifiers come from the fixed ArchiveTable registry; the day is a bound parameter.
    con.execute(
        f"""COPY (SELECT * FROM {table.source} WHERE {table.date_column} = ? ORDER BY {", ".join(table.order_by)})
            TO {sql_literal(str(target))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)""",
        [day],
    )


def _verify_upload(tier: ColdTier, key: str, local: Path, expected_sha256: str, expected_etag: str,
                   size: int, work_dir: Path, verify: VerifyMode) -> str | None:
    """Check the stored object; returns the ETag the store reports (kept in the manifest)."""
    info = tier.store.head(key)
    if info is None:
        raise ColdObjectError(tier.uri(key), "upload not visible after PUT")
    if info.size != size:
        raise ColdObjectError(tier.uri(key), f"size mismatch after upload: {info.size} bytes, wrote {size}")
    if verify == "auto" and info.etag and info.etag == expected_etag:
        return info.etag
    fetched = tier.store.fetch(key, work_dir)
    try:
        actual = sha256_of(fetched)
    finally:
        if fetched.parent == work_dir and fetched != local:
            fetched.unlink(missing_ok=True)
    if actual != expected_sha256:
        raise ColdObjectError(
            tier.uri(key), f"checksum mismatch after upload: sha256 {actual}, wrote {expected_sha256}"
        )
    return info.etag


def archive_table(
    con: duckdb.DuckDBPyConnection,
    tier: ColdTier,
    table: ArchiveTable,
    day: dt.date,
    *,
    run_id: str,
    work_dir: Path,
    verify: VerifyMode = "auto",
) -> TableArchive:
    started = time.perf_counter()
    if not _relation_exists(con, table.source):
        raise ColdArchiveError(f"{table.source} does not exist in the warehouse: build it before archiving")
    manifest_key = tier.manifest_key(table.name, day)
    try:
        previous = tier.read_manifest(table.name, day)
    except ColdObjectError as exc:
        log.warning("replacing unreadable manifest: %s", exc)
        previous = None
    warm_rows = con.execute(
        f"SELECT count(*) FROM {table.source} WHERE {table.date_column} = ?", [day]
    ).fetchone()[0]  # type: ignore[index]
    if warm_rows == 0 and previous is not None and previous.row_count > 0:
        return TableArchive(
            table.name, day, "kept_existing", manifest_key, previous, seconds=time.perf_counter() - started,
            note=f"warm has no rows for {day}; kept the existing archive of {previous.row_count} rows",
        )

    local = work_dir / f"{table.name}-{day.isoformat()}.parquet"
    _export(con, table, day, local)
    count, min_time, max_time = con.execute(
        f"SELECT count(*), min({table.time_column}), max({table.time_column}) FROM read_parquet(?)", [str(local)]
    ).fetchone()  # type: ignore[misc]
    if count != warm_rows:
        raise ColdArchiveError(f"{table.source} {day}: exported {count} rows but the warehouse has {warm_rows}")
    schema = relation_columns(con, table.source)
    _, content_hash = parquet_content(con, [local], schema)
    _, warm_hash = warm_content(con, table.source, table.date_column, day, schema)
    if content_hash != warm_hash:
        raise ColdArchiveError(f"{table.source} {day}: the exported file's rows differ from the warehouse's")
    symbols = dict(
        con.execute("SELECT symbol, count(*) FROM read_parquet(?) GROUP BY 1 ORDER BY 1", [str(local)]).fetchall()
    )
    digests = file_digests(local)
    key = tier.object_key(table.name, day, run_id)
    tier.store.put_file(key, local, metadata={"sha256": digests.sha256, "rows": str(count)})
    etag = _verify_upload(tier, key, local, digests.sha256, digests.expected_etag(), digests.size, work_dir, verify)
    local.unlink(missing_ok=True)

    manifest = Manifest(
        table=table.name,
        source=table.source,
        date=day,
        run_id=run_id,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        row_count=int(count),
        time_column=table.time_column,
        min_time=_iso(min_time),
        max_time=_iso(max_time),
        sort_order=[c.split()[0] for c in table.order_by],
        compression="zstd",
        schema=schema,
        objects=[ManifestObject(key=key, size=digests.size, sha256=digests.sha256, etag=etag, rows=int(count))],
        symbols={str(k): int(v) for k, v in symbols.items()},
        content_hash=content_hash,
    )
    tier.store.put_bytes(manifest_key, manifest.to_json(), content_type="application/json")
    published = tier.read_manifest(table.name, day)
    if published is None or published.run_id != run_id:
        # Someone else published after us: their objects are live, so ours must not delete them.
        raise ColdArchiveError(f"{tier.uri(manifest_key)}: manifest of run {run_id} not visible after publishing")

    live = {manifest_key, key}
    stale = [k for k in tier.store.list_keys(tier.partition_prefix(table.name, day)) if k not in live]
    if stale:
        tier.store.delete(stale)
    return TableArchive(
        table.name, day, "archived", manifest_key, manifest, deleted_keys=stale, seconds=time.perf_counter() - started
    )


def archive_day(
    con: duckdb.DuckDBPyConnection, tier: ColdTier, day: dt.date, tables: Sequence[ArchiveTable] = ALL_TABLES,
    **options: Any,
) -> list[TableArchive]:
    """`archive_days` for one day (same keyword options)."""
    return archive_days(con, tier, [day], tables, **options)


def archive_days(
    con: duckdb.DuckDBPyConnection,
    tier: ColdTier,
    days: Iterable[dt.date],
    tables: Sequence[ArchiveTable] = ALL_TABLES,
    *,
    run_id: str | None = None,
    work_dir: Path | None = None,
    verify: VerifyMode = "auto",
    on_progress: Callable[[str], None] | None = None,
) -> list[TableArchive]:
    """Archive `tables` for each day under one run id (a ranged backfill is one run); each table's
    partition is replaced independently and atomically."""
    try:
        tier.store.ensure_ready()
    except ColdStoreError as exc:
        raise ColdArchiveError(f"cold store {tier.describe()} not ready, nothing archived: {exc}") from exc
    run_id = run_id or new_run_id()
    con.execute("SET enable_progress_bar = false")  # the COPY of a big day would draw one in the logs
    out: list[TableArchive] = []
    for day in days:
        with tempfile.TemporaryDirectory(prefix="tickwh-cold-", dir=work_dir) as tmp:
            for table in tables:
                try:
                    result = archive_table(con, tier, table, day, run_id=run_id, work_dir=Path(tmp), verify=verify)
                except ColdStoreError as exc:
                    raise ColdArchiveError(f"archiving {table.name} {day} failed: {exc}") from exc
                message = (
                    f"{table.name} {day}: {result.status}, {result.rows} rows, {result.bytes} bytes"
                    + (f", deleted {len(result.deleted_keys)} old objects" if result.deleted_keys else "")
                    + (f" ({result.note})" if result.note else "")
                )
                (on_progress or log.info)(message)
                out.append(result)
    return out
