"""Which UTC days have data to load: landing files on disk, or files a vendor source lists.

The catch-up sensor and the daily schedule ask this before they request a run, so a day with
nothing to read is reported as such instead of being launched as a run that fails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.books import BookExpectation
from ingest.datasets import OPTIONAL_FAMILIES
from ingest.landing import LandingFileError, parse_landing_name


def _family(data_type: str) -> str | None:
    if data_type == "trades":
        return "trades"
    if data_type.startswith("book_snapshot"):
        return "book"
    if data_type in OPTIONAL_FAMILIES:
        return "optional"
    return None


@dataclass
class LandingScan:
    """What one listing of the landing folder found: the loadable days, and the files it refused."""

    days: set[dt.date] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # file name -> why

    def describe_refused(self) -> str:
        """One line naming every refused file (its day cannot load until it is renamed or removed)."""
        names = sorted(self.refused)
        more = f"; and {len(names) - 3} more" if len(names) > 3 else ""
        shown = "; ".join(self.refused[n] for n in names[:3]) + more
        return f"refused {len(names)} landing file name{'s' if len(names) != 1 else ''}: {shown}"


def landed_days(root: Path | str, books: BookExpectation | None = None) -> set[dt.date]:
    """`scan_landing(...).days`: the loadable days; a refused file name does not hide the others."""
    return scan_landing(root, books).days


def scan_landing(root: Path | str, books: BookExpectation | None = None) -> LandingScan:
    """Days the raw loaders can load (one directory listing): trades landed, and a book file for
    every exchange of the day that is expected to deliver books (ingest/books.py,
    TICKWH_BOOK_EXCHANGES). A trades-only exchange's days count; a missing expected book file does not.
    A day of the optional datasets alone (quotes, ticker, liquidations: a quotes-only day) counts.
    A file with a refused name (`simex_trades_2024-01-09_A..B.csv.gz`) is listed in `refused` with
    its reason, once, and the scan goes on: one bad name must not hide every other day.
    """
    root = Path(root)
    scan = LandingScan()
    if not root.is_dir():
        return scan
    books = books or BookExpectation.from_env()
    found: dict[dt.date, dict[str, set[str]]] = {}
    for path in root.glob("*.csv*"):
        try:
            lf = parse_landing_name(path)
        except LandingFileError as exc:
            scan.refused[path.name] = str(exc).replace(f"{path}: ", f"{path.name!r}: ", 1)
            continue
        family = lf and _family(lf.data_type)
        if lf and family:
            found.setdefault(lf.day, {}).setdefault(lf.exchange, set()).add(family)
    expected: dict[str, bool] = {}

    def ready(exchange: str, families: set[str]) -> bool:
        if "trades" not in families:
            return "book" not in families  # a book file alone cannot be loaded
        if "book" in families:
            return True
        if exchange not in expected:
            expected[exchange] = books.expects(exchange, root)
        return not expected[exchange]

    scan.days = {
        day for day, by_exchange in found.items()
        if (any("trades" in f for f in by_exchange.values()) or all(f == {"optional"} for f in by_exchange.values()))
        and all(ready(ex, f) for ex, f in by_exchange.items())
    }
    return scan


_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def days_in_names(names: Iterable[str], marker: str) -> set[dt.date]:
    """Days named by files whose base name contains `marker` (e.g. `_trades_`, `-trades-`)."""
    days = set()
    for name in names:
        base = name.rsplit("/", 1)[-1]
        m = _DAY_IN_NAME.search(base) if marker in base else None
        if m:
            try:
                days.add(dt.date.fromisoformat(m.group(1)))
            except ValueError:
                continue
    return days


def ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days folded into contiguous [first, last] ranges."""
    out: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + dt.timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def describe_days(days: Iterable[dt.date]) -> str:
    """`3 days (2024-01-04..2024-01-06)`: a count and the first and last day, never the full list."""
    days = sorted(set(days))
    if not days:
        return "no days"
    span = str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"
    return f"{len(days)} day{'s' if len(days) != 1 else ''} ({span})"
