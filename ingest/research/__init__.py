"""Research queries over the warehouse, warm and cold as one: the backtest data source.

* `asof_join`: each trade with the book, the quote or the derivative ticker in force at its time
  (`right="book"|"quotes"|"ticker"`; tolerance, optional book levels);
* `get_bars`: OHLCV bars of any interval, aligned to a time zone, optionally gap-filled;
* `info_bars`: tick, volume and dollar bars;
* `replay`: trades and book snapshots of several symbols merged in exchange-time order;
* `funding_payments`: the funding a signed position pays or receives at each settled funding event.

Every call takes a `HistoricalData` (whatever it is pinned to is what is read), one symbol or a
list, and returns a `Result` to read once as Arrow batches, an Arrow table, pandas or polars.
`BacktestData(hist)` offers the same calls as methods. Numbers follow `numeric=` ("exact" decimals,
the default, or "float"; per call, or once for all calls on `HistoricalData(..., numeric=...)`):
ingest/numbers.py. CLI: `python -m ingest.research --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.history import HistoricalData
from ingest.research.asof import asof_join
from ingest.research.bars import Interval, get_bars
from ingest.research.common import ResearchError, Result
from ingest.research.funding import funding_payments
from ingest.research.info_bars import info_bars
from ingest.research.replay import Event, Replay, replay

__all__ = ["BacktestData", "Event", "Interval", "Replay", "ResearchError", "Result", "asof_join",
           "funding_payments", "get_bars", "info_bars", "replay"]


class BacktestData:
    """The research calls bound to one `HistoricalData`."""

    def __init__(self, hist: HistoricalData) -> None:
        self.hist = hist

    def asof_join(self, symbols: str | Sequence[str], start: Any, end: Any, **kw: Any) -> Result:
        return asof_join(self.hist, symbols, start, end, **kw)

    def get_bars(self, symbols: str | Sequence[str], interval: str, start: Any, end: Any, **kw: Any) -> Result:
        return get_bars(self.hist, symbols, interval, start, end, **kw)

    def info_bars(self, symbols: str | Sequence[str], kind: str, threshold: Any, start: Any, end: Any,
                  **kw: Any) -> Result:
        return info_bars(self.hist, symbols, kind, threshold, start, end, **kw)

    def replay(self, symbols: str | Sequence[str], start: Any, end: Any, **kw: Any) -> Replay:
        return replay(self.hist, symbols, start, end, **kw)

    def funding_payments(self, symbol: str, start: Any, end: Any, position: Any, **kw: Any) -> Result:
        return funding_payments(self.hist, symbol, start, end, position, **kw)
