"""The vendor data types that are landing datasets of their own (besides trades and book snapshots).

Their landing layouts are Tardis.dev's CSV layouts, exactly, as their declarations in ingest/datasets
hold them: Tardis files are staged as they are, Binance public data files are rewritten into them
(ingest/vendors/binance.py).
"""

from __future__ import annotations

from ingest.datasets import derivative_ticker, liquidations, quotes

QUOTES = quotes.DATASET.family
DERIVATIVE_TICKER = derivative_ticker.DATASET.family
LIQUIDATIONS = liquidations.DATASET.family
# In staging order; `VendorSource.datasets` picks among them.
VENDOR_DATASETS: tuple[str, ...] = (QUOTES, DERIVATIVE_TICKER, LIQUIDATIONS)

QUOTES_COLUMNS: tuple[str, ...] = quotes.HEADER
DERIVATIVE_TICKER_COLUMNS: tuple[str, ...] = derivative_ticker.HEADER
LIQUIDATIONS_COLUMNS: tuple[str, ...] = liquidations.HEADER
DATASET_COLUMNS: dict[str, tuple[str, ...]] = {
    QUOTES: QUOTES_COLUMNS,
    DERIVATIVE_TICKER: DERIVATIVE_TICKER_COLUMNS,
    LIQUIDATIONS: LIQUIDATIONS_COLUMNS,
}
