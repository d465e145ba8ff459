"""Gap finding for the catch-up path (pure)."""

from __future__ import annotations

import datetime as dt

from orchestration.catchup import missing_ranges

D = dt.date


def test_no_gaps():
    keys = [f"2024-01-0{i}" for i in range(1, 6)]
    assert missing_ranges(keys, D(2024, 1, 1), D(2024, 1, 5)) == []


def test_gaps_are_grouped_into_contiguous_ranges():
    keys = ["2024-01-01", "2024-01-04", "2024-01-08"]
    assert missing_ranges(keys, D(2024, 1, 1), D(2024, 1, 9)) == [
        (D(2024, 1, 2), D(2024, 1, 3)),
        (D(2024, 1, 5), D(2024, 1, 7)),
        (D(2024, 1, 9), D(2024, 1, 9)),
    ]


def test_everything_missing_is_one_range():
    assert missing_ranges([], D(2024, 2, 27), D(2024, 3, 2)) == [(D(2024, 2, 27), D(2024, 3, 2))]
