"""The vendor data types that are landing datasets of their own (besides trades and book snapshots).

Their landing layouts are Tardis.dev's CSV layouts, exactly (docs.tardis.dev, "Downloadable CSV
files / data types"): Tardis files are staged as they are, Binance public data files are rewritten
into them (ingest/vendors/binance.py). One place for the headers so neither vendor module imports
the other for them.
"""

from __future__ import annotations

QUOTES = "quotes"
DERIVATIVE_TICKER = "derivative_ticker"
LIQUIDATIONS = "liquidations"
# In staging order; `VendorSource.datasets` picks among them.
VENDOR_DATASETS: tuple[str, ...] = (QUOTES, DERIVATIVE_TICKER, LIQUIDATIONS)

QUOTES_COLUMNS: tuple[str, ...] = (
    "exchange", "symbol", "timestamp", "local_timestamp", "ask_amount", "ask_price", "bid_price", "bid_amount",
)
DERIVATIVE_TICKER_COLUMNS: tuple[str, ...] = (
    "exchange", "symbol", "timestamp", "local_timestamp", "funding_timestamp", "funding_rate",
    "predicted_funding_rate", "open_interest", "last_price", "index_price", "mark_price",
)
LIQUIDATIONS_COLUMNS: tuple[str, ...] = (
    "exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount",
)
DATASET_COLUMNS: dict[str, tuple[str, ...]] = {
    QUOTES: QUOTES_COLUMNS,
    DERIVATIVE_TICKER: DERIVATIVE_TICKER_COLUMNS,
    LIQUIDATIONS: LIQUIDATIONS_COLUMNS,
}
