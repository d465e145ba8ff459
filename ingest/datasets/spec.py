"""What a raw dataset declares (ingest/datasets/<name>.py fills one in) and the SQL pieces they share.

The loader (ingest/loader.py) runs a declaration's pieces in this order, per landing file then per day:

    read_csv(columns = csv_types(header))  ->  SELECT staged_select(header)  ->  wrap(that, numbered)
    ->  rule_case (NULL: the row loads; a rule name: it goes to raw.quarantine with reasons[rule])
    ->  INSERT INTO table SELECT insert_select  (dup_key: later rows with the same key are quarantined)

`$1`, `$2`, `$3` in a rule_case are the day's start, its end and now, in epoch microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest import numeric
from ingest.sql import qualified, quote_ident

# A day without a file of the dataset:
MISSING_IS_ERROR = "error"  # the load fails
# the load fails, unless the day has files of the optional (MISSING_IS_EMPTY) datasets only (a quotes-only
# day): then it holds no rows of it and the load says so (a trades day with no trades: a header-only file)
MISSING_UNLESS_OTHER_DATA = "other_data"
MISSING_PER_BOOK_RULE = "books"  # ingest/books.py decides per exchange (TICKWH_BOOK_EXCHANGES), as other_data
MISSING_IS_EMPTY = "empty"  # the day holds no rows of it (most sources sell no liquidations)

# Vendor spellings with '/' or ':' (`BTC/USD`) take the warehouse's form (names.canonical_symbol);
# what is still not a valid symbol after that is quarantined as `invalid_name`.
SYMBOL_SQL = "translate(symbol, '/:', '--')"

COMMON_RULES = """
    WHEN ts_us < $1 OR ts_us >= $2 THEN 'wrong_day'
    WHEN ts_us > $3 THEN 'future_timestamp'
"""
NAME_RULE = "WHEN exchange || '|' || symbol IN (SELECT k FROM _bad_names) THEN 'invalid_name'"

COMMON_REASONS = {
    "missing_field": "a required field is empty",
    "invalid_name": "exchange or symbol is not a valid name",
    "non_positive_price": "price is not > 0",
    "non_positive_amount": "amount is not > 0",
    "non_finite_value": "a price or amount is NaN or infinite",
    "unparseable_value": "a price or amount is not a plain decimal number",
    **numeric.REASONS,
    "wrong_day": "timestamp is outside the partition's UTC day",
    "future_timestamp": "timestamp is in the future",
}

# The key columns every raw table starts with, after its date column.
KEY_DDL = """    exchange VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    local_ts TIMESTAMP,"""
KEY_SELECT = f"exchange, {SYMBOL_SQL} AS symbol, timestamp AS ts_us, local_timestamp AS local_us"
KEY_INSERT = "$1::DATE, exchange, symbol, make_timestamp(ts_us), make_timestamp(local_us)"


@dataclass(frozen=True)
class Dataset:
    name: str  # load_day's and the history API's name, raw.quarantine's `dataset`
    description: str  # the Dagster asset's description
    family: str  # landing data type (`book_snapshot` stands for book_snapshot_<depth>)
    table: str
    date_column: str
    columns_ddl: str  # the table's columns, after its date column
    required: Callable[[list[str]], list[str]]  # header names a file must have
    known: Callable[[list[str]], set[str]]  # header names read; the others are reported as extra
    csv_types: Callable[[list[str]], dict[str, str]]
    staged_select: Callable[[list[str]], str]
    wrap: Callable[[str, bool], str]
    rule_case: str
    raw_line_expr: str  # the parsed fields as a line, for the quarantine of rule failures
    insert_select: str
    dup_key: str | None  # columns a row is unique by; None: no duplicate rule
    cold_order: tuple[str, ...]  # sort order of the day's cold Parquet file
    history_order: str  # total order of answers: time first, then tie-breaks that make reruns identical
    missing: str = MISSING_IS_ERROR
    reasons: dict[str, str] = field(default_factory=dict)  # rules of this dataset beyond COMMON_REASONS
    dup_rule: str = "duplicate_id"
    dup_reason_sql: str = "'id already seen at ' || _first_seen"  # `_first_seen`: file:line of the kept row

    @property
    def asset(self) -> str:
        """The Dagster asset, its raw suite (expectations/<asset>.json) and its cold name."""
        return f"raw_{self.name}"

    @property
    def ddl(self) -> str:
        table, date = qualified(*self.table.split(".")), quote_ident(self.date_column)
        head = f"CREATE TABLE IF NOT EXISTS {table} (\n    {date} DATE NOT NULL,"
        return f"{head}\n{self.columns_ddl}\n);"


def fields_line(*exprs: str) -> str:
    """The parsed fields back as a CSV line; empty fields stay in place so positions match the layout."""
    return "concat_ws(',', " + ", ".join(f"coalesce(CAST({e} AS VARCHAR), '')" for e in exprs) + ")"


def fixed_header(columns: tuple[str, ...]) -> tuple[Callable[[list[str]], list[str]], Callable[[list[str]], set[str]]]:
    return (lambda header: list(columns)), (lambda header: set(columns))


def text_types(header: list[str]) -> dict[str, str]:
    """Every column as text but the two timestamps: values are parsed exactly in SQL, never rounded."""
    types = {"timestamp": "BIGINT", "local_timestamp": "BIGINT"}
    return {name: types.get(name, "VARCHAR") for name in header}


@dataclass(frozen=True)
class ExactColumns:
    """Text columns parsed exactly into decimals (`column -> (SQL type kind)`: "price", "amount", "rate").

    The first read keeps no text (a day with no bad value pays nothing for it) but flags a row whose
    non-empty text did not parse (`_unparsed`); that sends the load back for a numbered read, which
    keeps the text of the failed values so the quarantine shows them and names the rule.
    """

    kinds: dict[str, str]

    def _parse(self, c: str) -> str:
        kind = self.kinds[c]
        if kind == "rate":
            return numeric.parse_rate_sql(quote_ident(c))
        return numeric.parse_sql(quote_ident(c), numeric.PRICE_SQL if kind == "price" else numeric.AMOUNT_SQL)

    def select(self) -> str:
        return ", ".join(f"{self._parse(c)} AS {c}, {quote_ident(c)} AS _{c}_text" for c in self.kinds)

    def wrap(self, inner: str, numbered: bool) -> str:
        texts = ", ".join(f"_{c}_text" for c in self.kinds)
        unparsed = " OR ".join(f"({c} IS NULL AND _{c}_text IS NOT NULL)" for c in self.kinds)
        if numbered:
            kept = ", ".join(f"CASE WHEN {c} IS NULL THEN _{c}_text END AS {c}_text" for c in self.kinds)
        else:
            kept = ", ".join(f"NULL::VARCHAR AS {c}_text" for c in self.kinds)
        return f"SELECT * EXCLUDE ({texts}), {kept}, ({unparsed}) AS _unparsed FROM ({inner})"

    def rules(self) -> str:
        """CASE branches: a value whose text did not parse, by its rule (the numbered read) or as
        `unparseable_value` (the first read, which then re-reads with line numbers)."""
        out = []
        for c, kind in self.kinds.items():
            classify = numeric.classify_rate_sql if kind == "rate" else numeric.classify_sql
            out.append(f"WHEN {c}_text IS NOT NULL THEN {classify(f'{c}_text')}")
        out.append("WHEN _unparsed THEN 'unparseable_value'")
        return "\n    ".join(out)

    def text_or_value(self, c: str) -> str:
        return f"coalesce({c}_text, CAST({c} AS VARCHAR))"
