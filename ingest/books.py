"""Which exchanges are expected to deliver order-book files, and which of a day's are missing.

Many sources sell or publish trades only (Binance public trades, most Tardis subscriptions), so
a day with trades and no book file must still build its bars; but an exchange that does deliver
books and lacks today's file is an outage, not a trades-only day. The rule (TICKWH_BOOK_EXCHANGES):

    auto (default)  an exchange is expected to have books if the landing folder holds a book file
                    of that exchange for any day: once books arrived, a missing one is an error
    all             every exchange is expected to have books (a day without one fails)
    none            no exchange is expected to (a missing book file is only reported)
    a,b             exactly the exchanges listed
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.landing import BOOK_SNAPSHOT, TRADES, LandingFileError, book_glob, find_landing_files
from ingest.names import InvalidNameError, validate_exchange

BOOK_EXCHANGES_ENV = "TICKWH_BOOK_EXCHANGES"


class MissingBookFileError(LandingFileError):
    """An exchange expected to have book files has none for the day."""


@dataclass(frozen=True)
class BookExpectation:
    mode: str = "auto"  # auto | all | none | list
    exchanges: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> BookExpectation:
        value = (text or "auto").strip()
        if value.lower() in ("auto", "all", "none"):
            return cls(value.lower())
        try:
            names = frozenset(validate_exchange(x.strip()) for x in value.split(",") if x.strip())
        except InvalidNameError as exc:
            raise InvalidNameError(f"{BOOK_EXCHANGES_ENV}: {exc}") from exc
        return cls("list", names)

    @classmethod
    def from_env(cls) -> BookExpectation:
        return cls.parse(os.environ.get(BOOK_EXCHANGES_ENV))

    def describe(self) -> str:
        if self.mode == "list":
            return f"{BOOK_EXCHANGES_ENV}={','.join(sorted(self.exchanges))}"
        return f"{BOOK_EXCHANGES_ENV}={self.mode}"

    def expects(self, exchange: str, landing_root: Path) -> bool:
        if self.mode == "all":
            return True
        if self.mode == "none":
            return False
        if self.mode == "list":
            return exchange in self.exchanges
        return any(not p.name.startswith(".") for p in Path(landing_root).glob(book_glob(exchange)))


def missing_book_exchanges(landing_root: Path, day: dt.date, expectation: BookExpectation) -> list[str]:
    """Exchanges with trades but no book file on `day` that are allowed to lack one.

    Raises MissingBookFileError when an exchange expected to have books lacks its file.
    """
    traded = {lf.exchange for lf in find_landing_files(landing_root, TRADES, day)}
    booked = {lf.exchange for lf in find_landing_files(landing_root, BOOK_SNAPSHOT, day)}
    missing = sorted(traded - booked)
    expected = [ex for ex in missing if expectation.expects(ex, landing_root)]
    if expected:
        raise MissingBookFileError(
            f"no book_snapshot file for {', '.join(expected)} on {day} under {landing_root}, and "
            f"{'these exchanges are' if len(expected) > 1 else 'this exchange is'} expected to have books "
            f"({expectation.describe()}; auto expects books from an exchange once any of its book files exists). "
            "Deliver the file, or list the exchanges that have books in "
            f"{BOOK_EXCHANGES_ENV} to load trades-only days"
        )
    return missing
