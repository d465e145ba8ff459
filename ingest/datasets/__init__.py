"""Every raw dataset of the warehouse, declared once.

A declaration (ingest/datasets/spec.py `Dataset`) holds its landing name, columns and their numeric
types, date column, parse and quarantine rules, cold sort order and history order. The loader, the
raw schema, the Dagster raw assets and their suites (expectations/raw_<name>.json), the cold tier,
freshness and the history API all read this tuple: a new dataset is one module here, one entry below,
its suite and its dbt models (docs/layout.md).
"""

from __future__ import annotations

from ingest.datasets import book_snapshots, derivative_ticker, liquidations, quotes, trades
from ingest.datasets.spec import (
    MISSING_IS_EMPTY,
    MISSING_IS_ERROR,
    MISSING_PER_BOOK_RULE,
    MISSING_UNLESS_OTHER_DATA,
    Dataset,
)

DATASETS: tuple[Dataset, ...] = (
    trades.DATASET,
    book_snapshots.DATASET,
    quotes.DATASET,
    derivative_ticker.DATASET,
    liquidations.DATASET,
)
NAMES: tuple[str, ...] = tuple(d.name for d in DATASETS)
# Landing data types of the datasets a day may lack (quotes, ticker, liquidations): a day of these alone
# is a quotes-only day (ingest/loader.py, ingest/availability.py).
OPTIONAL_FAMILIES = frozenset(d.family for d in DATASETS if d.missing == MISSING_IS_EMPTY)
_BY_NAME = {d.name: d for d in DATASETS}
_BY_ASSET = {d.asset: d for d in DATASETS}


def dataset(name: str) -> Dataset:
    """The declaration of `name` (`trades`, `quotes`...) or of its asset (`raw_trades`); KeyError names
    the known ones."""
    found = _BY_NAME.get(name) or _BY_ASSET.get(name)
    if found is None:
        raise KeyError(f"unknown dataset {name!r}: expected one of {', '.join(NAMES)}")
    return found


__all__ = ["DATASETS", "MISSING_IS_EMPTY", "MISSING_IS_ERROR", "MISSING_PER_BOOK_RULE", "MISSING_UNLESS_OTHER_DATA",
           "NAMES", "OPTIONAL_FAMILIES", "Dataset", "dataset"]
