"""`raw.trades`: exchange trade ticks (Tardis `trades` layout)."""

from __future__ import annotations

from ingest import numeric
from ingest.datasets.spec import (
    COMMON_RULES,
    KEY_DDL,
    KEY_INSERT,
    KEY_SELECT,
    MISSING_UNLESS_OTHER_DATA,
    NAME_RULE,
    Dataset,
    fields_line,
    fixed_header,
    text_types,
)
from ingest.landing import TRADES, TRADES_COLUMNS


def _select(header: list[str]) -> str:
    # The text is kept only where the parse failed: the quarantine shows the original value.
    return (
        f"{KEY_SELECT}, id AS trade_id, "
        f"lower(side) AS side, {numeric.parse_sql('price', numeric.PRICE_SQL)} AS price, "
        f"{numeric.parse_sql('amount', numeric.AMOUNT_SQL)} AS amount, "
        "price AS _price_text, amount AS _amount_text, "
        # Only a trade whose price and amount both carry more than 8 decimals can have a notional
        # beyond 20; most prices do not, so the amount is rarely looked at.
        f"CASE WHEN {numeric.fine_sql('price')} THEN {numeric.fine_sql('amount')} ELSE false END AS fine_notional"
    )


def _wrap(inner: str, numbered: bool) -> str:
    # Any value that fails to parse flags its row, which makes the load re-read the day with line
    # numbers: only that pass needs the original text (the first pass calls the row missing).
    if not numbered:
        return (
            "SELECT * EXCLUDE (_price_text, _amount_text), NULL::VARCHAR AS price_text, "
            f"NULL::VARCHAR AS amount_text FROM ({inner})"
        )
    return (
        "SELECT * EXCLUDE (_price_text, _amount_text), "
        "CASE WHEN price IS NULL THEN _price_text END AS price_text, "
        f"CASE WHEN amount IS NULL THEN _amount_text END AS amount_text FROM ({inner})"
    )


_required, _known = fixed_header(TRADES_COLUMNS)

DATASET = Dataset(
    name="trades",
    description="Exchange trade ticks of one UTC day, parsed and sanity-checked; rejects go to raw.quarantine.",
    family=TRADES,
    table="raw.trades",
    date_column="trade_date",
    columns_ddl=f"""{KEY_DDL}
    trade_id VARCHAR NOT NULL,
    trade_seq BIGINT,
    side VARCHAR NOT NULL,
    price {numeric.PRICE_SQL} NOT NULL,
    amount {numeric.AMOUNT_SQL} NOT NULL,
    source_file VARCHAR NOT NULL""",
    required=_required,
    known=_known,
    csv_types=text_types,
    staged_select=_select,
    wrap=_wrap,
    rule_case=f"""CASE
    WHEN exchange IS NULL OR symbol IS NULL OR ts_us IS NULL OR trade_id IS NULL OR side IS NULL
         OR (price IS NULL AND price_text IS NULL) OR (amount IS NULL AND amount_text IS NULL) THEN 'missing_field'
    WHEN price IS NULL THEN {numeric.classify_sql('price_text')}
    WHEN amount IS NULL THEN {numeric.classify_sql('amount_text')}
    {NAME_RULE}
    WHEN side NOT IN ('buy', 'sell', 'unknown') THEN 'invalid_side'
    WHEN price <= 0 THEN 'non_positive_price'
    WHEN amount <= 0 THEN 'non_positive_amount'
    {numeric.notional_rule_sql('price', 'amount', 'fine_notional')}
    {COMMON_RULES}
    END""",
    raw_line_expr=fields_line(
        "exchange", "symbol", "ts_us", "local_us", "trade_id", "side", "coalesce(price_text, CAST(price AS VARCHAR))",
        "coalesce(amount_text, CAST(amount AS VARCHAR))",
    ),
    insert_select=f"""{KEY_INSERT}, trade_id,
        TRY_CAST(trade_id AS BIGINT), side, price, amount, source_file""",
    dup_key="exchange, symbol, trade_id",
    cold_order=("symbol", "ts", "exchange", "trade_seq NULLS LAST", "trade_id"),
    history_order="ts, exchange, trade_seq NULLS LAST, trade_id",
    reasons={"invalid_side": "side is not buy, sell or unknown"},
    missing=MISSING_UNLESS_OTHER_DATA,
    dup_rule="duplicate_trade_id",
    dup_reason_sql="'trade id ' || trade_id || ' already seen at ' || _first_seen",
)
