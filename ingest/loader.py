"""Load one UTC day of landing files into the warm warehouse, replacing that day atomically.

Every row of every file ends in exactly one place: the raw table, or `raw.quarantine` with
the rule it broke and its file and line. The swap (delete the day, insert the new rows,
replace the day's quarantine) is one transaction, one DuckLake snapshot, so a crash or a bad file
leaves the previous state of the day as it was and readers never see the day half-replaced. A
concurrent load of the same dataset makes the later commit fail; the swap then runs again on the
new snapshot (staging is not repeated), so two reloads of one day end as one.

Fast path: a typed `read_csv` per file with DuckDB's reject store. Line numbers for rows that
parsed but broke a rule cost a second, numbered read; it only happens on a day that has such rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest import datasets
from ingest.books import BookExpectation, missing_book_exchanges
from ingest.datasets import MISSING_IS_EMPTY, MISSING_PER_BOOK_RULE, MISSING_UNLESS_OTHER_DATA, Dataset
from ingest.datasets.spec import COMMON_REASONS
from ingest.lake import rollback, with_conflict_retry
from ingest.landing import LandingFile, LandingFileError, check_gzip_complete, find_landing_files, read_header
from ingest.names import InvalidNameError, validate_exchange, validate_symbol
from ingest.sql import quote_ident, sql_literal
from ingest.warehouse import ensure_raw_schema, fence

log = logging.getLogger(__name__)

# Tolerance for exchange clocks running ahead of ours before a timestamp counts as future.
FUTURE_SLACK_US = 5 * 60 * 1_000_000


class NoLandingFilesError(LandingFileError):
    """The day has no file of the dataset at all (an empty day still needs a header-only file)."""


@dataclass
class LoadReport:
    dataset: str
    day: dt.date
    files: list[str]
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_replaced: int = 0
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    rows_by_symbol: dict[str, int] = field(default_factory=dict)
    min_ts: dt.datetime | None = None
    max_ts: dt.datetime | None = None
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    used_line_numbering: bool = False
    seconds: float = 0.0
    # Exchanges that traded on the day without a book file they are allowed to lack (trades-only).
    missing_book_files: list[str] = field(default_factory=list)
    # No file of the dataset, allowed because the day has other datasets' files (a quotes-only day): theirs.
    absent_beside: list[str] = field(default_factory=list)


def _reasons(ds: Dataset) -> dict[str, str]:
    return {**COMMON_REASONS, **ds.reasons}


_QUARANTINE_COLUMNS = "dataset, partition_date, source_file, source_line, rule, reason, raw_line"


def _drop_temp(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Drop the load's temporary tables and views (whichever each is), named in the `temp` catalog.

    Why qualified, and no catalog query: an unqualified name, or information_schema, makes DuckDB look
    in the lake's catalog too, a round trip to it each (3-40 ms a statement, about 100 ms a day's load).
    """
    for name in names:
        try:
            con.execute(f"DROP VIEW IF EXISTS temp.main.{quote_ident(name)}")
        except duckdb.CatalogException:  # it is a table
            con.execute(f"DROP TABLE temp.main.{quote_ident(name)}")


def _day_bounds_us(day: dt.date) -> tuple[int, int]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    us = int(start.timestamp()) * 1_000_000
    return us, us + 86_400 * 1_000_000


class _GzipCheck(threading.Thread):
    """Runs the gzip integrity check beside DuckDB's read; zlib releases the GIL."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.error: LandingFileError | None = None

    def run(self) -> None:
        try:
            check_gzip_complete(self.path)
        except LandingFileError as exc:
            self.error = exc


def _read_file(
    con: duckdb.DuckDBPyConnection, ds: Dataset, lf: LandingFile, index: int, header: list[str], numbered: bool
) -> None:
    types = ds.csv_types(header)
    columns = "{" + ", ".join(f"'{n}': '{t}'" for n, t in types.items()) + "}"
    rejects = f"_rej_{index}"
    numbering = "row_number() OVER () AS _rn," if numbered else "NULL::BIGINT AS _rn,"
    # DuckDB appends to an existing reject store; start each read from an empty one.
    _drop_temp(con, rejects, f"{rejects}_scan")
    inner = f"""SELECT {numbering} {ds.staged_select(header)}, $2 AS source_file
        FROM read_csv($1, header = true, columns = {columns}, auto_detect = false, delim = ',',
                      quote = '"', escape = '"', store_rejects = true,
                      rejects_table = '{rejects}', rejects_scan = '{rejects}_scan')"""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _stage_{index} AS {ds.wrap(inner, numbered)}", [str(lf.path), lf.path.name]
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _rejlines_{index} AS
        SELECT line, first(error_type ORDER BY column_idx) AS error_type,
               first(error_message ORDER BY column_idx) AS error_message, first(csv_line) AS csv_line
        FROM {rejects} GROUP BY line"""
    )
    if numbered:
        # Good row k sits on line k + 1 plus the rejected lines before it; g is the number of good
        # rows that precede each rejected line.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _rejg_{index} AS
            SELECT line - 2 - (row_number() OVER (ORDER BY line) - 1) AS g FROM _rejlines_{index}"""
        )
        con.execute(
            f"""UPDATE _stage_{index} SET _rn = _rn + 1 + (SELECT count(*) FROM _rejg_{index} r WHERE r.g < _rn)"""
        )


def _stage(
    con: duckdb.DuckDBPyConnection, ds: Dataset, files: list[LandingFile], numbered: bool, report: LoadReport
) -> None:
    checks = []
    for i, lf in enumerate(files):
        header = read_header(lf.path)
        missing = [c for c in ds.required(header) if c not in header]
        if missing:
            raise LandingFileError(f"{lf.path}: missing required columns {missing}")
        known = ds.known(header)
        extra = [c for c in header if c not in known]
        if extra:
            report.extra_columns[lf.path.name] = extra
        check = _GzipCheck(lf.path)
        if not numbered:
            check.start()
            checks.append(check)
        t0 = time.perf_counter()
        _read_file(con, ds, lf, i, header, numbered)
        log.info("read %s in %.2fs%s", lf.path.name, time.perf_counter() - t0, " (numbered)" if numbered else "")
    for check in checks:
        check.join()
        if check.error:
            raise check.error
    union = " UNION ALL ".join(f"SELECT * FROM _stage_{i}" for i in range(len(files)))
    con.execute(f"CREATE OR REPLACE TEMP VIEW _staged AS {union}")


def _flag_rules(
    con: duckdb.DuckDBPyConnection, ds: Dataset, day: dt.date, now_us: int, materialize: bool
) -> tuple[int, int]:
    names = con.execute("SELECT DISTINCT exchange, symbol FROM _staged WHERE exchange IS NOT NULL").fetchall()
    bad = []
    for exchange, symbol in names:
        try:
            validate_exchange(exchange)
            validate_symbol(symbol or "")
        except InvalidNameError:
            bad.append(f"{exchange}|{symbol}")
    con.execute("CREATE OR REPLACE TEMP TABLE _bad_names (k VARCHAR)")
    if bad:
        con.executemany("INSERT INTO _bad_names VALUES (?)", [[k] for k in bad])
    start, end = _day_bounds_us(day)
    # On a clean day a view is cheaper than a second copy of the day; views cannot hold parameters.
    kind = "TABLE" if materialize else "VIEW"
    rule_case = ds.rule_case.replace("$1", str(start)).replace("$2", str(end)).replace("$3", str(now_us))
    _drop_temp(con, "_ruled")
    con.execute(f"CREATE TEMP {kind} _ruled AS SELECT *, {rule_case} AS rule FROM _staged")
    flagged, dups = con.execute(
        "SELECT count(*) FILTER (WHERE rule IS NOT NULL), "
        + (f"count(*) - count(DISTINCT ({ds.dup_key}))" if ds.dup_key else "0")
        + " FROM _ruled"
    ).fetchone()
    return int(flagged), int(dups)


def _mark_duplicates(con: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    # The first occurrence in (file, line) order is kept; later ones are quarantined.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ruled AS
        SELECT * REPLACE (CASE WHEN rule IS NULL AND _dup_rank > 1 THEN '{ds.dup_rule}' ELSE rule END AS rule)
        FROM (
            SELECT *, row_number() OVER w AS _dup_rank,
                   first_value(source_file || ':' || _rn) OVER w AS _first_seen
            FROM _ruled
            WINDOW w AS (PARTITION BY {ds.dup_key}, rule IS NULL ORDER BY source_file, _rn)
        )"""
    )


def load_day(
    con: duckdb.DuckDBPyConnection,
    landing_root: Path,
    day: dt.date,
    dataset: str,
    *,
    now: dt.datetime | None = None,
    books: BookExpectation | None = None,
) -> LoadReport:
    """Replace one day of `dataset` (ingest/datasets: `trades`, `book_snapshots`, `quotes`...) from the
    landing files.

    A day without a file of the dataset fails the load, unless its declaration says otherwise:
    book snapshots: an exchange that traded without a book file fails the load if it is expected
    to have books (`books`, default TICKWH_BOOK_EXCHANGES, see ingest.books), else it is listed in
    `missing_book_files` and the day loads what book files there are (possibly none); the optional
    datasets (quotes, derivative_ticker, liquidations): the day holds none of their rows. Trades, and
    books of a day nobody traded: none, if the day has files of the optional datasets only (a
    quotes-only day, `absent_beside` names their types); with no file at all, or a book file but no
    trades file, the day is not delivered.
    """
    ds = datasets.dataset(dataset)
    t_start = time.perf_counter()
    con.execute("SET enable_progress_bar = false")
    ensure_raw_schema(con)
    files = find_landing_files(Path(landing_root), ds.family, day)
    missing_books: list[str] = []
    if ds.missing == MISSING_IS_EMPTY and not files:
        log.info("%s %s: no %s file (none delivered for the day): the day holds no rows", ds.name, day, ds.family)
        return _replace_with_nothing(con, ds, day, [], t_start)
    if ds.missing == MISSING_PER_BOOK_RULE:
        missing_books = missing_book_exchanges(Path(landing_root), day, books or BookExpectation.from_env())
        if missing_books:
            log.warning("book_snapshots %s: no book file for %s (trades-only)", day, ", ".join(missing_books))
        if not files and missing_books:
            return _replace_with_nothing(con, ds, day, missing_books, t_start)
    if not files and ds.missing in (MISSING_UNLESS_OTHER_DATA, MISSING_PER_BOOK_RULE):
        # Only a day of the optional datasets alone: trades lost beside books (or books beside quotes and
        # trades) is an outage, not a quotes-only day.
        present = [d.family for d in datasets.DATASETS
                   if d.family != ds.family and find_landing_files(Path(landing_root), d.family, day)]
        if present and datasets.OPTIONAL_FAMILIES.issuperset(present):
            log.warning("%s %s: no %s file; the day has %s files (a %s-only day): it holds no %s rows",
                        ds.name, day, ds.family, ", ".join(present), "+".join(present), ds.name)
            return _replace_with_nothing(con, ds, day, [], t_start, absent_beside=present)
    if not files:
        raise NoLandingFilesError(
            f"no {ds.family} files for {day} under {landing_root} "
            f"(expected <exchange>_{ds.family}..._{day}_<symbols>.csv.gz)"
        )
    report = LoadReport(dataset=ds.name, day=day, files=[f.path.name for f in files], missing_book_files=missing_books)
    now_us = int((now or dt.datetime.now(dt.UTC)).timestamp() * 1_000_000) + FUTURE_SLACK_US

    _stage(con, ds, files, numbered=False, report=report)
    flagged, dups = _flag_rules(con, ds, day, now_us, materialize=False)
    if flagged or dups:
        log.info("%s %s: %d rule violations, %d duplicates; re-reading with line numbers", ds.name, day, flagged, dups)
        report.used_line_numbering = True
        _stage(con, ds, files, numbered=True, report=report)
        _flag_rules(con, ds, day, now_us, materialize=True)
        if dups:
            _mark_duplicates(con, ds)
    has_first_seen = bool(dups)

    rejects = " UNION ALL ".join(
        f"SELECT '{i}' AS f, line, error_type, error_message, csv_line FROM _rejlines_{i}"
        for i in range(len(files))
    )
    reason_cases = " ".join(f"WHEN '{k}' THEN {sql_literal(v)}" for k, v in _reasons(ds).items())
    dup_reason = ds.dup_reason_sql if has_first_seen else "NULL"
    file_names = [f.path.name for f in files]

    # The day's quarantine, gathered before the transaction: its counts come from here, not from a read of
    # the lake (each read after a commit reloads the lake's catalog: 20-60 ms on a small day).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _quarantine AS
        SELECT $1 AS dataset, $2 AS partition_date, ($3)[f::INTEGER + 1] AS source_file, line AS source_line,
               CASE WHEN error_type = 'CAST' AND regexp_matches(error_message, '"[+-]?(nan|inf|infinity)"', 'i')
                    THEN 'non_finite_value'
                    WHEN error_type = 'CAST' THEN 'unparseable_value'
                    WHEN error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') THEN 'wrong_column_count'
                    ELSE 'malformed_line' END AS rule,
               error_message AS reason, csv_line AS raw_line
        FROM ({rejects})
        UNION ALL
        SELECT $1, $2, source_file, _rn, rule,
               CASE rule {reason_cases} WHEN '{ds.dup_rule}' THEN {dup_reason} END,
               {ds.raw_line_expr}
        FROM _ruled WHERE rule IS NOT NULL""",
        [ds.name, day, file_names],
    )
    report.quarantine_by_rule = {
        rule: int(n) for rule, n in
        con.execute("SELECT rule, count(*) FROM temp.main._quarantine GROUP BY rule ORDER BY rule").fetchall()
    }

    def fill() -> None:
        con.execute(
            f"INSERT INTO {ds.table} SELECT {ds.insert_select} FROM _ruled WHERE rule IS NULL",
            [day],
        )
        con.execute(f"INSERT INTO raw.quarantine ({_QUARANTINE_COLUMNS}) SELECT * FROM temp.main._quarantine")
        # Counted inside the transaction, from what it wrote: after the commit this read would reload the
        # lake's catalog first.
        report.rows_by_symbol, report.min_ts, report.max_ts = {}, None, None
        for symbol, n, lo, hi in con.execute(
            f"""SELECT symbol, count(*), min(ts), max(ts) FROM {ds.table} WHERE {ds.date_column} = ?
            GROUP BY symbol ORDER BY symbol""",
            [day],
        ).fetchall():
            report.rows_by_symbol[symbol] = int(n)
            report.min_ts = lo if report.min_ts is None else min(report.min_ts, lo)
            report.max_ts = hi if report.max_ts is None else max(report.max_ts, hi)

    report.rows_replaced = _replace_day(con, ds, day, fill, what=f"loading {ds.name} for {day}")
    report.rows_quarantined = sum(report.quarantine_by_rule.values())
    report.rows_loaded = sum(report.rows_by_symbol.values())
    for i in range(len(files)):
        _drop_temp(con, f"_stage_{i}", f"_rejlines_{i}", f"_rejg_{i}", f"_rej_{i}", f"_rej_{i}_scan")
    _drop_temp(con, "_quarantine", "_ruled", "_staged", "_bad_names")
    report.seconds = time.perf_counter() - t_start
    log.info(
        "%s %s: %d rows loaded, %d quarantined, %d replaced in %.2fs",
        ds.name, day, report.rows_loaded, report.rows_quarantined, report.rows_replaced, report.seconds,
    )
    return report


def _replace_with_nothing(
    con: duckdb.DuckDBPyConnection, ds: Dataset, day: dt.date, missing_books: list[str], t_start: float,
    absent_beside: list[str] | None = None,
) -> LoadReport:
    """A day with no file of the dataset that is allowed to have none: the day holds no rows afterwards."""
    report = LoadReport(dataset=ds.name, day=day, files=[], missing_book_files=missing_books,
                        absent_beside=absent_beside or [])

    report.rows_replaced = _replace_day(con, ds, day, lambda: None, what=f"emptying {ds.name} for {day}")
    report.seconds = time.perf_counter() - t_start
    return report


def _replace_day(
    con: duckdb.DuckDBPyConnection, ds: Dataset, day: dt.date, fill: Callable[[], None], *, what: str
) -> int:
    """Delete the day and its quarantine, `fill` them again, in one transaction: one lake snapshot, so a
    reader sees the day before or after, never between. Returns the rows replaced. The fence makes a
    concurrent load of the dataset conflict; the loser runs the whole transaction again."""

    def swap() -> int:
        con.execute("BEGIN TRANSACTION")
        try:
            fence(con, ds.name)
            replaced = con.execute(f"DELETE FROM {ds.table} WHERE {ds.date_column} = ?", [day]).fetchone()[0]
            con.execute("DELETE FROM raw.quarantine WHERE dataset = ? AND partition_date = ?", [ds.name, day])
            fill()
            con.execute("COMMIT")
        except BaseException:
            rollback(con)
            raise
        return int(replaced)

    return with_conflict_retry(swap, what=what)


def load_trades(con: duckdb.DuckDBPyConnection, landing_root: Path, day: dt.date, **kw) -> LoadReport:
    return load_day(con, landing_root, day, "trades", **kw)


def load_book_snapshots(con: duckdb.DuckDBPyConnection, landing_root: Path, day: dt.date, **kw) -> LoadReport:
    return load_day(con, landing_root, day, "book_snapshots", **kw)
