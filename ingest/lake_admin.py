"""Looking after the lake: snapshots, maintenance (compaction, expiry) and migration from a DuckDB file.

CLI: `python -m ingest.lake_admin snapshots | maintain --keep-days 7 | migrate --from var/warehouse.duckdb`.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest import args as rules
from ingest import lake
from ingest.args import Parser
from ingest.errors import UserError, run
from ingest.sql import is_plain_ident, qualified, quote_ident
from ingest.warehouse import FENCES, ensure_raw_schema

log = logging.getLogger(__name__)

# The schemas that hold tables of the warehouse; staging holds dbt views, rebuilt by every dbt run.
TABLE_SCHEMAS = ("raw", "marts", "reference")


@dataclass
class TableFingerprint:
    rows: int
    checksum: int  # order-independent: the sum of every row's hash


@dataclass
class MaintenanceReport:
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int
    expired_before: dt.datetime
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def list_tables(con: duckdb.DuckDBPyConnection, catalog: str = lake.ALIAS) -> list[str]:
    """`schema.table` of every base table (not view) of the warehouse's schemas in `catalog`."""
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name IN "
        f"({', '.join('?' for _ in TABLE_SCHEMAS)}) ORDER BY ALL",
        [catalog, *TABLE_SCHEMAS],
    ).fetchall()
    return [f"{s}.{t}" for s, t in rows]


def fingerprint(con: duckdb.DuckDBPyConnection, table: str, catalog: str = lake.ALIAS) -> TableFingerprint:
    """Row count and an order-independent checksum of a table's content (every column)."""
    schema, name = table.split(".", 1)
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index", [catalog, schema, name]).fetchall()]
    if not columns:
        raise lake.LakeError(f"no table {catalog}.{table}")
    row_hash = "hash(" + ", ".join(quote_ident(c) for c in columns) + ")"
    n, total = con.execute(
        f"SELECT count(*), coalesce(sum({row_hash}::HUGEINT), 0) "
        f"FROM {qualified(catalog, schema, name)}"
    ).fetchone()
    return TableFingerprint(int(n), int(total))


def fingerprints(con: duckdb.DuckDBPyConnection, catalog: str = lake.ALIAS) -> dict[str, TableFingerprint]:
    return {t: fingerprint(con, t, catalog) for t in list_tables(con, catalog)}


def live_file_count(con: duckdb.DuckDBPyConnection, alias: str = lake.ALIAS) -> int:
    """Data and delete files the current snapshot reads, over every table."""
    rows = con.execute("SELECT sum(file_count + delete_file_count) FROM ducklake_table_info(?)", [alias]).fetchone()
    return int(rows[0] or 0)


def stored_file_count(con: duckdb.DuckDBPyConnection, alias: str = lake.ALIAS) -> int:
    """Every data and delete file the catalog still tracks, for any snapshot kept (what is on disk)."""
    meta = f"__ducklake_metadata_{alias}"
    data = con.execute(f"SELECT count(*) FROM {qualified(meta, 'ducklake_data_file')}").fetchone()[0]
    deletes = con.execute(f"SELECT count(*) FROM {qualified(meta, 'ducklake_delete_file')}").fetchone()[0]
    return int(data) + int(deletes)


MIN_KEEP, MAX_KEEP = dt.timedelta(days=1), dt.timedelta(days=3650)  # TICKWH_LAKE_KEEP_DAYS's bounds


def maintain(
    con: duckdb.DuckDBPyConnection, *, keep: dt.timedelta, now: dt.datetime | None = None, alias: str = lake.ALIAS
) -> MaintenanceReport:
    """Merge small files, expire snapshots older than `keep`, delete the files nobody can read any more.

    Answers at the current snapshot do not change (compaction rewrites files, not rows); readers
    pinned to an expired snapshot can no longer read it, which is what `keep` bounds.
    """
    if not MIN_KEEP <= keep <= MAX_KEEP:
        raise lake.LakeError(f"keep must be from {MIN_KEEP.days} to {MAX_KEEP.days} days, got {keep}: a shorter "
                             "window would expire the snapshots pinned backtests read")
    t0 = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - keep
    report = MaintenanceReport(
        files_before=stored_file_count(con, alias),
        files_after=0,
        snapshots_before=len(lake.snapshots(con, alias)),
        snapshots_after=0,
        expired_before=cutoff,
    )
    # Each step is its own commit; a lost race with a loader only means doing it on the next run.
    lake.with_conflict_retry(lambda: con.execute("CALL ducklake_flush_inlined_data(?)", [alias]), what="flush")
    lake.with_conflict_retry(lambda: con.execute("CALL ducklake_merge_adjacent_files(?)", [alias]), what="compaction")
    lake.with_conflict_retry(
        lambda: con.execute("CALL ducklake_expire_snapshots(?, older_than => ?)", [alias, cutoff]), what="expiry"
    )
    con.execute("CALL ducklake_cleanup_old_files(?, cleanup_all => true)", [alias])
    report.files_after = stored_file_count(con, alias)
    report.snapshots_after = len(lake.snapshots(con, alias))
    report.rows = {t: int(con.execute(f"SELECT count(*) FROM {qualified(alias, *t.split('.', 1))}").fetchone()[0])
                   for t in list_tables(con, alias)}
    report.seconds = time.perf_counter() - t0
    log.info(
        "lake maintenance: files %d -> %d, snapshots %d -> %d (expired before %s) in %.1fs",
        report.files_before, report.files_after, report.snapshots_before, report.snapshots_after,
        cutoff.isoformat(timespec="seconds"), report.seconds,
    )
    return report


@dataclass
class MigrationReport:
    tables: dict[str, TableFingerprint] = field(default_factory=dict)
    snapshot: int = 0
    seconds: float = 0.0


class MigrationError(lake.LakeError):
    pass


class UnsafeTableNameError(MigrationError, UserError):
    """A table of the source file whose name is not a plain identifier: refused before anything is written."""


def _source_tables(con: duckdb.DuckDBPyConnection, source: Path) -> list[tuple[str, str]]:
    """(schema, table) of every table to copy from `old`; a name that is not plain is refused.

    The names come from a file the user pointed at, so they are data: one that is not a plain
    identifier (`x AS SELECT 1; COPY ... TO 'f'; --`) is reported, never quoted into a table
    nobody can type, and never pasted into a statement."""
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'old' AND schema_name IN "
        f"({', '.join('?' for _ in TABLE_SCHEMAS)}) ORDER BY ALL", [*TABLE_SCHEMAS],
    ).fetchall()
    for schema, name in rows:
        if not is_plain_ident(name):
            raise UnsafeTableNameError(
                f"{source}: table {schema}.{name!r} is not a plain identifier (letters, digits, _): "
                "rename it in the source file; nothing was migrated")
    return [(s, t) for s, t in rows if f"{s}.{t}" not in FENCES]


def migrate(source: str | Path, config: lake.LakeConfig, *, replace: bool = False) -> MigrationReport:
    """Copy every table of a single-file warehouse (`warehouse.duckdb`) into the lake, in one commit.

    Checked table by table before the commit: row count and content checksum of the copy equal
    the source's, else nothing is committed. Every name is checked before anything is written
    (`_source_tables`). A lake table that already holds rows is refused unless `replace`; dbt's
    staging views are not copied (the next dbt run creates them).
    """
    source = Path(source)
    if not source.is_file():
        raise MigrationError(f"no DuckDB file at {source}")
    t0 = time.perf_counter()
    report = MigrationReport()
    with lake.connect(config) as con:
        con.execute(f"ATTACH {lake.sql_literal(str(source.resolve()), 'the --from file')} AS old (READ_ONLY)")
        pairs = _source_tables(con, source)
        if not pairs:
            raise MigrationError(f"{source} holds no table in schemas {', '.join(TABLE_SCHEMAS)}")
        ensure_raw_schema(con)
        present = set(list_tables(con))
        tables = {f"{s}.{t}": (s, t) for s, t in pairs}
        if not replace:
            busy = [t for t, (s, n) in tables.items() if t in present
                    and con.execute(f"SELECT count(*) FROM {qualified(lake.ALIAS, s, n)}").fetchone()[0]]
            if busy:
                raise MigrationError(f"lake tables already hold rows: {busy} (use --replace to overwrite them)")
        con.execute("BEGIN TRANSACTION")
        try:
            for table, (schema, name) in tables.items():
                into = qualified(lake.ALIAS, schema, name)
                src = qualified("old", schema, name)
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(lake.ALIAS, schema)}")
                if table in present and schema == "raw":
                    con.execute(f"DELETE FROM {into}")
                    con.execute(f"INSERT INTO {into} BY NAME SELECT * FROM {src}")
                else:
                    con.execute(f"CREATE OR REPLACE TABLE {into} AS SELECT * FROM {src}")
                log.info("migrated %s", table)
            # Checked inside the transaction (it reads its own writes): a mismatch commits nothing.
            for table in tables:
                before, after = fingerprint(con, table, "old"), fingerprint(con, table)
                if before != after:
                    raise MigrationError(f"{table}: source {before} != lake {after}")
                report.tables[table] = after
            con.execute("COMMIT")
        except BaseException:
            lake.rollback(con)
            raise
        report.snapshot = lake.current_snapshot(con)
        con.execute("DETACH old")
    report.seconds = time.perf_counter() - t0
    return report


def main(argv: Sequence[str] | None = None, prog: str = "python -m ingest.lake_admin") -> int:
    return run(lambda: _main(argv, prog))


def _main(argv: Sequence[str] | None, prog: str) -> int:
    from ingest.settings import KEEP_DAYS  # the bound TICKWH_LAKE_KEEP_DAYS has too

    parser = Parser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("snapshots", help="list the lake's snapshots (pin one with history --as-of)")
    m = sub.add_parser("maintain", help="merge small files, expire old snapshots, delete unreadable files")
    m.add_argument("--keep-days", type=rules.arg(KEEP_DAYS), default=7.0,
                   help="keep snapshots younger than this many days (1 to 3650, default 7): a pin stays readable")
    g = sub.add_parser("migrate", help="copy a single-file warehouse.duckdb into the lake, checked")
    g.add_argument("--from", dest="source", type=rules.arg(rules.existing_file), required=True,
                   help="the DuckDB file")
    g.add_argument("--replace", action="store_true", help="overwrite lake tables that already hold rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = lake.LakeConfig.from_env()
        if args.command == "snapshots":
            with lake.connect(config, read_only=True) as con:
                for sid, when, changes in lake.snapshots(con):
                    print(f"{sid:>6}  {when.isoformat(timespec='seconds')}  {changes}")
        elif args.command == "maintain":
            with lake.connect(config) as con:
                r = maintain(con, keep=dt.timedelta(days=args.keep_days))
            print(f"files {r.files_before} -> {r.files_after}; snapshots {r.snapshots_before} -> {r.snapshots_after}")
        else:
            r = migrate(args.source, config, replace=args.replace)
            for table, fp in r.tables.items():
                print(f"  {table:<32} {fp.rows:>12} rows  checksum {fp.checksum}")
            print(f"migrated {len(r.tables)} tables into {config.describe()} as snapshot {r.snapshot} "
                  f"in {r.seconds:.1f}s; row counts and checksums match")
    except (lake.LakeError, duckdb.Error) as exc:
        raise UserError(str(exc)) from exc
    return 0



def snapshots_main(argv: Sequence[str] | None = None) -> int:
    """`tickwh lake snapshots`."""
    return main(["snapshots", *(argv or [])], prog="tickwh lake")


def maintain_main(argv: Sequence[str] | None = None) -> int:
    """`tickwh lake maintain`."""
    return main(["maintain", *(argv or [])], prog="tickwh lake")


def migrate_main(argv: Sequence[str] | None = None) -> int:
    """`tickwh lake migrate`."""
    return main(["migrate", *(argv or [])], prog="tickwh lake")


if __name__ == "__main__":
    sys.exit(main())
