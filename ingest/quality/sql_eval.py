"""Evaluate a suite frame's expectations inside DuckDB: aggregates over a relation, no pandas, no GE.

Why: a `rows` frame of a raw dataset has one row per trade or snapshot. Pulling a 10M-trade day
into pandas and running GE's pandas engine over it took a minute and ~9 GB; counting violations
with a few aggregate queries where the data already lives takes seconds and little memory. GE's
own SQL engine is not an option on DuckDB at these pins (../shared/STACK.md).

Every frame is evaluated here unless its suite marks it `"engine": "pandas"` (then GE does it).
A big frame's preparer returns a `SqlFrame` (SQL text, bound parameters, the Arrow tables it
reads); a small frame's DataFrame is scanned in place (`frame_of`). Only the expectation types
below are implemented, with GE 1.24's pandas semantics, so results look exactly like the GE
path's (`ExpectationOutcome`):

- NULL and NaN are missing. Column rules skip missing values; `unexpected_percent` is unexpected
  over non-missing rows (GE's `unexpected_percent`, not `unexpected_percent_total`);
  `not_null` counts missing values over all rows.
- `mostly` as GE's `_mostly_success`; an empty frame (or no non-missing value) passes vacuously.
- `compound_unique`: rows whose key occurs more than once (every copy), NULL equal to NULL, rows
  skipped per `ignore_row_if` (GE's default: all key columns missing).
- `examples`: the first `EXAMPLES_PER_RULE` violating rows in the frame's order (the preparer's
  ORDER BY), as the frame's id columns plus the checked column(s), fetched only when a rule has
  unexpected rows (GE reports them then, even when `mostly` lets the rule pass).
- `observed_value` as the GE path's (`suites._observed`): finite min/max for numeric and time columns, the null
  count for `not_null`, a sorted `distinct_sample` (at most 10 values) for other columns. GE keeps
  the first 10 distinct values in frame order; here it is the 10 smallest, the same set whenever
  the column has at most 10 distinct values (a column an in-set rule checks).

`tests/test_quality.py` runs one planted frame through both engines and compares every field.
Anything else (another expectation type, a kwarg like `row_condition`) is refused when the suite
is loaded, not silently evaluated differently. Column names from suites are checked against
a strict identifier pattern and quoted; values are bound as parameters, never formatted into SQL.
"""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ingest.quality.spec import (
    EXAMPLES_PER_RULE,
    ExpectationOutcome,
    ExpectationSpec,
    SuiteDefinitionError,
    SuiteSpec,
    jsonable,
)

ENGINES = ("pandas", "duckdb")
DISTINCT_SAMPLE = 10  # as the GE path's `suites._observed`
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_BOUNDS = {"min_value", "max_value", "strict_min", "strict_max"}
KWARGS: dict[str, frozenset[str]] = {
    "expect_table_row_count_to_be_between": frozenset(_BOUNDS),
    "expect_column_values_to_not_be_null": frozenset({"column", "mostly"}),
    "expect_column_values_to_be_between": frozenset({"column", "mostly"} | _BOUNDS),
    "expect_column_values_to_be_in_set": frozenset({"column", "value_set", "mostly"}),
    "expect_compound_columns_to_be_unique": frozenset({"column_list", "ignore_row_if", "mostly"}),
    "expect_column_pair_values_a_to_be_greater_than_b": frozenset(
        {"column_A", "column_B", "or_equal", "ignore_row_if", "mostly"}),
    "expect_table_columns_to_match_set": frozenset({"column_set", "exact_match"}),
}
SUPPORTED_TYPES: tuple[str, ...] = tuple(KWARGS)
_IGNORE_ROW_IF = ("all_values_are_missing", "any_value_is_missing", "never")
_PAIR_IGNORE_ROW_IF = ("both_values_are_missing", "either_value_is_missing", "neither")  # GE's names for pairs
_PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
_COLUMN_SET = "expect_table_columns_to_match_set"
# Value sets up to this size are checked member by member in the main aggregate, which also
# yields the distinct sample; larger ones (or string columns of a range rule) cost a GROUP BY.
_MEMBER_COUNTS_UP_TO = 32
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"}


def ident(name: str) -> str:
    """`name` double-quoted for SQL, after checking it is a plain identifier."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"not a plain column name: {name!r}")
    return f'"{name}"'


# --------------------------------------------------------------------------------------------
# The relation
# --------------------------------------------------------------------------------------------


def _used(params: Mapping[str, Any], sql: str) -> dict[str, Any]:
    """The named parameters `sql` refers to: DuckDB rejects a query given one it does not use."""
    return {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}(?![A-Za-z0-9_])", sql)}


@dataclass(frozen=True)
class SqlFrame:
    """A frame kept inside DuckDB: a SELECT (no ORDER BY) with its named parameters.

    `order_by` is the order the pandas frame had (examples are the first violating rows in that
    order); `tables` are Arrow tables the SQL reads by name, registered only while a query runs.

    `parts` are optional cheaper queries, each yielding some of the frame's columns with exactly
    the frame's values and row count (in any row order): aggregates over single columns run on
    them. Why: a frame that joins derived columns onto a table scan pays for the join in every
    query, while counting NULLs in the table needs no join. Rules that need whole rows (examples)
    read `sql`.
    """

    con: duckdb.DuckDBPyConnection
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    order_by: tuple[str, ...] = ()
    tables: Mapping[str, Any] = field(default_factory=dict)
    parts: tuple[str, ...] = ()
    natural_order: bool = False  # the rows' scan order is the frame order (a scanned DataFrame)
    # The column naming each row's slice (a day of a window), in `sql` and every part; not one of
    # the frame's columns. A sliced frame is evaluated once for all its slices (`evaluate_slices`).
    by: str | None = None

    def __post_init__(self) -> None:
        for name in (*self.order_by, *self.tables, *([self.by] if self.by else [])):
            ident(name)
        bad = [k for k in self.params if k.startswith("qp")]
        if bad:
            raise ValueError(f"parameter names starting with 'qp' are the evaluator's: {bad}")

    @staticmethod
    def table_name(prefix: str) -> str:
        """A fresh name for an Arrow table the SQL reads (one connection may hold several frames)."""
        return f"{prefix}_{uuid.uuid4().hex[:12]}"

    @contextlib.contextmanager
    def bound(self) -> Iterator[duckdb.DuckDBPyConnection]:
        for name, table in self.tables.items():
            self.con.register(name, table)
        try:
            yield self.con
        finally:
            for name in self.tables:
                self.con.unregister(name)

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *, fetch: str = "all",
              source: str | None = None) -> Any:
        """Run `sql`, which reads the frame (or the part `source`) as `f`, with the frame's and
        `params` bound; `fetch` is `one`, `all` or `df`. The result is read before the Arrow
        tables are released."""
        text = f"WITH f AS ({self.sql if source is None else source}) {sql}"
        with self.bound() as con:
            result = con.execute(text, _used({**self.params, **(params or {})}, text))
            return {"one": result.fetchone, "all": result.fetchall, "df": result.df}[fetch]()

    def columns(self, source: str | None = None) -> dict[str, str]:
        """Column name -> DuckDB type of the frame (or a part), from binding the query alone."""
        text = f"DESCRIBE SELECT * FROM ({self.sql if source is None else source})"
        with self.bound() as con:
            rows = con.execute(text, _used(self.params, text)).fetchall()
        return {r[0]: str(r[1]) for r in rows if r[0] != self.by}

    def slice(self, key: Any) -> SqlFrame:
        """The rows of one slice as a frame of its own (no `by` column): what a one-day frame is."""
        if self.by is None:
            raise ValueError("not a sliced frame")
        by = ident(self.by)

        def only(sql: str) -> str:
            return f"SELECT * EXCLUDE ({by}) FROM ({sql}) WHERE {by} = $slice_key"

        return SqlFrame(self.con, only(self.sql), {**self.params, "slice_key": key}, self.order_by, self.tables,
                        tuple(only(p) for p in self.parts), self.natural_order)

    def order_sql(self, extra: Sequence[str] = ()) -> str:
        if self.natural_order:
            return ""  # DuckDB keeps insertion order (preserve_insertion_order) when nothing sorts
        keys = list(dict.fromkeys([*self.order_by, *extra]))
        return f"ORDER BY {', '.join(ident(k) for k in keys)}" if keys else ""

    def to_df(self) -> pd.DataFrame:
        """The whole frame in pandas, in frame order: for Data Docs and tests on small data only."""
        return self.query(f"SELECT * FROM f {self.order_sql()}", fetch="df")

    def count(self) -> int:
        return int(self.query("SELECT count(*) FROM f", fetch="one")[0])


def frame_of(df: pd.DataFrame, con: duckdb.DuckDBPyConnection) -> SqlFrame:
    """A small pandas frame (a preparer's per-symbol or reconciliation frame) as a relation that
    `con` (any connection; it only registers the frame by a fresh name) scans in place. Rows keep
    the frame's order (DuckDB preserves insertion order), so examples come out as GE lists them."""
    name = SqlFrame.table_name("frame")
    return SqlFrame(con, f"SELECT * FROM {name}", tables={name: df}, natural_order=True)


# --------------------------------------------------------------------------------------------
# Suite-load checks
# --------------------------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _check_kwargs(e: ExpectationSpec) -> str | None:
    """Why `e` cannot be evaluated here, or None."""
    k = e.kwargs
    unknown = sorted(set(k) - KWARGS[e.type])
    if unknown:
        return f"kwargs {unknown} are not supported by the duckdb engine (supported: {sorted(KWARGS[e.type])})"
    if e.type == _COLUMN_SET:
        names = k.get("column_set")
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            return "column_set must be a list of column names"
        if not isinstance(k.get("exact_match", True), bool):
            return "exact_match must be true or false"
        return None
    columns = _columns_of(e)
    plain = isinstance(columns, list) and columns and all(isinstance(c, str) and _IDENT.match(c) for c in columns)
    if e.type != "expect_table_row_count_to_be_between" and not plain:
        return f"column(s) {columns!r} must be plain identifiers ({_IDENT.pattern})"
    mostly = k.get("mostly", 1)
    if isinstance(mostly, bool) or not isinstance(mostly, (int, float)) or not 0 <= mostly <= 1:
        return f"mostly must be a number in [0, 1], got {mostly!r}"
    if not all(_is_scalar(k.get(b)) for b in _BOUNDS):
        return "min_value/max_value/strict_min/strict_max must be plain values"
    if e.type == "expect_column_values_to_be_between":
        lo, hi = k.get("min_value"), k.get("max_value")
        if lo is None and hi is None:
            return "min_value and max_value cannot both be None"
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
            return "min_value cannot be greater than max_value"
    if e.type == "expect_column_values_to_be_in_set":
        values = k.get("value_set")
        if not isinstance(values, list) or not all(_is_scalar(v) and v is not None for v in values):
            return "value_set must be a list of plain values"
    allowed = _PAIR_IGNORE_ROW_IF if e.type == _PAIR else _IGNORE_ROW_IF
    if k.get("ignore_row_if", allowed[0]) not in allowed:
        return f"ignore_row_if must be one of {allowed}"
    if not isinstance(k.get("or_equal", False) or False, bool):
        return "or_equal must be true or false"
    return None


def check_frame(suite: str, frame: str, frame_meta: Mapping[str, Any], specs: Sequence[ExpectationSpec]) -> None:
    """Refuse, at suite load, a duckdb frame whose rules this module cannot evaluate like GE."""
    for c in frame_meta.get("id_columns", []):
        if not isinstance(c, str) or not _IDENT.match(c):
            raise SuiteDefinitionError(f"{suite}.json frame {frame}: id column {c!r} is not a plain identifier")
    for e in specs:
        where = f"{suite}.json rule {e.rule} (frame {frame}, engine duckdb)"
        if e.type not in KWARGS:
            raise SuiteDefinitionError(f"{where}: {e.type} is not supported by the duckdb engine; "
                                       f"supported: {', '.join(SUPPORTED_TYPES)} "
                                       '(or mark the frame "engine": "pandas" to run it through GE)')
        problem = _check_kwargs(e)
        if problem:
            raise SuiteDefinitionError(f"{where}: {problem}")


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _kind(duck_type: str) -> str:
    t = duck_type.upper()
    if t in ("FLOAT", "DOUBLE", "REAL"):
        return "float"
    if t.startswith("DECIMAL"):
        return "decimal"
    if t in _INTEGERS:
        return "int"
    if t == "BOOLEAN":
        return "bool"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "time"
    return "other"


class _Aggregate:
    """One aggregate query over a source (the frame or a part), built up rule by rule; an
    expression several rules share is computed once."""

    def __init__(self, part: int | None, types: Mapping[str, str]) -> None:
        self.part = part  # index into the frame's parts, None for the frame itself
        self.types = dict(types)
        self.kinds = {c: _kind(t) for c, t in types.items()}
        self.exprs: dict[str, str] = {"count(*)": "n"}
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"qp{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def add(self, expr: str) -> str:
        return self.exprs.setdefault(expr, f"a{len(self.exprs)}")

    def missing(self, column: str) -> str:
        c = ident(column)
        # pandas (and so GE) reads a DuckDB NaN and a NULL alike as missing.
        return f"({c} IS NULL OR isnan({c}))" if self.kinds[column] == "float" else f"({c} IS NULL)"

    def present(self, column: str) -> str:
        """Alias of the count of non-missing values (count(c) is nearly free: no predicate)."""
        c = ident(column)
        return self.count_if(f"NOT isnan({c})") if self.kinds[column] == "float" else self.add(f"count({c})")

    def count_if(self, predicate: str) -> str:
        # count_if beats count(*) FILTER (...) by a third; over no rows it is NULL, not 0
        return self.add(f"coalesce(count_if({predicate}), 0)")

    def sql(self) -> str:
        return "SELECT " + ", ".join(f"{e} AS {a}" for e, a in self.exprs.items()) + " FROM f"

    def source(self, rel: SqlFrame) -> str | None:
        return None if self.part is None else rel.parts[self.part]

    def run(self, rel: SqlFrame) -> dict[Any, dict[str, Any]]:
        """Slice key -> alias -> value, for the slices that have rows (the one slice None of an
        unsliced frame always has a row)."""
        aliases = list(self.exprs.values())
        if rel.by is None:
            values = rel.query(self.sql(), self.params, fetch="one", source=self.source(rel))
            return {None: dict(zip(aliases, values, strict=True))}
        rows = rel.query(f"SELECT {ident(rel.by)}, {self.sql().removeprefix('SELECT ')} GROUP BY 1", self.params,
                         source=self.source(rel))
        return {r[0]: dict(zip(aliases, r[1:], strict=True)) for r in rows}

    def empty(self, rel: SqlFrame) -> dict[str, Any]:
        """The aggregates over no rows: what a slice without rows reports."""
        values = rel.query(f"{self.sql()} WHERE false", self.params, fetch="one", source=self.source(rel))
        return dict(zip(self.exprs.values(), values, strict=True))


@dataclass
class _Rule:
    """One expectation's share of the queries, then its outcome."""

    spec: ExpectationSpec
    agg: _Aggregate | None = None
    kind: str = ""  # "table", "not_null", "column", "compound"
    error: str | None = None
    unexpected: str | None = None  # alias in the aggregate
    considered: str | None = None  # alias: non-missing rows
    violation: str | None = None  # SQL predicate of a violating row
    observed: dict[str, str] = field(default_factory=dict)  # aliases of observation aggregates
    members: dict[Any, str] = field(default_factory=dict)  # in-set value -> alias of its row count
    counts: dict[str, int] = field(default_factory=dict)  # considered / unexpected, once known


def _plan_column_rule(rule: _Rule, agg: _Aggregate) -> None:
    spec = rule.spec
    column = spec.column
    c, kind = ident(column), agg.kinds[column]
    rule.considered = agg.present(column)
    if spec.type == "expect_column_values_to_not_be_null":
        rule.kind, rule.violation = "not_null", agg.missing(column)
        return
    rule.kind = "column"
    present = f"NOT isnan({c})" if kind == "float" else f"{c} IS NOT NULL"
    if spec.type == "expect_column_values_to_be_between":
        ok = _between(c, spec.kwargs, agg)
    else:
        values = spec.kwargs["value_set"]
        ok = f"{c} IN ({', '.join(agg.bind(v) for v in values)})" if values else "false"
        if kind == "other" and len(values) <= _MEMBER_COUNTS_UP_TO:
            rule.members = {v: agg.count_if(f"{c} = {agg.bind(v)}") for v in dict.fromkeys(values)}
    rule.violation = f"({present} AND NOT ({ok}))"
    rule.unexpected = agg.count_if(rule.violation)
    if kind in ("float", "decimal", "int", "bool", "time"):
        value = {"float": f"CASE WHEN isfinite({c}) THEN {c} END", "decimal": f"CAST({c} AS DOUBLE)"}.get(kind, c)
        if agg.types[column].upper() == "DATE":
            value = f"CAST({c} AS TIMESTAMP)"  # pandas holds dates as datetime64
        rule.observed = {"min": agg.add(f"min({value})"), "max": agg.add(f"max({value})")}


def _between(c: str, kw: Mapping[str, Any], agg: _Aggregate) -> str:
    parts = []
    if kw.get("min_value") is not None:
        parts.append(f"{c} {'>' if kw.get('strict_min') else '>='} {agg.bind(kw['min_value'])}")
    if kw.get("max_value") is not None:
        parts.append(f"{c} {'<' if kw.get('strict_max') else '<='} {agg.bind(kw['max_value'])}")
    return " AND ".join(parts)


def _skipped(columns: Sequence[str], how: str, agg: _Aggregate) -> str:
    if how == "never":
        return "false"
    joiner = " AND " if how == "all_values_are_missing" else " OR "
    return "(" + joiner.join(agg.missing(c) for c in columns) + ")"


def _group_key(column: str, agg: _Aggregate, table: str = "") -> str:
    c = f"{table}.{ident(column)}" if table else ident(column)
    # pandas `duplicated` puts NaN and NULL in one group; DuckDB would keep them apart.
    return f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END" if agg.kinds[column] == "float" else c


def _columns_of(spec: ExpectationSpec) -> list[str]:
    if spec.type in ("expect_table_row_count_to_be_between", _COLUMN_SET):
        return []
    if spec.type == _PAIR:
        return [spec.kwargs.get("column_A"), spec.kwargs.get("column_B")]
    if spec.type == "expect_compound_columns_to_be_unique":
        return list(spec.kwargs.get("column_list") or [])
    return [spec.column]


def _plan(spec: ExpectationSpec, aggs: Sequence[_Aggregate]) -> _Rule:
    """Place `spec` in the first aggregate whose source has all its columns (the frame's last)."""
    rule = _Rule(spec)
    columns = _columns_of(spec)
    rule.agg = next((a for a in aggs if all(c in a.kinds for c in columns)), aggs[-1])
    if spec.type == "expect_table_row_count_to_be_between":
        rule.kind = "table"
        return rule
    if spec.type == _COLUMN_SET:
        rule.kind, rule.agg = "column_set", aggs[-1]  # the whole frame's columns, not a part's
        return rule
    absent = [c for c in columns if c not in aggs[-1].kinds]
    if absent:
        rule.error = f"The column(s) {absent} do not exist in the frame (columns: {sorted(aggs[-1].kinds)})."
        return rule
    if spec.type == "expect_compound_columns_to_be_unique":
        rule.kind = "compound"
        return rule
    if spec.type == _PAIR:
        _plan_pair_rule(rule, rule.agg)
        return rule
    _plan_column_rule(rule, rule.agg)
    return rule


def _plan_pair_rule(rule: _Rule, agg: _Aggregate) -> None:
    """A > B (or >=) on the rows GE's `ignore_row_if` keeps; a missing value on a kept row fails,
    as the comparison does in pandas (NaN compares false; in DuckDB NaN would be the largest)."""
    kw = rule.spec.kwargs
    a, b = kw["column_A"], kw["column_B"]
    how = kw.get("ignore_row_if", _PAIR_IGNORE_ROW_IF[0])
    skip = {"both_values_are_missing": f"({agg.missing(a)} AND {agg.missing(b)})",
            "either_value_is_missing": f"({agg.missing(a)} OR {agg.missing(b)})", "neither": "false"}[how]
    ok = f"coalesce({_number(a, agg)} {'>=' if kw.get('or_equal') else '>'} {_number(b, agg)}, false)"
    rule.kind = "pair"
    rule.considered = agg.count_if(f"NOT {skip}")
    rule.violation = f"(NOT {skip} AND NOT {ok})"
    rule.unexpected = agg.count_if(rule.violation)


def _number(column: str, agg: _Aggregate) -> str:
    c = ident(column)
    return f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END" if agg.kinds[column] == "float" else c


def _count_duplicates(rel: SqlFrame, rule: _Rule) -> dict[Any, dict[str, int]]:
    """Per slice: rows considered, and rows whose key occurs more than once (every copy counts).
    Slices without considered rows are left out."""
    agg = rule.agg
    columns = rule.spec.kwargs["column_list"]
    skip = _skipped(columns, rule.spec.kwargs.get("ignore_row_if", _IGNORE_ROW_IF[0]), agg)
    keys = ", ".join(_group_key(c, agg) for c in columns)
    by = ident(rel.by) if rel.by else "NULL"
    found: dict[Any, dict[str, int]] = {}
    if all(agg.kinds[c] != "float" for c in columns):
        # Grouping by a 64-bit hash is much cheaper than by the strings themselves, and equal
        # keys hash alike: no repeated hash proves there is no duplicate. (Floats are left out:
        # -0.0 and 0.0 compare equal but need not hash alike.)
        rows = rel.query(f"SELECT {by}, count(*), count(DISTINCT hash({keys})) FROM f WHERE NOT {skip} GROUP BY 1",
                         source=agg.source(rel))
        found = {key: {"considered": int(n), "unexpected": 0} for key, n, distinct in rows if n == distinct}
        if len(found) == len(rows):
            return found
    rows = rel.query(
        f"SELECT s, coalesce(sum(k), 0), coalesce(sum(k) FILTER (WHERE k > 1), 0) "
        f"FROM (SELECT {by} AS s, count(*) AS k FROM f WHERE NOT {skip} GROUP BY {by}, {keys}) GROUP BY s",
        source=agg.source(rel))
    return {key: {"considered": int(n), "unexpected": int(u)} for key, n, u in rows} | found


def _duplicate_rows_sql(rule: _Rule) -> str:
    """The frame's rows whose key is duplicated (as `f`, for the examples query)."""
    agg = rule.agg
    columns = rule.spec.kwargs["column_list"]
    skip = _skipped(columns, rule.spec.kwargs.get("ignore_row_if", _IGNORE_ROW_IF[0]), agg)
    # qualified throughout: the frame's own columns may be called anything
    on = " AND ".join(f"d.k{i} IS NOT DISTINCT FROM {_group_key(c, agg, 'g')}" for i, c in enumerate(columns))
    aliased = ", ".join(f"{_group_key(c, agg)} AS k{i}" for i, c in enumerate(columns))
    return (f"SELECT g.* FROM (SELECT * FROM f WHERE NOT {skip}) g SEMI JOIN "
            f"(SELECT {aliased} FROM f WHERE NOT {skip} GROUP BY ALL HAVING count(*) > 1) d ON {on}")


def _mostly_success(considered: int, unexpected: int, mostly: float) -> bool:
    return (float(considered) - float(unexpected)) / float(considered) >= mostly  # GE's _mostly_success


def _bounds_ok(value: Any, kw: Mapping[str, Any]) -> bool:
    lo, hi = kw.get("min_value"), kw.get("max_value")
    above = lo is None or (value > lo if kw.get("strict_min") else value >= lo)
    below = hi is None or (value < hi if kw.get("strict_max") else value <= hi)
    return bool(above and below)


def _examples(rel: SqlFrame, rule: _Rule, id_columns: list[str]) -> list[Any]:
    """The first violating rows in frame order, shaped like GE's partial_unexpected_(index_)list."""
    spec = rule.spec
    checked = _columns_of(spec)
    if id_columns:
        names = [*checked, *id_columns] if rule.kind != "compound" else [*id_columns, *checked]
    else:
        names = list(checked)
    select = ", ".join(ident(n) for n in dict.fromkeys(names))
    order = rel.order_sql(id_columns)
    if rule.kind == "compound":
        sql = f"SELECT {select} FROM ({_duplicate_rows_sql(rule)}) {order} LIMIT {EXAMPLES_PER_RULE}"
    else:
        sql = f"SELECT {select} FROM f WHERE {rule.violation} {order} LIMIT {EXAMPLES_PER_RULE}"
    # Through pandas, so values convert exactly as in the GE path's frame (NaN, NaT, <NA>...).
    df = rel.query(sql, rule.agg.params, fetch="df")
    for c in df.columns:
        if df[c].dtype == object and df[c].isna().all() and rule.agg.types.get(c) == "VARCHAR":
            df[c] = df[c].astype(_string_dtype())  # five NULLs alone convert unlike a column with values
    records = [{c: df[c].iloc[i] for c in df.columns} for i in range(len(df))]
    if id_columns or rule.kind == "compound":
        return records
    if rule.kind == "pair":  # GE lists (A, B) pairs
        return [[r[c] for c in checked] for r in records]
    return [r[spec.column] for r in records]


@functools.cache
def _string_dtype() -> Any:
    """The pandas dtype DuckDB gives a VARCHAR column that holds values and NULLs."""
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM (VALUES ('a'), (NULL)) t(v)").df()["v"].dtype


def _distinct_sample(rel: SqlFrame, rule: _Rule, row: Mapping[str, Any]) -> list[str]:
    c = ident(rule.spec.column)
    found = [v for v, alias in rule.members.items() if row[alias]]
    if rule.members and not rule.counts["unexpected"]:
        values = found
    else:  # values outside the set (or a column no member counts cover): the smallest few
        where = rule.violation if rule.members else f"NOT {rule.agg.missing(rule.spec.column)}"
        values = found + [r[0] for r in rel.query(
            f"SELECT DISTINCT {c} FROM f WHERE {where} ORDER BY 1 LIMIT {DISTINCT_SAMPLE}", rule.agg.params,
            source=rule.agg.source(rel))]
    return sorted(str(v) for v in values)[:DISTINCT_SAMPLE]


def _observed(rel: SqlFrame, rule: _Rule, n: int, row: Mapping[str, Any]) -> Any:
    if rule.kind == "table":
        return n
    if rule.kind == "column_set":
        return sorted(rule.agg.types)  # GE: the frame's columns, sorted
    if rule.error or rule.kind in ("compound", "pair") or not n:
        return None
    if rule.kind == "not_null":
        return {"nulls": rule.counts["unexpected"]}
    if not rule.counts["considered"]:
        return None
    if rule.observed:
        # pandas gives NaN (shown as "nan") when no value is finite; DuckDB gives NULL.
        return {k: float("nan") if row[a] is None else row[a] for k, a in rule.observed.items()}
    return {"distinct_sample": _distinct_sample(rel, rule, row)}


def _counts(rule: _Rule, n: int, row: Mapping[str, Any]) -> None:
    if rule.kind == "not_null":
        present = int(row[rule.considered])
        rule.counts = {"considered": n, "unexpected": n - present}
    elif rule.kind in ("column", "pair"):
        rule.counts = {"considered": int(row[rule.considered]), "unexpected": int(row[rule.unexpected])}


def _success(rule: _Rule, n: int) -> bool:
    spec, mostly = rule.spec, rule.spec.kwargs.get("mostly", 1)
    if rule.error:
        return False
    if rule.kind == "table":
        return _bounds_ok(n, spec.kwargs)
    if rule.kind == "column_set":
        actual, expected = set(rule.agg.types), set(spec.kwargs["column_set"])
        return actual == expected if spec.kwargs.get("exact_match", True) else expected <= actual
    considered, unexpected = rule.counts["considered"], rule.counts["unexpected"]
    if rule.kind == "not_null":  # GE's own ratio for not_null: over all rows
        return n == 0 or (n - unexpected) / n >= mostly
    return n == 0 or considered == 0 or _mostly_success(considered, unexpected, mostly)


def _outcome(rel: SqlFrame, rule: _Rule, n: int, row: Mapping[str, Any],
             id_columns: list[str]) -> ExpectationOutcome:
    spec = rule.spec
    counted = rule.kind in ("not_null", "column", "pair", "compound") and not rule.error
    unexpected = rule.counts["unexpected"] if counted else None
    considered = rule.counts["considered"] if counted else 0
    percent = unexpected / considered * 100 if counted and n and considered else None
    return ExpectationOutcome.of(
        spec,
        success=_success(rule, n),
        observed_value=jsonable(_observed(rel, rule, n, row)),
        unexpected_count=unexpected,
        unexpected_percent=percent,
        element_count=n if counted else None,
        examples=jsonable(_examples(rel, rule, id_columns)[:EXAMPLES_PER_RULE] if unexpected else []),
        exception=rule.error,
    )


def evaluate(suite: SuiteSpec, frame: str, rel: SqlFrame) -> tuple[list[ExpectationOutcome], int]:
    """Every expectation of `suite` on `frame`, evaluated over `rel`; also the frame's row count."""
    return evaluate_slices(suite, frame, rel, [None])[None]


def evaluate_slices(suite: SuiteSpec, frame: str, rel: SqlFrame,
                    keys: Sequence[Any]) -> dict[Any, tuple[list[ExpectationOutcome], int]]:
    """`evaluate` for each slice `key` of a sliced frame (`rel.by`; [None] for an unsliced one),
    with the outcomes `evaluate(rel.slice(key))` gives. Why: a window of 30 days is one aggregate
    query per frame instead of 30, and per-query overhead is most of the cost of a small day.
    Only slices with failures query again, for their examples."""
    specs = suite.frame_expectations(frame)  # refused at load if unsupported (catalog._check_engines)
    types = rel.columns()
    aggs = [_Aggregate(i, {c: types[c] for c in rel.columns(part) if c in types}) for i, part in enumerate(rel.parts)]
    aggs.append(_Aggregate(None, types))
    rules = [_plan(spec, aggs) for spec in specs]
    used = [a for a in aggs if len(a.exprs) > 1] or [aggs[-1]]
    by_agg = {id(a): a.run(rel) for a in used}
    if any(key not in r for r in by_agg.values() for key in keys):
        for a in used:
            empty = a.empty(rel)
            by_agg[id(a)] = {key: by_agg[id(a)].get(key, empty) for key in keys}
    duplicates = {id(r): _count_duplicates(rel, r) for r in rules if r.kind == "compound" and not r.error}
    id_columns = [c for c in suite.id_columns(frame) if c in types]
    out: dict[Any, tuple[list[ExpectationOutcome], int]] = {}
    for key in keys:
        rows = {i: by_key[key] for i, by_key in by_agg.items()}
        counts = {r["n"] for r in rows.values()}
        if len(counts) != 1:
            raise RuntimeError(f"{suite.name}.{frame} {key or ''}: the frame's parts disagree on its row count: "
                               f"{sorted(counts)}")
        n = int(counts.pop())
        one = rel if key is None else rel.slice(key)
        outcomes = []
        for rule in rules:  # one slice at a time: a rule's counts are its current slice's
            row = rows.get(id(rule.agg), {})
            if id(rule) in duplicates:
                rule.counts = duplicates[id(rule)].get(key, {"considered": 0, "unexpected": 0})
            _counts(rule, n, row)
            outcomes.append(_outcome(one, rule, n, row, id_columns))
        out[key] = (outcomes, n)
    return out
