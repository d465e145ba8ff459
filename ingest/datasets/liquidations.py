"""`raw.liquidations`: forced closes (Tardis `liquidations`). Side `buy`: a short was liquidated; `sell`: a long.

Ids are optional (several exchanges send none); a repeated id, or a repeated id-less row identical in every
field, is quarantined as `duplicate_id`.
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

HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")
_VALUES = ExactColumns({"price": "price", "amount": "amount"})
_required, _known = fixed_header(HEADER)

DATASET = Dataset(
    name="liquidations",
    description="Liquidations of one UTC day (side buy: a short liquidated, sell: a long), exact; rejects go to "
    "raw.quarantine.",
    family="liquidations",
    table="raw.liquidations",
    date_column="liquidation_date",
    columns_ddl=f"""{KEY_DDL}
    liquidation_id VARCHAR,
    side VARCHAR NOT NULL,
    price {numeric.PRICE_SQL} NOT NULL,
    amount {numeric.AMOUNT_SQL} NOT NULL,
    source_file VARCHAR NOT NULL""",
    required=_required,
    known=_known,
    csv_types=text_types,
    staged_select=lambda header: f"{KEY_SELECT}, id AS liquidation_id, lower(side) AS side, {_VALUES.select()}",
    wrap=_VALUES.wrap,
    rule_case=f"""CASE
    {_VALUES.rules()}
    WHEN exchange IS NULL OR symbol IS NULL OR ts_us IS NULL OR side IS NULL OR price IS NULL OR amount IS NULL
         THEN 'missing_field'
    {NAME_RULE}
    WHEN side NOT IN ('buy', 'sell') THEN 'invalid_side'
    WHEN price <= 0 THEN 'non_positive_price'
    WHEN amount <= 0 THEN 'non_positive_amount'
    {numeric.notional_rule_sql('price', 'amount', 'true')}
    {COMMON_RULES}
    END""",
    raw_line_expr=fields_line(
        "exchange", "symbol", "ts_us", "local_us", "liquidation_id", "side", _VALUES.text_or_value("price"),
        _VALUES.text_or_value("amount"),
    ),
    insert_select=f"{KEY_INSERT}, liquidation_id, side, price, amount, source_file",
    dup_key="exchange, symbol, coalesce(liquidation_id, concat_ws('|', ts_us, local_us, side, price, amount))",
    cold_order=("symbol", "ts", "exchange", "local_ts", "liquidation_id"),
    history_order="ts, exchange, local_ts, liquidation_id NULLS LAST",
    missing=MISSING_IS_EMPTY,
    reasons={"invalid_side": "side is not buy or sell"},
    dup_reason_sql="'liquidation already seen at ' || _first_seen",
)
