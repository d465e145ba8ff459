"""`raw.quotes`: best bid and ask with their sizes (Tardis `quotes`, Binance `bookTicker`).

Exact like trades (prices and sizes by the numeric contract), and never crossed: a quote whose bid is
above its ask is quarantined as `crossed_quote` (a locked quote, bid = ask, loads).
"""

from __future__ import annotations

from ingest import numeric
from ingest.datasets.spec import (
    COMMON_RULES,
    KEY_DDL,
    KEY_INSERT,
    KEY_SELECT,
    MISSING_IS_EMPTY,
    NAME_RULE,
    Dataset,
    ExactColumns,
    fields_line,
    fixed_header,
    text_types,
)

HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "ask_amount", "ask_price", "bid_price", "bid_amount")
_VALUES = ExactColumns({"ask_amount": "amount", "ask_price": "price", "bid_price": "price", "bid_amount": "amount"})
_required, _known = fixed_header(HEADER)

DATASET = Dataset(
    name="quotes",
    description="Best bid and ask with sizes of one UTC day (quotes / bookTicker), exact; crossed quotes and "
    "other rejects go to raw.quarantine.",
    family="quotes",
    table="raw.quotes",
    date_column="quote_date",
    columns_ddl=f"""{KEY_DDL}
    bid_price {numeric.PRICE_SQL} NOT NULL,
    bid_amount {numeric.AMOUNT_SQL} NOT NULL,
    ask_price {numeric.PRICE_SQL} NOT NULL,
    ask_amount {numeric.AMOUNT_SQL} NOT NULL,
    source_file VARCHAR NOT NULL""",
    required=_required,
    known=_known,
    csv_types=text_types,
    staged_select=lambda header: f"{KEY_SELECT}, {_VALUES.select()}",
    wrap=_VALUES.wrap,
    rule_case=f"""CASE
    {_VALUES.rules()}
    WHEN exchange IS NULL OR symbol IS NULL OR ts_us IS NULL OR bid_price IS NULL OR ask_price IS NULL
         OR bid_amount IS NULL OR ask_amount IS NULL THEN 'missing_field'
    {NAME_RULE}
    WHEN bid_price <= 0 OR ask_price <= 0 THEN 'non_positive_price'
    WHEN bid_amount <= 0 OR ask_amount <= 0 THEN 'non_positive_amount'
    WHEN bid_price > ask_price THEN 'crossed_quote'
    {COMMON_RULES}
    END""",
    raw_line_expr=fields_line(
        "exchange", "symbol", "ts_us", "local_us", *(_VALUES.text_or_value(c) for c in HEADER[4:])
    ),
    insert_select=f"{KEY_INSERT}, bid_price, bid_amount, ask_price, ask_amount, source_file",
    dup_key=None,
    cold_order=("symbol", "ts", "exchange", "local_ts"),
    history_order="ts, exchange, local_ts",
    missing=MISSING_IS_EMPTY,
    reasons={"crossed_quote": "bid price is above ask price"},
)
