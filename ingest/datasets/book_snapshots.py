"""`raw.book_snapshots`: top-N order-book snapshots (Tardis `book_snapshot_<N>` layouts)."""

from __future__ import annotations

from ingest.datasets.spec import (
    COMMON_RULES,
    KEY_DDL,
    KEY_INSERT,
    KEY_SELECT,
    MISSING_PER_BOOK_RULE,
    NAME_RULE,
    Dataset,
    fields_line,
)
from ingest.landing import BOOK_SNAPSHOT, snapshot_columns, snapshot_depth
from ingest.sql import quote_ident


def _types(header: list[str]) -> dict[str, str]:
    fixed = {"exchange": "VARCHAR", "symbol": "VARCHAR", "timestamp": "BIGINT", "local_timestamp": "BIGINT"}
    levels = set(snapshot_columns(snapshot_depth(header))[4:])
    return {n: fixed.get(n, "DOUBLE" if n in levels else "VARCHAR") for n in header}


def _select(header: list[str]) -> str:
    depth = snapshot_depth(header)

    def lst(side: str, what: str) -> str:
        return "[" + ", ".join(quote_ident(f"{side}[{i}].{what}") for i in range(depth)) + "]"

    return (
        f"{KEY_SELECT}, {depth} AS depth, "
        f"{lst('bids', 'price')} AS bid_prices, {lst('bids', 'amount')} AS bid_amounts, "
        f"{lst('asks', 'price')} AS ask_prices, {lst('asks', 'amount')} AS ask_amounts"
    )


DATASET = Dataset(
    name="book_snapshots",
    description="Order-book snapshots (top N levels) of one UTC day; rejects go to raw.quarantine.",
    family=BOOK_SNAPSHOT,
    table="raw.book_snapshots",
    date_column="snapshot_date",
    columns_ddl=f"""{KEY_DDL}
    depth INTEGER NOT NULL,
    bid_price DOUBLE NOT NULL,
    bid_amount DOUBLE NOT NULL,
    ask_price DOUBLE NOT NULL,
    ask_amount DOUBLE NOT NULL,
    bid_prices DOUBLE[],
    bid_amounts DOUBLE[],
    ask_prices DOUBLE[],
    ask_amounts DOUBLE[],
    source_file VARCHAR NOT NULL""",
    required=lambda header: snapshot_columns(1),
    known=lambda header: set(snapshot_columns(snapshot_depth(header))),
    csv_types=_types,
    staged_select=_select,
    wrap=lambda inner, numbered: inner,
    rule_case=f"""CASE
    WHEN exchange IS NULL OR symbol IS NULL OR ts_us IS NULL OR bid_prices[1] IS NULL OR ask_prices[1] IS NULL
         OR bid_amounts[1] IS NULL OR ask_amounts[1] IS NULL THEN 'missing_field'
    {NAME_RULE}
    WHEN NOT (isfinite(bid_prices[1]) AND isfinite(ask_prices[1]) AND isfinite(bid_amounts[1])
              AND isfinite(ask_amounts[1])) THEN 'non_finite_value'
    WHEN bid_prices[1] <= 0 OR ask_prices[1] <= 0 THEN 'non_positive_price'
    WHEN bid_amounts[1] <= 0 OR ask_amounts[1] <= 0 THEN 'non_positive_amount'
    {COMMON_RULES}
    END""",
    raw_line_expr=fields_line(
        "exchange", "symbol", "ts_us", "local_us", "ask_prices[1]", "ask_amounts[1]", "bid_prices[1]", "bid_amounts[1]"
    ),
    insert_select=f"""{KEY_INSERT}, depth,
        bid_prices[1], bid_amounts[1], ask_prices[1], ask_amounts[1],
        bid_prices, bid_amounts, ask_prices, ask_amounts, source_file""",
    dup_key=None,
    cold_order=("symbol", "ts", "exchange", "local_ts"),
    history_order="ts, exchange, local_ts",
    missing=MISSING_PER_BOOK_RULE,
)
