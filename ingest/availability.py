"""Which UTC days have data to load: landing files on disk, or files a vendor source lists.

The catch-up sensor and the daily schedule ask this before they request a run, so a day with
nothing to read is reported as such instead of being launched as a run that fails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path

from ingest.tardis import parse_landing_name

# A day loads only when both raw loaders find their files (ingest.loader raises NoLandingFilesError
# otherwise). When trades-only days become loadable, drop "book" here.
REQUIRED_FAMILIES = ("trades", "book")


def _family(data_type: str) -> str | None:
    if data_type == "trades":
        return "trades"
    if data_type.startswith("book_snapshot"):
        return "book"
    return None


def landed_days(root: Path | str) -> set[dt.date]:
    """Days whose landing files cover every family the raw loaders need (one directory listing)."""
    root = Path(root)
    if not root.is_dir():
        return set()
    found: dict[dt.date, set[str]] = {}
    for path in root.glob("*.csv*"):
        lf = parse_landing_name(path)
        family = lf and _family(lf.data_type)
        if lf and family:
            found.setdefault(lf.day, set()).add(family)
    return {day for day, families in found.items() if set(REQUIRED_FAMILIES) <= families}


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
