"""Helpers that turn load reports and query results into Dagster UI metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from ingest.loader import LoadReport

# A raw asset's metadata key: {day: [the other datasets' file types]} for days loaded with no file of
# its own dataset beside other data (ingest.loader `absent_beside`); the dataset's suite reads it.
ABSENT_BESIDE = "absent_beside"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def preview(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> MetadataValue:
    cur = con.execute(sql, list(params))
    columns = [d[0] for d in cur.description]
    return MetadataValue.md(markdown_table(columns, cur.fetchall()))


def load_metadata(reports: Sequence[LoadReport]) -> dict[str, Any]:
    """Metadata for a load of one or more days: totals plus a per-day table."""
    rules: dict[str, int] = {}
    for r in reports:
        for rule, n in r.quarantine_by_rule.items():
            rules[rule] = rules.get(rule, 0) + n
    min_ts = min((r.min_ts for r in reports if r.min_ts), default=None)
    max_ts = max((r.max_ts for r in reports if r.max_ts), default=None)
    per_day = markdown_table(
        ["day", "rows", "quarantined", "replaced", "symbols", "files", "seconds"],
        [
            [r.day, r.rows_loaded, r.rows_quarantined, r.rows_replaced, len(r.rows_by_symbol), len(r.files),
             f"{r.seconds:.2f}"]
            for r in reports
        ],
    )
    meta: dict[str, Any] = {
        "dagster/row_count": sum(r.rows_loaded for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "rows_replaced": sum(r.rows_replaced for r in reports),
        "quarantine_by_rule": MetadataValue.json(rules),
        "first_ts": MetadataValue.text(str(min_ts)),
        "last_ts": MetadataValue.text(str(max_ts)),
        "per_day": MetadataValue.md(per_day),
        "files": MetadataValue.json(sorted({f for r in reports for f in r.files})),
        "load_seconds": round(sum(r.seconds for r in reports), 3),
    }
    extra = {f: cols for r in reports for f, cols in r.extra_columns.items()}
    if extra:
        meta["ignored_extra_columns"] = MetadataValue.json(extra)
    return meta


def not_evaluated(reason: str, metadata: dict[str, Any] | None = None) -> AssetCheckResult:
    """A check that compared nothing: a WARN (never a pass) saying why, marked `evaluated: false`."""
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.WARN,
        description=f"not evaluated: {reason}",
        metadata={"evaluated": False, "reason": reason, **(metadata or {})},
    )
