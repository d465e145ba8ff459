"""`raw.derivative_ticker`: funding, open interest, mark, index and last prices of derivatives
(Tardis `derivative_ticker`; Binance `fundingRate` and `metrics` files staged into the same layout).

Every value is optional (an exchange sends what it has; Binance's files fill one or two columns), but a
row with none is `missing_field`. Funding rates have their own exact scale (ingest/numeric.py RATE_SQL).
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

HEADER = (
    "exchange", "symbol", "timestamp", "local_timestamp", "funding_timestamp", "funding_rate",
    "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price",
)
_VALUES = ExactColumns({
    "funding_rate": "rate", "predicted_funding_rate": "rate", "open_interest": "amount",
    "last_price": "price", "index_price": "price", "mark_price": "price",
})
_required, _known = fixed_header(HEADER)


def _types(header: list[str]) -> dict[str, str]:
    return {**text_types(header), "funding_timestamp": "BIGINT"}


DATASET = Dataset(
    name="derivative_ticker",
    description="Funding rates, open interest, mark, index and last prices of one UTC day (derivative_ticker; "
    "Binance fundingRate and metrics), exact; rejects go to raw.quarantine.",
    family="derivative_ticker",
    table="raw.derivative_ticker",
    date_column="ticker_date",
    columns_ddl=f"""{KEY_DDL}
    funding_ts TIMESTAMP,
    funding_rate {numeric.RATE_SQL},
    predicted_funding_rate {numeric.RATE_SQL},
    open_interest {numeric.AMOUNT_SQL},
    last_price {numeric.PRICE_SQL},
    index_price {numeric.PRICE_SQL},
    mark_price {numeric.PRICE_SQL},
    source_file VARCHAR NOT NULL""",
    required=_required,
    known=_known,
    csv_types=_types,
    staged_select=lambda header: f"{KEY_SELECT}, funding_timestamp AS funding_us, {_VALUES.select()}",
    wrap=_VALUES.wrap,
    rule_case=f"""CASE
    {_VALUES.rules()}
    WHEN exchange IS NULL OR symbol IS NULL OR ts_us IS NULL
         OR (funding_us IS NULL AND funding_rate IS NULL AND predicted_funding_rate IS NULL AND open_interest IS NULL
             AND last_price IS NULL AND index_price IS NULL AND mark_price IS NULL) THEN 'missing_field'
    {NAME_RULE}
    WHEN last_price <= 0 OR index_price <= 0 OR mark_price <= 0 THEN 'non_positive_price'
    WHEN open_interest < 0 THEN 'negative_open_interest'
    WHEN funding_rate IS NOT NULL AND funding_us IS NULL THEN 'funding_rate_without_time'
    {COMMON_RULES}
    END""",
    raw_line_expr=fields_line(
        "exchange", "symbol", "ts_us", "local_us", "funding_us", *(_VALUES.text_or_value(c) for c in HEADER[5:])
    ),
    insert_select=f"""{KEY_INSERT}, make_timestamp(funding_us), funding_rate, predicted_funding_rate,
        open_interest, last_price, index_price, mark_price, source_file""",
    dup_key=None,
    cold_order=("symbol", "ts", "exchange", "local_ts"),
    history_order="ts, exchange, local_ts",
    missing=MISSING_IS_EMPTY,
    reasons={
        "precision_loss": "a funding rate has more than 24 decimals, or a price or open interest more than 12",
        "out_of_range": "a funding rate of 10^4 or more in size, a price >= 1e10 or open interest >= 1e16",
        "non_finite_value": "a value is NaN or infinite",
        "unparseable_value": "a value is not a plain decimal number",
        "negative_open_interest": "open interest is below 0",
        "funding_rate_without_time": "a funding rate without the funding time it applies to",
    },
)
